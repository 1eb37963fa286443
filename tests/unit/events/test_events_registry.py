"""The topic registry agrees with the catalogue and with what the services actually subscribe to.

The registry is generated from the event declarations; the committed `registry.json` must be exactly
what they generate, and the checks below read that file (what people and other tools read).
"""

from __future__ import annotations

import ast
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

import shared.events
from shared.events import ALL_EVENTS, EventData, registry

REPO = Path(__file__).resolve().parents[3]
REGISTRY_JSON = REPO / "shared" / "events" / "registry.json"
SERVICES = REPO / "services"
RAW: dict[str, Any] = json.loads(REGISTRY_JSON.read_text("utf-8"))
MODELS = {(m.event_type, m.schema_version): m for m in ALL_EVENTS}
ENTRIES = {(e["event_type"], e["schema_version"]): e for e in RAW["events"]}
IDS = [f"{t}.v{v}" for t, v in ENTRIES]


def nested_model(model: type[BaseModel], name: str) -> type[BaseModel] | None:
    ann = model.model_fields[name].annotation
    candidates = getattr(ann, "__args__", None) or (ann,)
    return next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None)


def has_path(model: type[BaseModel], dotted: str) -> bool:
    head, _, rest = dotted.partition(".")
    if head not in model.model_fields:
        return False
    if not rest:
        return True
    inner = nested_model(model, head)
    return inner is not None and has_path(inner, rest)


# --- the services' own declarations, read from their entry points ------------------------------------


def _app_tree(service: str) -> ast.Module:
    """The bootstrap, the entry points and the service layer (where the dispatch table is) as one tree."""
    root = SERVICES / service
    files = [root / "app.py", *sorted(root.glob("entrypoints/*.py")), *sorted(root.glob("service_layer/*.py"))]
    return ast.Module(body=[n for f in files if f.is_file() for n in ast.parse(f.read_text("utf-8")).body],
                      type_ignores=[])


def subscribed_topics(service: str) -> set[str]:
    """Topics named as `*.topic("...")` in the arguments of every `*.subscriber(...)` call of app.py."""
    topics: set[str] = set()
    for node in ast.walk(_app_tree(service)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "subscriber":
            for arg in node.args:
                if (isinstance(arg, ast.Call) and isinstance(arg.func, ast.Attribute) and arg.func.attr == "topic"
                        and arg.args and isinstance(arg.args[0], ast.Constant)):
                    topics.add(arg.args[0].value)
                elif isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    topics.add(arg.value)
    return topics


def named_event_types(tree: ast.AST) -> set[str]:
    """Event types named as `<CatalogueModel>.event_type` in `tree`.

    A model is known by every name `shared.events` exports it under.
    """
    by_name = {name: obj.event_type for name in shared.events.__all__
               if (obj := getattr(shared.events, name)) in ALL_EVENTS}
    return {
        by_name[node.value.id]
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and node.attr == "event_type" and isinstance(node.value, ast.Name)
        and node.value.id in by_name
    }


def handled_event_types(service: str) -> set[str]:
    """Event types named in the service's dispatch table (app.py, entrypoints/, service_layer/)."""
    return named_event_types(_app_tree(service))


def service_names() -> list[str]:
    return sorted(p.parent.name for p in SERVICES.glob("*/app.py"))


def registry_consumers() -> dict[str, set[tuple[str, str]]]:
    """service → {(topic, event_type)} it is registered to consume."""
    out: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for e in RAW["events"]:
        for c in e["consumers"]:
            out[c].add((e["topic"], e["event_type"]))
    return out


# --- catalogue ↔ registry ----------------------------------------------------------------------------


def test_the_registry_loads_and_every_catalogue_model_is_in_it() -> None:
    assert set(registry().events) == set(MODELS)


def test_registry_json_is_what_the_declarations_generate() -> None:
    assert RAW == registry().as_json(), (
        "shared/events/registry.json differs from the event declarations; regenerate it with "
        "`python -m shared.events.snapshots --write` (never edit it by hand)"
    )
    assert REGISTRY_JSON.read_text("utf-8") == registry().render(), (
        "shared/events/registry.json is not in canonical form; run `python -m shared.events.snapshots --write`"
    )


def test_the_handled_event_parser_finds_catalogue_models_and_ignores_other_names() -> None:
    tree = ast.parse("HANDLERS = {CaseOpened.event_type: opened, NotificationRecorded.event_type: record, "
                     "Unknown.event_type: x}")
    assert named_event_types(tree) == {"notification.recorded", "case.opened"}


def test_every_catalogue_model_is_listed_in_registry_json_and_vice_versa() -> None:
    assert set(MODELS) - set(ENTRIES) == set(), "catalogue models missing from registry.json"
    assert set(ENTRIES) - set(MODELS) == set(), "registry.json lists events with no catalogue model"
    assert len(ENTRIES) == len(RAW["events"]), "registry.json lists an event version twice"


@pytest.mark.parametrize("key", ENTRIES, ids=IDS)
def test_every_named_topic_exists_and_keys_like_its_topic(key: tuple[str, int]) -> None:
    entry = ENTRIES[key]
    assert entry["topic"] in RAW["topics"], f"{key} names unknown topic {entry['topic']}"
    assert entry["key_field"] == RAW["topics"][entry["topic"]]["key"], (
        "every event on a topic must be keyed alike, or per-case/per-reporter order is lost"
    )


def test_every_topic_carries_at_least_one_event() -> None:
    used = {e["topic"] for e in RAW["events"]}
    assert set(RAW["topics"]) - used == set()


@pytest.mark.parametrize("key", ENTRIES, ids=IDS)
def test_the_key_field_is_a_field_of_the_model_or_the_envelope_subject(key: tuple[str, int]) -> None:
    field = ENTRIES[key]["key_field"]
    model = MODELS[key]
    assert field == "subject" or field in model.model_fields, f"{model.__name__} has no field {field!r}"


@pytest.mark.parametrize("key", ENTRIES, ids=IDS)
def test_registered_pii_paths_exist_on_the_model(key: tuple[str, int]) -> None:
    model = MODELS[key]
    missing = [p for p in ENTRIES[key]["pii"] if not has_path(model, p)]
    assert missing == [], f"{model.__name__} has no {missing}"


@pytest.mark.parametrize("key", ENTRIES, ids=IDS)
def test_every_field_under_pii_is_listed_as_pii(key: tuple[str, int]) -> None:
    model: type[EventData] = MODELS[key]
    listed = set(ENTRIES[key]["pii"])
    if "pii" not in model.model_fields:
        assert not any(p.startswith("pii.") for p in listed)
        return
    pii_model = nested_model(model, "pii")
    assert pii_model is not None
    assert {f"pii.{name}" for name in pii_model.model_fields} <= listed


def test_has_path_can_say_no() -> None:
    """The PII check above is not vacuous."""
    assert MODELS[("case.opened", 1)] and has_path(MODELS[("case.opened", 1)], "pii.email")
    assert not has_path(MODELS[("case.opened", 1)], "pii.fax")
    assert not has_path(MODELS[("case.opened", 1)], "case_id.hex")
    assert not has_path(MODELS[("case.routed", 1)], "pii.email")


def test_producers_and_consumers_are_named() -> None:
    for key, e in ENTRIES.items():
        assert e["producers"], f"{key} has no producer"
        assert len(set(e["consumers"])) == len(e["consumers"]), f"{key} lists a consumer twice"


# --- registry ↔ services/*/app.py ---------------------------------------------------------------------


def test_the_subscription_parser_finds_every_services_subscriptions() -> None:
    """Guard: if app.py is restructured so that nothing is found, the checks below would pass vacuously."""
    consumers = set(registry_consumers())
    assert consumers, "registry names no consumer at all"
    for service in consumers & set(service_names()):
        assert subscribed_topics(service), f"no subscriber found in services/{service}/app.py"


@pytest.mark.parametrize("service", sorted(registry_consumers()))
def test_every_service_named_as_consumer_subscribes_to_that_topic(service: str) -> None:
    assert (SERVICES / service / "app.py").exists(), f"registry names consumer {service!r}: no services/{service}/app.py"
    wanted = {topic for topic, _ in registry_consumers()[service]}
    assert wanted - subscribed_topics(service) == set(), f"{service} is a registered consumer but never subscribes"


@pytest.mark.parametrize("service", service_names())
def test_every_subscribed_topic_lists_the_service_as_a_consumer(service: str) -> None:
    registered = {topic for topic, _ in registry_consumers().get(service, set())}
    unknown = subscribed_topics(service) - set(RAW["topics"])
    assert unknown == set(), f"{service} subscribes to topics the registry does not know"
    assert subscribed_topics(service) - registered == set(), (
        f"{service} subscribes to topics where the registry lists it as consumer of no event"
    )


@pytest.mark.parametrize("service", service_names())
def test_a_service_handles_exactly_the_events_it_is_registered_to_consume(service: str) -> None:
    """A consumer entry decides when an old version may be retired: it must match the dispatch table."""
    if not subscribed_topics(service):
        assert service not in registry_consumers()
        return
    registered = {event_type for _, event_type in registry_consumers().get(service, set())}
    handled = handled_event_types(service)
    assert handled == registered, (
        f"{service}: handled but not registered {sorted(handled - registered)}, "
        f"registered but not handled {sorted(registered - handled)}"
    )
