"""The AsyncAPI 3.0 document of omni311's topics and events, for the people who connect other systems.

Built from FastStream's own document of each service's subscribers (`faststream.specification.AsyncAPI` of
the service's broker: the server, the topics it subscribes), completed from the event catalogue: one
channel per registry topic and one per its dead-letter twin (`<topic>.dlq`), one message per event version
(payload: the envelope whose `data` is the event's committed JSON Schema snapshot, with the declaration's
example as a whole envelope), and per service the operations it `receive`s (its subscribers, with their
consumer group) and `send`s (the events the registry lists it as producer of, and the dead letters of the
topics it consumes). docs/integrations.md, section 4, is the contract. Usage::

    python -m shared.events.asyncapi            # same as --check: exit 1 when docs/asyncapi.json is stale
    python -m shared.events.asyncapi --write    # write docs/asyncapi.json

Each service serves its own part (`service_document`) at ``GET /asyncapi.json`` (`shared.service.Runtime`).
"""

from __future__ import annotations

import argparse
import copy
import importlib
import json
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any
from uuid import NAMESPACE_URL, uuid5

from faststream.kafka import KafkaBroker
from faststream.specification import AsyncAPI

from shared.events.declaration import declaration_of
from shared.events.registry import DLQ_SUFFIX, EventSpec, Registry, registry
from shared.events.snapshots import ENVELOPE_FILE, load_snapshot, snapshot_name
from shared.settings import Settings

REPO = Path(__file__).resolve().parents[2]
ASYNCAPI_FILE = REPO / "docs" / "asyncapi.json"
"""The committed document (every service's part, every topic and event)."""
SERVICES_DIR = REPO / "services"
REGENERATE = "python -m shared.events.asyncapi --write"
DOCUMENT_SETTINGS = {"kafka_bootstrap": "127.0.0.1:9092", "topic_prefix": ""}
"""What the committed document is built with, whatever the environment says: the local broker and the
registry's own topic names (a deployment's `OMNI311_TOPIC_PREFIX` shows in the documents its services serve)."""
KAFKA_BINDING = "0.5.0"
DEAD_LETTER = "dead_letter"
DEAD_LETTER_HEADERS: dict[str, str] = {
    "x-omni311-error": "why the message was dead-lettered: `unparseable_envelope`, or the error's class name",
    "x-omni311-error-detail": "the error's text (at most 2,000 characters)",
    "x-omni311-source-topic": "the topic the message was read from",
    "x-omni311-source-partition": "its partition (decimal)",
    "x-omni311-source-offset": "its offset (decimal)",
    "x-omni311-consumer": "the service (consumer group) that gave up on it",
}
"""The headers `shared.kafka.Consumer.dead_letter` puts on a dead letter."""
_EXAMPLE_TIME = "2025-03-14T15:09:30Z"

Document = dict[str, Any]


@dataclass(frozen=True)
class ServicePart:
    """What one service contributes: its name, its broker (the subscribers registered by `create_app`) and
    the settings it was built with (topic prefix, consumer groups)."""

    service: str
    broker: KafkaBroker
    settings: Settings


# --- the catalogue: channels, messages, schemas -------------------------------------------------------------


def _version() -> str:
    try:
        return metadata.version("omni311")
    except metadata.PackageNotFoundError:  # a checkout that was never installed
        return "0.0.0"


def _rewrite_refs(node: Any, names: Mapping[str, str]) -> Any:
    """`node` with every ``#/$defs/X`` reference pointing at ``#/components/schemas/<names[X]>``."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith("#/$defs/"):
                out[key] = f"#/components/schemas/{names[value.removeprefix('#/$defs/')]}"
            else:
                out[key] = _rewrite_refs(value, names)
        return out
    if isinstance(node, list):
        return [_rewrite_refs(v, names) for v in node]
    return node


def _add_schema(schemas: dict[str, Any], name: str, snapshot: Mapping[str, Any]) -> None:
    """Put `snapshot` (a pydantic JSON Schema) in `schemas` under `name`, its ``$defs`` beside it under their
    own names (qualified with `name` when another event's definition of that name differs)."""
    body = dict(snapshot)
    defs = body.pop("$defs", {})
    names: dict[str, str] = {}
    for def_name, definition in defs.items():
        names[def_name] = def_name if schemas.get(def_name, definition) == definition else f"{name}.{def_name}"
    for def_name, definition in defs.items():
        schemas[names[def_name]] = _rewrite_refs(definition, names)
    schemas[name] = _rewrite_refs(body, names)


def _snapshot(file_name: str) -> dict[str, Any]:
    schema = load_snapshot(file_name)
    if schema is None:
        raise LookupError(f"shared/events/schemas/{file_name} is missing: "
                          "run `python -m shared.events.snapshots --write`")
    return schema


def message_name(spec: EventSpec) -> str:
    """The message's key in the document, e.g. ``case.opened.v1`` (the snapshot's name without ``.json``)."""
    return f"{spec.event_type}.v{spec.schema_version}"


def example_envelope(spec: EventSpec) -> dict[str, Any]:
    """The declaration's example `data` as a whole envelope: fixed ids (UUIDv5 of the event's name), the first
    producer, the topic's key field of the example as subject, a cause except at intake."""
    data = dict(declaration_of(spec.model).example)
    name = message_name(spec)
    return {
        "event_id": str(uuid5(NAMESPACE_URL, f"omni311:example:{name}")),
        "event_type": spec.event_type,
        "schema_version": spec.schema_version,
        "occurred_at": _EXAMPLE_TIME,
        "producer": spec.producers[0],
        "subject": str(data.get(spec.key_field, f"example-{spec.key_field}")),
        "correlation_id": str(uuid5(NAMESPACE_URL, f"omni311:example:{name}:flow")),
        "causation_id": None if spec.topic == "intake.messages" else str(
            uuid5(NAMESPACE_URL, f"omni311:example:{name}:cause")),
        "data": data,
    }


def _summary(doc: str | None) -> str | None:
    return doc.strip().splitlines()[0].strip() if doc and doc.strip() else None


def _message(spec: EventSpec, envelope: Mapping[str, Any]) -> dict[str, Any]:
    name = message_name(spec)
    payload = copy.deepcopy(dict(envelope))
    payload["title"] = f"{name} envelope"
    payload["description"] = f"The envelope of `{spec.event_type}` v{spec.schema_version}; `data` is its payload."
    props = payload["properties"]
    props["event_type"] = {**props["event_type"], "const": spec.event_type}
    props["schema_version"] = {**props["schema_version"], "const": spec.schema_version}
    props["subject"] = {**props["subject"], "description": f"the event's `{spec.key_field}` (the Kafka key)"}
    props["data"] = {"$ref": f"#/components/schemas/{name}"}
    message: dict[str, Any] = {
        "name": spec.event_type,
        "title": f"{spec.event_type} v{spec.schema_version}",
        "summary": _summary(spec.model.__doc__) or f"`{spec.event_type}` v{spec.schema_version}",
        "contentType": "application/json",
        "correlationId": {"location": "$message.payload#/correlation_id"},
        "headers": {"type": "object", "properties": {"content-type": {"type": "string", "const": "application/json"}}},
        "payload": payload,
        "bindings": {"kafka": {"key": {"type": "string", "description": f"the `{spec.key_field}` of the event"},
                               "bindingVersion": KAFKA_BINDING}},
        "examples": [{"name": "example", "summary": "the example of the event's declaration",
                      "payload": example_envelope(spec)}],
        "x-omni311-topic": spec.topic,
        "x-omni311-producers": list(spec.producers),
        "x-omni311-consumers": list(spec.consumers),
        "x-omni311-personal-data": [f"data.{p}" for p in spec.pii],
    }
    return message


def _dead_letter_message() -> dict[str, Any]:
    return {
        "name": DEAD_LETTER,
        "title": "dead letter",
        "summary": "A message a consumer could not handle, unchanged, with the reason in headers.",
        "description": ("An envelope that cannot be parsed, a payload that does not fit its event's class, or an "
                        "error a retry cannot fix: the original bytes and key are published to `<topic>.dlq` and "
                        "consumption goes on (docs/architecture.md, Guarantees). Outages are never dead-lettered."),
        "contentType": "application/octet-stream",
        "headers": {"type": "object", "required": list(DEAD_LETTER_HEADERS),
                    "properties": {k: {"type": "string", "description": v} for k, v in DEAD_LETTER_HEADERS.items()}},
        "payload": {"description": "the original message's bytes, unchanged (usually an envelope; maybe not JSON)"},
        "bindings": {"kafka": {"key": {"type": "string", "description": "the original message's key"},
                               "bindingVersion": KAFKA_BINDING}},
    }


def _channels(reg: Registry, settings: Settings) -> dict[str, Any]:
    channels: dict[str, Any] = {}
    for topic in reg.topics.values():
        events = [message_name(e) for e in reg.events.values() if e.topic == topic.name]
        channels[topic.name] = {
            "address": settings.topic(topic.name),
            "title": topic.name,
            "description": f"{topic.description[:1].upper()}{topic.description[1:]}; keyed by `{topic.key}`.",
            "messages": {m: {"$ref": f"#/components/messages/{m}"} for m in events},
            "bindings": {"kafka": {"topic": settings.topic(topic.name), "partitions": topic.partitions,
                                   "bindingVersion": KAFKA_BINDING}},
        }
    for topic in reg.topics.values():
        dlq = topic.name + DLQ_SUFFIX
        channels[dlq] = {
            "address": settings.topic(dlq),
            "title": dlq,
            "description": f"Dead letters of `{topic.name}`: what its consumers could not handle.",
            "messages": {DEAD_LETTER: {"$ref": f"#/components/messages/{DEAD_LETTER}"}},
            "bindings": {"kafka": {"topic": settings.topic(dlq), "partitions": 1, "bindingVersion": KAFKA_BINDING}},
        }
    return channels


def _components(reg: Registry) -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    envelope = _snapshot(ENVELOPE_FILE)
    for spec in reg.events.values():
        _add_schema(schemas, message_name(spec), _snapshot(snapshot_name(spec.model)))
        messages[message_name(spec)] = _message(spec, envelope)
    messages[DEAD_LETTER] = _dead_letter_message()
    return {"schemas": schemas, "messages": messages}


# --- operations ----------------------------------------------------------------------------------------------


def faststream_document(part: ServicePart) -> Document:
    """FastStream's own AsyncAPI 3.0 document of the service's broker (its subscribers), as JSON."""
    return AsyncAPI(part.broker, title=f"omni311 {part.service}", version=_version(),
                    schema_version="3.0.0").to_specification().to_jsonable()


def _receive_operations(part: ServicePart, reg: Registry, fs: Document) -> dict[str, Any]:
    """The service's `receive` operations (one per subscribed registry topic, from FastStream's document)
    and the `send` of each such topic's dead letters."""
    prefix = part.settings.topic_prefix
    groups = {t: s.group_id for s in part.broker.subscribers for t in getattr(s, "topic_names", ())}
    ops: dict[str, Any] = {}
    for fs_op in fs.get("operations", {}).values():
        if fs_op.get("action") != "receive":
            continue
        channel = fs["channels"][fs_op["channel"]["$ref"].rsplit("/", 1)[1]]
        address = channel["address"]
        topic = address.removeprefix(prefix)
        if topic not in reg.topics:
            raise LookupError(f"{part.service} subscribes {address}, which is no registry topic")
        consumed = [message_name(e) for e in reg.events.values()
                    if e.topic == topic and part.service in e.consumers]
        group = groups.get(address)
        receive: dict[str, Any] = {
            "action": "receive",
            "channel": {"$ref": f"#/channels/{topic}"},
            "title": f"{part.service} receives {topic}",
            "summary": f"{part.service} consumes these events of `{topic}` (others on the topic it commits untouched).",
            "messages": [{"$ref": f"#/channels/{topic}/messages/{m}"} for m in consumed],
        }
        if group:
            receive["bindings"] = {"kafka": {"groupId": {"type": "string", "enum": [group]},
                                             "bindingVersion": KAFKA_BINDING}}
        ops[f"{part.service}.receive.{topic}"] = receive
        ops[f"{part.service}.dead_letter.{topic}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{topic}{DLQ_SUFFIX}"},
            "title": f"{part.service} dead-letters {topic}",
            "summary": f"What {part.service} cannot handle from `{topic}` goes to `{topic}{DLQ_SUFFIX}`.",
            "messages": [{"$ref": f"#/channels/{topic}{DLQ_SUFFIX}/messages/{DEAD_LETTER}"}],
        }
    return ops


def _send_operations(reg: Registry, services: Iterable[str] | None = None) -> dict[str, Any]:
    """One `send` operation per (producer, topic) of the registry (only `services`' when given)."""
    wanted = None if services is None else set(services)
    produced: dict[tuple[str, str], list[str]] = {}
    for spec in reg.events.values():
        for producer in spec.producers:
            if wanted is None or producer in wanted:
                produced.setdefault((producer, spec.topic), []).append(message_name(spec))
    return {
        f"{producer}.send.{topic}": {
            "action": "send",
            "channel": {"$ref": f"#/channels/{topic}"},
            "title": f"{producer} sends {topic}",
            "summary": f"The events {producer} publishes on `{topic}`.",
            "messages": [{"$ref": f"#/channels/{topic}/messages/{m}"} for m in names],
        }
        for (producer, topic), names in produced.items()
    }


# --- documents -----------------------------------------------------------------------------------------------


def _document(title: str, description: str, parts: list[ServicePart], settings: Settings,
              send_services: Iterable[str] | None) -> Document:
    reg = registry()
    fs_docs = [faststream_document(p) for p in parts]
    servers = next((d["servers"] for d in fs_docs if d.get("servers")), None) or AsyncAPI(
        KafkaBroker(settings.kafka_bootstrap)).to_specification().to_jsonable()["servers"]
    servers = copy.deepcopy(servers)
    for server in servers.values():
        server["description"] = "The Kafka cluster (`OMNI311_KAFKA_BOOTSTRAP`)."
    operations: dict[str, Any] = {}
    for part, fs in zip(parts, fs_docs, strict=True):
        operations.update(_receive_operations(part, reg, fs))
    operations.update(_send_operations(reg, send_services))
    return {
        "asyncapi": "3.0.0",
        "info": {"title": title, "version": _version(), "description": description},
        "defaultContentType": fs_docs[0].get("defaultContentType", "application/json") if fs_docs
        else "application/json",
        "servers": servers,
        "channels": _channels(reg, settings),
        "operations": dict(sorted(operations.items())),
        "components": _components(reg),
    }


def _prune(doc: Document) -> Document:
    """`doc` with only the channels its operations use, and the messages and schemas those reach."""
    text_of = json.dumps
    used_channels = {op["channel"]["$ref"].rsplit("/", 1)[1] for op in doc["operations"].values()}
    doc["channels"] = {k: v for k, v in doc["channels"].items() if k in used_channels}
    used_messages = {m["$ref"].rsplit("/", 1)[1] for c in doc["channels"].values() for m in c["messages"].values()}
    doc["components"]["messages"] = {k: v for k, v in doc["components"]["messages"].items() if k in used_messages}
    schemas = doc["components"]["schemas"]
    reached: set[str] = set()
    frontier = text_of(doc["components"]["messages"])
    while True:
        found = {name for name in schemas if f'"#/components/schemas/{name}"' in frontier} - reached
        if not found:
            break
        reached |= found
        frontier = text_of([schemas[n] for n in found])
    doc["components"]["schemas"] = {k: v for k, v in schemas.items() if k in reached}
    return doc


def service_document(service: str, broker: KafkaBroker, settings: Settings) -> Document:
    """One service's part: the operations it receives (its subscribers) and sends (its events, its dead
    letters), with the channels (real topic names, with the deployment's prefix), messages and schemas they
    use. What the service serves at ``GET /asyncapi.json``."""
    part = ServicePart(service, broker, settings)
    return _prune(_document(
        f"omni311 {service}: events",
        f"The topics and events the `{service}` service sends and receives (omni311's whole document: "
        "docs/asyncapi.json).", [part], settings, [service]))


def service_names() -> list[str]:
    """The services of this checkout: the folders of `services/` with an ``app.py``, sorted."""
    return sorted(p.parent.name for p in SERVICES_DIR.glob("*/app.py"))


def build_apps(settings: Settings | None = None) -> dict[str, Any]:
    """Every service's app (by service name) built in-process with `settings` (default:
    `DOCUMENT_SETTINGS`), nothing started or connected. Raises what a `create_app` raises."""
    s = settings or Settings(**DOCUMENT_SETTINGS)
    return {name: importlib.import_module(f"services.{name}.app").create_app(s) for name in service_names()}


def build_parts(apps: Mapping[str, Any] | None = None) -> list[ServicePart]:
    """The part of each app of `apps` (default: `build_apps()`): its runtime's broker holds the subscribers
    its `create_app` registered."""
    apps = build_apps() if apps is None else apps
    return [ServicePart(name, app.state.runtime.broker, app.state.runtime.settings) for name, app in apps.items()]


def build_document(parts: list[ServicePart] | None = None) -> Document:
    """The whole document: every topic and its DLQ, every event of the registry, the receive operations of
    every service of the checkout and the send operations of every producer the registry names."""
    parts = build_parts() if parts is None else parts
    settings = parts[0].settings if parts else Settings(**DOCUMENT_SETTINGS)
    return _document(
        "omni311 events",
        "Every Kafka topic of omni311 and every event on it (the envelope, with the event's JSON Schema as "
        "`data`, and an example), and which service sends and receives each. Generated by "
        f"`{REGENERATE}` from the services' subscribers (FastStream) and the event catalogue "
        "(shared/events); do not edit. docs/integrations.md, section 4.", parts, settings, None)


def render(doc: Document) -> str:
    """Canonical file text: 2-space JSON, trailing newline."""
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    """`python -m shared.events.asyncapi [--check | --write]`: 0 when docs/asyncapi.json is what the code
    generates (or was written), 1 when it is stale."""
    parser = argparse.ArgumentParser(prog="python -m shared.events.asyncapi",
                                     description="Check or write docs/asyncapi.json.")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="exit 1 when docs/asyncapi.json is stale (default)")
    mode.add_argument("--write", action="store_true", help="write docs/asyncapi.json")
    parser.add_argument("--file", type=Path, default=ASYNCAPI_FILE, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    text = render(build_document())
    if args.write:
        if not args.file.exists() or args.file.read_text("utf-8") != text:
            args.file.write_text(text, "utf-8")
            print(f"wrote {args.file.name}")
        return 0
    if not args.file.exists() or args.file.read_text("utf-8") != text:
        print(f"{args.file.name} is stale: run `{REGENERATE}`", file=sys.stderr)
        return 1
    print(f"{args.file.name} is up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
