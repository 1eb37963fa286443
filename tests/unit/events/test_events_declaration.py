"""Adding an event is one declaration: its class list entry, registry entry and schema snapshot follow.

A throwaway context module, written the way `shared/events/case.py` is, declares `case.reopened`; nothing
else is edited, and the catalogue the services use is left as it was.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from uuid import UUID

import jsonschema
import pytest
from pydantic import Field

from shared.events import ALL_EVENTS, CaseOpened, CaseStatusChanged, EventData, Pii, registry
from shared.events import snapshots
from shared.events.catalogue import CONTEXTS
from shared.events.declaration import declaration_of, event, events_in, is_declared, pii_paths
from shared.events.registry import build_registry
from shared.events.topics import CASES_LIFECYCLE, TOPICS, TopicSpec

CONTEXT = '''
"""A context module with one new event, as a developer would add it."""

from uuid import UUID

from pydantic import Field

from shared.events.common import Pii
from shared.events.declaration import event
from shared.events.envelope import EventData
from shared.events.topics import CASES_LIFECYCLE


@event(
    topic=CASES_LIFECYCLE,
    producers=("case",),
    consumers=("notifier",),
    example={"case_id": "6f1c8f5e-2f7a-4c55-9b1e-0d1f2a3b4c5d", "reason": "not repaired",
             "pii": {"email": "ann.dupont@example.org"}},
)
class CaseReopened(EventData):
    """`case.reopened` v1: staff reopened a closed case."""

    event_type = "case.reopened"
    schema_version = 1

    case_id: UUID
    reason: str
    pii: Pii = Field(default_factory=Pii)
'''


@pytest.fixture
def context(tmp_path: Path) -> Iterator[ModuleType]:
    """The throwaway context module, imported from a file and forgotten afterwards."""
    path = tmp_path / "reopening.py"
    path.write_text(textwrap.dedent(CONTEXT), "utf-8")
    spec = importlib.util.spec_from_file_location("throwaway_reopening", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(spec.name, None)


def test_a_declared_event_is_found_in_its_context_module(context: ModuleType) -> None:
    assert events_in(context) == (context.CaseReopened,)
    assert events_in(*CONTEXTS, context) == (*ALL_EVENTS, context.CaseReopened)


def test_a_declared_event_gets_its_registry_entry_from_the_declaration(context: ModuleType) -> None:
    reg = build_registry(events_in(*CONTEXTS, context))

    spec = reg.spec("case.reopened", 1)
    assert spec.model is context.CaseReopened
    assert (spec.topic, spec.key_field) == ("cases.lifecycle", "case_id")
    assert (spec.producers, spec.consumers) == (("case",), ("notifier",))
    assert spec.pii == tuple(f"pii.{name}" for name in Pii.model_fields)
    assert reg.as_json()["events"][-1] == {
        "event_type": "case.reopened", "schema_version": 1, "topic": "cases.lifecycle", "key_field": "case_id",
        "producers": ["case"], "consumers": ["notifier"], "pii": [f"pii.{name}" for name in Pii.model_fields],
    }
    assert reg.topics == registry().topics


def test_a_declared_event_gets_its_schema_snapshot_and_its_example_fits_it(context: ModuleType, tmp_path: Path) -> None:
    events = events_in(*CONTEXTS, context)
    folder = tmp_path / "schemas"

    assert "case.reopened.v1.json: no committed snapshot (run --write)" in snapshots.check(folder, events)
    written, refused = snapshots.write(folder, events=events)

    assert "case.reopened.v1.json" in written and refused == []
    assert snapshots.check(folder, events) == []
    schema = json.loads((folder / "case.reopened.v1.json").read_text("utf-8"))
    assert schema == context.CaseReopened.model_json_schema()
    jsonschema.validate(declaration_of(context.CaseReopened).example, schema,
                        format_checker=jsonschema.FormatChecker())
    assert snapshots.check(folder) == [
        "case.reopened.v1.json: snapshot of a model that is no longer in the catalogue"
    ], "without its declaration the event's snapshot is stale"


def test_declaring_an_event_in_a_test_leaves_the_catalogue_as_it_was(context: ModuleType) -> None:
    assert context.CaseReopened not in ALL_EVENTS
    with pytest.raises(KeyError, match="case.reopened v1"):
        registry().spec("case.reopened", 1)


def test_a_new_version_is_a_second_declaration_beside_the_first() -> None:
    @event(topic=CASES_LIFECYCLE, producers=("case",), consumers=("dedup",),
           example={"case_id": "6f1c8f5e-2f7a-4c55-9b1e-0d1f2a3b4c5d", "service_request_id": "311-000123",
                    "jurisdiction_id": "demo", "status": "closed", "status_notes": "Repaired", "closed_by": "crew 7"})
    class CaseStatusChangedV2(CaseStatusChanged):
        event_type = "case.status_changed"
        schema_version = 2
        closed_by: str

    reg = build_registry((*ALL_EVENTS, CaseStatusChangedV2))
    assert reg.spec("case.status_changed", 1).model is CaseStatusChanged
    assert reg.spec("case.status_changed", 2).model is CaseStatusChangedV2
    assert reg.spec("case.status_changed", 2).consumers == ("dedup",)


# --- what a declaration refuses -----------------------------------------------------------------------


def test_a_subclass_of_a_declared_event_is_not_declared_by_inheritance() -> None:
    class CaseOpenedV2(CaseOpened):
        schema_version = 2

    assert is_declared(CaseOpened) and not is_declared(CaseOpenedV2)
    with pytest.raises(LookupError, match="CaseOpenedV2 is not declared"):
        build_registry((*ALL_EVENTS, CaseOpenedV2))


def test_an_event_must_name_its_own_type_and_version() -> None:
    with pytest.raises(TypeError, match="must set its own event_type and schema_version"):
        @event(topic=CASES_LIFECYCLE, producers=("case",), consumers=(), example={})
        class Copy(CaseOpened):
            pass


def test_an_event_is_declared_once() -> None:
    declare = event(topic=CASES_LIFECYCLE, producers=("case",), consumers=(), example={})
    with pytest.raises(TypeError, match="declared twice"):
        declare(CaseOpened)


@pytest.mark.parametrize(
    ("producers", "consumers", "message"),
    [((), ("case",), "at least one producer"), (("case",), ("dedup", "dedup"), "named twice")],
)
def test_an_event_needs_a_producer_and_names_each_consumer_once(
    producers: tuple[str, ...], consumers: tuple[str, ...], message: str,
) -> None:
    with pytest.raises(ValueError, match=message):
        event(topic=CASES_LIFECYCLE, producers=producers, consumers=consumers, example={})


def test_the_registry_refuses_an_unknown_topic_and_a_version_declared_twice() -> None:
    rogue = TopicSpec(name="cases.archive", partitions=1, key="case_id", description="not declared")

    @event(topic=rogue, producers=("case",), consumers=(), example={"case_id": "6f1c8f5e-2f7a-4c55-9b1e-0d1f2a3b4c5d"})
    class CaseArchived(EventData):
        event_type = "case.archived"
        schema_version = 1
        case_id: UUID

    @event(topic=CASES_LIFECYCLE, producers=("case",), consumers=(), example={})
    class OpenedAgain(CaseOpened):
        event_type = "case.opened"
        schema_version = 1

    with pytest.raises(ValueError, match="unknown topic cases.archive"):
        build_registry((CaseArchived,))
    assert build_registry((CaseArchived,), (*TOPICS, rogue)).topic_of(CaseArchived) == "cases.archive"
    with pytest.raises(ValueError, match=r"\('case.opened', 1\) is declared twice"):
        build_registry((*ALL_EVENTS, OpenedAgain))
    with pytest.raises(ValueError, match="topic cases.lifecycle is declared twice"):
        build_registry(ALL_EVENTS, (*TOPICS, CASES_LIFECYCLE))


def test_pii_paths_are_the_fields_of_the_pii_object() -> None:
    class WithPii(EventData):
        pii: Pii = Field(default_factory=Pii)

    class WithoutPii(EventData):
        note: str

    assert pii_paths(WithPii) == ("pii.email", "pii.phone", "pii.handle", "pii.first_name", "pii.last_name",
                                  "pii.name")
    assert pii_paths(WithoutPii) == ()
