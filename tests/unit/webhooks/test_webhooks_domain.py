"""The webhooks rules, pure: a case's facts follow its events (the routed queue's department), a subscription
gets an event only while the case is in its filters, a payload without personal data loses the registry's
personal-data paths, the contact keys and the emails and phone numbers of its free text, the backoff doubles
up to its cap with ±10 % jitter and pauses at the configured failure, and every signature — during a secret
rotation both — verifies with the reference library (`standardwebhooks.Webhook.verify`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from services.webhooks.config import department_of
from services.webhooks.domain import (
    CaseFacts,
    Filters,
    Outcome,
    RetryPolicy,
    SubscriptionView,
    after_attempt,
    backoff_s,
    body_text,
    case_facts_after,
    matches,
    message_body,
    new_secret,
    scrub_data,
    signature_headers,
    signing_secrets,
    webhook_id,
)
from shared.contacts import scrub_contacts
from shared.events import CaseOpened, registry
from shared.jurisdiction import load_jurisdiction

DEMO = department_of(load_jurisdiction("demo"))
NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


def routed(queue: str, code: str = "pothole", agency: str = "Demoville Public Works") -> dict:
    return {"routing": {"service_code": code, "queue": queue, "agency_responsible": agency}}


def sub(*types: str, codes: tuple[str, ...] = (), departments: tuple[str, ...] = (), status: str = "active"
        ) -> SubscriptionView:
    return SubscriptionView(id=uuid4(), status=status,  # type: ignore[arg-type]
                            filters=Filters(frozenset(types), frozenset(codes), frozenset(departments)))


# --- the case's facts and matching ----------------------------------------------------------------------


def test_a_routed_case_takes_the_department_of_its_queue_and_keeps_it_through_later_events() -> None:
    opened = case_facts_after("case.opened", {"service_code": "graffiti"}, CaseFacts(), DEMO)
    assert opened == CaseFacts(service_code="graffiti", department=None)
    facts = case_facts_after("case.routed", routed("water-ops", code="water-leak", agency="?"), opened, DEMO)
    assert facts == CaseFacts(service_code="water-leak", department="water")
    assert case_facts_after("case.status_changed", {"status": "closed"}, facts, DEMO) == facts
    moved = case_facts_after("case.assigned", {"queue": "public-works-supervisors"}, facts, DEMO)
    assert moved.department == "public-works"


def test_an_unknown_queue_falls_back_to_the_agency_then_to_the_service() -> None:
    by_agency = case_facts_after("case.routed", routed("nowhere", code="x", agency="Demoville By-law"), CaseFacts(), DEMO)
    assert by_agency.department == "bylaw"
    by_service = case_facts_after("case.routed", routed("nowhere", code="pothole", agency="?"), CaseFacts(), DEMO)
    assert by_service.department == "public-works"


def test_a_subscription_gets_an_event_only_while_the_case_is_in_its_filters() -> None:
    works = sub("case.routed", "case.status_changed", departments=("public-works",))
    anywhere = sub("case.routed")
    potholes = sub("case.routed", codes=("pothole",))
    in_works = CaseFacts("pothole", "public-works")
    assert matches(works, "case.routed", in_works) and matches(works, "case.status_changed", in_works)
    assert not matches(works, "case.opened", in_works), "an event type it did not ask for"
    assert not matches(works, "case.routed", CaseFacts("water-leak", "water")), "another department"
    assert not matches(works, "case.routed", CaseFacts("pothole", None)), "not routed yet: department unknown"
    assert matches(anywhere, "case.routed", CaseFacts()), "no filter: even before the case was routed"
    assert matches(potholes, "case.routed", in_works) and not matches(potholes, "case.routed", CaseFacts())


def test_a_paused_subscription_keeps_queueing_and_a_disabled_one_gets_nothing() -> None:
    facts = CaseFacts("pothole", "public-works")
    assert matches(sub("case.routed", status="paused"), "case.routed", facts)
    assert not matches(sub("case.routed", status="disabled"), "case.routed", facts)


# --- scrubbing -----------------------------------------------------------------------------------------


def test_a_payload_without_personal_data_keeps_public_fields_only() -> None:
    data = CaseOpened.model_validate({
        "case_id": str(uuid4()), "service_request_id": "DEMO-26-000001", "jurisdiction_id": "demo",
        "channel": "email", "channel_message_id": "<a1@mail.example.org>", "contact_key": "ck_0123",
        "service_code": "pothole", "description": "Big hole, call me at 613-555-0123 or ann@example.org",
        "address": "12 Main St", "requested_datetime": "2026-03-02T15:00:00Z",
        "reply_to_message_id": "<a0@mail.example.org>",
        "pii": {"email": "ann@example.org", "phone": "+16135550123", "first_name": "Ann"},
    }).model_dump(mode="json")
    pii = registry().spec("case.opened", 1).pii
    public = scrub_data(data, pii, lambda t: scrub_contacts(t, "CA"))
    assert "pii" not in public and "contact_key" not in public
    assert "channel_message_id" not in public and "reply_to_message_id" not in public
    assert public["description"] == "Big hole, call me at [phone] or [email]"
    assert public["service_code"] == "pothole" and public["address"] == "12 Main St"
    assert data["pii"]["email"] == "ann@example.org", "the event's own data is not changed"
    assert "ann@example.org" not in body_text(public) and "555-0123" not in body_text(public)


def test_scrubbing_removes_nested_paths_and_leaves_other_objects() -> None:
    data = {"pii": {"email": "a@b.org", "phone": "1"}, "routing": {"queue": "roads"}, "status_notes": "mail a@b.org"}
    out = scrub_data(data, ("pii.email",), lambda t: t.replace("a@b.org", "[email]"))
    assert out == {"pii": {"phone": "1"}, "routing": {"queue": "roads"}, "status_notes": "mail [email]"}


# --- the body, ids and signatures -------------------------------------------------------------------------


def test_the_webhook_id_is_stable_per_event_and_subscription() -> None:
    event_id, sub_id = UUID(int=1), UUID(int=2)
    assert webhook_id(event_id, sub_id) == f"msg_{'0' * 31}1_{sub_id}"
    assert webhook_id(event_id, sub_id) == webhook_id(UUID(int=1), UUID(int=2))
    assert webhook_id(event_id, UUID(int=3)) != webhook_id(event_id, sub_id)


def test_the_body_carries_type_time_data_and_ids() -> None:
    body = message_body(event_type="case.routed", occurred_at=NOW, data={"a": 1}, event_id=UUID(int=5),
                        schema_version=1, subject="case-1")
    assert body == {"type": "case.routed", "timestamp": "2026-03-02T15:00:00Z", "data": {"a": 1},
                    "event_id": str(UUID(int=5)), "schema_version": 1, "subject": "case-1"}


def test_a_secret_is_whsec_and_24_random_bytes() -> None:
    secret = new_secret(bytes(range(24)))
    assert secret.startswith("whsec_") and len(secret) == len("whsec_") + 32
    with pytest.raises(ValueError):
        new_secret(b"short")


def test_every_signature_verifies_with_the_reference_library_and_a_forgery_does_not() -> None:
    secret = new_secret(b"k" * 24)
    now = datetime.now(UTC)  # the reference verification checks the timestamp against its own clock
    body = body_text(message_body(event_type="case.routed", occurred_at=NOW, data={"é": "ü"}, event_id=UUID(int=7),
                                  schema_version=1, subject="s"))
    headers = signature_headers("msg_1", now, body, [secret])
    assert headers["webhook-timestamp"] == str(int(now.timestamp()))
    assert Webhook(secret).verify(body, headers)["data"] == {"é": "ü"}
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body.replace("ü", "u"), headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret(b"x" * 24)).verify(body, headers)
    stale = signature_headers("msg_1", now - timedelta(minutes=10), body, [secret])
    with pytest.raises(WebhookVerificationError, match="too old"):
        Webhook(secret).verify(body, stale)


def test_during_a_rotation_both_secrets_sign_until_the_overlap_ends() -> None:
    old, new = new_secret(b"o" * 24), new_secret(b"n" * 24)
    now = datetime.now(UTC)
    signing = signing_secrets(new, old, now + timedelta(hours=1), now)
    assert signing == [new, old]
    headers = signature_headers("msg_2", now, "{}", signing)
    assert len(headers["webhook-signature"].split(" ")) == 2
    assert Webhook(old).verify("{}", headers) == {} and Webhook(new).verify("{}", headers) == {}
    assert signing_secrets(new, old, now, now) == [new], "the overlap is over"
    after = signature_headers("msg_2", now, "{}", signing_secrets(new, old, now - timedelta(seconds=1), now))
    with pytest.raises(WebhookVerificationError):
        Webhook(old).verify("{}", after)


# --- backoff and pause ----------------------------------------------------------------------------------


def test_the_backoff_doubles_from_the_base_up_to_the_cap_with_ten_percent_jitter() -> None:
    policy = RetryPolicy(base_s=5, max_s=3600)
    assert [backoff_s(n, policy, 0.0) for n in (1, 2, 3, 4)] == [5, 10, 20, 40]
    assert backoff_s(20, policy, 0.0) == 3600 and backoff_s(10_000, policy, 0.0) == 3600
    assert backoff_s(1, policy, 1.0) == pytest.approx(5.5) and backoff_s(1, policy, -1.0) == pytest.approx(4.5)
    assert backoff_s(1, policy, 7.0) == pytest.approx(5.5), "a draw outside [-1, 1] is clamped"
    with pytest.raises(ValueError):
        backoff_s(0, policy, 0.0)


def test_failures_in_a_row_pause_the_subscription_and_a_delivery_resets_them() -> None:
    policy = RetryPolicy(base_s=1, max_s=60, pause_after=3)
    failed = Outcome(http_status=503, error="HTTP 503", duration_ms=3)
    first = after_attempt(failed, message_failures=0, consecutive_failures=0, now=NOW, policy=policy, jitter=0)
    assert (first.delivered, first.message_failures, first.pause) == (False, 1, False)
    assert first.next_attempt_at == NOW + timedelta(seconds=1) and first.reason == "HTTP 503"
    third = after_attempt(failed, message_failures=2, consecutive_failures=2, now=NOW, policy=policy, jitter=0)
    assert third.pause and third.next_attempt_at == NOW + timedelta(seconds=4)
    ok = after_attempt(Outcome(204, None, 2), message_failures=2, consecutive_failures=2, now=NOW, policy=policy,
                       jitter=0)
    assert ok.delivered and ok.consecutive_failures == 0 and ok.next_attempt_at is None


@pytest.mark.parametrize(("status", "delivered"), [(200, True), (204, True), (299, True), (301, False),
                                                   (400, False), (500, False), (None, False)])
def test_only_a_2xx_answer_is_a_delivery(status: int | None, delivered: bool) -> None:
    assert Outcome(http_status=status, error=None, duration_ms=1).delivered is delivered


# --- settings -------------------------------------------------------------------------------------------


def test_production_refuses_private_addresses_and_development_allows_them(monkeypatch: pytest.MonkeyPatch) -> None:
    from pydantic import ValidationError

    from services.webhooks.config import WebhooksSettings

    monkeypatch.setenv("OMNI311_WEBHOOKS_ALLOW_PRIVATE", "true")
    monkeypatch.setenv("OMNI311_ENVIRONMENT", "production")
    with pytest.raises(ValidationError, match="OMNI311_WEBHOOKS_ALLOW_PRIVATE=true"):
        WebhooksSettings()
    monkeypatch.setenv("OMNI311_ENVIRONMENT", "development")
    assert WebhooksSettings().allow_private is True
    monkeypatch.setenv("OMNI311_WEBHOOKS_ALLOW_PRIVATE", "false")
    monkeypatch.setenv("OMNI311_ENVIRONMENT", "production")
    monkeypatch.setenv("OMNI311_WEBHOOKS_RETRY_BASE_S", "2")
    cfg = WebhooksSettings()
    assert cfg.allow_private is False and cfg.retry_policy() == RetryPolicy(base_s=2, max_s=3600, pause_after=10)
