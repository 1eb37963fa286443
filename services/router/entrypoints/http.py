"""The router's staff API (docs/judgement.md, "Rule changes tried before they go live"), bearer tokens via
`shared.auth`: `GET /routing/versions` (supervisor, administrator) lists what decides live;
`POST /routing/replay?days=N` (administrator) replays a draft jurisdiction file (the body, YAML) over the
last N days of logged decisions and answers what would change. A bad draft is 422 with the loader's
message, an empty, non-UTF-8 or oversized body 400/413; nothing is ever changed. The routes find their
reads, jurisdiction, model and clock on `app.state.router` (a `RouterApi`, put there by `mount`)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request
from pydantic import BaseModel, ConfigDict

from services.router.adapters.drafts import MAX_DRAFT_BYTES, draft_from_text
from services.router.adapters.repository import RouterReads
from services.router.service_layer import replay
from services.router.service_layer.handlers import TextClassifier
from shared.auth import Principal, Role, require
from shared.jurisdiction import Jurisdiction, JurisdictionConfigError

router = APIRouter()

Managers = Annotated[Principal, Depends(require(Role.SUPERVISOR, Role.ADMINISTRATOR))]
Administrators = Annotated[Principal, Depends(require(Role.ADMINISTRATOR))]


class LiveVersions(BaseModel):
    """``GET /routing/versions`` (`replay.versions`): what decides live."""

    model_config = ConfigDict(extra="allow")

    jurisdiction: str
    config_version: str | None
    rule_ids: list[str]
    model_version: str | None
    classification: dict[str, Any]


class ReplayReport(BaseModel):
    """``POST /routing/replay``: the report of `python -m tools.evaluate rules` (what would change, by rule,
    service and department) over `days` days from `since` to `until` (ISO 8601, UTC)."""

    model_config = ConfigDict(extra="allow")

    days: float
    since: str
    until: str
    model: str | None


@dataclass(frozen=True)
class RouterApi:
    """What the routes use, each called per request (before the service started they raise: 500):
    `reads()` the decision log's reads, `jurisdiction()` the live jurisdiction, `model()` the live learned
    model (None: keyword routing), `geocoder()` the geocoder's provider name, `now()` the clock (aware UTC)."""

    reads: Callable[[], RouterReads]
    jurisdiction: Callable[[], Jurisdiction]
    model: Callable[[], TextClassifier | None]
    geocoder: Callable[[], str | None]
    now: Callable[[], datetime]


def mount(app: FastAPI, api: RouterApi) -> None:
    """Serve the routes on `app` with `api`; the app needs a token verifier (`shared.auth.install_auth`)."""
    app.state.router = api
    app.include_router(router)


def _api(request: Request) -> RouterApi:
    return request.app.state.router


@router.get("/routing/versions",
            responses={200: {"model": LiveVersions, "description": "What decides live"}})
async def routing_versions(request: Request, _who: Managers) -> dict[str, Any]:
    """The live config version, routing rule ids, learned model version and geocoder."""
    api = _api(request)
    return replay.versions(api.jurisdiction(), api.model(), api.geocoder())


@router.post("/routing/replay",
             responses={200: {"model": ReplayReport, "description": "What the draft would change"}})
async def routing_replay(request: Request, _who: Administrators,
                         days: Annotated[float, Query(gt=0, le=replay.MAX_DAYS, description="days back from now")] = 7,
                         ) -> dict[str, Any]:
    """Replay the draft jurisdiction file in the body (YAML text) over the decisions of the last `days`
    days: the report of `python -m tools.evaluate rules`. 400 for an empty or non-UTF-8 body, 413 over
    `MAX_DRAFT_BYTES`, 422 for a draft the loader refuses or of another jurisdiction (the loader's message)."""
    api = _api(request)
    body = bytearray()
    async for chunk in request.stream():  # stop reading at the limit: an oversized body is never held whole
        body += chunk
        if len(body) > MAX_DRAFT_BYTES:
            raise HTTPException(413, f"a draft is at most {MAX_DRAFT_BYTES} bytes")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise HTTPException(400, "the draft must be UTF-8 YAML text") from None
    if not text.strip():
        raise HTTPException(400, "the body must be the draft jurisdiction file (YAML)")
    live = api.jurisdiction()
    try:
        draft = await asyncio.to_thread(draft_from_text, text, live=live)
    except JurisdictionConfigError as exc:
        raise HTTPException(422, str(exc)) from None
    if draft.id != live.id:
        raise HTTPException(422, f"the draft is jurisdiction {draft.id!r}; the router routes {live.id!r}")
    return await replay.replay_rules(api.reads().decisions_since, live=live, draft=draft, now=api.now(), days=days,
                                     model=None)
