"""Survey tokens: what the notifier writes, intake_web reads back; short, opaque, signed, no contact data."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime, timedelta

import pytest

from shared.surveys import (
    InvalidSurveyToken,
    read_survey_token,
    survey_contact_key,
    survey_jti,
    survey_token,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SECRET = "test-survey-secret-of-at-least-32-bytes"
SID = "DEMO-26-000123"
CONTACT_KEY = hashlib.sha256(b"+16135550123").hexdigest()


def _token(**over: object) -> str:
    args: dict = {"service_request_id": SID, "contact_key": CONTACT_KEY, "language": "fr", "now": NOW,
                  "ttl_s": 3600}
    args.update(over)
    return survey_token(SECRET, **args)


def _raw(token: str) -> bytes:
    return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def test_a_token_round_trips_with_its_case_invitation_and_language() -> None:
    got = read_survey_token(SECRET, _token(), now=NOW + timedelta(minutes=5))
    assert (got.service_request_id, got.language) == (SID, "fr")
    assert got.jti == survey_jti(SID, CONTACT_KEY) == hashlib.sha256(f"{SID}\0{CONTACT_KEY}".encode()).hexdigest()[:32]
    assert got.expires_at == NOW + timedelta(hours=1)
    assert read_survey_token(SECRET, _token(language=None), now=NOW).language is None


def test_a_token_is_short_and_made_of_url_safe_characters_only() -> None:
    token = _token()
    assert len(token) < 100, len(token)
    assert all(c.isascii() and (c.isalnum() or c in "-_") for c in token)
    assert len(_token(service_request_id="NYC-26-1234567", language="en")) < 100


def test_a_token_holds_no_contact_data_and_no_invitation_id_in_clear() -> None:
    token = _token()
    raw = _raw(token)
    jti = survey_jti(SID, CONTACT_KEY)
    for secret_part in (CONTACT_KEY, jti, "16135550123"):
        assert secret_part not in token
        assert secret_part.encode() not in raw
    assert bytes.fromhex(jti) not in raw
    assert bytes.fromhex(CONTACT_KEY)[:8] not in raw


def test_one_reporter_invited_twice_about_one_case_holds_one_jti() -> None:
    a = read_survey_token(SECRET, _token(), now=NOW)
    b = read_survey_token(SECRET, _token(now=NOW + timedelta(days=1)), now=NOW + timedelta(days=1))
    other = read_survey_token(SECRET, _token(contact_key="ck:other"), now=NOW)
    assert a.jti == b.jti != other.jti


def test_two_reporters_of_one_case_hold_tokens_that_differ_beyond_their_ids() -> None:
    # the encrypted ids must not share a pad (one reporter knowing their own id learns nothing of another's)
    a, b = _raw(_token()), _raw(_token(contact_key="ck:other"))
    ja, jb = bytes.fromhex(survey_jti(SID, CONTACT_KEY)), bytes.fromhex(survey_jti(SID, "ck:other"))
    start = 1 + 4 + 1 + 2
    pad_a = bytes(x ^ y for x, y in zip(a[start:start + 16], ja, strict=True))
    pad_b = bytes(x ^ y for x, y in zip(b[start:start + 16], jb, strict=True))
    assert pad_a != pad_b


def test_the_partition_key_of_an_answer_names_the_invitation_not_the_reporter() -> None:
    jti = survey_jti(SID, CONTACT_KEY)
    assert survey_contact_key(jti) == f"survey:{jti}"


def _flipped(token: str, index: int) -> str:
    raw = bytearray(_raw(token))
    raw[index] ^= 0x01
    return _b64(bytes(raw))


@pytest.mark.parametrize("make", [
    pytest.param(lambda: "not-a-token", id="garbage"),
    pytest.param(lambda: "", id="empty"),
    pytest.param(lambda: "abc!def", id="outside-the-alphabet"),
    pytest.param(lambda: _token() + "=", id="padded"),
    pytest.param(lambda: _token()[:-1], id="truncated-by-one"),
    pytest.param(lambda: _token()[:-4], id="truncated"),
    pytest.param(lambda: _token()[:20], id="truncated-to-the-header"),
    pytest.param(lambda: _token() + "AAAA", id="lengthened"),
    pytest.param(lambda: survey_token("another-secret-of-at-least-32-bytes!", service_request_id=SID,
                                      contact_key=CONTACT_KEY, language="fr", now=NOW, ttl_s=3600),
                 id="another-secret"),
    pytest.param(lambda: _flipped(_token(), 0), id="another-version"),
    pytest.param(lambda: _flipped(_token(), 2), id="expiry-moved"),
    pytest.param(lambda: _flipped(_token(), 7), id="language-changed"),
    pytest.param(lambda: _flipped(_token(), 10), id="invitation-changed"),
    pytest.param(lambda: _flipped(_token(), -20), id="case-changed"),
    pytest.param(lambda: _flipped(_token(), -1), id="tag-changed"),
    pytest.param(lambda: "A" * 300, id="too-long"),
])
def test_forged_altered_truncated_or_malformed_tokens_are_refused(make) -> None:
    with pytest.raises(InvalidSurveyToken):
        read_survey_token(SECRET, make(), now=NOW)


def test_an_expired_token_is_refused() -> None:
    with pytest.raises(InvalidSurveyToken, match="expired"):
        read_survey_token(SECRET, _token(), now=NOW + timedelta(hours=1))


@pytest.mark.parametrize("over", [{"service_request_id": ""}, {"service_request_id": "x" * 65},
                                  {"language": "é"}, {"language": "x" * 36}, {"ttl_s": 2**32}])
def test_what_a_token_cannot_carry_is_refused_when_writing(over: dict) -> None:
    with pytest.raises(ValueError):
        _token(**over)
