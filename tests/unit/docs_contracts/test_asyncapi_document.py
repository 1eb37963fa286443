"""The AsyncAPI document integrators read (docs/asyncapi.json, docs/integrations.md section 4) is what the code
generates, is valid AsyncAPI 3.0 (the specification's own JSON Schema, npm `@asyncapi/specs`), and holds every
topic, its dead-letter twin and every event of the registry with its committed JSON Schema and a valid example;
each service serves a valid document of its own part at ``GET /asyncapi.json``."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from jsonschema import Draft7Validator, Draft202012Validator

from shared.events import registry
from shared.events.asyncapi import (ASYNCAPI_FILE, DEAD_LETTER, REGENERATE, build_document, build_parts,
                                    message_name, render, service_document)
from shared.events.registry import DLQ_SUFFIX
from shared.events.snapshots import load_snapshot, snapshot_name
from shared.settings import Settings

from documents_support import asyncapi_validator as _validator, http_get, service_apps as _apps

SPECS = list(registry().events.values())


@pytest.fixture(scope="module")
def service_apps() -> dict[str, Any]:
    return _apps()


@pytest.fixture(scope="module")
def asyncapi_validator() -> Draft7Validator:
    return _validator()


@pytest.fixture(scope="module")
def committed() -> dict[str, Any]:
    assert ASYNCAPI_FILE.is_file(), f"docs/asyncapi.json is missing: run `{REGENERATE}`"
    return json.loads(ASYNCAPI_FILE.read_text("utf-8"))


@pytest.fixture(scope="module")
def generated(service_apps: dict[str, Any]) -> dict[str, Any]:
    return build_document(build_parts(service_apps))


def inline(node: Any, root: dict[str, Any], prefix: str) -> Any:
    """`node` with every local reference under `prefix` (``#/$defs/`` or ``#/components/schemas/``) replaced
    by what it points at (the event schemas are not recursive)."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(prefix):
            target: Any = root
            for part in ref[2:].split("/"):
                target = target[part]
            return inline(target, root, prefix)
        return {k: inline(v, root, prefix) for k, v in node.items() if k != "$defs"}
    if isinstance(node, list):
        return [inline(v, root, prefix) for v in node]
    return node


def test_the_committed_document_is_what_the_code_generates(committed: dict[str, Any],
                                                          generated: dict[str, Any]) -> None:
    assert ASYNCAPI_FILE.read_text("utf-8") == render(generated), \
        f"docs/asyncapi.json is stale (a subscriber, an event or a service changed): run `{REGENERATE}`"


def test_the_document_is_valid_asyncapi_3_0(committed: dict[str, Any], asyncapi_validator: Draft7Validator) -> None:
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message[:300]}"
              for e in asyncapi_validator.iter_errors(committed)]
    assert not errors, "docs/asyncapi.json is not valid AsyncAPI 3.0:\n" + "\n".join(errors[:20])


def test_the_validator_refuses_an_invalid_document(committed: dict[str, Any],
                                                   asyncapi_validator: Draft7Validator) -> None:
    broken = copy.deepcopy(committed)
    next(iter(broken["operations"].values()))["action"] = "publish"  # AsyncAPI 2's word, not 3.0's
    assert not asyncapi_validator.is_valid(broken)


def test_every_topic_and_its_dead_letter_twin_is_a_channel(committed: dict[str, Any]) -> None:
    for topic in registry().topics:
        assert committed["channels"][topic]["address"] == topic
        dlq = committed["channels"][topic + DLQ_SUFFIX]
        assert dlq["address"] == topic + DLQ_SUFFIX
        assert list(dlq["messages"]) == [DEAD_LETTER]


@pytest.mark.parametrize("spec", SPECS, ids=message_name)
def test_every_registry_event_is_a_message_with_its_schema_and_example(committed: dict[str, Any], spec: Any) -> None:
    name = message_name(spec)
    message = committed["components"]["messages"][name]
    assert committed["channels"][spec.topic]["messages"][name] == {"$ref": f"#/components/messages/{name}"}
    assert message["name"] == spec.event_type
    payload = message["payload"]
    assert payload["properties"]["event_type"]["const"] == spec.event_type
    assert payload["properties"]["schema_version"]["const"] == spec.schema_version
    snapshot = load_snapshot(snapshot_name(spec.model))
    assert snapshot is not None
    in_document = inline(payload["properties"]["data"], committed, "#/components/schemas/")
    assert in_document == inline(snapshot, snapshot, "#/$defs/"), f"{name}: the data schema is not the snapshot"
    # the example is a whole envelope, valid against the payload schema (references resolved in the document)
    schema = {**payload, "components": committed["components"]}
    for example in message["examples"]:
        errors = [e.message for e in Draft202012Validator(schema).iter_errors(example["payload"])]
        assert not errors, f"{name}: example does not fit: {errors[:5]}"
    assert message["x-omni311-personal-data"] == [f"data.{p}" for p in spec.pii]


@pytest.mark.parametrize("spec", SPECS, ids=message_name)
def test_every_registry_event_is_sent_by_its_producers_and_received_by_its_consumers(
        committed: dict[str, Any], spec: Any) -> None:
    ref = {"$ref": f"#/channels/{spec.topic}/messages/{message_name(spec)}"}
    operations = committed["operations"]
    for producer in spec.producers:
        assert ref in operations[f"{producer}.send.{spec.topic}"]["messages"], f"{producer} does not send it"
    built = {name.split(".", 1)[0] for name, op in operations.items() if op["action"] == "receive"}
    for consumer in spec.consumers:
        if consumer in built:  # a service of this checkout that subscribes (the registry test checks the rest)
            assert ref in operations[f"{consumer}.receive.{spec.topic}"]["messages"], f"{consumer} does not receive it"


def test_receive_operations_name_their_consumer_group(committed: dict[str, Any]) -> None:
    receives = {name: op for name, op in committed["operations"].items() if op["action"] == "receive"}
    assert receives, "no service receives anything: FastStream's subscribers were not read"
    for name, op in receives.items():
        service = name.split(".", 1)[0]
        assert op["bindings"]["kafka"]["groupId"]["enum"] == [service], name
        assert op["messages"], f"{name}: receives no event of the registry"


def test_each_service_serves_its_valid_part(service_apps: dict[str, Any], committed: dict[str, Any],
                                            asyncapi_validator: Draft7Validator) -> None:
    for name, app in service_apps.items():
        response = http_get(app, "/asyncapi.json")
        assert response.status_code == 200, name
        part = response.json()
        errors = [e.message[:300] for e in asyncapi_validator.iter_errors(part)]
        assert not errors, f"{name}'s /asyncapi.json is not valid AsyncAPI 3.0: {errors[:5]}"
        mine = {k: v for k, v in committed["operations"].items() if k.split(".", 1)[0] == name}
        assert part["operations"] == mine, f"{name}'s /asyncapi.json is not its part of docs/asyncapi.json"
        for channel in part["channels"]:
            assert part["channels"][channel] == committed["channels"][channel]


def test_a_served_document_names_the_deployment_topics(service_apps: dict[str, Any]) -> None:
    runtime = service_apps["router"].state.runtime
    prefixed = Settings(kafka_bootstrap="127.0.0.1:9092", topic_prefix="city1.")
    part = service_document("router", runtime.broker, prefixed)
    assert part["channels"]["routing.decisions"]["address"] == "city1.routing.decisions"
    assert part["channels"]["cases.lifecycle.dlq"]["address"] == "city1.cases.lifecycle.dlq"
