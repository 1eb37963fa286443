"""Event catalogue: the envelope, the payloads of each context and the topic registry (pydantic only).

One module per context: `intake`, `case` (case lifecycle), `casework` (staff actions, SLA clocks,
escalation, erasure on the same topic), `routing`, `dedup`, `notification`; shared
parts in `common`; topics in `topics`. Each event is declared once (`declaration.event`), and
`ALL_EVENTS`, `registry()` and the schema snapshots follow from the declarations.
"""

from shared.events.case import (
    CaseMerged,
    CaseMessageAdded,
    CaseMessageWithdrawn,
    CaseOpened,
    CaseRouted,
    CaseStatusChanged,
)
from shared.events.casework import (
    CaseAssigned,
    CaseEscalated,
    CasePersonalDataErased,
    CasePrioritySet,
    CasePublicUpdate,
    CaseRecategorised,
    CaseReplyRequested,
    CaseSlaBreached,
    CaseSlaWarning,
    CaseUnmerged,
)
from shared.events.catalogue import ALL_EVENTS
from shared.events.common import Pii
from shared.events.dedup import DedupDecided, DedupSuggested
from shared.events.envelope import Envelope, EventData
from shared.events.forwarding import CaseForwarded, ForwardFailed, StatusReported
from shared.events.intake import (
    BounceReceived,
    DeliveryStatusReceived,
    MessageReceived,
    MessageStatusReceived,
    MessageUnsupported,
    MessageWithdrawn,
    OptInReceived,
    OptOutReceived,
    ProviderError,
)
from shared.events.notification import NotificationRecorded
from shared.events.registry import DLQ_SUFFIX, registry
from shared.events.residents import CaseFollowed, CaseSurveyAnswered, FollowRequested, HelpDeflected, SurveyAnswered
from shared.events.routing import ClassifierFields, LocationFields, RoutingDecided, RoutingFields, Suggestion

__all__ = [
    "ALL_EVENTS",
    "DLQ_SUFFIX",
    "BounceReceived",
    "CaseAssigned",
    "CaseFollowed",
    "CaseForwarded",
    "ForwardFailed",
    "StatusReported",
    "CaseSurveyAnswered",
    "FollowRequested",
    "HelpDeflected",
    "SurveyAnswered",
    "CaseEscalated",
    "CaseMerged",
    "CaseMessageAdded",
    "CaseMessageWithdrawn",
    "CaseOpened",
    "CasePersonalDataErased",
    "CasePrioritySet",
    "CasePublicUpdate",
    "CaseRecategorised",
    "CaseReplyRequested",
    "CaseRouted",
    "CaseSlaBreached",
    "CaseSlaWarning",
    "CaseStatusChanged",
    "CaseUnmerged",
    "DedupDecided",
    "DedupSuggested",
    "DeliveryStatusReceived",
    "Envelope",
    "EventData",
    "MessageReceived",
    "MessageUnsupported",
    "MessageWithdrawn",
    "MessageStatusReceived",
    "NotificationRecorded",
    "OptInReceived",
    "OptOutReceived",
    "Pii",
    "ProviderError",
    "ClassifierFields",
    "LocationFields",
    "RoutingDecided",
    "RoutingFields",
    "Suggestion",
    "registry",
]
