"""The case API intake_web and the consoles read (Open311 GeoReport v2 service requests, a reporter's
cases, tokens, timelines) and the staff status change.

`GET /cases/requests/{id}`, `GET /cases/requests`, `GET /cases/by-contact/{contact_key}`,
`GET /cases/tokens/{token}`, `GET /cases/{id}/timeline`, `POST /cases/{id}/status`. The routes find their
queries and their unit of work on `app.state.case_api` (a `CaseApi`, put there by `mount`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request
from pydantic import BaseModel

from services.case.adapters.reads import CaseReads, RequestQuery
from services.case.adapters.repository import CaseRepository
from services.case.domain.commands import ChangeStatus
from services.case.domain.rules import open311_request, timeline_view
from services.case.service_layer import handlers
from shared.service_layer import UnitOfWork

router = APIRouter()

NewUnitOfWork = Callable[[], UnitOfWork[CaseRepository]]


@dataclass(frozen=True)
class CaseApi:
    """What the routes use, kept on `app.state.case_api`: `reads()` gives the queries and
    `unit_of_work()` a staff action's transaction (nothing claimed). Both are called per request, so they
    may reach resources opened when the service starts (the pool); before that they may raise
    `RuntimeError` (`Runtime.db`), which answers 500."""

    reads: Callable[[], CaseReads]
    unit_of_work: NewUnitOfWork


def mount(app: FastAPI, api: CaseApi) -> None:
    """Serve the case API on `app`, its routes using `api`."""
    app.state.case_api = api
    app.include_router(router)


def case_reads(request: Request) -> CaseReads:
    """The queries of this request (a FastAPI dependency on `app.state.case_api`)."""
    return request.app.state.case_api.reads()  # type: ignore[no-any-return]


def unit_of_work_factory(request: Request) -> NewUnitOfWork:
    """How this request opens a staff action's unit of work (a FastAPI dependency on `app.state.case_api`)."""
    return request.app.state.case_api.unit_of_work  # type: ignore[no-any-return]


Reads = Annotated[CaseReads, Depends(case_reads)]
UnitsOfWork = Annotated[NewUnitOfWork, Depends(unit_of_work_factory)]


class StatusChange(BaseModel):
    """Body of `POST /cases/{id}/status`: the Open311 `status` (``open`` or ``closed``, anything else is a
    422), optional `status_notes`, and the `actor` written on the timeline (default ``staff``)."""

    status: Literal["open", "closed"]
    status_notes: str | None = None
    actor: str = "staff"


def comma_list(value: str | None) -> list[str] | None:
    """An Open311 comma-separated filter as a list (blanks dropped); None when the filter is absent or empty."""
    if not value:
        return None
    return [x.strip() for x in value.split(",") if x.strip()]


def _not_found(service_request_id: str) -> HTTPException:
    return HTTPException(404, f"service_request_id {service_request_id} not found")


@router.get("/cases/requests/{service_request_id}")
async def get_request(service_request_id: str, reads: Reads) -> dict[str, Any]:
    """The case as an Open311 GeoReport v2 service request (`rules.open311_request`); 404 if unknown."""
    case = await reads.case(service_request_id)
    if case is None:
        raise _not_found(service_request_id)
    return open311_request(case)


@router.get("/cases/requests")
async def list_requests(
    reads: Reads,
    service_request_id: str | None = None,
    service_code: str | None = None,
    status: str | None = None,
    start_date: datetime | None = None,
    end_date: datetime | None = None,
    limit: int = Query(1000, ge=1, le=10000),
) -> list[dict[str, Any]]:
    """Open311 GET Service Requests: the lists are comma-separated, the dates (ISO 8601) bound
    `requested_datetime` inclusively; newest first, at most `limit` (1–10000, else 422)."""
    query = RequestQuery(service_request_ids=comma_list(service_request_id),
                         service_codes=comma_list(service_code), statuses=comma_list(status),
                         start_date=start_date, end_date=end_date, limit=limit)
    return [open311_request(case) for case in await reads.requests(query)]


@router.get("/cases/by-contact/{contact_key}")
async def by_contact(contact_key: str, reads: Reads) -> list[dict[str, Any]]:
    """The reporter's cases (they opened), newest first, at most 50: what a call agent sees on the line."""
    return [open311_request(case) for case in await reads.by_contact(contact_key)]


@router.get("/cases/tokens/{token}")
async def get_token(token: str, reads: Reads, channel: str = "open311") -> dict[str, Any]:
    """`{"token", "service_request_id"}`: the number of the case holding the channel message `token`
    (an Open311 token by default), or null while there is none."""
    return {"token": token, "service_request_id": await reads.number_for_token(channel, token)}


@router.get("/cases/{service_request_id}/timeline")
async def timeline(service_request_id: str, reads: Reads) -> dict[str, Any]:
    """What staff see of a case (`rules.timeline_view`): its state, the survivor's number if it was merged,
    and its timeline oldest first; 404 if unknown."""
    case = await reads.case(service_request_id)
    if case is None:
        raise _not_found(service_request_id)
    entries = await reads.timeline(case["case_id"])
    merged = await reads.number_of(case["merged_into"]) if case["merged_into"] else None
    return timeline_view(case, merged, entries)


@router.post("/cases/{service_request_id}/status")
async def set_status(service_request_id: str, change: StatusChange, reads: Reads,
                     unit_of_work: UnitsOfWork) -> dict[str, Any]:
    """Staff set the case's status (`handlers.change_status`, emits `case.status_changed`); answers the case
    as stored afterwards, as an Open311 service request; 404 if unknown, 422 for another status."""
    case_id = await reads.case_id(service_request_id)
    if case_id is None:
        raise _not_found(service_request_id)
    async with unit_of_work() as uow:
        case = await handlers.change_status(ChangeStatus(case_id, change.status, change.status_notes,
                                                         change.actor), uow)
    assert case is not None
    return open311_request(case)
