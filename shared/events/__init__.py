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
    DeliveryStatusReceived,
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
    "DeliveryStatusReceived",
    "Envelope",
    "EventData",
    "MessageReceived",
    "MessageStatusReceived",
    "NotificationOutcome",
    "OptInReceived",
    "OptOutReceived",
    "Pii",
    "ProviderError",
    "RoutingDecided",
    "RoutingFields",
    "registry",
]
