"""The SMS conversation's memory, kept in the conversation itself: the report the conversation is about
(its thread), the conversation's language, which report is waiting for its location, and, when we asked
"Did you mean ...?", the place we proposed.

Twilio keeps HTTP cookies per conversation (the pair of numbers) for up to four hours and sends them back
with the next webhook of that conversation. After a report the cookie names it (its MessageSid, when the
resident last wrote in it, its language and, once known, its service code): the resident's next texts are
follow-ups of it (`shared.intake.conversation.follow_up_of`, docs/channels.md "Conversations"), published
with ``in_reply_to=[<that MessageSid>]`` so the case service threads them onto the same case (it matches
`in_reply_to` against the channel message ids of its messages). When we ask for a location the cookie
also names the report waiting for it, and the next text is the answer. When we ask the resident to
confirm a place the geocoder found (docs/judgement.md, "Places from words"), the cookie also carries that
place's point and matched form, so that a YES attaches exactly what was proposed. Nothing is stored here.

Cookies are not covered by Twilio's request signature, so the value is signed with a key derived from
the auth token, bound to the contact key and dated: a forged, foreign or stale cookie is ignored.
Values: ``v2.<base64url JSON>.<mac>`` (`State`); the first form, ``sid[~lat~long~matched].issued.mac``
(a pending question only), is still read, for conversations begun before.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Literal

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


Lang = Literal["en", "fr"]


@dataclass(frozen=True)
class State:
    """What the conversation remembers (every field optional): `pending` the question waiting for an
    answer; `thread` the MessageSid of the report the conversation is about and `thread_at` when the
    resident last wrote in it (UTC); `service_code` that report's service when known; `language` the
    conversation's language (every text we send in it is in that language)."""

    pending: Pending | None = None
    thread: str | None = None
    thread_at: datetime | None = None
    service_code: str | None = None
    language: Lang | None = None

    def with_pending(self, pending: Pending | None) -> State:
        """This state with another pending question (None: none)."""
        return replace(self, pending=pending)


_SID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_CODE_RE = re.compile(r"^[\w.:-]{1,64}$")
_V2_RE = re.compile(r"^v2\.([A-Za-z0-9_-]{1,1400})\.([0-9a-f]{32})$")


def state_cookie(secret: bytes, state: State, *, contact_key: str, now: datetime) -> str:
    """The cookie value carrying `state`, issued at `now` (``v2.<base64url JSON>.<mac>``; the MAC covers
    the JSON and `contact_key`). Points keep 7 decimals, the matched form `MATCHED_MAX` characters."""
    body: dict[str, Any] = {"i": int(now.timestamp())}
    if state.pending is not None:
        body["p"] = state.pending.sid
        if state.pending.proposed:
            body |= {"pl": round(state.pending.lat or 0.0, 7), "pg": round(state.pending.long or 0.0, 7),
                     "pm": (state.pending.matched or "")[:MATCHED_MAX]}
    if state.thread:
        body["t"] = state.thread
        body["ta"] = int((state.thread_at or now).timestamp())
    if state.service_code:
        body["s"] = state.service_code
    if state.language:
        body["l"] = state.language
    payload = _b64(json.dumps(body, separators=(",", ":"), ensure_ascii=False))
    return f"v2.{payload}.{_mac(secret, payload, contact_key, body['i'])}"


def read_state(secret: bytes, value: str | None, *, contact_key: str, now: datetime,
               window_s: float = WINDOW_S) -> State:
    """The conversation's `State` from the cookie `value`; an empty `State` when it is absent, forged,
    for another contact, from the future or issued more than `window_s` seconds ago. Reads both forms."""
    if not value:
        return State()
    value = value.strip().strip('"')
    m = _V2_RE.match(value)
    if m is None:
        return State(pending=read_pending_question(secret, value, contact_key=contact_key, now=now,
                                                   window_s=window_s))
    text = _unb64(m.group(1))
    try:
        body = json.loads(text) if text else None
    except ValueError:
        body = None
    if not isinstance(body, dict) or not isinstance(body.get("i"), int):
        return State()
    issued = body["i"]
    if not hmac.compare_digest(m.group(2), _mac(secret, m.group(1), contact_key, issued)):
        return State()
    if not _fresh(issued, now, window_s):
        return State()
    return _state_of(body)


def _state_of(body: dict[str, Any]) -> State:
    def sid(key: str) -> str | None:
        v = body.get(key)
        return v if isinstance(v, str) and _SID_RE.match(v) else None

    pending = None
    if (p := sid("p")) is not None:
        lat, long, matched = body.get("pl"), body.get("pg"), body.get("pm")
        if isinstance(lat, int | float) and isinstance(long, int | float):
            pending = Pending(p, float(lat), float(long), matched if isinstance(matched, str) and matched else None)
        else:
            pending = Pending(p)
    thread, at = sid("t"), body.get("ta")
    code, lang = body.get("s"), body.get("l")
    return State(
        pending=pending, thread=thread,
        thread_at=datetime.fromtimestamp(at, UTC) if thread and isinstance(at, int) else None,
        service_code=code if isinstance(code, str) and _CODE_RE.match(code) else None,
        language=lang if lang in ("en", "fr") else None)


def _fresh(issued: int, now: datetime, window_s: float) -> bool:
    age = now.timestamp() - issued
    return -60 <= age <= window_s


def pending_cookie(secret: bytes, *, message_sid: str, contact_key: str, now: datetime,
                   lat: float | None = None, long: float | None = None, matched: str | None = None) -> str:
    """The first form of cookie value, marking `message_sid` as waiting for its location
    (``sid.issued.mac``); with `lat`/`long` (degrees, 7 decimals kept) and `matched` (at most
    `MATCHED_MAX` characters) it also carries the place proposed in "Did you mean ...?"
    (``sid~lat~long~matched.issued.mac``, the matched form base64url). The MAC covers all of it, bound to
    `contact_key`. New answers write `state_cookie`; this form is still read (`read_state`)."""
    issued = int(now.timestamp())
    subject = message_sid
    if lat is not None and long is not None:
        subject = f"{message_sid}~{lat:.7f}~{long:.7f}~{_b64((matched or '')[:MATCHED_MAX])}"
    return f"{subject}.{issued}.{_mac(secret, subject, contact_key, issued)}"


def read_pending_question(secret: bytes, value: str | None, *, contact_key: str, now: datetime,
                          window_s: float = WINDOW_S) -> Pending | None:
    """What the conversation waits for (`Pending`), or None when `value` is absent, forged, for another
    contact, from the future or older than `window_s` seconds (either form of value)."""
    if not value:
        return None
    if _V2_RE.match(value.strip().strip('"')):
        return read_state(secret, value, contact_key=contact_key, now=now, window_s=window_s).pending
    m = _VALUE_RE.match(value.strip().strip('"'))
    if not m:
        return None
    sid, lat, long, matched, issued = m.group(1), m.group(2), m.group(3), m.group(4), int(m.group(5))
    subject = f"{sid}~{lat}~{long}~{matched}" if lat is not None else sid
    if not hmac.compare_digest(m.group(6), _mac(secret, subject, contact_key, issued)):
        return None
    if not _fresh(issued, now, window_s):
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
    """The cookie rule of one answer. A new value (`pending`, a `state_cookie` or `pending_cookie`
    value) sets the cookie for the conversation window (`window_s` seconds, whole); an answer after which
    the conversation is forgotten (`clear`: the resident opted out or in) deletes the cookie the text
    came with (`received`, None when it came with none); otherwise the cookie is left as it is (None)."""
    if pending:
        return CookieChange(pending, int(window_s))
    if clear and received is not None:
        return CookieChange(None)
    return None
