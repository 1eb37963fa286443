"""The example message declared with every event version is a valid message of that version.

It validates as its class, travels through an `Envelope` unchanged, fits the committed JSON Schema
snapshot, and keeps its personal data under `pii`, where the logs mask it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import jsonschema
import pytest

from shared.events import ALL_EVENTS, CaseOpened, Envelope, EventData, MessageReceived, registry
from shared.events import snapshots
from shared.events.declaration import declaration_of
from shared.logs import mask_pii

NOW = datetime(2025, 3, 14, 15, 9, 26, tzinfo=UTC)
IDS = [f"{m.event_type}.v{m.schema_version}" for m in ALL_EVENTS]
CHECKER = jsonschema.FormatChecker()


def example(model: type[EventData]) -> dict[str, Any]:
    """The declared example as a fresh JSON object (the declaration's own copy stays untouched)."""
    return json.loads(json.dumps(declaration_of(model).example))


def snapshot(model_or_name: type[EventData] | str) -> dict[str, Any]:
    name = model_or_name if isinstance(model_or_name, str) else snapshots.snapshot_name(model_or_name)
    path = snapshots.SCHEMA_DIR / name
    assert path.exists(), f"{path} is not committed; run `python -m shared.events.snapshots --write`"
    return json.loads(path.read_text("utf-8"))


def on_the_wire(model: type[EventData]) -> Envelope:
    """The example as the next event of a flow started by the intake example."""
    parent = Envelope.new_flow(MessageReceived.model_validate(example(MessageReceived)), subject="ck:3f9a1c",
                               producer="intake_email", now=NOW)
    payload = model.model_validate(example(model))
    return parent.caused_by(payload, subject="6f1c8f5e-2f7a-4c55-9b1e-0d1f2a3b4c5d", producer="case", now=NOW)


def personal_values(data: dict[str, Any]) -> list[str]:
    return [v for v in data.get("pii", {}).values() if v]


@pytest.mark.parametrize("model", ALL_EVENTS, ids=IDS)
def test_the_example_validates_as_its_class_and_reads_back_as_declared(model: type[EventData]) -> None:
    declared = example(model)
    made = model.model_validate(declared)
    assert made.model_dump(mode="json", exclude_unset=True) == declared, "the example holds a value the model alters"


@pytest.mark.parametrize("model", ALL_EVENTS, ids=IDS)
def test_the_example_round_trips_through_an_envelope(model: type[EventData]) -> None:
    env = on_the_wire(model)
    back = Envelope.from_bytes(env.to_bytes())
    assert back == env
    assert back.payload(model) == model.model_validate(example(model))
    assert registry().decode(back) == model.model_validate(example(model))


@pytest.mark.parametrize("model", ALL_EVENTS, ids=IDS)
def test_the_example_matches_the_committed_snapshot(model: type[EventData]) -> None:
    wire = json.loads(on_the_wire(model).to_bytes())
    jsonschema.validate(wire, snapshot(snapshots.ENVELOPE_FILE), format_checker=CHECKER)
    jsonschema.validate(wire["data"], snapshot(model), format_checker=CHECKER)
    jsonschema.validate(example(model), snapshot(model), format_checker=CHECKER)


@pytest.mark.parametrize("model", ALL_EVENTS, ids=IDS)
def test_the_examples_personal_data_sits_under_pii_and_is_masked_in_logs(model: type[EventData]) -> None:
    spec = registry().spec_for(model)
    data = example(model)
    if not spec.pii:
        assert "pii" not in model.model_fields and "pii" not in data
        return
    values = personal_values(data)
    assert values, f"the example of {model.__name__} shows no personal data under pii"
    assert {f"pii.{k}" for k, v in data["pii"].items() if v} <= set(spec.pii)
    outside = json.dumps({k: v for k, v in data.items() if k != "pii"}, ensure_ascii=False)
    assert [v for v in values if v in outside] == [], "personal data outside pii"
    logged = json.dumps(mask_pii(None, "info", {"envelope": on_the_wire(model).model_dump(mode="json")}),
                        ensure_ascii=False)
    assert [v for v in values if v in logged] == []


def test_the_pii_check_can_say_no() -> None:
    """Guard: a personal value copied outside `pii` is found by the check above."""
    data = example(CaseOpened)
    data["description"] = f"call me on {data['pii']['phone']}"
    outside = json.dumps({k: v for k, v in data.items() if k != "pii"})
    assert [v for v in personal_values(data) if v in outside] == [data["pii"]["phone"]]


def test_a_message_that_breaks_the_snapshot_is_rejected() -> None:
    """The example check can fail: a wrong type or a missing required field does not validate."""
    data = CaseOpened.model_validate(example(CaseOpened)).model_dump(mode="json")
    schema = snapshot(CaseOpened)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**data, "lat": "north"}, schema, format_checker=CHECKER)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({k: v for k, v in data.items() if k != "case_id"}, schema, format_checker=CHECKER)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**data, "status": "pending"}, schema, format_checker=CHECKER)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**data, "case_id": "case-1"}, schema, format_checker=CHECKER)
