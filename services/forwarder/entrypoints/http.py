"""The forwarder's admin API (docs/integrations.md, "Open311 forwarding"), bearer tokens via `shared.auth`,
supervisor or administrator: `GET /admin/forwards?case_id=` (the case's UUID) or `?service_request_id=` (its
number, e.g. ``NYC-26-000042``) shows where a case was sent and how it stands;
`POST /admin/forwards/{case_id}/retry` sends again what gave up or was refused. A case without forwards is
404; a retry with nothing to retry 409, nothing changed. The routes find their reads and unit of work on
`app.state.forwarder` (a `ForwarderApi`, put there by `mount`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request
from pydantic import BaseModel, Field

from services.forwarder.adapters.repository import ForwarderReads
from services.forwarder.domain.forwards import State
from services.forwarder.service_layer import handlers
from shared.auth import Principal, Role, require

router = APIRouter()

Managers = Annotated[Principal, Depends(require(Role.SUPERVISOR, Role.ADMINISTRATOR))]


class ForwardView(BaseModel):
    """One forward of a case to an endpoint (never its URL or key)."""

    endpoint: str
    state: State = Field(description="pending (to send), awaiting_token, forwarded (polled), failed (gave up), "
                                     "refused (a 4xx), closed (reported closed)")
    service_request_id: str
    external_service_code: str
    external_service_request_id: str | None = None
    token: str | None = None
    attempts: int = Field(description="sends made since the last staff retry")
    next_attempt_at: datetime | None = Field(default=None, description="UTC; when the next send is due")
    last_error: str | None = None
    forwarded_at: datetime | None = None
    status: str | None = Field(default=None, description="the endpoint's last reported Open311 status")
    status_notes: str | None = None
    agency_responsible: str | None = None
    next_poll_at: datetime | None = None
    poll_failures: int = 0


class ForwardsView(BaseModel):
    """The forwards of one case, by endpoint name."""

    case_id: UUID
    forwards: list[ForwardView]


def _view(case_id: UUID, rows: list[dict[str, Any]]) -> ForwardsView:
    return ForwardsView(case_id=case_id, forwards=[ForwardView.model_validate(
        {k: v for k, v in row.items() if k in ForwardView.model_fields}) for row in rows])


@dataclass(frozen=True)
class ForwarderApi:
    """What the routes use, each called per request (before the service started they raise: 500):
    `reads()` the forwards' reads, `unit_of_work()` one that claims nothing."""

    reads: Callable[[], ForwarderReads]
    unit_of_work: Callable[[], Any]


def mount(app: FastAPI, api: ForwarderApi) -> None:
    """Serve the routes on `app` with `api`; the app needs a token verifier (`shared.auth.install_auth`)."""
    app.state.forwarder = api
    app.include_router(router)


def _api(request: Request) -> ForwarderApi:
    return request.app.state.forwarder


@router.get("/admin/forwards", response_model=ForwardsView)
async def get_forwards(
        request: Request, _who: Managers,
        case_id: Annotated[UUID | None, Query(description="the case's id (case_id of its events)")] = None,
        service_request_id: Annotated[str | None, Query(
            description="the case's number instead of its id, e.g. NYC-26-000042 (any letter case)",
            min_length=1, max_length=64, pattern=r"^[!-~]+$")] = None,
) -> ForwardsView:
    """Where the case was sent and how each send stands, the case given by exactly one of `case_id` and
    `service_request_id` (else 422); 404 when it was never sent anywhere. The answer's ``case_id`` is the
    one the retry route takes."""
    if (case_id is None) == (service_request_id is None):
        raise HTTPException(422, "give exactly one of case_id (the case's UUID) and service_request_id (its number)")
    reads = _api(request).reads()
    if case_id is not None:
        rows, named = await reads.of_case(case_id), str(case_id)
    else:
        named = str(service_request_id).upper()
        rows = await reads.of_case_number(named)
    if not rows:
        raise HTTPException(404, f"case {named} has no forwards")
    return _view(rows[0]["case_id"], rows)


@router.post("/admin/forwards/{case_id}/retry", response_model=ForwardsView)
async def retry_forwards(case_id: UUID, request: Request, _who: Managers) -> ForwardsView:
    """Send the case again to every endpoint whose sends gave up (``failed``) or that refused it: due now,
    attempts from zero. 404 for a case without forwards; 409 when none gave up (nothing changed)."""
    try:
        rows = await handlers.retry(_api(request).unit_of_work, case_id)
    except handlers.NoForwards:
        raise HTTPException(404, f"case {case_id} has no forwards") from None
    except handlers.NothingToRetry as exc:
        states = ", ".join(f"{r['endpoint']}: {r['state']}" for r in exc.rows)
        raise HTTPException(409, f"nothing to retry ({states})") from None
    return _view(case_id, rows)
