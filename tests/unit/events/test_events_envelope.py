"""The envelope's constructors keep correlation and causation right, and its wire form round-trips."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from uuid import UUID, uuid4

import pytest
from pydantic import ValidationError

from shared.events import CaseMerged, CaseOpened, Envelope, MessageReceived, Pii

NOW = datetime(2025, 3, 14, 15, 9, 26, tzinfo=UTC)
CASE_ID = UUID("00000000-0000-4000-8000-000000000001")


def message() -> MessageReceived:
    return MessageReceived(
        channel="email", channel_message_id="<abc@mail.example>", contact_key="ck-1", received_at=NOW,
        description="Pothole on Main St", lat=42.36, long=-71.06, pii=Pii(email="ann@example.org"),
    )


def opened() -> CaseOpened:
    return CaseOpened(
        case_id=CASE_ID, service_request_id="311-0001", jurisdiction_id="demo", channel="email",
        channel_message_id="<abc@mail.example>", contact_key="ck-1", requested_datetime=NOW,
        description="Pothole on Main St", pii=Pii(email="ann@example.org"),
    )


def test_new_flow_mints_the_correlation_id_equal_to_the_event_id_and_no_causation() -> None:
    env = Envelope.new_flow(message(), subject="ck-1", producer="intake_email", now=NOW)

    assert env.correlation_id == env.event_id
    assert env.causation_id is None
    assert (env.event_type, env.schema_version) == ("intake.message_received", 1)
    assert env.subject == "ck-1" and env.producer == "intake_email"


def test_new_flow_uses_a_given_event_id_for_idempotent_intake() -> None:
    eid = uuid4()
    env = Envelope.new_flow(message(), subject="ck-1", producer="intake_web", now=NOW, event_id=eid)
    assert env.event_id == eid == env.correlation_id


def test_caused_by_copies_the_correlation_id_and_records_the_parent_as_causation() -> None:
    root = Envelope.new_flow(message(), subject="ck-1", producer="intake_email", now=NOW)
    child = root.caused_by(opened(), subject=str(CASE_ID), producer="case", now=NOW + timedelta(seconds=1))
    grandchild = child.caused_by(opened(), subject=str(CASE_ID), producer="case", now=NOW)

    assert child.correlation_id == root.correlation_id
    assert child.causation_id == root.event_id
    assert child.event_id not in (root.event_id, root.correlation_id)
    assert (child.event_type, child.schema_version) == ("case.opened", 1)
    assert grandchild.correlation_id == root.correlation_id
    assert grandchild.causation_id == child.event_id


def test_a_naive_occurred_at_is_rejected() -> None:
    with pytest.raises(ValidationError):
        Envelope.new_flow(message(), subject="ck-1", producer="intake_email", now=datetime(2025, 3, 14, 15, 9))
    root = Envelope.new_flow(message(), subject="ck-1", producer="intake_email", now=NOW)
    with pytest.raises(ValidationError):
        root.caused_by(opened(), subject=str(CASE_ID), producer="case", now=datetime(2025, 3, 14))


def test_an_aware_occurred_at_in_another_zone_is_stored_as_utc() -> None:
    montreal = timezone(timedelta(hours=-5))
    env = Envelope.new_flow(message(), subject="ck-1", producer="intake_email", now=NOW.astimezone(montreal))
    assert env.occurred_at == NOW
    assert env.occurred_at.utcoffset() == timedelta(0)


def test_payload_refuses_another_event_type() -> None:
    env = Envelope.new_flow(opened(), subject=str(CASE_ID), producer="case", now=NOW)
    with pytest.raises(ValueError, match="case.opened v1"):
        env.payload(CaseMerged)


def test_payload_refuses_another_schema_version() -> None:
    class CaseOpenedV2(CaseOpened):
        schema_version = 2

    env = Envelope.new_flow(opened(), subject=str(CASE_ID), producer="case", now=NOW)
    with pytest.raises(ValueError, match="v1"):
        env.payload(CaseOpenedV2)
    assert env.payload(CaseOpened) == opened()


def test_payload_raises_a_validation_error_when_the_data_does_not_fit() -> None:
    env = Envelope.new_flow(opened(), subject=str(CASE_ID), producer="case", now=NOW)
    broken = env.model_copy(update={"data": {**env.data, "case_id": "not-a-uuid"}})
    with pytest.raises(ValidationError):
        broken.payload(CaseOpened)


def test_payload_accepts_an_optional_field_added_by_a_newer_producer() -> None:
    """Adding an optional field keeps the version, so consumers built before it must accept it."""
    env = Envelope.new_flow(opened(), subject=str(CASE_ID), producer="case", now=NOW)
    newer = env.model_copy(update={"data": {**env.data, "ward": "7", "pii": {**env.data["pii"], "locale": "fr"}}})
    assert newer.payload(CaseOpened) == opened()


def test_bytes_round_trip_keeps_every_field_and_the_typed_payload() -> None:
    root = Envelope.new_flow(message(), subject="ck-1", producer="intake_email", now=NOW)
    env = root.caused_by(opened(), subject=str(CASE_ID), producer="case", now=NOW)

    raw = env.to_bytes()
    back = Envelope.from_bytes(raw)

    assert isinstance(raw, bytes)
    assert back == env
    assert back.payload(CaseOpened) == opened()
    assert back.payload(CaseOpened).requested_datetime == NOW


@pytest.mark.parametrize("raw", [b"", b"not json", b"\xff\xfe", b"{}", b'{"event_id": "x"}', b"[1,2]"])
def test_from_bytes_raises_a_validation_error_on_anything_but_an_envelope(raw: bytes) -> None:
    with pytest.raises(ValidationError):
        Envelope.from_bytes(raw)


def test_envelopes_are_immutable() -> None:
    env = Envelope.new_flow(message(), subject="ck-1", producer="intake_email", now=NOW)
    with pytest.raises(ValidationError):
        env.subject = "other"  # type: ignore[misc]


def test_a_new_flow_may_continue_an_older_correlation() -> None:
    older = uuid4()
    env = Envelope.new_flow(message(), subject="ck-1", producer="case", now=NOW, correlation_id=older)
    assert env.correlation_id == older and env.causation_id is None and env.event_id != older
