"""Committed JSON Schema snapshots match the models, breaking changes are caught, and examples validate."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import jsonschema
import pytest

from shared.events import (
    ALL_EVENTS,
    BounceReceived,
    CaseMerged,
    CaseMessageAdded,
    CaseOpened,
    CaseRouted,
    CaseStatusChanged,
    DedupDecided,
    DeliveryStatusReceived,
    Envelope,
    EventData,
    MessageReceived,
    MessageStatusReceived,
    NotificationOutcome,
    OptInReceived,
    OptOutReceived,
    Pii,
    ProviderError,
    RoutingDecided,
    RoutingFields,
)
from shared.events import snapshots
from shared.events.snapshots import breaking_changes

NOW = datetime(2025, 3, 14, 15, 9, 26, tzinfo=UTC)
CASE = UUID("6f1c8f5e-2f7a-4c55-9b1e-0d1f2a3b4c5d")
OTHER = UUID("0b7a1a2c-3d4e-4f50-8a6b-7c8d9e0f1a2b")
PII = Pii(email="ann.dupont@example.org", phone="+16175550123", first_name="Ann", last_name="Dupont")
ROUTING = RoutingFields(
    service_code="pothole", service_name="Pothole", category_source="keywords", agency_responsible="Public Works",
    queue="pw-streets", priority=3, district="D7", sla_due_at=NOW, rule_id="r-12", config_version="2025-03-01",
    matched_keywords=["pothole"], score=0.92,
)

EXAMPLES: dict[type[EventData], EventData] = {
    MessageReceived: MessageReceived(
        channel="email", channel_message_id="<CAF=abc@mail.example.org>", contact_key="ck:3f9a1c",
        received_at=NOW, service_code=None, description="Big pothole at 12 Main St", address="12 Main St",
        lat=42.3601, long=-71.0589, media_url=["https://files.example.org/p.jpg"], requested_datetime=NOW,
        language="en", attributes={"ward": 7}, in_reply_to=["<prev@mail.example.org>"], pii=PII,
    ),
    BounceReceived: BounceReceived(
        channel="email", channel_message_id="<dsn-1@mx.example.org>", contact_key="ck:3f9a1c", received_at=NOW,
        reason="delivery status notification", status="5.1.1", diagnostic="smtp; 550 5.1.1 user unknown",
        pii=Pii(email="ann.dupont@example.org"),
    ),
    CaseOpened: CaseOpened(
        case_id=CASE, service_request_id="311-000123", jurisdiction_id="demo", channel="email",
        channel_message_id="<CAF=abc@mail.example.org>", contact_key="ck:3f9a1c", service_code="pothole",
        description="Big pothole", address="12 Main St", zipcode="02108", lat=42.36, long=-71.06,
        requested_datetime=NOW, language="en", reply_to_message_id="<CAF=abc@mail.example.org>", pii=PII,
    ),
    CaseMessageAdded: CaseMessageAdded(
        case_id=CASE, service_request_id="311-000123", jurisdiction_id="demo", message_id=OTHER, channel="sms",
        channel_message_id="SM0123456789abcdef", description="Still there", pii=Pii(phone="+16175550123"),
    ),
    RoutingDecided: RoutingDecided(case_id=CASE, routing=ROUTING),
    CaseRouted: CaseRouted(
        case_id=CASE, service_request_id="311-000123", jurisdiction_id="demo", routing=ROUTING,
        description="Big pothole", lat=42.36, long=-71.06, requested_datetime=NOW,
    ),
    DedupDecided: DedupDecided(
        case_id=CASE, duplicate_of=OTHER, score=0.87, distance_m=14.2, text_similarity=0.8, window_hours=72,
        radius_m=50, evidence={"same_service_code": True},
    ),
    CaseMerged: CaseMerged(
        case_id=CASE, service_request_id="311-000123", jurisdiction_id="demo", merged_into=OTHER,
        merged_into_service_request_id="311-000100", status_notes="Duplicate of 311-000100",
    ),
    CaseStatusChanged: CaseStatusChanged(
        case_id=CASE, service_request_id="311-000123", jurisdiction_id="demo", status="closed",
        status_notes="Repaired",
    ),
    NotificationOutcome: NotificationOutcome(
        case_id=CASE, cause_event_id=OTHER, kind="acknowledgement", channel="email", recipient_key="rk:9d2e",
        outcome="sent", provider_message_id="<ack-1@omni311.test>", pii=Pii(email="ann.dupont@example.org"),
    ),
    OptOutReceived: OptOutReceived(
        channel="sms", channel_message_id="SM0123456789abcdef", contact_key="ck:5e1b", received_at=NOW,
        source="keyword", keyword="ARRÊT", language="fr", pii=Pii(phone="+15145550123"),
    ),
    OptInReceived: OptInReceived(
        channel="sms", channel_message_id="SMfedcba9876543210", contact_key="ck:5e1b", received_at=NOW,
        keyword="START", language="en", pii=Pii(phone="+15145550123"),
    ),
    MessageStatusReceived: MessageStatusReceived(
        channel="sms", provider_message_id="SM00aa11bb22cc33dd", contact_key="ck:5e1b", received_at=NOW,
        status="undelivered", outcome="failed", error_code=21610, pii=Pii(phone="+15145550123"),
    ),
    DeliveryStatusReceived: DeliveryStatusReceived(
        channel="whatsapp", provider_message_id="wamid.HBgLMTUxNDU1NTAxMjMVAgARGBI=", contact_key="ck:77aa",
        status="failed", reported_at=NOW, received_at=NOW,
        errors=[ProviderError(code="131047", title="Re-engagement message")],
        pii=Pii(handle="15145550123", phone="+15145550123"),
    ),
}


def snapshot(name: str) -> dict[str, Any]:
    path = snapshots.SCHEMA_DIR / name
    assert path.exists(), f"{path} is not committed; run `python -m shared.events.snapshots --write`"
    return json.loads(path.read_text("utf-8"))


# --- the committed snapshots -------------------------------------------------------------------------


@pytest.mark.parametrize("model", ALL_EVENTS, ids=lambda m: f"{m.event_type}.v{m.schema_version}")
def test_committed_snapshot_equals_the_models_current_schema(model: type[EventData]) -> None:
    committed = snapshot(snapshots.snapshot_name(model))
    current = model.model_json_schema()
    assert committed == current, (
        f"{model.__name__} changed; breaking: {breaking_changes(committed, current) or 'none'}. A compatible "
        "change: run `python -m shared.events.snapshots --write`; a breaking one needs a new schema_version."
    )


def test_committed_envelope_snapshot_equals_the_envelope_schema() -> None:
    assert snapshot(snapshots.ENVELOPE_FILE) == Envelope.model_json_schema()


def test_every_committed_snapshot_belongs_to_a_catalogue_model() -> None:
    expected = {snapshots.snapshot_name(m) for m in ALL_EVENTS} | {snapshots.ENVELOPE_FILE}
    committed = {p.name for p in snapshots.SCHEMA_DIR.glob("*.json")}
    assert committed == expected


def test_the_check_tool_agrees_with_the_committed_snapshots() -> None:
    assert snapshots.main(["--check"]) == 0


def test_the_check_tool_reports_a_breaking_edit_and_write_refuses_it(tmp_path: Path) -> None:
    for name, schema in snapshots.expected_snapshots().items():
        (tmp_path / name).write_text(snapshots.render(schema))
    old = json.loads((tmp_path / "case.opened.v1.json").read_text())
    old["properties"]["legacy_ref"] = {"type": "string"}
    old["required"].append("legacy_ref")
    (tmp_path / "case.opened.v1.json").write_text(json.dumps(old))

    assert snapshots.check(tmp_path) == ["case.opened.v1.json: BREAKING legacy_ref: removed"]
    assert snapshots.main(["--write", "--dir", str(tmp_path)]) == 1
    assert json.loads((tmp_path / "case.opened.v1.json").read_text()) == old


def test_the_write_tool_fills_a_missing_snapshot_and_flags_a_stale_one(tmp_path: Path) -> None:
    (tmp_path / "case.reopened.v1.json").write_text("{}")
    assert snapshots.main(["--write", "--dir", str(tmp_path)]) == 0
    assert json.loads((tmp_path / "case.opened.v1.json").read_text()) == CaseOpened.model_json_schema()
    assert snapshots.check(tmp_path) == ["case.reopened.v1.json: snapshot of a model that is no longer in the catalogue"]


# --- breaking_changes on hand-made schemas ------------------------------------------------------------

OLD: dict[str, Any] = {
    "$defs": {
        "Pii": {
            "type": "object", "additionalProperties": False,
            "properties": {"email": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None}},
        },
    },
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "case_id": {"type": "string", "format": "uuid"},
        "description": {"type": "string", "default": ""},
        "priority": {"type": "integer", "minimum": 1, "maximum": 5},
        "lat": {"anyOf": [{"type": "number"}, {"type": "null"}], "default": None},
        "status": {"enum": ["open", "closed"], "type": "string"},
        "media_url": {"type": "array", "items": {"type": "string"}},
        "attributes": {"type": "object", "additionalProperties": True},
        "pii": {"$ref": "#/$defs/Pii"},
    },
    "required": ["case_id", "priority", "status"],
}


def changed(edit: Any) -> dict[str, Any]:
    new = copy.deepcopy(OLD)
    edit(new)
    return new


def test_an_identical_schema_has_no_breaking_change() -> None:
    assert breaking_changes(OLD, copy.deepcopy(OLD)) == []


def test_adding_an_optional_field_is_not_breaking() -> None:
    def add(s: dict[str, Any]) -> None:
        s["properties"]["ward"] = {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None}
        s["$defs"]["Pii"]["properties"]["handle"] = {"anyOf": [{"type": "string"}, {"type": "null"}]}

    assert breaking_changes(OLD, changed(add)) == []


def test_editing_titles_descriptions_and_defaults_is_not_breaking() -> None:
    def edit(s: dict[str, Any]) -> None:
        s["description"] = "reworded"
        s["properties"]["description"].update(title="Text", default="n/a")

    assert breaking_changes(OLD, changed(edit)) == []


def test_removing_a_field_is_breaking() -> None:
    assert breaking_changes(OLD, changed(lambda s: s["properties"].pop("lat"))) == ["lat: removed"]


def test_removing_a_nested_field_behind_a_ref_is_breaking() -> None:
    new = changed(lambda s: s["$defs"]["Pii"]["properties"].pop("email"))
    assert breaking_changes(OLD, new) == ["pii.email: removed"]


def test_making_an_optional_field_required_is_breaking() -> None:
    assert breaking_changes(OLD, changed(lambda s: s["required"].append("description"))) == [
        "description: became required"
    ]


def test_adding_a_required_field_is_breaking() -> None:
    def add(s: dict[str, Any]) -> None:
        s["properties"]["queue"] = {"type": "string"}
        s["required"].append("queue")

    assert breaking_changes(OLD, changed(add)) == ["queue: added as required"]


def test_making_a_required_field_optional_is_breaking_for_old_consumers() -> None:
    assert breaking_changes(OLD, changed(lambda s: s["required"].remove("priority"))) == [
        "priority: no longer required (old consumers expect it)"
    ]


@pytest.mark.parametrize(
    ("field", "schema"),
    [
        ("priority", {"type": "string"}),
        ("lat", {"type": "number"}),  # no longer nullable
        ("case_id", {"type": "string"}),  # format uuid dropped
        ("media_url", {"type": "string"}),
        ("pii", {"type": "string"}),
    ],
)
def test_changing_a_type_is_breaking(field: str, schema: dict[str, Any]) -> None:
    problems = breaking_changes(OLD, changed(lambda s: s["properties"].__setitem__(field, schema)))
    assert len(problems) == 1 and problems[0].startswith(f"{field}: type changed"), problems


def test_changing_an_array_item_type_is_breaking() -> None:
    new = changed(lambda s: s["properties"]["media_url"].__setitem__("items", {"type": "integer"}))
    assert [p.split(":")[0] for p in breaking_changes(OLD, new)] == ["media_url[]"]


def test_changing_allowed_values_or_bounds_is_breaking() -> None:
    narrower = changed(lambda s: s["properties"]["status"].__setitem__("enum", ["open"]))
    wider = changed(lambda s: s["properties"]["status"].__setitem__("enum", ["open", "closed", "pending"]))
    bounded = changed(lambda s: s["properties"]["priority"].__setitem__("maximum", 3))
    assert breaking_changes(OLD, narrower) == ["status: allowed values removed ['\"closed\"']"]
    assert breaking_changes(OLD, wider) == ["status: allowed values added ['\"pending\"'] (old consumers reject them)"]
    assert breaking_changes(OLD, bounded) == ["priority: constraint maximum changed from 5 to 3"]


def test_a_free_form_map_that_stops_accepting_keys_is_breaking() -> None:
    new = changed(lambda s: s["properties"]["attributes"].__setitem__("additionalProperties", False))
    assert breaking_changes(OLD, new) == ["attributes: no longer accepts arbitrary keys"]


def test_the_detector_judges_real_model_changes() -> None:
    class WithWard(CaseStatusChanged):
        ward: str | None = None

    class NotesRequired(CaseStatusChanged):
        status_notes: str

    old = CaseStatusChanged.model_json_schema()
    assert breaking_changes(old, WithWard.model_json_schema()) == []
    assert breaking_changes(old, NotesRequired.model_json_schema()) == [
        "status_notes: became required",
        "status_notes: type changed from ['null', 'string'] to ['string']",
    ]


# --- example messages ---------------------------------------------------------------------------------


def test_there_is_an_example_of_every_catalogue_event() -> None:
    assert set(EXAMPLES) == set(ALL_EVENTS)


@pytest.mark.parametrize("model", ALL_EVENTS, ids=lambda m: f"{m.event_type}.v{m.schema_version}")
def test_an_example_message_validates_against_its_committed_snapshot(model: type[EventData]) -> None:
    example = EXAMPLES[model]
    parent = Envelope.new_flow(EXAMPLES[MessageReceived], subject="ck:3f9a1c", producer="intake_email", now=NOW)
    env = parent.caused_by(example, subject=str(CASE), producer="case", now=NOW)
    wire = json.loads(env.to_bytes())

    jsonschema.validate(wire, snapshot(snapshots.ENVELOPE_FILE), format_checker=jsonschema.FormatChecker())
    jsonschema.validate(wire["data"], snapshot(snapshots.snapshot_name(model)),
                        format_checker=jsonschema.FormatChecker())
    assert Envelope.from_bytes(env.to_bytes()).payload(model) == example


def test_a_message_that_breaks_the_snapshot_is_rejected() -> None:
    """The example check can fail: a wrong type or a missing required field does not validate."""
    data = EXAMPLES[CaseOpened].model_dump(mode="json")
    schema = snapshot(snapshots.snapshot_name(CaseOpened))
    checker = jsonschema.FormatChecker()
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**data, "lat": "north"}, schema, format_checker=checker)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({k: v for k, v in data.items() if k != "case_id"}, schema, format_checker=checker)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**data, "status": "pending"}, schema, format_checker=checker)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**data, "case_id": "case-1"}, schema, format_checker=checker)
