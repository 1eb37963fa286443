"""The case API intake_web and the consoles read (Open311 GeoReport v2 service requests, a reporter's
cases, tokens, timelines) and the staff status change.

`GET /cases/requests/{id}`, `GET /cases/requests`, `GET /cases/by-contact/{contact_key}`,
`GET /cases/tokens/{token}`, `GET /cases/{id}/timeline`, `POST /cases/{id}/status`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel

from services.case.adapters.reads import CaseReads, RequestQuery
from services.case.adapters.repository import CaseRepository
from services.case.domain.commands import ChangeStatus
from services.case.domain.rules import open311_request, timeline_view
from services.case.service_layer import handlers
from shared.service_layer import UnitOfWork


class StatusChange(BaseModel):
    """Body of `POST /cases/{id}/status`."""

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


def routes(reads: Callable[[], CaseReads], unit_of_work: Callable[[], UnitOfWork[CaseRepository]]) -> APIRouter:
    """The case API on `reads()` (queries) and `unit_of_work()` (a staff action's transaction), both called
    per request, once the service has started."""
    api = APIRouter()

    @api.get("/cases/requests/{service_request_id}")
    async def get_request(service_request_id: str) -> dict[str, Any]:
        case = await reads().case(service_request_id)
        if case is None:
            raise _not_found(service_request_id)
        return open311_request(case)

    @api.get("/cases/requests")
    async def list_requests(
        service_request_id: str | None = None,
        service_code: str | None = None,
        status: str | None = None,
        start_date: datetime | None = None,
        end_date: datetime | None = None,
        limit: int = Query(1000, ge=1, le=10000),
    ) -> list[dict[str, Any]]:
        query = RequestQuery(service_request_ids=comma_list(service_request_id),
                             service_codes=comma_list(service_code), statuses=comma_list(status),
                             start_date=start_date, end_date=end_date, limit=limit)
        return [open311_request(case) for case in await reads().requests(query)]

    @api.get("/cases/by-contact/{contact_key}")
    async def by_contact(contact_key: str) -> list[dict[str, Any]]:
        """The reporter's cases (they opened), newest first, at most 50: what a call agent sees on the line."""
        return [open311_request(case) for case in await reads().by_contact(contact_key)]

    @api.get("/cases/tokens/{token}")
    async def get_token(token: str, channel: str = "open311") -> dict[str, Any]:
        return {"token": token, "service_request_id": await reads().number_for_token(channel, token)}

    @api.get("/cases/{service_request_id}/timeline")
    async def timeline(service_request_id: str) -> dict[str, Any]:
        q = reads()
        case = await q.case(service_request_id)
        if case is None:
            raise _not_found(service_request_id)
        entries = await q.timeline(case["case_id"])
        merged = await q.number_of(case["merged_into"]) if case["merged_into"] else None
        return timeline_view(case, merged, entries)

    @api.post("/cases/{service_request_id}/status")
    async def set_status(service_request_id: str, change: StatusChange) -> dict[str, Any]:
        case_id = await reads().case_id(service_request_id)
        if case_id is None:
            raise _not_found(service_request_id)
        async with unit_of_work() as uow:
            case = await handlers.change_status(ChangeStatus(case_id, change.status, change.status_notes,
                                                             change.actor), uow)
        assert case is not None
        return open311_request(case)

    return api
