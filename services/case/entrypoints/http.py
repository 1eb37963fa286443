"""The case API intake_web and the consoles read (Open311 GeoReport v2 service requests, a reporter's
cases, tokens, timelines) and the older staff status change; the staff API is `entrypoints/staff.py`.

Open to anyone (Open311 reads; no internal note, no contact, and emails and phone numbers in the
description, address and status notes scrubbed as the open-data exports do): `GET /cases/requests/{id}`,
`GET /cases/requests/{id}/history` (the public timeline), `GET /cases/requests`, `GET /cases/tokens/{token}`. Behind a staff bearer token (`shared.auth`):
`GET /cases/by-contact/{contact_key}` (any role), `GET /cases/{id}/timeline` (whoever may read the case:
call agents, its department's staff, administrators), `POST /cases/{id}/status` (department staff,
supervisors, administrators; the actor is the token's subject). The routes find their queries, unit of work and jurisdiction on `app.state.case_api` (a
`CaseApi`, put there by `mount`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict

from services.case.adapters.reads import RequestQuery, StaffReads
from services.case.adapters.repository import CaseRepository, UnstorableValue
from services.case.domain import staff as staff_rules
from services.case.domain.commands import ChangeStatus
from services.case.domain.history import public_history
from services.case.domain.rules import district_names, open311_request, public_request, routing_facts, timeline_view
from services.case.entrypoints import staff as staff_routes
from services.case.entrypoints.staff import AnyStaff, CaseWorker, actor_of
from services.case.service_layer import staff
from services.case.service_layer.handlers import Clocks
from services.case.service_layer.retention import phone_region
from shared.jurisdiction import Jurisdiction
from shared.open311 import ServiceRequest, SpatialFilterError, parse_bbox, parse_circle
from shared.service import invalid_request
from shared.service_layer import UnitOfWork

router = APIRouter()

NewUnitOfWork = Callable[[], UnitOfWork[CaseRepository]]


@dataclass(frozen=True)
class CaseApi:
    """What the routes (these and `entrypoints/staff.py`) use, kept on `app.state.case_api`: `reads()`
    gives the queries, `unit_of_work()` a staff action's transaction (nothing claimed), `jurisdiction()`
    the loaded jurisdiction (workflow, queues, services, canned responses), `clocks()` the SLA clock hooks
    (None: none kept) and `now()` the time (aware UTC) SLA badges are computed at. Each is called per
    request, so it may reach what is opened when the service starts (the pool, the jurisdiction); before
    that it may raise (`RuntimeError` from `Runtime.db`, `KeyError`), which answers 500."""

    reads: Callable[[], StaffReads]
    unit_of_work: NewUnitOfWork
    jurisdiction: Callable[[], Jurisdiction]
    now: Callable[[], datetime]
    clocks: Callable[[], Clocks | None] = lambda: None


def mount(app: FastAPI, api: CaseApi) -> None:
    """Serve the case API and the staff API on `app`, their routes using `api`. The staff routes need a
    token verifier on the app (`shared.auth.install_auth`)."""
    app.state.case_api = api
    app.add_exception_handler(UnstorableValue, unstorable_input)
    app.add_exception_handler(RequestValidationError, invalid_request)  # as Runtime does: also for a bare app
    app.include_router(router)
    staff_routes.mount(app)


async def unstorable_input(_request: Request, exc: Exception) -> JSONResponse:
    """422 for a value PostgreSQL refuses as data (SQLSTATE class 22: a NUL byte in text, a character the
    database encoding lacks, a number out of range). The statement failed, so the unit of work rolled back
    and nothing changed."""
    return JSONResponse({"detail": f"the request holds a value that cannot be stored: "
                                   f"{getattr(exc, 'message', None) or exc} (a NUL byte is never accepted)"},
                        status_code=422)


def case_reads(request: Request) -> StaffReads:
    """The queries of this request (a FastAPI dependency on `app.state.case_api`)."""
    return request.app.state.case_api.reads()  # type: ignore[no-any-return]


Reads = Annotated[StaffReads, Depends(case_reads)]


def public_region(request: Request) -> str:
    """The region (ISO 3166 alpha-2) phone numbers without ``+`` are read in when a public read scrubs
    contacts (`service_layer.retention.phone_region` of the loaded jurisdiction)."""
    return phone_region(request.app.state.case_api.jurisdiction())


Region = Annotated[str, Depends(public_region)]


class StatusChange(BaseModel):
    """Body of `POST /cases/{id}/status`: the Open311 `status` (``open`` or ``closed``, anything else is a
    422) and optional `status_notes`. The actor comes from the token; an `actor` field in the body, as
    older callers sent, is ignored."""

    status: Literal["open", "closed"]
    status_notes: str | None = None


class CaseToken(BaseModel):
    """``GET /cases/tokens/{token}``: the case number of a channel message's token, null while none."""

    token: str
    service_request_id: str | None


class HistoryEntry(BaseModel):
    """One entry of a public history (`domain.history.public_history` says which fields each kind has)."""

    model_config = ConfigDict(extra="allow")

    at: datetime
    kind: str


class PublicHistory(BaseModel):
    """``GET /cases/requests/{sid}/history``: the public history of a case, oldest entry first."""

    service_request_id: str
    status: Literal["open", "closed"]
    workflow_status: str
    status_notes: str | None
    merged_into: str | None
    followers: int
    entries: list[HistoryEntry]


class TimelineEntry(BaseModel):
    """One timeline entry as staff see it (internal notes included)."""

    model_config = ConfigDict(extra="allow")

    at: datetime
    kind: str
    event_id: str | None = None
    detail: dict[str, Any] | None = None


class TimelineView(BaseModel):
    """``GET /cases/{sid}/timeline`` (`rules.timeline_view`): the case's state and its timeline, oldest first."""

    case_id: str
    service_request_id: str
    status: Literal["open", "closed"]
    merged_into: str | None
    channel: str
    queue: str | None
    district: str | None
    timeline: list[TimelineEntry]


def _documented(model: Any, what: str) -> dict[str, Any]:
    """Route arguments that document the 200 answer as `model` without filtering it: the route keeps its
    own return type (a dict, serialised as before, e.g. times with ``Z``), and `model` adds the shape to the
    document (in OpenAPI 3.1 the two schemas apply together)."""
    return {"responses": {200: {"model": model, "description": what}}}


def comma_list(value: str | None) -> list[str] | None:
    """An Open311 comma-separated filter as a list (blanks dropped); None when the filter is absent or empty."""
    if not value:
        return None
    return [x.strip() for x in value.split(",") if x.strip()]


def _not_found(service_request_id: str) -> HTTPException:
    return HTTPException(404, f"service_request_id {service_request_id} not found")


def could_be_stored(*values: str | None) -> bool:
    """Whether PostgreSQL text could hold every value given: none holds a NUL byte. A read asked with one
    names nothing, so the public reads answer it as not found (404, or no case for a token) without a
    query, instead of the 422 the database's refusal (`UnstorableValue`) would give."""
    return not any(v and "\x00" in v for v in values)


def public_view(case: dict[str, Any], region: str, names: dict[str, str] | None) -> dict[str, Any]:
    """`rules.public_request`, with the routing facts under `extended_attributes` (`rules.routing_facts`)
    when `names` (the district names, `rules.district_names`) is given, i.e. ``extensions=true`` was asked."""
    out = public_request(case, region)
    if names is not None:
        out["extended_attributes"] = routing_facts(case, names)
    return out


def extension_names(request: Request, extensions: bool) -> dict[str, str] | None:
    """The district names the routing facts need when ``extensions=true`` was asked, else None."""
    return district_names(request.app.state.case_api.jurisdiction()) if extensions else None


@router.get("/cases/requests/{service_request_id}",
            **_documented(ServiceRequest, "The case as an Open311 GeoReport v2 service request"))
async def get_request(service_request_id: str, reads: Reads, region: Region, request: Request,
                      extensions: bool = False) -> dict[str, Any]:
    """The case as an Open311 GeoReport v2 service request, contacts scrubbed (`rules.public_request`);
    with ``extensions=true`` also its routing facts under `extended_attributes` (docs/judgement.md,
    "Routing facts on the case API and on Open311"); 404 if unknown (or no id at all: `could_be_stored`),
    422 for an `extensions` that is no boolean."""
    case = await reads.case(service_request_id) if could_be_stored(service_request_id) else None
    if case is None:
        raise _not_found(service_request_id)
    return public_view(case, region, extension_names(request, extensions))


@router.get("/cases/requests/{service_request_id}/history", **_documented(PublicHistory, "The public history"))
async def get_history(service_request_id: str, reads: Reads, request: Request, region: Region) -> dict[str, Any]:
    """The public history of a case (`domain.history.public_history`): opening, routing (category and
    department), status changes with their public notes, public updates, merges and unmerges, survey
    ratings and the number of followers; never an internal note, a reply, a contact or a staff member
    (contacts in status notes and public updates scrubbed). Open to anyone, as the Open311 reads are; 404
    if unknown (or no id at all: `could_be_stored`)."""
    case = await reads.case(service_request_id) if could_be_stored(service_request_id) else None
    if case is None:
        raise _not_found(service_request_id)
    entries = await reads.timeline(case["case_id"])
    merged = await reads.number_of(case["merged_into"]) if case["merged_into"] else None
    return public_history(case, entries, jurisdiction=request.app.state.case_api.jurisdiction(),
                          followers=await reads.followers_count(case["case_id"]), merged_into=merged,
                          region=region)


@router.get("/cases/requests", **_documented(list[ServiceRequest], "Open311 GeoReport v2 service requests"))
async def list_requests(
    reads: Reads,
    region: Region,
    request: Request,
    service_request_id: str | None = None,
    service_code: str | None = None,
    status: str | None = None,
    start_date: datetime | None = None,
    end_date: datetime | None = None,
    bbox: str | None = None,
    lat: str | None = None,
    long: str | None = None,
    radius: str | None = None,
    limit: int = Query(1000, ge=1, le=10000),
    extensions: bool = False,
) -> list[dict[str, Any]]:
    """Open311 GET Service Requests: the lists are comma-separated, the dates (ISO 8601) bound
    `requested_datetime` inclusively; newest first, at most `limit` (1–10000, else 422). omni311 spatial
    filters: `bbox` = ``west,south,east,north`` (WGS84 degrees), `lat`/`long`/`radius` (metres, 1–50 000,
    all three); only cases with a point inside; a malformed one is a 400 naming it
    (`shared.open311.parse_bbox`, `parse_circle`). Contacts scrubbed as in `get_request`; with
    ``extensions=true`` each carries its routing facts under `extended_attributes`. A list holding a NUL
    byte (`could_be_stored`) is a 400: no case can match it."""
    try:
        box, near = parse_bbox(bbox), parse_circle(lat, long, radius)
    except SpatialFilterError as exc:
        raise HTTPException(400, str(exc)) from exc
    if not could_be_stored(service_request_id, service_code, status):
        raise HTTPException(400, "service_request_id, service_code and status never hold a NUL byte")
    query = RequestQuery(service_request_ids=comma_list(service_request_id),
                         service_codes=comma_list(service_code), statuses=comma_list(status),
                         start_date=start_date, end_date=end_date, bbox=box, near=near, limit=limit)
    names = extension_names(request, extensions)
    return [public_view(case, region, names) for case in await reads.requests(query)]


@router.get("/cases/by-contact/{contact_key}",
            **_documented(list[ServiceRequest], "The reporter's cases, as Open311 service requests"))
async def by_contact(contact_key: str, reads: Reads, _principal: AnyStaff) -> list[dict[str, Any]]:
    """The reporter's cases (they opened), newest first, at most 50: what a call agent sees on the line.
    Any staff token."""
    return [open311_request(case) for case in await reads.by_contact(contact_key)]


@router.get("/cases/tokens/{token}", **_documented(CaseToken, "The token's case number, or null"))
async def get_token(token: str, reads: Reads, channel: str = "open311") -> dict[str, Any]:
    """`{"token", "service_request_id"}`: the number of the case holding the channel message `token`
    (an Open311 token by default), or null while there is none (and for a token or channel no message can
    have: `could_be_stored`)."""
    number = await reads.number_for_token(channel, token) if could_be_stored(token, channel) else None
    return {"token": token, "service_request_id": number}


@router.get("/cases/{service_request_id}/timeline", **_documented(TimelineView, "The case and its timeline"))
async def timeline(service_request_id: str, reads: Reads, request: Request, principal: AnyStaff) -> dict[str, Any]:
    """What staff see of a case (`rules.timeline_view`): its state, the survivor's number if it was merged,
    and its timeline oldest first (internal notes included); 404 if unknown. Whoever may read the case in
    the staff API (`GET /staff/cases/{sid}`: call agents, its department's staff, administrators), else
    403: internal notes are not another department's to read."""
    case = await reads.case(service_request_id)
    if case is None:
        raise _not_found(service_request_id)
    staff_rules.authorise(actor_of(principal), "read", case, request.app.state.case_api.jurisdiction())
    entries = await reads.timeline(case["case_id"])
    merged = await reads.number_of(case["merged_into"]) if case["merged_into"] else None
    return timeline_view(case, merged, entries)


@router.post("/cases/{service_request_id}/status",
             **_documented(ServiceRequest, "The case after the change, as an Open311 service request"))
async def set_status(service_request_id: str, change: StatusChange, reads: Reads, request: Request,
                     principal: CaseWorker) -> dict[str, Any]:
    """Staff set the case's Open311 status through the workflow (`staff.change_status`, emits
    `case.status_changed`); answers the case as stored afterwards, as an Open311 service request; 404 if
    unknown, 409 when the workflow allows no move there, 422 for another status; the actor is the
    token's subject."""
    case_id = await reads.case_id(service_request_id)
    if case_id is None:
        raise _not_found(service_request_id)
    api: CaseApi = request.app.state.case_api
    async with api.unit_of_work() as uow:
        case = await staff.change_status(ChangeStatus(case_id, change.status, actor_of(principal),
                                                      change.status_notes),
                                         uow, jurisdiction=api.jurisdiction(), clocks=api.clocks())
    return open311_request(case)
