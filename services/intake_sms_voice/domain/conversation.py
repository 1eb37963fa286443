"""The SMS conversation's memory, kept in the conversation itself: which report is waiting for its location,
and, when we asked "Did you mean ...?", the place we proposed.

Twilio keeps HTTP cookies per conversation (the pair of numbers) for up to four hours and sends them back
with the next webhook of that conversation. When we ask for a location we set a cookie naming the report's
MessageSid; the resident's next text comes back with it, and is published with
``in_reply_to=[<that MessageSid>]`` so the case service threads it onto the same case (it matches
`in_reply_to` against the channel message ids of its messages). When we ask the resident to confirm a
place the geocoder found (docs/judgement.md, "Places from words"), the cookie also carries that place's
point and matched form, so that a YES attaches exactly what was proposed. Nothing is stored here.

Cookies are not covered by Twilio's request signature, so the value is signed with a key derived from
the auth token, bound to the contact key and dated: a forged, foreign or stale cookie is ignored.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import datetime

COOKIE = "omni311_pending"
WINDOW_S = 4 * 3600
"""Twilio's cookie lifetime for a messaging conversation (four hours)."""

_DEGREES = r"-?\d{1,3}(?:\.\d{1,7})?"
_VALUE_RE = re.compile(rf"^([A-Za-z0-9_-]{{1,64}})(?:~({_DEGREES})~({_DEGREES})~([A-Za-z0-9_-]{{0,200}}))?"
                       r"\.(\d{1,12})\.([0-9a-f]{32})$")
MATCHED_MAX = 120
"""The longest matched form a cookie carries (characters; longer ones are cut)."""


@dataclass(frozen=True)
class Pending:
    """What the conversation waits for: the location of the report `sid`; when `proposed`, the answer to
    "Did you mean `matched`?" whose point is `lat`/`long` (WGS84 degrees)."""

    sid: str
    lat: float | None = None
    long: float | None = None
    matched: str | None = None

    @property
    def proposed(self) -> bool:
        """True when a place was proposed to the resident (a YES attaches it)."""
        return self.lat is not None and self.long is not None


def _mac(secret: bytes, subject: str, contact_key: str, issued: int) -> str:
    key = hmac.new(secret, b"omni311:sms-conversation", hashlib.sha256).digest()
    return hmac.new(key, f"{subject}|{contact_key}|{issued}".encode(), hashlib.sha256).hexdigest()[:32]


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _unb64(text: str) -> str | None:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        return None


def pending_cookie(secret: bytes, *, message_sid: str, contact_key: str, now: datetime,
                   lat: float | None = None, long: float | None = None, matched: str | None = None) -> str:
    """The cookie value that marks `message_sid` as waiting for its location (``sid.issued.mac``); with
    `lat`/`long` (degrees, 7 decimals kept) and `matched` (at most `MATCHED_MAX` characters) it also
    carries the place proposed in "Did you mean ...?" (``sid~lat~long~matched.issued.mac``, the matched
    form base64url). The MAC covers all of it, bound to `contact_key`."""
    issued = int(now.timestamp())
    subject = message_sid
    if lat is not None and long is not None:
        subject = f"{message_sid}~{lat:.7f}~{long:.7f}~{_b64((matched or '')[:MATCHED_MAX])}"
    return f"{subject}.{issued}.{_mac(secret, subject, contact_key, issued)}"


def read_pending_question(secret: bytes, value: str | None, *, contact_key: str, now: datetime,
                          window_s: float = WINDOW_S) -> Pending | None:
    """What the conversation waits for (`Pending`), or None when `value` is absent, forged, for another
    contact, from the future or older than `window_s` seconds."""
    if not value:
        return None
    m = _VALUE_RE.match(value.strip().strip('"'))
    if not m:
        return None
    sid, lat, long, matched, issued = m.group(1), m.group(2), m.group(3), m.group(4), int(m.group(5))
    subject = f"{sid}~{lat}~{long}~{matched}" if lat is not None else sid
    if not hmac.compare_digest(m.group(6), _mac(secret, subject, contact_key, issued)):
        return None
    age = now.timestamp() - issued
    if age < -60 or age > window_s:
        return None
    if lat is None or long is None:
        return Pending(sid)
    return Pending(sid, float(lat), float(long), _unb64(matched or "") or None)


def read_pending(secret: bytes, value: str | None, *, contact_key: str, now: datetime,
                 window_s: float = WINDOW_S) -> str | None:
    """The MessageSid waiting for a location (`read_pending_question`'s `sid`), or None."""
    found = read_pending_question(secret, value, contact_key=contact_key, now=now, window_s=window_s)
    return found.sid if found else None


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
