"""The topic registry: which topic, key, producers, consumers and personal-data fields each event has.

Source of truth is `registry.json` beside this module (topics are data); this module reads it and ties
each entry to its catalogue model.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources

import json

from shared.events.catalogue import ALL_EVENTS
from shared.events.envelope import Envelope, EventData

DLQ_SUFFIX = ".dlq"


@dataclass(frozen=True)
class TopicSpec:
    """A Kafka topic: name, partition count and the envelope field used as the message key."""

    name: str
    partitions: int
    key: str
    description: str


@dataclass(frozen=True)
class EventSpec:
    """One (event_type, schema_version): its model, topic, key field, producers, consumers and PII paths."""

    event_type: str
    schema_version: int
    model: type[EventData]
    topic: str
    key_field: str
    producers: tuple[str, ...]
    consumers: tuple[str, ...]
    pii: tuple[str, ...]


@dataclass(frozen=True)
class Registry:
    topics: dict[str, TopicSpec]
    events: dict[tuple[str, int], EventSpec]

    def spec(self, event_type: str, schema_version: int) -> EventSpec:
        """Look up an event; raises `KeyError` for an unknown type/version."""
        try:
            return self.events[(event_type, schema_version)]
        except KeyError:
            raise KeyError(f"unknown event {event_type} v{schema_version}") from None

    def spec_for(self, model: type[EventData]) -> EventSpec:
        return self.spec(model.event_type, model.schema_version)

    def topic_of(self, model: type[EventData]) -> str:
        return self.spec_for(model).topic

    def decode(self, envelope: Envelope) -> EventData:
        """The typed payload of an envelope; raises `KeyError` (unknown event) or ValidationError."""
        return envelope.payload(self.spec(envelope.event_type, envelope.schema_version).model)

    def all_topics(self, with_dlq: bool = True) -> list[str]:
        names = list(self.topics)
        return names + [n + DLQ_SUFFIX for n in names] if with_dlq else names


@cache
def registry() -> Registry:
    """Load and check the registry (cached). Raises `ValueError` when it disagrees with the catalogue."""
    raw = json.loads(resources.files("shared.events").joinpath("registry.json").read_text("utf-8"))
    topics = {
        name: TopicSpec(name=name, partitions=int(t["partitions"]), key=t["key"], description=t["description"])
        for name, t in raw["topics"].items()
    }
    models = {(m.event_type, m.schema_version): m for m in ALL_EVENTS}
    events: dict[tuple[str, int], EventSpec] = {}
    for e in raw["events"]:
        key = (e["event_type"], int(e["schema_version"]))
        if key not in models:
            raise ValueError(f"registry lists {key} but the catalogue has no such model")
        if e["topic"] not in topics:
            raise ValueError(f"{key} names unknown topic {e['topic']}")
        events[key] = EventSpec(
            event_type=key[0],
            schema_version=key[1],
            model=models[key],
            topic=e["topic"],
            key_field=e["key_field"],
            producers=tuple(e["producers"]),
            consumers=tuple(e["consumers"]),
            pii=tuple(e["pii"]),
        )
    missing = set(models) - set(events)
    if missing:
        raise ValueError(f"catalogue models missing from the registry: {sorted(missing)}")
    return Registry(topics=topics, events=events)
