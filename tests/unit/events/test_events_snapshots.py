"""Committed JSON Schema snapshots match the models, breaking changes are caught, and the tool keeps
the snapshots and `registry.json` in step with the declarations (examples: `test_events_examples.py`)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from shared.events import ALL_EVENTS, CaseOpened, CaseStatusChanged, Envelope, EventData, registry
from shared.events import snapshots
from shared.events.snapshots import breaking_changes

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


def tool(tmp_path: Path, *args: str) -> int:
    """The tool run on a scratch copy: snapshots in tmp_path/schemas, the registry in tmp_path/registry.json."""
    return snapshots.main([*args, "--dir", str(tmp_path / "schemas"), "--registry", str(tmp_path / "registry.json")])


def test_the_check_tool_reports_a_breaking_edit_and_write_refuses_it(tmp_path: Path) -> None:
    schemas = tmp_path / "schemas"
    schemas.mkdir()
    for name, schema in snapshots.expected_snapshots().items():
        (schemas / name).write_text(snapshots.render(schema))
    old = json.loads((schemas / "case.opened.v1.json").read_text())
    old["properties"]["legacy_ref"] = {"type": "string"}
    old["required"].append("legacy_ref")
    (schemas / "case.opened.v1.json").write_text(json.dumps(old))

    assert snapshots.check(schemas) == ["case.opened.v1.json: BREAKING legacy_ref: removed"]
    assert tool(tmp_path, "--write") == 1
    assert json.loads((schemas / "case.opened.v1.json").read_text()) == old


def test_the_write_tool_fills_a_missing_snapshot_and_flags_a_stale_one(tmp_path: Path) -> None:
    schemas = tmp_path / "schemas"
    schemas.mkdir()
    (schemas / "case.reopened.v1.json").write_text("{}")
    assert tool(tmp_path, "--write") == 0
    assert json.loads((schemas / "case.opened.v1.json").read_text()) == CaseOpened.model_json_schema()
    assert snapshots.check(schemas) == ["case.reopened.v1.json: snapshot of a model that is no longer in the catalogue"]


def test_the_write_tool_generates_registry_json_and_the_check_tool_catches_a_hand_edit(tmp_path: Path) -> None:
    assert tool(tmp_path, "--check") == 1  # nothing written yet
    assert tool(tmp_path, "--write") == 0
    assert (tmp_path / "registry.json").read_text("utf-8") == registry().render()
    assert tool(tmp_path, "--check") == 0

    edited = json.loads((tmp_path / "registry.json").read_text("utf-8"))
    edited["events"][0]["consumers"].append("router")
    (tmp_path / "registry.json").write_text(json.dumps(edited))
    assert snapshots.check_registry_file(tmp_path / "registry.json") == [
        "registry.json: differs from the event declarations; regenerate it with "
        "`python -m shared.events.snapshots --write`"
    ]
    assert tool(tmp_path, "--check") == 1
    assert tool(tmp_path, "--write") == 0
    assert json.loads((tmp_path / "registry.json").read_text("utf-8")) == registry().as_json()


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
