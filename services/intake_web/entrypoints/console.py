"""The call-agent console of intake_web: the page agents use on the line and its authenticated API.

Routes: ``GET /agent`` (page), ``GET /agent/console.js``, ``POST /agent/requests`` (publishes
`intake.message_received`, channel ``phone``, with `agent_id` = the token's subject), ``GET
/agent/tokens/{token}`` (the case number once open), ``POST /agent/callers`` (a caller's earlier cases,
asked of the case service with the agent's own token). Every ``/agent/*`` API call needs a staff bearer JWT
(`shared.auth`) with the role call_agent, supervisor or administrator: none or an invalid one gets 401
(``WWW-Authenticate: Bearer``), another role 403, and nothing is published or looked up. Case look-ups go
through `Deps.console_case_api` (5 s timeout: an agent is on the line). The staff workbench calls this
JSON API with the signed-in user's token; the page here is the older stand-alone console.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from services.intake_web.domain.agent import default_region
from services.intake_web.domain.limits import Problem, Refused
from services.intake_web.entrypoints.http import (MEDIA, AgentRequestAccepted, AgentToken, AppDeps, CallerCases,
                                                  documented, refused, retry_later)
from services.intake_web.service_layer import intake, reads
from shared.auth import Principal, Role, require
from shared.intake import CaseApiUnavailable

PACKAGE = Path(__file__).resolve().parents[1]
"""`services/intake_web`: the page's template in `templates/`, its script in `static/` (package data)."""
EARLIER_UNAVAILABLE = "earlier cases unavailable"
PAGE_HEADERS = {"Cache-Control": "no-store", "X-Frame-Options": "DENY",
                "Content-Security-Policy": "default-src 'self'; style-src 'self' 'unsafe-inline'"}

AGENT_ROLES = (Role.CALL_AGENT, Role.SUPERVISOR, Role.ADMINISTRATOR)
"""Who may log phone requests and look callers up (docs/staff-work.md, "Roles and tokens")."""
Agent = Annotated[Principal, Depends(require(*AGENT_ROLES))]

router = APIRouter()


@cache
def _templates() -> Environment:
    return Environment(loader=FileSystemLoader(PACKAGE / "templates"), autoescape=select_autoescape(["html"]))


@cache
def _script() -> bytes:
    return (PACKAGE / "static" / "agent_console.js").read_bytes()


def _json(data: Any, status: int = 200) -> Response:
    return Response(json.dumps(data, default=str), status_code=status, media_type=MEDIA["json"])


async def _json_body(request: Request) -> Any:
    """The request's JSON (None for an empty body). Raises `Refused` (`Problem.INVALID`) for anything else:
    not JSON, not UTF-8, an integer of more than 4300 digits (`ValueError`) or arrays nested deeper than
    the stack (`RecursionError`, a 500 before)."""
    try:
        return json.loads(await request.body() or b"null")
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise Refused(Problem.INVALID, "the body must be JSON") from exc


@router.get("/agent", include_in_schema=False)
async def console_page(d: AppDeps) -> Response:
    """The console page (HTML, not cached, not framed): the jurisdiction's services by group, its district
    map, the caller region and the case poll interval; no agent token is ever in it."""
    jur = d.jurisdiction
    groups: dict[str, list[Any]] = {}
    for sv in jur.services:
        groups.setdefault(sv.group or "Other", []).append(sv)
    html = _templates().get_template("agent_console.html").render(
        city=jur.name, groups=groups, district_map=d.district_map(),
        region=default_region(jur, d.agent.default_region), poll_interval_ms=d.agent.case_poll_interval_ms,
        unavailable=EARLIER_UNAVAILABLE)
    return Response(html, media_type="text/html; charset=utf-8", headers=PAGE_HEADERS)


@router.get("/agent/console.js", include_in_schema=False)
async def console_script() -> Response:
    """The console page's script (``static/agent_console.js``), served by us: no third-party asset."""
    return Response(_script(), media_type="text/javascript; charset=utf-8")


@router.post("/agent/requests", **documented(AgentRequestAccepted, "Accepted: on Kafka", 202))
async def post_agent_request(request: Request, d: AppDeps, agent: Agent) -> Response:
    """Log a phone request for a caller (JSON body, see `domain.agent.parse_submission`): 202 with the token,
    the client's `request_id`, the agent (the token's `sub`) and channel ``phone``; 400 with an Open311
    error list per problem; 401 without a valid staff token, 403 for a role that may not log requests."""
    agent_id = agent.subject
    try:
        accepted = await intake.log_agent_request(d, await _json_body(request), agent_id=agent_id,
                                                  language=request.headers.get("content-language"))
    except Refused as exc:
        return refused("json", exc)
    return _json({"token": accepted.token, "request_id": accepted.request_id, "agent_id": agent_id,
                  "channel": "phone"}, 202)


@router.get("/agent/tokens/{token}", **documented(AgentToken, "The token's case number, or null"))
async def get_agent_token(token: str, d: AppDeps, agent: Agent) -> Response:
    """The case number of a phone token once the case service opened it (else null); 503 with
    ``Retry-After`` while the case service does not answer; 401/403 as `post_agent_request`."""
    try:
        sid = await d.console_case_api.case_of_token(token, channel="phone")
    except CaseApiUnavailable:
        return retry_later("json")
    return _json({"token": token, "service_request_id": sid})


@router.post("/agent/callers", **documented(CallerCases, "The caller's earlier cases"))
async def look_up_caller(request: Request, d: AppDeps, agent: Agent) -> Response:
    """The caller's earlier cases by phone number (JSON ``{"phone": ...}``; POST keeps the number out
    of URLs and access logs): ``{"phone": <E.164>, "available": true, "requests": [...]}`` with each case as
    the case service sent it, or ``"available": false`` with a message when it cannot tell; 400 for a
    body that is not JSON or a phone that is not a number; 401/403 as `post_agent_request`. The case
    service is asked with the agent's own token (`/cases/by-contact` is a staff read)."""
    try:
        sent = await _json_body(request)
        phone, found = await reads.caller_cases(d, sent.get("phone") if isinstance(sent, dict) else None,
                                                token=agent.token)
    except Refused as exc:
        return refused("json", exc)
    if found is None:
        return _json({"phone": phone, "available": False, "message": EARLIER_UNAVAILABLE, "requests": []})
    return _json({"phone": phone, "available": True, "requests": found})
