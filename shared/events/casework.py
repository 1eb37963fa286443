"""Casework events (topic `cases.lifecycle`, keyed by `case_id`), produced by the case service: what city
staff did to a case, its SLA clock, escalation and the erasure of personal data, v1.

Internal notes are never an event: they stay on the case timeline, which only staff read. Everything here
may be read by adapters and outside systems. `actor` is the staff member's subject (the token's `sub`),
`actor_role` the role they acted in; neither is a resident's personal data.
"""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import AwareDatetime, Field

from shared.events.case import CaseFields
from shared.events.declaration import event
from shared.events.topics import CASES_LIFECYCLE

_CASE = {"case_id": "6f1c8f5e-2f7a-4c55-9b1e-0d1f2a3b4c5d", "service_request_id": "311-000123",
         "jurisdiction_id": "demo"}
_OTHER = "0b7a1a2c-3d4e-4f50-8a6b-7c8d9e0f1a2b"
_STAFF = {"actor": "u-7f3a", "actor_role": "supervisor"}

StaffRole = Literal["call_agent", "department_staff", "supervisor", "administrator", "system"]
"""The roles a staff action is taken in (`shared.auth.Role`), plus ``system`` for the service's own
timers and jobs."""


class StaffAction(CaseFields):
    """Fields of an event caused by a staff member (or by the case service's own timers: ``system``)."""

    actor: str
    actor_role: StaffRole


@event(
    topic=CASES_LIFECYCLE,
    producers=("case",),
    consumers=("webhooks",),
    example={**_CASE, **_STAFF, "assignee": "u-91c2", "team": "pw-crew-3", "queue": "pw-streets",
             "previous_assignee": None, "reason": "crew on site this week"},
)
class CaseAssigned(StaffAction):
    """`case.assigned` v1: the case was claimed, assigned or reassigned (to a person, a team, or both), or
    unassigned (both None). `queue` is the queue it sits in afterwards."""

    event_type = "case.assigned"
    schema_version = 1

    assignee: str | None = None
    team: str | None = None
    queue: str | None = None
    previous_assignee: str | None = None
    reason: str | None = None


@event(
    topic=CASES_LIFECYCLE,
    producers=("case",),
    consumers=("webhooks",),
    example={**_CASE, **_STAFF, "priority": 1, "previous_priority": 3, "reason": "school zone"},
)
class CasePrioritySet(StaffAction):
    """`case.priority_set` v1: staff (or an escalation rule, actor ``system``) set the priority, 1 (most
    urgent) to 5."""

    event_type = "case.priority_set"
    schema_version = 1

    priority: int = Field(ge=1, le=5)
    previous_priority: int | None = None
    reason: str | None = None


@event(
    topic=CASES_LIFECYCLE,
    producers=("case",),
    consumers=("router", "insights", "webhooks"),
    example={**_CASE, **_STAFF, "service_code": "streetlight", "previous_service_code": "pothole",
             "reason": "the photo shows a dark lamp", "description": "Light out at the corner", "lat": 42.36,
             "long": -71.06, "requested_datetime": "2025-03-14T15:09:26Z"},
)
class CaseRecategorised(StaffAction):
    """`case.recategorised` v1: staff gave the case another Open311 `service_code`; the router decides again
    (category source ``manual``) and its `routing.decided` recomputes queue, priority and SLA due time from
    `requested_datetime`. Carries the location and text the router needs."""

    event_type = "case.recategorised"
    schema_version = 1

    service_code: str
    previous_service_code: str | None = None
    reason: str
    description: str = ""
    address: str | None = None
    zipcode: str | None = None
    lat: float | None = None
    long: float | None = None
    requested_datetime: AwareDatetime


@event(
    topic=CASES_LIFECYCLE,
    producers=("case",),
    consumers=("notifier", "webhooks"),
    example={**_CASE, **_STAFF, "update_id": _OTHER, "text": "A crew is booked for Tuesday.", "language": "en"},
)
class CasePublicUpdate(StaffAction):
    """`case.public_update` v1: staff posted a public update; the notifier sends `text` to every reporter of
    the case, those of cases merged into it included, each on their own channel. `language` is the
    language the text is written in (None: unknown)."""

    event_type = "case.public_update"
    schema_version = 1

    update_id: UUID
    text: str
    language: str | None = None


@event(
    topic=CASES_LIFECYCLE,
    producers=("case",),
    consumers=("notifier", "webhooks"),
    example={**_CASE, **_STAFF, "reply_id": _OTHER, "contact_key": "ck:3f9a1c", "text": "Which corner exactly?",
             "language": "en", "canned_response_id": None},
)
class CaseReplyRequested(StaffAction):
    """`case.reply_requested` v1: staff wrote to one reporter (`contact_key`) of the case; the notifier sends
    `text` on that reporter's channel (email in the case's thread, SMS, Meta within its reply window,
    Mastodon direct message) and records the outcome. `canned_response_id` names the jurisdiction's canned
    response it started from, if any."""

    event_type = "case.reply_requested"
    schema_version = 1

    reply_id: UUID
    contact_key: str
    text: str
    language: str | None = None
    canned_response_id: str | None = None


@event(
    topic=CASES_LIFECYCLE,
    producers=("case",),
    consumers=("dedup", "notifier", "insights", "webhooks"),
    example={**_CASE, **_STAFF, "unmerged_from": _OTHER, "unmerged_from_service_request_id": "311-000100",
             "status": "open", "workflow_status": "in_progress", "reason": "different address"},
)
class CaseUnmerged(StaffAction):
    """`case.unmerged` v1: staff undid the merge of this case into `unmerged_from`; the case is its own again
    (open, `workflow_status` as before the merge) and its reporters hear of it."""

    event_type = "case.unmerged"
    schema_version = 1

    unmerged_from: UUID
    unmerged_from_service_request_id: str
    status: Literal["open", "closed"] = "open"
    workflow_status: str | None = None
    reason: str | None = None


class SlaFields(CaseFields):
    """Where an SLA clock stood when it fired: the due time and warning time (aware UTC) of the clock
    `generation` (a new due time, e.g. after recategorisation, starts a new generation)."""

    due_at: AwareDatetime
    warn_at: AwareDatetime | None = None
    generation: int = Field(ge=1)
    service_code: str | None = None
    queue: str | None = None
    department_id: str | None = None
    priority: int | None = None


@event(
    topic=CASES_LIFECYCLE,
    producers=("case",),
    consumers=("webhooks",),
    example={**_CASE, "due_at": "2025-03-17T15:00:00Z", "warn_at": "2025-03-17T09:00:00Z", "generation": 1,
             "service_code": "pothole", "queue": "pw-streets", "department_id": "pw", "priority": 3},
)
class CaseSlaWarning(SlaFields):
    """`case.sla_warning` v1: the case's SLA clock reached its warning share (jurisdiction `sla.warning_share`)
    of the time to its due time; emitted once per clock generation by the case service's durable timer."""

    event_type = "case.sla_warning"
    schema_version = 1


@event(
    topic=CASES_LIFECYCLE,
    producers=("case",),
    consumers=("insights", "webhooks"),
    example={**_CASE, "due_at": "2025-03-17T15:00:00Z", "warn_at": "2025-03-17T09:00:00Z", "generation": 1,
             "service_code": "pothole", "queue": "pw-streets", "department_id": "pw", "priority": 3},
)
class CaseSlaBreached(SlaFields):
    """`case.sla_breached` v1: the case is still open at its SLA due time; emitted once per clock generation
    by the case service's durable timer."""

    event_type = "case.sla_breached"
    schema_version = 1


@event(
    topic=CASES_LIFECYCLE,
    producers=("case",),
    consumers=("notifier", "webhooks"),
    example={**_CASE, "rule_id": "pw-breach", "trigger": "breach", "priority": 1, "previous_priority": 3,
             "queue": "pw-supervisors", "previous_queue": "pw-streets", "email_to": ["roads.supervisor@city.example"],
             "due_at": "2025-03-17T15:00:00Z", "service_name": "Pothole"},
)
class CaseEscalated(CaseFields):
    """`case.escalated` v1: an escalation rule acted on an SLA warning or breach (`trigger`): the priority and
    queue it set (None: unchanged) and who the notifier emails (`email_to`, supervisors' addresses from the
    jurisdiction; staff addresses, not residents')."""

    event_type = "case.escalated"
    schema_version = 1

    rule_id: str
    trigger: Literal["warning", "breach"]
    priority: int | None = Field(default=None, ge=1, le=5)
    previous_priority: int | None = None
    queue: str | None = None
    previous_queue: str | None = None
    email_to: list[str] = Field(default_factory=list)
    due_at: AwareDatetime | None = None
    service_name: str | None = None


@event(
    topic=CASES_LIFECYCLE,
    producers=("case",),
    consumers=("notifier", "intake_email", "intake_social", "intake_sms_voice", "intake_web", "insights", "webhooks"),
    example={**_CASE, "contact_keys": ["ck:3f9a1c"], "channel_message_ids": ["<CAF=abc@mail.example.org>"],
             "closed_at": "2025-03-20T10:00:00Z", "policy_days": 365, "mode": "erase"},
)
class CasePersonalDataErased(CaseFields):
    """`case.personal_data_erased` v1: the retention job erased (or pseudonymised, `mode`) the personal data of
    a case closed since `closed_at`, `policy_days` days or more ago; the public record stays. Services that
    keep their own copy of it (contacts, raw messages, media) erase theirs: the reporters `contact_keys`
    (those with no other case still within retention) and the messages `channel_message_ids`."""

    event_type = "case.personal_data_erased"
    schema_version = 1

    contact_keys: list[str] = Field(default_factory=list)
    channel_message_ids: list[str] = Field(default_factory=list)
    closed_at: AwareDatetime
    policy_days: int = Field(ge=0)
    mode: Literal["erase", "pseudonymise"] = "erase"
