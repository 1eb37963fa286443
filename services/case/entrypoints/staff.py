"""The case service's staff API (docs/staff-work.md, "Case service staff API"): `/staff/...` routes, each
behind a bearer token (`shared.auth.require`), translating a request into a staff command
(`service_layer/staff.py`) run in one unit of work, or into a query (`adapters/reads.StaffReads`).

Writes answer 200 with the case as `GET /staff/cases/{sid}` shows it; 401 without a valid token, 403 for
a role or department that may not act, 404 for an unknown case or suggestion, 409 for what the workflow
or the merge rules refuse, 422 for a bad body. The routes find their queries, unit of work, jurisdiction,
SLA clocks and clock on `app.state.case_api` (`entrypoints.http.CaseApi`). Every route declares its response
model (`entrypoints/staff_models.py`), so the OpenAPI document says what it answers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any
from uuid import UUID, uuid4

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from services.case.adapters.reads import HISTORY_LIMIT, SLA_STATES, STAFF_LIST_LIMIT, StaffQuery, StaffReads
from services.case.domain import commands as c
from services.case.domain import staff as rules
from services.case.domain.staff import StaffError
from services.case.entrypoints.staff_models import Me, ReporterCases, StaffCase, StaffCaseRow, StaffConfig, Suggestion
from services.case.service_layer import staff
from shared.auth import Principal, Role, require

router = APIRouter(prefix="/staff", tags=["staff"])

ANY_STAFF = require()
"""Any known role (call agents included)."""
CASE_WORKERS = require(Role.DEPARTMENT_STAFF, Role.SUPERVISOR, Role.ADMINISTRATOR)
"""Department staff, supervisors and administrators."""

AnyStaff = Annotated[Principal, Depends(ANY_STAFF)]
CaseWorker = Annotated[Principal, Depends(CASE_WORKERS)]


def actor_of(p: Principal) -> c.Actor:
    """The command's actor from the verified token: subject, name, highest role, department, teams."""
    return c.Actor(subject=p.subject, name=p.name, role=str(p.role), department=p.department,
                   teams=frozenset(p.teams))


def _api(request: Request) -> Any:
    return request.app.state.case_api


async def staff_error(_request: Request, exc: Exception) -> JSONResponse:
    """A refused staff command as `{"detail": reason}` with its status (403, 404, 409, 422)."""
    assert isinstance(exc, StaffError)
    return JSONResponse({"detail": str(exc)}, status_code=exc.status)


def mount(app: FastAPI) -> None:
    """Serve the staff routes on `app` (its `case_api` is put there by `entrypoints.http.mount`) and answer
    a refused staff command with its status."""
    app.add_exception_handler(StaffError, staff_error)
    app.include_router(router)


# --- bodies ----------------------------------------------------------------------------------------------

class _Body(BaseModel):
    model_config = {"extra": "forbid"}


class ClaimBody(_Body):
    """`{}`."""


class AssignBody(_Body):
    assignee: str | None = Field(default=None, min_length=1, max_length=255)
    team: str | None = Field(default=None, min_length=1, max_length=255)
    reason: str | None = Field(default=None, max_length=2000)


class TransitionBody(_Body):
    to: str = Field(min_length=1, max_length=64)
    note: str | None = Field(default=None, max_length=4000)


class PriorityBody(_Body):
    priority: int = Field(ge=1, le=5, strict=True)
    """A JSON integer: `true` (which lax parsing read as 1) and `"2"` are 422."""
    reason: str | None = Field(default=None, max_length=2000)


class RecategoriseBody(_Body):
    service_code: str = Field(min_length=1, max_length=200)
    reason: str = Field(min_length=1, max_length=2000)


class NoteBody(_Body):
    text: str = Field(min_length=1, max_length=10000)


class UpdateBody(_Body):
    text: str = Field(min_length=1, max_length=4000)
    language: str | None = Field(default=None, max_length=16)
    update_id: UUID | None = None
    """The client's id of this update (a form's): sent again, it changes nothing. Minted when absent."""


class ReplyBody(_Body):
    contact_key: str = Field(min_length=1, max_length=500)
    text: str | None = Field(default=None, max_length=4000)
    canned_response_id: str | None = Field(default=None, max_length=200)
    language: str | None = Field(default=None, max_length=16)
    reply_id: UUID | None = None
    """The client's id of this reply (a form's): sent again, it changes nothing. Minted when absent."""


class MergeBody(_Body):
    into: str = Field(min_length=1, max_length=64)
    reason: str | None = Field(default=None, max_length=2000)


class ReasonBody(_Body):
    reason: str | None = Field(default=None, max_length=2000)


# --- reads -----------------------------------------------------------------------------------------------

async def _case_or_404(reads: StaffReads, sid: str) -> dict[str, Any]:
    case = await reads.case(sid)
    if case is None:
        raise HTTPException(404, f"service_request_id {sid} not found")
    return case


async def detail(api: Any, case: dict[str, Any]) -> dict[str, Any]:
    """The case as `GET /staff/cases/{sid}` shows it (`domain.staff.staff_case_detail`)."""
    reads: StaffReads = api.reads()
    case_id = case["case_id"]
    merged_into = await reads.number_of(case["merged_into"]) if case["merged_into"] else None
    return rules.staff_case_detail(
        case, api.jurisdiction(), sla=await reads.sla(case_id, api.now()), merged_into=merged_into,
        messages=await reads.messages(case_id), reporters=await reads.reporters(case_id),
        merged=await reads.merged_into_it(case_id), timeline=await reads.timeline(case_id),
        external_requests=await reads.external_requests(case_id))


@router.get("/me", response_model=Me)
async def me(principal: AnyStaff) -> dict[str, Any]:
    """The caller as the service sees them: subject, name, roles, role, department, teams."""
    return {"subject": principal.subject, "name": principal.name, "roles": sorted(principal.roles),
            "role": principal.role, "department": principal.department, "teams": sorted(principal.teams)}


@router.get("/config", response_model=StaffConfig)
async def config(request: Request, _principal: AnyStaff) -> dict[str, Any]:
    """Statuses (labels, transitions), departments, queues, teams, services, canned responses."""
    return rules.staff_config(_api(request).jurisdiction())


def _list(value: str | None) -> list[str] | None:
    if not value:
        return None
    return [x.strip() for x in value.split(",") if x.strip()]


@router.get("/cases", response_model=list[StaffCaseRow])
async def list_cases(
    request: Request, principal: CaseWorker,
    queue: str | None = None, assignee: str | None = None, status: str | None = None,
    sla_state: str | None = None, district: str | None = None, service_code: str | None = None,
    channel: str | None = None, limit: int = Query(100, ge=1, le=STAFF_LIST_LIMIT),
) -> list[dict[str, Any]]:
    """The cases of the caller's scope (their department's queues, for department staff without its
    supervisor queue but for their own cases there; all for an administrator) matching
    the filters (`status` and `sla_state` comma lists; `assignee=me` is the caller), soonest SLA due
    first. 422 for an unknown `sla_state`; 403 for a queue outside the caller's scope."""
    api = _api(request)
    jurisdiction = api.jurisdiction()
    actor = actor_of(principal)
    scope = rules.visible_queues(actor, jurisdiction)
    states = _list(sla_state)
    if states is not None and not set(states) <= set(SLA_STATES):
        raise HTTPException(422, f"sla_state is a comma list of {', '.join(SLA_STATES)}")
    own = rules.own_case_queues(actor, jurisdiction)
    if queue is not None and scope is not None and queue not in scope and queue not in own:
        raise HTTPException(403, f"queue {queue} is not one of your department's")
    q = StaffQuery(queues=scope, assigned_in=(principal.subject, own) if own else None, queue=queue,
                   assignee=principal.subject if assignee == "me" else assignee,
                   statuses=_list(status), sla_states=states, district=district, service_code=service_code,
                   channel=channel, limit=limit)
    rows = await api.reads().staff_cases(q, api.now())
    return [rules.staff_case_row(r, jurisdiction, sla_state_=r["sla_state"], sla_due_at=r["sla_effective_due_at"])
            for r in rows]


@router.get("/cases/{sid}", response_model=StaffCase)
async def get_case(sid: str, request: Request, principal: AnyStaff) -> dict[str, Any]:
    """The case for staff: everything `staff_case_detail` lists, internal notes included."""
    api = _api(request)
    case = await _case_or_404(api.reads(), sid)
    rules.authorise(actor_of(principal), "read", case, api.jurisdiction())
    return await detail(api, case)


@router.get("/suggestions", response_model=list[Suggestion])
async def suggestions(request: Request, principal: CaseWorker,
                      status: str | None = Query("pending", pattern="^(pending|accepted|rejected|all)$"),
                      ) -> list[dict[str, Any]]:
    """Duplicate suggestions of the caller's scope (by the suggested duplicate's queue), newest first."""
    api = _api(request)
    scope = rules.visible_queues(actor_of(principal), api.jurisdiction())
    rows = await api.reads().suggestions(status=None if status == "all" else status, queues=scope)
    return [{"id": str(r["id"]), "case": r["case"], "duplicate_of": r["duplicate_of_case"], "score": r["score"],
             "evidence": r["evidence"], "status": r["status"], "queue": r["queue"], "created_at": r["created_at"],
             "decided_by": r["decided_by"], "decided_at": r["decided_at"], "reason": r["reason"]} for r in rows]


MAX_HISTORY_KEYS = 20
"""At most this many contact keys in one history request (a profile links a handful)."""


@router.get("/reporters/cases", response_model=ReporterCases)
async def reporter_cases(
    request: Request, _principal: AnyStaff,
    contact_key: Annotated[list[str], Query(min_length=1, max_length=MAX_HISTORY_KEYS)],
) -> dict[str, Any]:
    """One person's history across channels (docs/integrations.md, "One resident profile across
    channels"): the cases of every `contact_key` given (1 to 20 keys, each 1 to 500 characters and no
    NUL; 422 otherwise) and the cases theirs were merged into, newest requested first, at most 200.
    Any role (call agents included): the contact keys, never an address, are shown."""
    keys = list(dict.fromkeys(contact_key))
    if any(not 1 <= len(k) <= 500 or "\x00" in k for k in keys):
        raise HTTPException(422, "a contact_key is 1 to 500 characters, never a NUL")
    rows = await _api(request).reads().cases_of_contacts(keys, HISTORY_LIMIT)
    return {"cases": [rules.reporter_case_row(r) for r in rows]}


# --- writes ----------------------------------------------------------------------------------------------

async def _run(api: Any, build: Callable[[UUID], Any], run: Callable[..., Awaitable[dict[str, Any]]], sid: str,
               **bound: Any) -> dict[str, Any]:
    reads: StaffReads = api.reads()
    case_id = await reads.case_id(sid)
    if case_id is None:
        raise HTTPException(404, f"service_request_id {sid} not found")
    async with api.unit_of_work() as uow:
        case = await run(build(case_id), uow, jurisdiction=api.jurisdiction(), **bound)
    fresh = await reads.case(case["service_request_id"])
    assert fresh is not None
    return await detail(api, fresh)


@router.post("/cases/{sid}/claim", response_model=StaffCase)
async def claim(sid: str, request: Request, principal: CaseWorker,
                _body: ClaimBody = ClaimBody()) -> dict[str, Any]:
    api = _api(request)
    return await _run(api, lambda i: c.Claim(i, actor_of(principal)), staff.claim, sid, clocks=api.clocks())


@router.post("/cases/{sid}/assign", response_model=StaffCase)
async def assign(sid: str, body: AssignBody, request: Request, principal: CaseWorker) -> dict[str, Any]:
    api = _api(request)
    return await _run(api, lambda i: c.Assign(i, actor_of(principal), body.assignee, body.team, body.reason),
                      staff.assign, sid, clocks=api.clocks())


@router.post("/cases/{sid}/transition", response_model=StaffCase)
async def transition(sid: str, body: TransitionBody, request: Request, principal: CaseWorker) -> dict[str, Any]:
    api = _api(request)
    return await _run(api, lambda i: c.Transition(i, actor_of(principal), body.to, body.note), staff.transition,
                      sid, clocks=api.clocks())


@router.post("/cases/{sid}/priority", response_model=StaffCase)
async def priority(sid: str, body: PriorityBody, request: Request, principal: CaseWorker) -> dict[str, Any]:
    return await _run(_api(request), lambda i: c.SetPriority(i, actor_of(principal), body.priority, body.reason),
                      staff.set_priority, sid)


@router.post("/cases/{sid}/recategorise", response_model=StaffCase)
async def recategorise(sid: str, body: RecategoriseBody, request: Request, principal: CaseWorker) -> dict[str, Any]:
    return await _run(_api(request), lambda i: c.Recategorise(i, actor_of(principal), body.service_code, body.reason),
                      staff.recategorise, sid)


@router.post("/cases/{sid}/notes", response_model=StaffCase)
async def note(sid: str, body: NoteBody, request: Request, principal: AnyStaff) -> dict[str, Any]:
    return await _run(_api(request), lambda i: c.AddNote(i, actor_of(principal), body.text), staff.add_note, sid)


@router.post("/cases/{sid}/updates", response_model=StaffCase)
async def update(sid: str, body: UpdateBody, request: Request, principal: CaseWorker) -> dict[str, Any]:
    return await _run(_api(request), lambda i: c.PostUpdate(i, actor_of(principal), body.text,
                                                             body.update_id or uuid4(), body.language),
                      staff.post_update, sid)


@router.post("/cases/{sid}/replies", response_model=StaffCase)
async def reply(sid: str, body: ReplyBody, request: Request, principal: CaseWorker) -> dict[str, Any]:
    return await _run(_api(request), lambda i: c.Reply(i, actor_of(principal), body.contact_key,
                                                        body.reply_id or uuid4(), body.text,
                                                        body.canned_response_id, body.language), staff.reply, sid)


@router.post("/cases/{sid}/merge", response_model=StaffCase)
async def merge(sid: str, body: MergeBody, request: Request, principal: CaseWorker) -> dict[str, Any]:
    api = _api(request)
    into = await api.reads().case_id(body.into)
    if into is None:
        raise HTTPException(404, f"service_request_id {body.into} not found")
    return await _run(api, lambda i: c.Merge(i, actor_of(principal), into, body.reason), staff.merge, sid,
                      clocks=api.clocks())


@router.post("/cases/{sid}/unmerge", response_model=StaffCase)
async def unmerge(sid: str, request: Request, principal: CaseWorker,
                  body: ReasonBody = ReasonBody()) -> dict[str, Any]:
    api = _api(request)
    return await _run(api, lambda i: c.Unmerge(i, actor_of(principal), body.reason), staff.unmerge, sid,
                      clocks=api.clocks())


async def _decide(suggestion_id: UUID, accept: bool, body: ReasonBody, request: Request,
                  principal: Principal) -> dict[str, Any]:
    api = _api(request)
    async with api.unit_of_work() as uow:
        case = await staff.decide_suggestion(
            c.DecideSuggestion(suggestion_id, actor_of(principal), accept, body.reason), uow,
            jurisdiction=api.jurisdiction(), clocks=api.clocks())
    fresh = await api.reads().case(case["service_request_id"])
    return await detail(api, fresh)


@router.post("/suggestions/{suggestion_id}/accept", response_model=StaffCase)
async def accept(suggestion_id: UUID, request: Request, principal: CaseWorker,
                  body: ReasonBody = ReasonBody()) -> dict[str, Any]:
    """Accept: merge the suggested duplicate; answers that case."""
    return await _decide(suggestion_id, True, body, request, principal)


@router.post("/suggestions/{suggestion_id}/reject", response_model=StaffCase)
async def reject(suggestion_id: UUID, request: Request, principal: CaseWorker,
                  body: ReasonBody = ReasonBody()) -> dict[str, Any]:
    """Reject the suggestion; answers the suggested duplicate."""
    return await _decide(suggestion_id, False, body, request, principal)
