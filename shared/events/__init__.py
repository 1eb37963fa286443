"""Event catalogue: envelope, v1 payloads and the topic registry. Depends on pydantic only."""

from shared.events.catalogue import (
    ALL_EVENTS,
    BounceReceived,
    CaseMerged,
    CaseMessageAdded,
    CaseOpened,
    CaseRouted,
    CaseStatusChanged,
    DedupDecided,
    MessageReceived,
    NotificationOutcome,
    Pii,
    RoutingDecided,
    RoutingFields,
)
from shared.events.envelope import Envelope, EventData
from shared.events.registry import DLQ_SUFFIX, registry

__all__ = [
    "ALL_EVENTS",
    "DLQ_SUFFIX",
    "BounceReceived",
    "CaseMerged",
    "CaseMessageAdded",
    "CaseOpened",
    "CaseRouted",
    "CaseStatusChanged",
    "DedupDecided",
    "Envelope",
    "EventData",
    "MessageReceived",
    "NotificationOutcome",
    "Pii",
    "RoutingDecided",
    "RoutingFields",
    "registry",
]
