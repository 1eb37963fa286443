"""Survey tokens: what the notifier writes, intake_web reads back; nothing else does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt
import pytest

from shared.surveys import InvalidSurveyToken, read_survey_token, survey_token

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SECRET = "test-survey-secret"


def _token(**over: object) -> str:
    args: dict = {"service_request_id": "311-000123", "contact_key": "ck:abc", "language": "fr", "now": NOW,
                  "ttl_s": 3600}
    args.update(over)
    return survey_token(SECRET, **args)


def test_a_token_round_trips_with_its_case_reporter_and_language() -> None:
    got = read_survey_token(SECRET, _token(), now=NOW + timedelta(minutes=5))
    assert (got.service_request_id, got.contact_key, got.language) == ("311-000123", "ck:abc", "fr")
    assert got.expires_at == NOW + timedelta(hours=1)


def test_one_reporter_invited_twice_about_one_case_holds_one_jti() -> None:
    a = read_survey_token(SECRET, _token(), now=NOW)
    b = read_survey_token(SECRET, _token(now=NOW + timedelta(days=1)), now=NOW + timedelta(days=1))
    other = read_survey_token(SECRET, _token(contact_key="ck:other"), now=NOW)
    assert a.jti == b.jti != other.jti


@pytest.mark.parametrize("token", [
    "not-a-jwt",
    jwt.encode({"sid": "311-1", "ck": "ck:x", "jti": "j", "iat": 0, "exp": 2**33, "aud": "omni311-survey"},
               "another-secret", algorithm="HS256"),
    jwt.encode({"sid": "311-1", "ck": "ck:x", "jti": "j", "iat": 0, "exp": 2**33, "aud": "omni311"},
               SECRET, algorithm="HS256"),
    jwt.encode({"sid": "311-1", "ck": "", "jti": "j", "iat": 0, "exp": 2**33, "aud": "omni311-survey"},
               SECRET, algorithm="HS256"),
])
def test_forged_foreign_or_malformed_tokens_are_refused(token: str) -> None:
    with pytest.raises(InvalidSurveyToken):
        read_survey_token(SECRET, token, now=NOW)


def test_an_expired_token_is_refused() -> None:
    with pytest.raises(InvalidSurveyToken, match="expired"):
        read_survey_token(SECRET, _token(), now=NOW + timedelta(hours=1))
