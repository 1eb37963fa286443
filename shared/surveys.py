"""Survey tokens: the link a reporter receives after closure carries who may answer about which case.

A token is a JWT (PyJWT, HS256) signed with the secret the notifier (which writes links) and intake_web
(which takes answers) share, `Settings.survey_secret`. Claims: ``sid`` (service_request_id), ``ck`` (the
reporter's contact key), ``lang``, ``iat``, ``exp`` and ``jti`` (one answer per token). Contract:
docs/residents-and-insights.md, "Survey tokens".
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

import jwt

ALGORITHM = "HS256"
AUDIENCE = "omni311-survey"


class InvalidSurveyToken(ValueError):
    """The token is malformed, not signed with our secret, for another audience, or expired."""


@dataclass(frozen=True)
class SurveyInvitation:
    """What a valid survey token says: the case, the reporter, their language and the token's id."""

    service_request_id: str
    contact_key: str
    language: str | None
    jti: str
    expires_at: datetime


def survey_token(secret: str, *, service_request_id: str, contact_key: str, language: str | None,
                 now: datetime, ttl_s: int) -> str:
    """A signed survey token for one reporter of one case, valid `ttl_s` seconds from `now` (aware UTC).

    The ``jti`` is derived from the case and the contact key, so the same reporter invited twice about the
    same case holds tokens with one ``jti`` and can answer once.
    """
    jti = hashlib.sha256(f"{service_request_id}\x00{contact_key}".encode()).hexdigest()[:32]
    claims = {"sid": service_request_id, "ck": contact_key, "lang": language, "aud": AUDIENCE, "jti": jti,
              "iat": int(now.timestamp()), "exp": int((now + timedelta(seconds=ttl_s)).timestamp())}
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def read_survey_token(secret: str, token: str, *, now: datetime) -> SurveyInvitation:
    """The invitation a token carries, checked against `secret` and `now` (aware UTC; expiry is judged on
    `now`, never on the machine's clock, and ``iat`` is not checked against it). Raises
    `InvalidSurveyToken` for a token that is malformed, badly signed, for another audience or expired."""
    try:
        claims = jwt.decode(token, secret, algorithms=[ALGORITHM], audience=AUDIENCE,
                            options={"require": ["sid", "ck", "jti", "exp", "iat"], "verify_exp": False,
                                     "verify_iat": False})
    except jwt.PyJWTError as exc:
        raise InvalidSurveyToken(str(exc)) from exc
    if not all(isinstance(claims[k], str) and claims[k] for k in ("sid", "ck", "jti")):
        raise InvalidSurveyToken("malformed survey token")
    if int(claims["exp"]) <= now.timestamp():
        raise InvalidSurveyToken("this survey link has expired")
    try:
        expires = datetime.fromtimestamp(int(claims["exp"]), tz=now.tzinfo)
    except (OverflowError, OSError, ValueError) as exc:
        raise InvalidSurveyToken("malformed survey token: exp out of range") from exc
    lang = claims.get("lang")
    return SurveyInvitation(service_request_id=claims["sid"], contact_key=claims["ck"],
                            language=lang if isinstance(lang, str) else None, jti=claims["jti"], expires_at=expires)
