"""Forwarding rules that need no I/O: who the external system is on a case's timeline, which workflow
status a status reported by an Open311 endpoint moves a case to, and the rows and timeline details the
forwarding events leave on a case.

Source: docs/integrations.md, "Open311 forwarding" (the jurisdiction's `forwarding.closed_status` and
`forwarding.reopened_status`, actor ``open311:<endpoint>``, role ``external_system``). A case is a `dict`
of the `cases` columns (`adapters.repository.CASE_COLUMNS`).
"""

from __future__ import annotations

from typing import Any

from services.case.domain.commands import Actor
from shared.events import CaseForwarded, ForwardFailed, StatusReported
from shared.jurisdiction import forwarding as shared_rules

EXTERNAL_SYSTEM = "external_system"
"""The role of an Open311 endpoint on the timeline."""

def external_actor(endpoint: str) -> Actor:
    """The endpoint as the actor of what it reports: subject and name ``open311:<endpoint>``, role
    ``external_system``, no department."""
    who = f"open311:{endpoint}"
    return Actor(subject=who, name=who, role=EXTERNAL_SYSTEM)


def closed_status(jurisdiction: Any) -> str | None:
    """Our workflow status for an endpoint's ``closed``: the jurisdiction's `forwarding.closed_status`,
    which the loader resolves and checks; a jurisdiction built without the loader (tests) gets the same
    default (`shared.jurisdiction.forwarding.closed_status`). None when there is none."""
    return shared_rules.closed_status(jurisdiction.forwarding.closed_status, jurisdiction.workflow)


def reopened_status(jurisdiction: Any) -> str | None:
    """Our workflow status for an endpoint's ``open`` on a case closed here: the jurisdiction's
    `forwarding.reopened_status` (resolved by the loader), else the same default as the loader's, the
    workflow's `resume_to` (`shared.jurisdiction.forwarding.reopened_status`)."""
    return shared_rules.reopened_status(jurisdiction.forwarding.reopened_status, jurisdiction.workflow)


def reported_move(case: dict[str, Any], reported: str, jurisdiction: Any) -> str | None:
    """The workflow status a status reported by the endpoint (`reported`: Open311 ``open``/``closed``)
    moves `case` to, or None when it moves nothing: ``closed`` of a case open here → `closed_status`;
    ``open`` of a case closed here → `reopened_status`; a case already on that Open311 side, a case merged
    into another (the survivor is where the work goes on) and a status the workflow lacks move nothing.
    The move need not be one the workflow allows staff: the external system may make any move to a
    status that exists."""
    if case.get("merged_into") is not None or case["status"] == reported:
        return None
    to = closed_status(jurisdiction) if reported == "closed" else reopened_status(jurisdiction)
    workflow = jurisdiction.workflow
    return None if to is None or not workflow.has(to) or to == case["workflow_status"] else to


def forwarded_row(ev: CaseForwarded) -> dict[str, Any]:
    """The `external_requests` row of a `forwarding.case_forwarded` (columns → values)."""
    return {"case_id": ev.case_id, "endpoint": ev.endpoint,
            "external_service_request_id": ev.external_service_request_id,
            "token": ev.token, "external_service_code": ev.external_service_code, "forwarded_at": ev.forwarded_at}


def _by(endpoint: str) -> dict[str, Any]:
    actor = external_actor(endpoint)
    return {"actor": actor.subject, "actor_name": actor.name, "role": actor.role, "endpoint": endpoint}


def forwarded_detail(ev: CaseForwarded) -> dict[str, Any]:
    """The `detail` of timeline entry ``forwarded``: the endpoint as actor, its id for the request (or the
    token it answered), the code it was sent under, its notice and when (ISO 8601 UTC)."""
    return {**_by(ev.endpoint), "external_service_request_id": ev.external_service_request_id, "token": ev.token,
            "external_service_code": ev.external_service_code, "service_notice": ev.service_notice,
            "forwarded_at": ev.forwarded_at.isoformat()}


def failed_detail(ev: ForwardFailed) -> dict[str, Any]:
    """The `detail` of timeline entry ``forward_failed``: stage (``send``/``poll``), attempt (from 1), the
    error and the next attempt (ISO 8601 UTC; None when the forwarder gave up)."""
    return {**_by(ev.endpoint), "stage": ev.stage, "attempt": ev.attempt, "error": ev.error,
            "retry_at": ev.retry_at.isoformat() if ev.retry_at else None}


def reported_facts(ev: StatusReported) -> dict[str, Any]:
    """What the endpoint reported, as the timeline keeps it beside the move (or alone, ``external_update``):
    its id for the request, its Open311 status, notes, agency and times (ISO 8601 UTC)."""
    return {"external_service_request_id": ev.external_service_request_id, "reported_status": ev.status,
            "status_notes": ev.status_notes, "agency_responsible": ev.agency_responsible,
            "updated_datetime": ev.updated_datetime.isoformat() if ev.updated_datetime else None,
            "reported_at": ev.reported_at.isoformat()}


def update_detail(ev: StatusReported, case: dict[str, Any]) -> dict[str, Any]:
    """The `detail` of timeline entry ``external_update``: a report that moved nothing (new notes or
    agency, or a status the case already has here), with the case's workflow status then."""
    return {**_by(ev.endpoint), **reported_facts(ev), "workflow_status": case["workflow_status"]}
