"""Web intake rules: contact keys, tokens and the intake event of an Open311 POST."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from services.intake_web.domain.intake import contact_key, event_id_for, message_from_post, token_for
from shared.open311 import parse_post_form

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
A, B = UUID(int=1), UUID(int=2)


def test_a_retried_post_with_the_same_idempotency_key_gets_the_same_token_and_event() -> None:
    assert token_for("k", "rec-1", fresh=A) == token_for("k", "rec-1", fresh=B)
    assert token_for("k", "rec-1", fresh=A) != token_for("other", "rec-1", fresh=A)
    assert event_id_for(token_for("k", "rec-1", fresh=A)) == event_id_for(token_for("k", "rec-1", fresh=B))


def test_a_post_without_idempotency_key_gets_the_fresh_id_it_is_given_as_its_token() -> None:
    assert token_for("k", None, fresh=A) == str(A) != token_for("k", None, fresh=B)
    assert token_for("k", "", "digest", fresh=B) == str(B)


def test_the_contact_key_prefers_email_and_never_contains_it() -> None:
    a = contact_key("open311", email="Ana@Example.test", phone="+15145550000", account_id=None, device_id=None,
                    fallback="t")
    b = contact_key("open311", email="ana@example.test ", phone=None, account_id=None, device_id=None, fallback="u")
    assert a == b and "example" not in a
    anon = contact_key("open311", email=None, phone=None, account_id=None, device_id=None, fallback="t1")
    assert anon != contact_key("open311", email=None, phone=None, account_id=None, device_id=None, fallback="t2")


def test_an_open311_post_becomes_one_intake_message_with_pii_grouped() -> None:
    req = parse_post_form({"api_key": "k", "service_code": "pothole", "lat": "45.42", "long": "-75.69",
                           "description": "Trou", "email": "ana@example.test", "first_name": "Ana",
                           "media_url": "https://img.example/1.jpg", "attribute[DEPTH]": "deep"})
    msg = message_from_post(req, token="tok", client_id="k", now=NOW, language="fr")
    assert msg.channel == "open311" and msg.channel_message_id == "tok"
    assert msg.pii.email == "ana@example.test" and msg.pii.first_name == "Ana"
    assert msg.media_url == ["https://img.example/1.jpg"] and msg.attributes == {"DEPTH": "deep"}
    assert "ana" not in msg.contact_key


def test_a_reused_idempotency_key_with_a_different_report_is_not_a_retry() -> None:
    from services.intake_web.domain.intake import client_id_for, form_digest

    a = form_digest({"api_key": "k1", "service_code": "pothole", "description": "deep"})
    same = form_digest({"description": "deep", "service_code": "pothole", "api_key": "k2"})
    other = form_digest({"api_key": "k1", "service_code": "pothole", "description": "shallow"})
    assert a == same and a != other
    assert token_for("k", "key-1", a, fresh=A) != token_for("k", "key-1", other, fresh=A)
    assert "secret-key" not in client_id_for("secret-key-123") and client_id_for("a") != client_id_for("b")
