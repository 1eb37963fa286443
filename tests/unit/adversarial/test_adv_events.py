"""Garbage on the bus and extreme payload values: only ValidationError, and what is sent is what is read."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from uuid import UUID, uuid4

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from shared.events import (
    CaseOpened,
    CaseRouted,
    CaseStatusChanged,
    DedupDecided,
    Envelope,
    MessageReceived,
    RoutingFields,
)

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))


def _good() -> dict:
    changed = CaseStatusChanged(case_id=UUID(int=1), service_request_id="NYC-26-000001", jurisdiction_id="nyc",
                                status="closed")
    return json.loads(Envelope.new_flow(changed, subject="s", producer="case", now=NOW).to_bytes())


@pytest.mark.parametrize("occurred_at", ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00"])
def test_an_occurred_at_that_utc_cannot_hold_is_a_validation_error_not_an_overflow(occurred_at: str) -> None:
    # shared/kafka.py dead-letters on ValidationError only: an OverflowError here rewound the partition forever.
    raw = json.dumps({**_good(), "occurred_at": occurred_at}).encode()
    with pytest.raises(ValidationError, match="occurred_at"):
        Envelope.from_bytes(raw)


@FUZZ
@given(st.binary(max_size=300))
def test_random_bytes_are_a_validation_error(raw: bytes) -> None:
    try:
        Envelope.from_bytes(raw)
    except ValidationError:
        pass


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30)
                    | st.sampled_from(["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+01:00", "case.opened",
                                       str(uuid4())]),
                    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c, max_size=3),
                    max_leaves=10)


@FUZZ
@given(field=st.sampled_from(sorted(_good())), value=JSON)
def test_any_value_in_any_envelope_field_parses_or_is_a_validation_error(field: str, value: object) -> None:
    raw = json.dumps({**_good(), field: value}).encode()
    try:
        env = Envelope.from_bytes(raw)
    except ValidationError:
        return
    try:
        env.payload(CaseStatusChanged)
    except (ValidationError, ValueError):
        pass


@pytest.mark.parametrize(
    "make",
    [
        lambda: CaseOpened(case_id=uuid4(), service_request_id="X", jurisdiction_id="nyc", channel="email",
                           channel_message_id="m", contact_key="k", requested_datetime=NOW, lat=math.nan, long=1.0),
        lambda: CaseRouted(case_id=uuid4(), service_request_id="X", jurisdiction_id="nyc", requested_datetime=NOW,
                           routing=RoutingFields(service_code="a", service_name="A", category_source="keywords",
                                                 agency_responsible="x", queue="q", priority=3, rule_id="default",
                                                 config_version="v"), lat=1.0, long=math.inf),
        lambda: RoutingFields(service_code="a", service_name="A", category_source="keywords", agency_responsible="x",
                              queue="q", priority=3, rule_id="default", config_version="v", score=math.nan),
        lambda: DedupDecided(case_id=uuid4(), duplicate_of=uuid4(), score=0.9, distance_m=math.inf,
                             text_similarity=0.5, window_hours=72, radius_m=50),
        lambda: DedupDecided(case_id=uuid4(), duplicate_of=uuid4(), score=0.9, distance_m=1, text_similarity=0.5,
                             window_hours=math.nan, radius_m=math.inf),
    ],
)
def test_non_finite_numbers_are_refused_when_an_event_is_made(make) -> None:  # noqa: ANN001
    # JSON has no NaN or Infinity: they went on the bus as null, silently (lat) or for consumers to refuse.
    with pytest.raises(ValidationError, match="finite"):
        make()


FLOATS = st.floats(allow_nan=True, allow_infinity=True) | st.none()


@FUZZ
@given(lat=FLOATS, long=FLOATS, description=st.text(max_size=50), media=st.lists(st.text(max_size=10), max_size=3))
def test_a_made_event_reads_back_exactly_as_it_was_made(lat, long, description, media) -> None:  # noqa: ANN001
    try:
        opened = CaseOpened(case_id=uuid4(), service_request_id="X", jurisdiction_id="nyc", channel="sms",
                            channel_message_id="SM1", contact_key="k", requested_datetime=NOW, lat=lat, long=long,
                            description=description, media_url=media)
        env = Envelope.new_flow(opened, subject=str(opened.case_id), producer="case", now=NOW)
        raw = env.to_bytes()
    except ValidationError:
        return
    except ValueError as exc:  # only a lone surrogate, which no UTF-8 producer can send
        assert "surrogate" in str(exc)
        return
    assert Envelope.from_bytes(raw).payload(CaseOpened) == opened


def test_unknown_fields_are_ignored_at_every_depth_when_reading() -> None:
    msg = MessageReceived(channel="open311", channel_message_id="t", contact_key="k", received_at=NOW)
    data = json.loads(Envelope.new_flow(msg, subject="k", producer="intake_web", now=NOW).to_bytes())
    data["data"]["added_in_v1_1"] = {"x": 1}
    data["data"]["pii"]["middle_name"] = "Q"
    assert Envelope.from_bytes(json.dumps(data).encode()).payload(MessageReceived).channel_message_id == "t"
