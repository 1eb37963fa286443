"""The SMS conversation's memory, kept in the conversation itself: which report is waiting for its location.

Twilio keeps HTTP cookies per conversation (the pair of numbers) for up to four hours and sends them back
with the next webhook of that conversation. When we ask for a location we set a cookie naming the report's
MessageSid; the resident's next text comes back with it, and is published with
``in_reply_to=[<that MessageSid>]`` so the case service threads it onto the same case (it matches
`in_reply_to` against the channel message ids of its messages). Nothing is stored here.

Cookies are not covered by Twilio's request signature, so the value is signed with a key derived from
the auth token, bound to the contact key and dated: a forged, foreign or stale cookie is ignored.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import datetime

COOKIE = "omni311_pending"
WINDOW_S = 4 * 3600
"""Twilio's cookie lifetime for a messaging conversation (four hours)."""

_VALUE_RE = re.compile(r"^([A-Za-z0-9_-]{1,64})\.(\d{1,12})\.([0-9a-f]{32})$")


def _mac(secret: bytes, sid: str, contact_key: str, issued: int) -> str:
    key = hmac.new(secret, b"omni311:sms-conversation", hashlib.sha256).digest()
    return hmac.new(key, f"{sid}|{contact_key}|{issued}".encode(), hashlib.sha256).hexdigest()[:32]


def pending_cookie(secret: bytes, *, message_sid: str, contact_key: str, now: datetime) -> str:
    """The cookie value that marks `message_sid` as waiting for its location (``sid.issued.mac``)."""
    issued = int(now.timestamp())
    return f"{message_sid}.{issued}.{_mac(secret, message_sid, contact_key, issued)}"


def read_pending(secret: bytes, value: str | None, *, contact_key: str, now: datetime,
                 window_s: float = WINDOW_S) -> str | None:
    """The MessageSid waiting for a location, or None when `value` is absent, forged, for another
    contact, from the future or older than `window_s` seconds."""
    if not value:
        return None
    m = _VALUE_RE.match(value.strip().strip('"'))
    if not m:
        return None
    sid, issued = m.group(1), int(m.group(2))
    if not hmac.compare_digest(m.group(3), _mac(secret, sid, contact_key, issued)):
        return None
    age = now.timestamp() - issued
    if age < -60 or age > window_s:
        return None
    return sid


@dataclass(frozen=True)
class CookieChange:
    """What an answer does to the conversation cookie `name`: set it to `value` for `max_age_s` seconds,
    or, when `value` is None, delete it."""

    value: str | None
    max_age_s: int = 0
    name: str = COOKIE


def cookie_change(*, pending: str | None, clear: bool, received: str | None,
                  window_s: float = WINDOW_S) -> CookieChange | None:
    """The cookie rule of one answer. A new question (`pending`, a `pending_cookie` value) sets the
    cookie for the conversation window (`window_s` seconds, whole); an answer after which nothing is
    awaited (`clear`: the location was given, or the resident opted out) deletes the cookie the text
    came with (`received`, None when it came with none); otherwise the cookie is left as it is (None)."""
    if pending:
        return CookieChange(pending, int(window_s))
    if clear and received is not None:
        return CookieChange(None)
    return None
