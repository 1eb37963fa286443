"""Response models of the case service's staff API (`entrypoints/staff.py`), so that its OpenAPI document
says what each route answers (docs/staff-work.md, "Case service staff API"; docs/integrations.md,
sections 2 and 3). The routes build `dict`s (`domain.staff`); these models validate and document them
and keep their JSON as it was: times as `datetime.isoformat()` (``+00:00``), ids as strings.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, PlainSerializer, WithJsonSchema


def _iso(value: datetime) -> str:
    return value.isoformat()


Time = Annotated[datetime, PlainSerializer(_iso, return_type=str, when_used="json"),
                 WithJsonSchema({"type": "string", "format": "date-time"})]
"""An aware UTC time, written as `datetime.isoformat()` (RFC 3339, ``+00:00``)."""


class _Out(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Me(_Out):
    """`GET /staff/me`: the caller as the service sees them (roles: `shared.auth.Role` values, `role` the
    highest)."""

    subject: str
    name: str
    roles: list[str]
    role: str
    department: str | None
    teams: list[str]


# --- configuration -----------------------------------------------------------------------------------

class WorkflowNames(_Out):
    initial: str
    on_routed: str
    on_assigned: str
    resume_to: str
    merged_status: str


class StatusConfig(_Out):
    id: str
    open311: Literal["open", "closed"]
    terminal: bool
    pauses_sla: bool
    notify: bool
    labels: dict[str, str]
    transitions: list[str]


class TeamRef(_Out):
    id: str
    name: str


class DepartmentConfig(_Out):
    id: str
    name: str
    supervisor_queue: str | None
    queues: list[str]
    teams: list[TeamRef]


class QueueConfig(_Out):
    id: str
    name: str
    department_id: str
    supervisor: bool


class TeamConfig(_Out):
    id: str
    name: str
    department_id: str


class ServiceConfig(_Out):
    service_code: str
    service_name: str
    department_id: str | None
    group: str | None


class CannedResponseConfig(_Out):
    id: str
    title: dict[str, str]
    text: dict[str, str]


class StaffConfig(_Out):
    """`GET /staff/config` (`domain.staff.staff_config`): what the workbench renders its forms from."""

    jurisdiction_id: str
    locales: list[str]
    workflow: WorkflowNames
    statuses: list[StatusConfig]
    departments: list[DepartmentConfig]
    queues: list[QueueConfig]
    teams: list[TeamConfig]
    services: list[ServiceConfig]
    canned_responses: list[CannedResponseConfig]


# --- cases -------------------------------------------------------------------------------------------

class SuggestedCode(_Out):
    service_code: str | None
    probability: float | None


class RoutingFacts(_Out):
    """The routing facts (`domain.rules.routing_facts`; docs/judgement.md, "Routing facts"); every value
    None (suggestions empty) for a case never routed."""

    district: str | None
    district_name: str | None
    queue: str | None
    rule_id: str | None
    category_source: str | None
    classifier_method: str | None
    classifier_probability: float | None
    model_version: str | None
    suggestions: list[SuggestedCode]
    location_status: str | None
    location_source: str | None
    location_confidence: float | None
    location_matched: str | None


class StaffCaseRow(_Out):
    """One line of `GET /staff/cases` (`domain.staff.staff_case_row`)."""

    service_request_id: str
    status: Literal["open", "closed"]
    workflow_status: str
    status_label: str
    status_labels: dict[str, str]
    service_code: str | None
    service_name: str | None
    channel: str
    description: str
    address: str | None
    lat: float | None
    long: float | None
    district: str | None
    queue: str | None
    department: str | None
    agency_responsible: str | None
    assignee: str | None
    team: str | None
    priority: int | None
    sla_state: Literal["ok", "warning", "breached", "paused", "none"]
    sla_due_at: Time | None
    requested_datetime: Time
    updated_datetime: Time
    media_url: list[str]
    language: str | None
    location_source: str | None
    extended_attributes: RoutingFacts


class Sla(_Out):
    due_at: Time | None
    warn_at: Time | None
    state: Literal["ok", "warning", "breached", "paused", "none"]
    paused_at: Time | None


class CaseMessage(_Out):
    message_id: str
    text: str
    media_url: list[str]
    channel: str
    received_at: Time


class CaseReporter(_Out):
    """A reporter of the case or of a case merged into it: `address` masked (``a***@example.org``), `case`
    the number they reported under, `merged` False for the case's own reporter."""

    contact_key: str
    channel: str
    address: str | None
    case: str
    merged: bool


class MergedCase(_Out):
    service_request_id: str
    status: Literal["open", "closed"]


class AttributeAnswer(_Out):
    """An Open311 answer as staff read it (`domain.staff.attribute_view`)."""

    code: str
    label: str
    value: Any
    display: str


class TimelineEntry(_Out):
    """One timeline entry: `kind` (docs/staff-work.md, "Audit"), `event_id` of the consumed event
    that caused it (None for a staff action), `detail` (actor, role, before, after and the kind's own
    fields)."""

    at: Time
    kind: str
    event_id: UUID | None
    detail: dict[str, Any]


class ExternalRequest(_Out):
    """The case at an Open311 endpoint it was forwarded to (docs/integrations.md, "Open311 forwarding"):
    the endpoint's name, its id for the request (None while it answered only a `token`), the code it was
    sent under, when, and the last status it reported (`last_status` ``open``/``closed``, its agency, its
    `updated_datetime`, when we read it; None before the first report)."""

    endpoint: str
    external_service_request_id: str | None
    token: str | None
    external_service_code: str | None
    forwarded_at: Time | None
    last_status: Literal["open", "closed"] | None
    last_agency_responsible: str | None
    last_updated_datetime: Time | None
    last_reported_at: Time | None


class StaffCase(StaffCaseRow):
    """`GET /staff/cases/{sid}` and every staff write's answer (`domain.staff.staff_case_detail`)."""

    case_id: str
    status_notes: str | None
    zipcode: str | None
    merged_into: str | None
    sla: Sla
    allowed_transitions: list[str]
    messages: list[CaseMessage]
    reporters: list[CaseReporter]
    merged: list[MergedCase]
    attributes: list[AttributeAnswer]
    timeline: list[TimelineEntry]
    external_requests: list[ExternalRequest]


class Suggestion(_Out):
    """A duplicate suggestion of `GET /staff/suggestions`: `case` (the suggested duplicate's number),
    `duplicate_of` (the number of the case it matched), the score and its evidence, the decision."""

    id: str
    case: str
    duplicate_of: str
    score: float
    evidence: dict[str, Any]
    status: Literal["pending", "accepted", "rejected"]
    queue: str | None
    created_at: Time
    decided_by: str | None
    decided_at: Time | None
    reason: str | None


class ReporterCase(_Out):
    """One case of a person's history (docs/integrations.md, "One resident profile across channels"):
    `contact_key` the key of the request it is listed for, `channel` the case's, `merged_from` None for
    that key's own case, else the number of the key's case that was merged into this one."""

    service_request_id: str
    status: Literal["open", "closed"]
    workflow_status: str
    service_code: str | None
    service_name: str | None
    channel: str
    contact_key: str
    requested_datetime: Time
    address: str | None
    merged_from: str | None


class ReporterCases(_Out):
    """`GET /staff/reporters/cases`: newest first, at most 200."""

    cases: list[ReporterCase]
