"""The data of each workbench page, gathered from the case service's staff API (intake_web's agent API for
the console and its staff routes for the refusals, the insights service for the dashboard) with the
signed-in user's token, and the actions they submit.

Every function takes the `Deps` and the `Principal`, and raises `ApiError` when an API refuses or does not
answer (the pages show it as an alert) and `FormError` for a form that makes no valid request.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from services.workbench.adapters.http_api import ApiError
from services.workbench.domain import dashboard as board
from services.workbench.domain import forms
from services.workbench.domain.case_page import routing_view, top_suggestion
from services.workbench.domain.queue import by_due_time, queue_views, start_view, view_query
from services.workbench.service_layer.deps import Deps
from shared.auth import Principal, Role


async def staff_config(d: Deps, who: Principal) -> dict[str, Any]:
    """``GET /staff/config``, with what the jurisdiction itself says filling any part the API leaves out
    (services, queues of each department), so the forms always have their choices."""
    try:
        config = dict(await d.case_api.config(who.token))
    except ApiError as exc:
        if exc.unavailable or exc.status >= 500:
            raise
        config = {}
    jur = d.jurisdiction
    if not config.get("services"):
        config["services"] = [{"service_code": s.service_code, "service_name": s.service_name}
                              for s in jur.services]
    if not config.get("queues"):
        config["queues"] = [{"id": q.id, "name": q.name, "department_id": q.department_id}
                            for dep in jur.departments for q in dep.queues]
    config.setdefault("statuses", [])
    config.setdefault("canned_responses", [])
    return config


def status_labels(config: Mapping[str, Any], language: str) -> dict[str, str]:
    """Workflow status id → its label in `language` (English, then the id, when the config has none)."""
    labels: dict[str, str] = {}
    for status in config.get("statuses", []):
        if not isinstance(status, Mapping) or "id" not in status:
            continue
        names = status.get("labels") or {}
        labels[str(status["id"])] = str(names.get(language) or names.get("en") or status["id"])
    return labels


async def queue_page(d: Deps, who: Principal, view: str | None, filters: Mapping[str, str | None]) -> dict[str, Any]:
    """The queue page: the views the user may pick, the chosen one (without one, the role's start view:
    `queue.start_view`), its cases soonest due first (the filters applied by the case API), the classifier's
    top suggestion of each case sent to triage (`suggested`, by case number: `case_page.top_suggestion`), the
    choices of each filter, and `department_view` (the department's view id when the user has one: an empty "my
    cases" links to it)."""
    config = await staff_config(d, who)
    views = queue_views(department=who.department, is_admin=who.has(Role.ADMINISTRATOR), queues=config["queues"])
    chosen, query = view_query(views, view, filters, default=start_view(role=who.role, department=who.department))
    cases = by_due_time(await d.case_api.cases(who.token, query))
    districts = [a for a in (d.jurisdiction.districts.areas if d.jurisdiction.districts else ())]
    department_view = next((v.id for v in views if v.id in ("department", "all")), None)
    names = service_names(d, config)
    suggested = {c.get("service_request_id"): top for c in cases if (top := top_suggestion(c, names)) is not None}
    return {"views": views, "view": chosen, "cases": cases, "config": config, "department_view": department_view,
            "suggested": suggested,
            "filtered": any((v or "").strip() for v in filters.values()),
            "filters": {k: (v or "") for k, v in filters.items()},
            "districts": [{"id": a.id, "name": a.name} for a in districts]}


def service_names(d: Deps, config: Mapping[str, Any]) -> dict[str, str]:
    """Service code → name: the jurisdiction's services and its unclassified service, then what ``GET
    /staff/config`` lists (the case service's own names win)."""
    jur = d.jurisdiction
    names = {s.service_code: s.service_name for s in (*jur.services, jur.unclassified)}
    for s in config.get("services") or []:
        if isinstance(s, Mapping) and s.get("service_code") and s.get("service_name"):
            names[str(s["service_code"])] = str(s["service_name"])
    return names


async def case_page(d: Deps, who: Principal, sid: str) -> dict[str, Any]:
    """The case page: the case as ``GET /staff/cases/{sid}`` shows it, how the router judged it (`routing`:
    `case_page.routing_view`, the classifier's suggestions and the place found from words), the choices of its forms, and fresh
    ids for its public update and reply forms (`form_ids`: a form sent twice carries the same id, and the
    case service writes it once)."""
    case = await d.case_api.case(who.token, sid)
    config = await staff_config(d, who)
    return {"case": case, "config": config, "attributes": attributes_of(d, case), "photos": board.photo_urls(case),
            "routing": routing_view(case, service_names(d, config)),
            "form_ids": {"update_id": str(uuid.uuid4()), "reply_id": str(uuid.uuid4())}}


async def act(d: Deps, who: Principal, sid: str, action: str, form: Mapping[str, str]) -> dict[str, Any]:
    """Carry out one case action (`forms.ACTIONS`: claim, assign, transition, priority, recategorise, note,
    update, reply, merge, unmerge) from its form; the case afterwards. Raises `FormError` for an unknown
    action or an invalid form (nothing is sent), `ApiError` when the case API refuses."""
    if action not in forms.ACTIONS:
        raise forms.FormError(f"unknown action {action!r}")
    path, build = forms.ACTIONS[action]
    return await d.case_api.act(who.token, sid, path, build(form))


async def suggestions_page(d: Deps, who: Principal) -> dict[str, Any]:
    """The review list: pending suggested duplicates of the user's department."""
    return {"suggestions": await d.case_api.suggestions(who.token)}


async def decide(d: Deps, who: Principal, suggestion_id: str, decision: str, reason: str | None) -> None:
    """Accept or reject one suggestion. Raises `FormError` for a decision other than accept/reject."""
    if decision not in ("accept", "reject"):
        raise forms.FormError(f"unknown decision {decision!r}")
    await d.case_api.decide(who.token, suggestion_id, decision, (reason or "").strip() or None)


async def log_phone_request(d: Deps, who: Principal, form: Mapping[str, str]) -> dict[str, Any]:
    """Log a phone request through intake_web's ``POST /agent/requests``; the answer (its ``token``).
    The request id is the form's hidden ``request_id`` (minted when the form was drawn, so a resubmission
    is the same request), else a new one."""
    body: dict[str, Any] = {
        "request_id": (form.get("request_id") or "").strip() or f"wb-{uuid.uuid4().hex}",
        "caller_phone": (form.get("caller_phone") or "").strip(),
        "caller_name": (form.get("caller_name") or "").strip() or None,
        "service_code": (form.get("service_code") or "").strip(),
        "description": (form.get("description") or "").strip(),
        "address": (form.get("address") or "").strip() or None,
    }
    lat, long = (form.get("lat") or "").strip(), (form.get("long") or "").strip()
    if lat or long:
        body["lat"], body["long"] = lat or None, long or None
    return await d.agent_api.log_request(who.token, body)


async def caller_cases(d: Deps, who: Principal, phone: str) -> dict[str, Any]:
    """A caller's earlier cases (intake_web ``POST /agent/callers``): ``available`` false when intake_web
    or the case service cannot tell."""
    try:
        return await d.agent_api.caller_cases(who.token, phone)
    except ApiError as exc:
        if exc.status in (400, 422):
            raise
        return {"phone": phone, "available": False, "requests": [], "message": exc.message}


async def case_of_request(d: Deps, who: Principal, request_token: str) -> str | None:
    """The case number of a logged phone request once open, else None."""
    return await d.agent_api.case_of(who.token, request_token)


# -- the managers' dashboard and the refusals -----------------------------------------------------------------
MANAGER_ROLES = (Role.SUPERVISOR, Role.ADMINISTRATOR)
"""Who reads the dashboard and the refusals (docs/residents-and-insights.md); the insights service and
intake_web check the same roles on the token."""


def today(d: Deps) -> date:
    """Today in the jurisdiction's zone (the dashboard's dates are the zone's)."""
    return d.clock().astimezone(ZoneInfo(d.jurisdiction.timezone)).date()


def _names(d: Deps) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    jur = d.jurisdiction
    services = {s.service_code: s.service_name for s in (*jur.services, jur.unclassified)}
    departments = {dep.id: dep.name for dep in jur.departments}
    districts = {a.id: a.name for a in (jur.districts.areas if jur.districts else ())}
    return services, departments, districts


async def dashboard(d: Deps, who: Principal, start: date, end: date, t: Callable[..., str]) -> dict[str, Any]:
    """The dashboard's figures for `start`..`end` (inclusive dates in the jurisdiction's zone), read from
    the insights service with the user's token, summary and hotspots at once: ``figures``
    (`dashboard.figures`) and ``hotspots`` (`dashboard.hotspots` without points: insights is asked with
    ``points=false``, and the page fetches them from ``/dashboard/hotspots.json`` only when their ``version``
    changes, so a poll every 2 s never moves 20 000 points), each None with ``error`` (the
    `ApiError`) when insights refuses or does not answer. `t` is the page language's `i18n.translate`."""
    assert d.insights_api is not None
    services, departments, districts = _names(d)
    summary, spots = await asyncio.gather(d.insights_api.summary(who.token, start.isoformat(), end.isoformat()),
                                          d.insights_api.hotspots(who.token, start.isoformat(), end.isoformat(),
                                                                  points=False),
                                          return_exceptions=True)
    error = next((e for e in (summary, spots) if isinstance(e, ApiError)), None)
    for found in (summary, spots):
        if isinstance(found, BaseException) and not isinstance(found, ApiError):
            raise found
    figures = None if isinstance(summary, BaseException) else board.figures(
        summary, service_names=services, department_names=departments,
        band_label=lambda b: t(f"dashboard.band.{b}") if t(f"dashboard.band.{b}") != f"dashboard.band.{b}" else b,
        other=t("dashboard.other"), units={"d": t("unit.d"), "h": t("unit.h"), "min": t("unit.min")})
    hot = None
    if not isinstance(spots, BaseException):
        hot = board.hotspots(spots, districts)
        del hot["points"]
    return {"figures": figures, "hotspots": hot, "error": error, "start": start, "end": end}


async def hotspot_points(d: Deps, who: Principal, start: date, end: date) -> dict[str, Any]:
    """The map's data for `start`..`end`: `dashboard.hotspots` (points, counts per district, version).
    Raises `ApiError` when insights refuses or does not answer."""
    assert d.insights_api is not None
    _, _, districts = _names(d)
    return board.hotspots(await d.insights_api.hotspots(who.token, start.isoformat(), end.isoformat()), districts)


REFUSAL_WINDOWS = {"1h": timedelta(hours=1), "24h": timedelta(hours=24), "7d": timedelta(days=7)}
"""The refusals page's choices of how far back to look; ``24h`` by default."""


async def refusals(d: Deps, who: Principal, window: str) -> dict[str, Any]:
    """What the public routes refused in the last `window` (a key of `REFUSAL_WINDOWS`, else 24 hours),
    newest first, from intake_web's ``GET /staff/refusals?since=`` with the user's token: ``rows``,
    ``truncated`` (intake_web sent only the newest), ``window``, ``since`` (aware UTC). Raises `ApiError` when intake_web refuses or does not answer."""
    assert d.intake_staff_api is not None
    window = window if window in REFUSAL_WINDOWS else "24h"
    since = (d.clock() - REFUSAL_WINDOWS[window]).astimezone(UTC).replace(microsecond=0)
    found = await d.intake_staff_api.refusals(who.token, since.isoformat().replace("+00:00", "Z"))
    rows, truncated = board.refusal_rows(found)
    return {"rows": rows, "truncated": truncated, "window": window, "since": since}


def attributes_of(d: Deps, case: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The case's Open311 attributes labelled from its service's definition (`dashboard.case_attributes`;
    ``Service.attributes`` of the jurisdiction, none when the service has no definition)."""
    service = next((s for s in d.jurisdiction.services if s.service_code == case.get("service_code")), None)
    return board.case_attributes(case.get("attributes"), getattr(service, "attributes", None) or ())
