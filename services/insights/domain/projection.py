"""What each consumed event changes in the public projection of a case: plain values, with every free text
(description, address, status notes) already scrubbed of email addresses and phone numbers for the
jurisdiction's region (`shared.contacts.scrub_contacts`). Times are aware UTC; `at` is when the event
happened (its envelope's `occurred_at`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from shared.contacts import scrub_contacts
from shared.events import (
    CaseMerged,
    CaseOpened,
    CasePersonalDataErased,
    CaseRecategorised,
    CaseRouted,
    CaseStatusChanged,
    CaseSurveyAnswered,
    CaseUnmerged,
    HelpDeflected,
)

DepartmentOf = Callable[[str, str], str | None]
"""`department_of(queue, service_code)`: the jurisdiction's department id of a routed case, or None."""


def _text(value: str | None, region: str) -> str | None:
    return scrub_contacts(value, region) if value else value


@dataclass(frozen=True)
class CaseRow:
    """A new case as the projection first keeps it (`case.opened`)."""

    case_id: UUID
    service_request_id: str
    service_code: str | None
    channel: str
    status: str
    requested_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    lat: float | None
    long: float | None
    address: str | None
    description: str


def case_row(opened: CaseOpened, *, at: datetime, region: str) -> CaseRow:
    """The public part of `case.opened`: no contact key, no personal data; a case opened already closed
    (an Open311 import) is closed at `at`."""
    return CaseRow(
        case_id=opened.case_id, service_request_id=opened.service_request_id, service_code=opened.service_code,
        channel=opened.channel, status=opened.status, requested_at=opened.requested_datetime, updated_at=at,
        closed_at=at if opened.status == "closed" else None, lat=opened.lat, long=opened.long,
        address=_text(opened.address, region), description=_text(opened.description, region) or "")


@dataclass(frozen=True)
class RoutingChange:
    """What `case.routed` says: category, department, district, SLA due time, point and text. Applied to a
    case the projection lacks, it creates the row (`requested_at`, `service_request_id`)."""

    case_id: UUID
    service_request_id: str
    requested_at: datetime
    service_code: str
    service_name: str
    department: str | None
    agency_responsible: str
    district: str | None
    sla_due_at: datetime | None
    lat: float | None
    long: float | None
    description: str
    at: datetime


def routing_change(routed: CaseRouted, *, at: datetime, region: str, department_of: DepartmentOf) -> RoutingChange:
    """The routing of a case; the department is the queue's (`department_of`)."""
    r = routed.routing
    return RoutingChange(
        case_id=routed.case_id, service_request_id=routed.service_request_id,
        requested_at=routed.requested_datetime, service_code=r.service_code, service_name=r.service_name,
        department=department_of(r.queue, r.service_code), agency_responsible=r.agency_responsible,
        district=r.district, sla_due_at=r.sla_due_at, lat=routed.lat, long=routed.long,
        description=_text(routed.description, region) or "", at=at)


@dataclass(frozen=True)
class StatusChange:
    """Open311 `status`, the workflow status and its public notes; `closed` True when the case is closed
    (its `closed_at` is kept from the first close, cleared when it reopens)."""

    case_id: UUID
    status: str
    workflow_status: str | None
    status_notes: str | None
    at: datetime

    @property
    def closed(self) -> bool:
        """True when the Open311 `status` is ``closed``."""
        return self.status == "closed"


def status_change(changed: CaseStatusChanged, *, at: datetime, region: str) -> StatusChange:
    """`case.status_changed` as a `StatusChange`: Open311 `status` (``open``/``closed``), the workflow status,
    and the public notes scrubbed for `region` (ISO 3166 alpha-2, as `phonenumbers` takes it); `at` aware
    UTC."""
    return StatusChange(case_id=changed.case_id, status=changed.status, workflow_status=changed.workflow_status,
                        status_notes=_text(changed.status_notes, region), at=at)


@dataclass(frozen=True)
class MergeChange:
    """The case was merged into `merged_into`: closed (workflow ``duplicate``) with the merge's notes."""

    case_id: UUID
    merged_into: UUID
    status_notes: str | None
    at: datetime


def merge_change(merged: CaseMerged, *, at: datetime, region: str) -> MergeChange:
    """`case.merged` as a `MergeChange`: the case id it now duplicates and the merge's notes scrubbed for
    `region`; `at` aware UTC."""
    return MergeChange(case_id=merged.case_id, merged_into=merged.merged_into,
                       status_notes=_text(merged.status_notes, region), at=at)


@dataclass(frozen=True)
class UnmergeChange:
    """Staff undid the merge: the case duplicates nothing, with the status the event gives."""

    case_id: UUID
    status: str
    workflow_status: str | None
    at: datetime


def unmerge_change(unmerged: CaseUnmerged, *, at: datetime) -> UnmergeChange:
    """`case.unmerged` as an `UnmergeChange`: the Open311 and workflow status the case returns to; `at` aware
    UTC."""
    return UnmergeChange(case_id=unmerged.case_id, status=unmerged.status, workflow_status=unmerged.workflow_status,
                         at=at)


@dataclass(frozen=True)
class Recategorisation:
    """Staff gave the case another category; name and department follow with the router's `case.routed`."""

    case_id: UUID
    service_code: str
    description: str
    address: str | None
    lat: float | None
    long: float | None
    at: datetime


def recategorisation(recategorised: CaseRecategorised, *, at: datetime, region: str) -> Recategorisation:
    """`case.recategorised` as a `Recategorisation`: the new service code, the description and address
    scrubbed for `region`, the point (WGS84 degrees, None when unknown); `at` aware UTC."""
    return Recategorisation(case_id=recategorised.case_id, service_code=recategorised.service_code,
                            description=_text(recategorised.description, region) or "",
                            address=_text(recategorised.address, region), lat=recategorised.lat,
                            long=recategorised.long, at=at)


@dataclass(frozen=True)
class Erasure:
    """The retention job erased the case's personal data: its description and address are blanked for good
    (later events do not bring them back)."""

    case_id: UUID
    at: datetime


def erasure(erased: CasePersonalDataErased, *, at: datetime) -> Erasure:
    """`case.personal_data_erased` as an `Erasure` of the case's text; `at` aware UTC."""
    return Erasure(case_id=erased.case_id, at=at)


@dataclass(frozen=True)
class SurveyAnswer:
    """One satisfaction answer: only the rating and when (the comment and the reporter are not kept)."""

    event_id: UUID
    case_id: UUID
    rating: int
    answered_at: datetime


def survey_answer(answered: CaseSurveyAnswered, *, event_id: UUID) -> SurveyAnswer:
    """`case.survey_answered` as a `SurveyAnswer`: the rating (1-5) and `answered_at` (aware UTC), keyed by
    the envelope's `event_id` so a redelivery adds nothing; the comment and the reporter are left out."""
    return SurveyAnswer(event_id=event_id, case_id=answered.case_id, rating=answered.rating,
                        answered_at=answered.answered_at)


@dataclass(frozen=True)
class Deflection:
    """One "this answered my question" (the browser's random key is not kept)."""

    event_id: UUID
    article_id: str
    service_code: str | None
    language: str | None
    deflected_at: datetime


def deflection(deflected: HelpDeflected, *, event_id: UUID) -> Deflection:
    """`intake.help_deflected` as a `Deflection`: the article, the category and language it was read for
    (either may be None), `deflected_at` its `received_at` (aware UTC), keyed by the envelope's `event_id`;
    the browser's key is left out."""
    return Deflection(event_id=event_id, article_id=deflected.article_id, service_code=deflected.service_code,
                      language=deflected.language, deflected_at=deflected.received_at)
