"""One declaration per event: the class decorator from which the registry, class list and snapshots follow.

It gives a payload model its topic (and so its key), producers, consumers and example message::

    @event(topic=CASES_LIFECYCLE, producers=("case",), consumers=("notifier",),
           example={"case_id": "6f1c8f5e-2f7a-4c55-9b1e-0d1f2a3b4c5d", "status": "closed"})
    class CaseStatusChanged(EventData):
        event_type = "case.status_changed"
        schema_version = 1
        case_id: UUID
        status: Literal["open", "closed"]

Declared in one of the context modules (`intake`, `case`, `routing`, `dedup`, `notification`), the class
is in `shared.events.ALL_EVENTS`, gets its `registry()` entry (topic, key field, producers, consumers,
personal-data paths) and needs its JSON Schema snapshot (`python -m shared.events.snapshots --write`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any, TypeVar

from pydantic import BaseModel

from shared.events.envelope import EventData
from shared.events.topics import TopicSpec

M = TypeVar("M", bound=type[EventData])

_ATTRIBUTE = "__event_declaration__"


@dataclass(frozen=True)
class EventDeclaration:
    """What the decorator records on a model: its topic, who produces and consumes it, and an example.

    `example` is the event's `data` as it travels on the wire (a JSON object); tests validate it against
    the model and the committed snapshot. The key field is the topic's (`TopicSpec.key`).
    """

    topic: TopicSpec
    producers: tuple[str, ...]
    consumers: tuple[str, ...]
    example: Mapping[str, Any]


def event(
    *,
    topic: TopicSpec,
    producers: Iterable[str],
    consumers: Iterable[str],
    example: Mapping[str, Any],
) -> Callable[[M], M]:
    """Declare an event model (a class decorator); returns the class unchanged but for the declaration.

    `producers` and `consumers` are service names (folders of `services/`). Raises `TypeError` when the
    class does not set its own `event_type` and `schema_version` or is declared twice, and `ValueError`
    when it has no producer or names a consumer twice.
    """
    declaration = EventDeclaration(
        topic=topic, producers=tuple(producers), consumers=tuple(consumers), example=dict(example),
    )
    if not declaration.producers:
        raise ValueError("an event needs at least one producer")
    if len(set(declaration.consumers)) != len(declaration.consumers):
        raise ValueError(f"a consumer is named twice: {declaration.consumers}")

    def declare(model: M) -> M:
        missing = [name for name in ("event_type", "schema_version") if name not in vars(model)]
        if missing:
            raise TypeError(f"{model.__name__} must set its own {' and '.join(missing)}")
        if _ATTRIBUTE in vars(model):
            raise TypeError(f"{model.__name__} is declared twice")
        setattr(model, _ATTRIBUTE, declaration)
        return model

    return declare


def is_declared(obj: object) -> bool:
    """True for a model declared with `event` itself (a subclass of one does not inherit the declaration)."""
    return isinstance(obj, type) and issubclass(obj, EventData) and _ATTRIBUTE in vars(obj)


def declaration_of(model: type[EventData]) -> EventDeclaration:
    """The model's own declaration; raises `LookupError` for a model that was not declared with `event`."""
    if not is_declared(model):
        raise LookupError(f"{model.__name__} is not declared with shared.events.declaration.event")
    return vars(model)[_ATTRIBUTE]


def events_in(*modules: ModuleType) -> tuple[type[EventData], ...]:
    """The declared event models defined in `modules` (not merely imported there), in definition order.

    A model bound to two names (an alias kept after a rename) is listed once.
    """
    found: dict[type[EventData], None] = {}
    for module in modules:
        for obj in vars(module).values():
            if is_declared(obj) and obj.__module__ == module.__name__:
                found.setdefault(obj)
    return tuple(found)


def pii_paths(model: type[BaseModel]) -> tuple[str, ...]:
    """Dotted paths of the personal data in a model: ``pii.<field>`` for each field of its `pii` object.

    Personal data sits under one `pii` object so that logs mask it (`shared.logs.mask_pii`) and the
    registry lists it; () for a model without one.
    """
    field = model.model_fields.get("pii")
    if field is None:
        return ()
    candidates = getattr(field.annotation, "__args__", None) or (field.annotation,)
    inner = next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None)
    if inner is None:
        raise TypeError(f"{model.__name__}.pii must be a model of personal-data fields")
    return tuple(f"pii.{name}" for name in inner.model_fields)
