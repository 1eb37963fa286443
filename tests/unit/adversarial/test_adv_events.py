"""Garbage on the bus and extreme payload values: only ValidationError, and what is sent is what is read."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from uuid import UUID, uuid4

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from shared.events import (
    ALL_EVENTS,
    CaseOpened,
    CaseRouted,
    CaseStatusChanged,
    DedupDecided,
    Envelope,
    EventData,
    MessageReceived,
    RoutingFields,
)
from shared.events.declaration import declaration_of

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


def _with_unknown_fields(model: type[BaseModel], data: dict) -> dict:
    """`data` with an unknown key added at the top and inside every nested model (not inside free-form maps)."""
    out = {**data, "added_in_v1_1": {"x": 1}}
    for name, field in model.model_fields.items():
        inner = next((c for c in (getattr(field.annotation, "__args__", None) or (field.annotation,))
                      if isinstance(c, type) and issubclass(c, BaseModel)), None)
        if inner is None or name not in data:
            continue
        value = data[name]
        if isinstance(value, dict):
            out[name] = _with_unknown_fields(inner, value)
        elif isinstance(value, list):
            out[name] = [_with_unknown_fields(inner, v) for v in value]
    return out


@pytest.mark.parametrize("model", ALL_EVENTS, ids=lambda m: f"{m.event_type}.v{m.schema_version}")
def test_every_events_example_reads_the_same_with_fields_a_newer_producer_added(model: type[EventData]) -> None:
    example = declaration_of(model).example
    env = Envelope.new_flow(model.model_validate(example), subject="s", producer="test", now=NOW)
    newer = json.loads(env.to_bytes())
    newer["data"] = _with_unknown_fields(model, newer["data"])
    for nested in ("pii", "routing"):
        assert nested not in newer["data"] or "added_in_v1_1" in newer["data"][nested]
    assert Envelope.from_bytes(json.dumps(newer).encode()).payload(model) == model.model_validate(example)
