"""Case lifecycle events (topic `cases.lifecycle`, keyed by `case_id`), produced by the case service.

Version 1 of: a case was opened, got a further message, was routed, was merged into another, changed
status. Adding an optional field keeps the version; anything else is a new class with
`schema_version = 2`, declared alongside the first.
"""

from __future__ import annotations

from uuid import UUID

from pydantic import AwareDatetime, Field

from shared.events.common import Channel, Pii, Status
from shared.events.declaration import event
from shared.events.envelope import EventData
from shared.events.routing import ROUTING_EXAMPLE, RoutingFields
from shared.events.topics import CASES_LIFECYCLE

_CASE = {"case_id": "6f1c8f5e-2f7a-4c55-9b1e-0d1f2a3b4c5d", "service_request_id": "311-000123",
         "jurisdiction_id": "demo"}
_OTHER = "0b7a1a2c-3d4e-4f50-8a6b-7c8d9e0f1a2b"
_ROUTED_CONTACT_KEY = (
    "The contact key the case was opened with (its `case.opened` `contact_key`, the original reporter's), "
    "so the duplicate detector can tell two reports by the same person; None from a producer before it "
    "was added (optional, v1 holds): unknown, never the same. A pseudonym, not contact data: "
    "`shared.contacts.contact_key`, ``ck_`` + 32 hex digits of an unkeyed SHA-256 of the case-folded "
    "identifier (no secret), so it cannot be read back, but a known phone number or address can be "
    "hashed and compared with it; ``ck_anon_`` keys (`anonymous_contact_key`) are derived from one message "
    "and name nobody."
)


class CaseFields(EventData):
    """Fields shared by the case events that carry the whole report."""

    case_id: UUID
    service_request_id: str
    jurisdiction_id: str


@event(
    topic=CASES_LIFECYCLE,
    producers=("case",),
    consumers=("router", "notifier", "insights", "webhooks", "forwarder"),
    example={
        **_CASE, "channel": "email", "channel_message_id": "<CAF=abc@mail.example.org>", "contact_key": "ck:3f9a1c",
        "service_code": "pothole", "description": "Big pothole", "address": "12 Main St", "zipcode": "02108",
        "lat": 42.36, "long": -71.06, "requested_datetime": "2025-03-14T15:09:26Z", "language": "en",
        "reply_to_message_id": "<CAF=abc@mail.example.org>",
        "pii": {"email": "ann.dupont@example.org", "phone": "+16175550123", "first_name": "Ann",
                "last_name": "Dupont"},
    },
)
class CaseOpened(CaseFields):
    """`case.opened` v1: a new case was opened from an intake message."""

    event_type = "case.opened"
    schema_version = 1

    channel: Channel
    channel_message_id: str
    contact_key: str
    service_code: str | None = None
    description: str = ""
    address: str | None = None
    zipcode: str | None = None
    lat: float | None = None
    long: float | None = None
    media_url: list[str] = Field(default_factory=list)
    requested_datetime: AwareDatetime
    language: str | None = None
    status: Status = "open"
    reply_to_message_id: str | None = None
    pii: Pii = Field(default_factory=Pii)
    # The answers to the service's Open311 attributes (code → value, or list of values for a
    # multivaluelist), as validated at intake; optional, so v1 holds.
    attributes: dict[str, str | list[str]] = Field(default_factory=dict)


@event(
    topic=CASES_LIFECYCLE,
    producers=("case",),
    consumers=("router", "notifier", "webhooks"),
    example={
        **_CASE, "message_id": _OTHER, "channel": "sms", "channel_message_id": "SM0123456789abcdef",
        "description": "Still there", "pii": {"phone": "+16175550123"},
    },
)
class CaseMessageAdded(CaseFields):
    """`case.message_added` v1: a further message from a reporter was threaded onto an existing case.

    `address`/`zipcode`/`lat`/`long` are set only when this message gave a case that had no location its
    location (e.g. the answer to the SMS location question): the router re-routes the case with it.
    """

    event_type = "case.message_added"
    schema_version = 1

    message_id: UUID
    channel: Channel
    channel_message_id: str
    description: str = ""
    media_url: list[str] = Field(default_factory=list)
    pii: Pii = Field(default_factory=Pii)
    address: str | None = None
    zipcode: str | None = None
    lat: float | None = Field(default=None, ge=-90, le=90)
    long: float | None = Field(default=None, ge=-180, le=180)


@event(
    topic=CASES_LIFECYCLE,
    producers=("case",),
    consumers=("webhooks",),
    example={**_CASE, "message_id": _OTHER, "channel": "instagram", "channel_message_id": "aWdfZAG1faXRlbToxOklHTWVz",
             "opened_the_case": True},
)
class CaseMessageWithdrawn(CaseFields):
    """`case.message_withdrawn` v1: a reporter deleted one of their messages (`intake.message_withdrawn`);
    its text and media are gone from the case (and, when it `opened_the_case`, from the case's description
    and media). Services that keep a copy of a case's words drop this message's from theirs.
    """

    event_type = "case.message_withdrawn"
    schema_version = 1

    message_id: UUID
    channel: Channel
    channel_message_id: str
    opened_the_case: bool = False


@event(
    topic=CASES_LIFECYCLE,
    producers=("case",),
    consumers=("dedup", "notifier", "insights", "webhooks", "forwarder"),
    example={
        **_CASE, "routing": ROUTING_EXAMPLE, "description": "Big pothole", "lat": 42.36, "long": -71.06,
        "requested_datetime": "2025-03-14T15:09:26Z", "contact_key": "ck_3f9a1c0b7d2e4f5a6b7c8d9e0f1a2b3c",
    },
)
class CaseRouted(CaseFields):
    """`case.routed` v1: the case service applied a routing decision.

    Carries the location, text, opening time and reporter key so that the duplicate detector needs nothing
    else.
    """

    event_type = "case.routed"
    schema_version = 1

    routing: RoutingFields
    description: str = ""
    lat: float | None = None
    long: float | None = None
    requested_datetime: AwareDatetime
    contact_key: str | None = Field(default=None, description=_ROUTED_CONTACT_KEY)


@event(
    topic=CASES_LIFECYCLE,
    producers=("case",),
    consumers=("dedup", "notifier", "insights", "webhooks"),
    example={
        **_CASE, "merged_into": _OTHER, "merged_into_service_request_id": "311-000100",
        "status_notes": "Duplicate of 311-000100",
    },
)
class CaseMerged(CaseFields):
    """`case.merged` v1: this case was merged into `merged_into` (which stays open) and is now closed."""

    event_type = "case.merged"
    schema_version = 1

    merged_into: UUID
    merged_into_service_request_id: str
    status_notes: str


@event(
    topic=CASES_LIFECYCLE,
    producers=("case",),
    consumers=("dedup", "notifier", "insights", "webhooks"),
    example={**_CASE, "status": "closed", "status_notes": "Repaired", "workflow_status": "resolved",
             "previous_workflow_status": "in_progress", "notify": True},
)
class CaseStatusChanged(CaseFields):
    """`case.status_changed` v1: the case moved in its jurisdiction's workflow (a staff action, or a
    resident's answer that ends `waiting_on_resident`).

    `status` is the Open311 status (``open``/``closed``); `workflow_status` the jurisdiction's own status
    id (e.g. ``in_progress``, see the jurisdiction's `workflow`) and `previous_workflow_status` the one
    before; `notify` says whether the workflow tells the reporters of this status (the notifier takes the
    EN/FR text from the jurisdiction's workflow by `workflow_status`). Events written before the workflow
    existed carry neither id; read them as a change of the Open311 status only.
    """

    event_type = "case.status_changed"
    schema_version = 1

    status: Status
    status_notes: str | None = None
    workflow_status: str | None = None
    previous_workflow_status: str | None = None
    notify: bool = True
