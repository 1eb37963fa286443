"""Survey tokens: the link a reporter receives after closure says which case, which invitation and until when.

A token is short (about 75 characters for a case number such as ``DEMO-26-000123``, so an SMS invitation
fits one segment), opaque and signed with the secret the notifier (which writes links) and intake_web
(which takes answers) share, `Settings.survey_secret`. It holds no contact data: the reporter is known
only through the invitation id ``jti`` (32 hex digits of SHA-256 of the case number and the reporter's
contact key), and that id travels encrypted, since an unsalted hash of a phone number or an email address
is reversed by trying every number. The case service, which knows the reporters of a case, recomputes
each one's ``jti`` (`survey_jti`) to find who answered. Contract: docs/residents-and-insights.md,
"Survey tokens".

Format (version 1): base64url without padding of
``version (1 byte, 1) | exp (4 bytes, big-endian Unix seconds, UTC) | len(lang) (1 byte) | lang (ASCII) |
jti XOR pad (16 bytes) | service_request_id (UTF-8, 1–64 bytes) | tag (16 bytes)``, where
``tag = HMAC-SHA256(k_mac, the same fields with jti in clear)[:16]`` (128 bits) and
``pad = HMAC-SHA256(k_enc, tag)[:16]``: deterministic authenticated encryption, the SIV construction
(Rogaway and Shrimpton, "Deterministic Authenticated-Encryption", EUROCRYPT 2006) with HMAC-SHA256 as its
pseudo-random function; `k_mac` and `k_enc` are HMAC-SHA256 of two fixed labels under the secret.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import UTC, datetime

VERSION = 1
TAG_BYTES = 16
"""The truncated HMAC-SHA256 kept in a token: 128 bits."""
JTI_BYTES = 16
MAX_SID_BYTES = 64
"""The longest case number a token carries (`intake.survey_answered`'s `service_request_id` limit)."""
MAX_LANGUAGE_BYTES = 35
"""The longest language tag a token carries (BCP 47 tags in practice are far shorter)."""
MAX_TOKEN_LENGTH = 256
"""Longer strings are refused before any decoding."""
SURVEY_KEY_PREFIX = "survey:"
"""How the partition key of `intake.survey_answered` begins (`survey_contact_key`)."""

_HEADER = 1 + 4 + 1
_ALPHABET = re.compile(r"^[A-Za-z0-9_-]+$")


class InvalidSurveyToken(ValueError):
    """The token is malformed, truncated, not signed with our secret, or expired."""


@dataclass(frozen=True)
class SurveyInvitation:
    """What a valid survey token says: the case, the invitation id (`jti`, 32 hex digits), the language the
    invitation was written in (None when it did not say) and when the link expires (aware UTC)."""

    service_request_id: str
    language: str | None
    jti: str
    expires_at: datetime


def survey_jti(service_request_id: str, contact_key: str) -> str:
    """The invitation id of one reporter (`contact_key`) about one case: the first 32 hex digits of
    SHA-256 of ``service_request_id NUL contact_key``. Stable, so one reporter invited twice about one case
    holds one id and answers once; the case service recomputes it for each reporter of the case."""
    return hashlib.sha256(f"{service_request_id}\x00{contact_key}".encode()).hexdigest()[:32]


def survey_contact_key(jti: str) -> str:
    """The partition key of an `intake.survey_answered` (``survey:<jti>``): it names the invitation, never
    the reporter, whom intake_web does not know."""
    return f"{SURVEY_KEY_PREFIX}{jti}"


def survey_token(secret: str, *, service_request_id: str, contact_key: str, language: str | None,
                 now: datetime, ttl_s: int) -> str:
    """A signed survey token (base64url characters only) for one reporter of one case, valid `ttl_s`
    seconds from `now` (aware UTC). The token holds the case number, the language, the expiry and the
    encrypted `survey_jti`; never the contact key.

    Raises `ValueError` for an empty or over-long case number (more than 64 UTF-8 bytes), a language tag
    that is not ASCII or longer than 35 characters, or an expiry outside 1970–2106."""
    sid = service_request_id.encode()
    if not 0 < len(sid) <= MAX_SID_BYTES:
        raise ValueError(f"a survey token's case number has 1 to {MAX_SID_BYTES} bytes")
    lang = (language or "").encode()
    if len(lang) > MAX_LANGUAGE_BYTES or not lang.isascii():
        raise ValueError(f"a survey token's language is ASCII of at most {MAX_LANGUAGE_BYTES} characters")
    exp = int(now.timestamp()) + ttl_s
    if not 0 < exp < 2**32:
        raise ValueError("a survey token's expiry is between 1970 and 2106")
    header = bytes([VERSION]) + exp.to_bytes(4, "big") + bytes([len(lang)]) + lang
    jti = bytes.fromhex(survey_jti(service_request_id, contact_key))
    k_mac, k_enc = _keys(secret)
    tag = _tag(k_mac, header, jti, sid)
    return _b64(header + _xor(jti, _pad(k_enc, tag)) + sid + tag)


def read_survey_token(secret: str, token: str, *, now: datetime) -> SurveyInvitation:
    """The invitation a token carries, checked against `secret` and `now` (aware UTC; expiry is judged on
    `now`, never on the machine's clock). Raises `InvalidSurveyToken` for a token that is malformed,
    truncated, altered, signed with another secret, of another version, or expired."""
    if len(token) > MAX_TOKEN_LENGTH or not _ALPHABET.match(token):
        raise InvalidSurveyToken("malformed survey token")
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError) as exc:
        raise InvalidSurveyToken("malformed survey token") from exc
    if _b64(raw) != token or len(raw) < _HEADER + JTI_BYTES + 1 + TAG_BYTES or raw[0] != VERSION:
        raise InvalidSurveyToken("malformed survey token")
    lang_end = _HEADER + raw[_HEADER - 1]
    sealed, tag = raw[:-TAG_BYTES], raw[-TAG_BYTES:]
    header, encrypted, sid = sealed[:lang_end], sealed[lang_end:lang_end + JTI_BYTES], sealed[lang_end + JTI_BYTES:]
    if len(encrypted) != JTI_BYTES or not sid:
        raise InvalidSurveyToken("malformed survey token")
    k_mac, k_enc = _keys(secret)
    jti = _xor(encrypted, _pad(k_enc, tag))
    if not hmac.compare_digest(tag, _tag(k_mac, header, jti, sid)):
        raise InvalidSurveyToken("survey token not signed with our secret")
    exp = int.from_bytes(header[1:5], "big")
    if exp <= now.timestamp():
        raise InvalidSurveyToken("this survey link has expired")
    try:
        service_request_id, lang = sid.decode(), header[_HEADER:].decode("ascii")
    except UnicodeDecodeError as exc:  # only our own tokens get here, and we write UTF-8 and ASCII
        raise InvalidSurveyToken("malformed survey token") from exc
    return SurveyInvitation(service_request_id=service_request_id, language=lang or None, jti=jti.hex(),
                            expires_at=datetime.fromtimestamp(exp, tz=UTC))


def _keys(secret: str) -> tuple[bytes, bytes]:
    key = secret.encode()
    return (hmac.new(key, b"omni311 survey token v1 mac", hashlib.sha256).digest(),
            hmac.new(key, b"omni311 survey token v1 enc", hashlib.sha256).digest())


def _tag(k_mac: bytes, header: bytes, jti: bytes, sid: bytes) -> bytes:
    return hmac.new(k_mac, header + jti + sid, hashlib.sha256).digest()[:TAG_BYTES]


def _pad(k_enc: bytes, tag: bytes) -> bytes:
    return hmac.new(k_enc, tag, hashlib.sha256).digest()[:JTI_BYTES]


def _xor(a: bytes, b: bytes) -> bytes:
    return bytes(x ^ y for x, y in zip(a, b, strict=True))


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")
