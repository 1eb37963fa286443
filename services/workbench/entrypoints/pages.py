"""Every page and form of the workbench: sign-in, queues, the case page and its actions, the review list
of suggested duplicates, the call-agent console, the managers' dashboard and hotspot map, the refusals of
the public routes, the language switch (and, from `entrypoints/people.py`, the person page).

Pages are rendered on the server (Jinja2); forms post and redirect back (303) with a confirmation, or
render the page again with the API's refusal (its status: 403, 404, 409, 422) as an alert. htmx swaps the
queue's results, the console's caller look-up and its case-number wait, and the dashboard's figures (every
2 seconds) without a full page load.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, HTTPException, Query, Request
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from services.workbench.adapters import dev_sign_in
from services.workbench.adapters.http_api import ApiError
from services.workbench.adapters.oidc import OidcError, decode_pending, encode_pending
from services.workbench.domain import dashboard as board
from services.workbench.domain.forms import FormError
from services.workbench.domain.i18n import LANGUAGE_COOKIE, LANGUAGES, translate
from services.workbench.domain.queue import start_path
from services.workbench.entrypoints.web import (
    AppDeps,
    SameOrigin,
    SignedIn,
    SignInRequired,
    language,
    render,
    safe_next,
    set_session,
    sign_in_redirect,
)
from services.workbench.config import OIDC_COOKIE, SESSION_COOKIE
from services.workbench.entrypoints import people as people_routes
from services.workbench.service_layer import pages, people
from shared.auth import InvalidToken, Principal, Role
from shared.web import FAVICON, mount_vendor

router = APIRouter()

NO_STORE = {"Cache-Control": "no-store"}
STAFF_ROLES = (Role.DEPARTMENT_STAFF, Role.SUPERVISOR, Role.ADMINISTRATOR)
CONSOLE_ROLES = (Role.CALL_AGENT, Role.SUPERVISOR, Role.ADMINISTRATOR)


async def _form(request: Request) -> dict[str, str]:
    data = await request.form()
    return {k: v for k, v in data.items() if isinstance(v, str)}


def install(app: FastAPI, *, static_dir: Path) -> None:
    """Serve the pages on `app` (whose state holds the `Deps`), the assets under ``/static``, a redirect to
    sign-in for a page without a valid session, and an error page for any other HTTP error."""

    async def on_sign_in_required(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, SignInRequired)
        return sign_in_redirect(exc)

    async def on_http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return render(request, request.app.state.deps, "error.html", status=exc.status_code,
                      title_key="error.title", error={"status": exc.status_code, "message": str(exc.detail)}, sid=None)

    async def serve_favicon() -> Response:
        """The USWDS favicon (copied into ``static/vendor`` by `make assets`) where browsers look for it."""
        if not FAVICON.is_file():
            raise HTTPException(404, "no favicon: run make assets")
        return FileResponse(FAVICON, media_type="image/vnd.microsoft.icon",
                            headers={"Cache-Control": "public, max-age=86400"})

    app.add_api_route("/favicon.ico", serve_favicon, methods=["GET"], include_in_schema=False)
    mount_vendor(app)
    app.mount("/static", StaticFiles(directory=static_dir, check_dir=False), name="static")
    app.add_exception_handler(SignInRequired, on_sign_in_required)
    app.add_exception_handler(HTTPException, on_http_error)
    app.include_router(router)
    app.include_router(people_routes.router)


def _home(who: Principal) -> str:
    """Where a user lands: staff on their role's start view of the queue (`queue.start_path`: supervisors
    on their department's, administrators on every department's, department staff on their own cases),
    call agents on the console."""
    return start_path(role=who.role, department=who.department) if who.has(*STAFF_ROLES) else "/console"


@router.get("/", include_in_schema=False)
async def home(who: SignedIn) -> Response:
    """Staff land on their queue, call agents on the console."""
    return RedirectResponse(_home(who), status_code=303)


# -- sign-in ------------------------------------------------------------------------------------------
@router.get("/sign-in", include_in_schema=False)
async def sign_in_page(request: Request, d: AppDeps, user: str | None = None, next: str | None = None,  # noqa: A002
                       expired: str | None = None) -> Response:
    """The sign-in page: the development users to pick from (when the development issuer's key is here).
    ``?user=<id>`` signs in as that development user at once (the links `make run` prints)."""
    if user is not None:
        return await _sign_in_as(request, d, user, next)
    return render(request, d, "sign_in.html", title_key="sign_in.title", users=dev_sign_in.users(d.config),
                  next=safe_next(next), expired=bool(expired), dev=d.config.dev_sign_in, oidc=d.oidc is not None)


@router.post("/sign-in", include_in_schema=False, dependencies=[SameOrigin])
async def sign_in(request: Request, d: AppDeps) -> Response:
    """Sign in as the development user of the form's ``user``; back to ``next``."""
    form = await _form(request)
    return await _sign_in_as(request, d, form.get("user", ""), form.get("next"))


async def _sign_in_as(request: Request, d: AppDeps, user: str, next_path: str | None) -> Response:
    token = dev_sign_in.token_for(d.config, user)
    if token is None:
        return render(request, d, "sign_in.html", status=404, title_key="sign_in.title",
                      users=dev_sign_in.users(d.config), next=safe_next(next_path), expired=False,
                      dev=d.config.dev_sign_in, unknown_user=user)
    try:
        who = d.verifier.verify(token, now=d.clock())
    except InvalidToken as exc:  # the services trust another issuer than the one that signs here
        d.log.warning("dev_sign_in_untrusted", reason=exc.reason)
        return render(request, d, "sign_in.html", status=500, title_key="sign_in.title",
                      users=dev_sign_in.users(d.config), next=safe_next(next_path), expired=False,
                      dev=d.config.dev_sign_in, untrusted=exc.reason)
    target = safe_next(next_path)
    response = RedirectResponse(target if target != "/" else _home(who), status_code=303)
    set_session(response, token, d)
    d.log.info("signed_in", subject=who.subject, role=str(who.role))
    return response


def _sign_in_problem(request: Request, d: AppDeps, status: int, message: str) -> Response:
    response = render(request, d, "sign_in.html", status=status, title_key="sign_in.title",
                      users=dev_sign_in.users(d.config), next="/", expired=False, dev=d.config.dev_sign_in,
                      problem=message)
    response.delete_cookie(OIDC_COOKIE, path="/sign-in")
    return response


@router.get("/sign-in/oidc", include_in_schema=False)
async def sign_in_oidc(request: Request, d: AppDeps, next: str | None = None) -> Response:  # noqa: A002
    """Send the browser to the city's identity provider (authorization code flow with PKCE); 404 when none
    is configured, 502 when its discovery document cannot be read."""
    if d.oidc is None:
        raise HTTPException(404, "no identity provider is configured")
    try:
        url, pending = await d.oidc.start(safe_next(next))
    except OidcError as exc:
        return _sign_in_problem(request, d, 502, exc.message)
    response = RedirectResponse(url, status_code=303)
    response.set_cookie(OIDC_COOKIE, encode_pending(pending), max_age=600, httponly=True, samesite="lax",
                        secure=d.config.secure_cookies, path="/sign-in")
    return response


@router.get("/sign-in/callback", include_in_schema=False)
async def sign_in_callback(request: Request, d: AppDeps, code: str | None = None, state: str | None = None,
                           error: str | None = None, error_description: str | None = None) -> Response:
    """The provider's redirect back: the `state` must be the one this browser was sent with; the code is
    exchanged for the access token, which must be one every service accepts; then the session starts.
    400 for a callback this browser did not start, 401 when the provider says no, 502 when the exchange
    fails, 403 when the token is not accepted here."""
    pending = decode_pending(request.cookies.get(OIDC_COOKIE))
    if d.oidc is None or pending is None or not state or state != pending.state:
        return _sign_in_problem(request, d, 400, "This sign-in was not started here or has expired; try again.")
    if error or not code:
        return _sign_in_problem(request, d, 401, f"The identity provider did not sign you in: "
                                                 f"{error_description or error or 'no code'}")
    try:
        token = await d.oidc.finish(code, pending)
        who = d.verifier.verify(token, now=d.clock())
    except OidcError as exc:
        return _sign_in_problem(request, d, 502, exc.message)
    except InvalidToken as exc:
        return _sign_in_problem(request, d, 403, f"The identity provider's token is not accepted here ({exc.reason}).")
    target = safe_next(pending.next)  # the pending cookie is not signed: judged again, as at the start
    response = RedirectResponse(target if target != "/" else _home(who), status_code=303)
    response.delete_cookie(OIDC_COOKIE, path="/sign-in")
    set_session(response, token, d)
    d.log.info("signed_in", subject=who.subject, role=str(who.role), via="oidc")
    return response


@router.post("/sign-out", include_in_schema=False, dependencies=[SameOrigin])
async def sign_out() -> Response:
    """End the session (the cookie is dropped) and show the sign-in page."""
    response = RedirectResponse("/sign-in", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/language", include_in_schema=False)
async def switch_language(to: str, next: str | None = None) -> Response:  # noqa: A002
    """Keep the chosen language (``en`` or ``fr``) in the ``lang`` cookie for a year and go back."""
    response = RedirectResponse(safe_next(next), status_code=303)
    if to in LANGUAGES:
        response.set_cookie(LANGUAGE_COOKIE, to, max_age=365 * 24 * 3600, samesite="lax", path="/")
    return response


# -- queues ----------------------------------------------------------------------------------------
@router.get("/queue", include_in_schema=False)
async def queue(request: Request, d: AppDeps, who: SignedIn, view: str | None = None, status: str | None = None,
                sla_state: str | None = None, district: str | None = None, service_code: str | None = None,
                channel: str | None = None) -> Response:
    """A queue with its filters, soonest due first; htmx asks for the results table only."""
    filters = {"status": status, "sla_state": sla_state, "district": district, "service_code": service_code,
               "channel": channel}
    fragment = request.headers.get("hx-request") == "true" and request.headers.get("hx-target") == "queue-results"
    try:
        data = await pages.queue_page(d, who, view, filters)
    except ApiError as exc:
        return render(request, d, "queue.html", who=who, status=exc.status, active="queue",
                      title_key="queue.title", error=exc, views=[], view=None, cases=[], config={},
                      filters=filters, districts=[])
    return render(request, d, "_queue_results.html" if fragment else "queue.html", who=who, active="queue",
                  title_key="queue.title", **data)


# -- the case page -----------------------------------------------------------------------------------
async def _case(request: Request, d: AppDeps, who: Principal, sid: str, *, status: int = 200,
                error: Any = None, done: str | None = None, form: dict[str, str] | None = None) -> Response:
    try:
        data = await pages.case_page(d, who, sid)
    except ApiError as exc:
        return render(request, d, "error.html", who=who, status=exc.status, title_key="error.title", error=exc,
                      sid=sid)
    return render(request, d, "case.html", who=who, status=status, active="queue", error=error, done=done,
                  form=form or {}, districts=d.districts, dev_users=dev_sign_in.users(d.config), **data)


@router.get("/cases/{sid}", include_in_schema=False)
async def case_page(request: Request, d: AppDeps, who: SignedIn, sid: str, done: str | None = None) -> Response:
    """The case: summary, SLA, map, reporters, their messages and photos, the timeline, every action."""
    return await _case(request, d, who, sid, done=done)


@router.post("/cases/{sid}/actions/{action}", include_in_schema=False, dependencies=[SameOrigin])
async def case_action(request: Request, d: AppDeps, who: SignedIn, sid: str, action: str) -> Response:
    """One action's form: on success back to the case page with a confirmation (303); on a refusal the
    page again with the message, answered with the API's status (or 422 for a form that makes no request)."""
    form = await _form(request)
    try:
        await pages.act(d, who, sid, action, form)
    except FormError as exc:
        return await _case(request, d, who, sid, status=422, error={"status": 422, "message": exc.message,
                                                                    "action": action}, form=form)
    except ApiError as exc:
        d.log.info("action_refused", action=action, status=exc.status)
        return await _case(request, d, who, sid, status=exc.status,
                           error={"status": exc.status, "message": exc.message, "action": action}, form=form)
    d.log.info("action_done", action=action, subject=who.subject)
    return RedirectResponse(f"/cases/{quote(sid, safe='')}?done={quote(action)}", status_code=303)


# -- suggested duplicates -------------------------------------------------------------------------------
@router.get("/suggestions", include_in_schema=False)
async def suggestions(request: Request, d: AppDeps, who: SignedIn, done: str | None = None) -> Response:
    """The review list: suggested duplicates waiting for staff to accept (merge) or reject."""
    try:
        data = await pages.suggestions_page(d, who)
    except ApiError as exc:
        return render(request, d, "suggestions.html", who=who, status=exc.status, active="suggestions",
                      title_key="suggestions.title", suggestions=[], error={"status": exc.status,
                                                                             "message": exc.message})
    return render(request, d, "suggestions.html", who=who, active="suggestions", title_key="suggestions.title",
                  done=done, **data)


@router.post("/suggestions/{suggestion_id}/{decision}", include_in_schema=False, dependencies=[SameOrigin])
async def decide(request: Request, d: AppDeps, who: SignedIn, suggestion_id: str, decision: str) -> Response:
    """Accept or reject one suggestion, then back to the list."""
    form = await _form(request)
    try:
        await pages.decide(d, who, suggestion_id, decision, form.get("reason"))
    except (FormError, ApiError) as exc:
        status = exc.status if isinstance(exc, ApiError) else 422
        data: dict[str, Any] = {"suggestions": []}
        try:
            data = await pages.suggestions_page(d, who)
        except ApiError:
            pass
        return render(request, d, "suggestions.html", who=who, status=status, active="suggestions",
                      title_key="suggestions.title", error={"status": status, "message": exc.message}, **data)
    return RedirectResponse(f"/suggestions?done={quote(decision)}", status_code=303)


# -- the call-agent console ------------------------------------------------------------------------------
def _console(request: Request, d: AppDeps, who: Principal, *, status: int = 200, **context: Any) -> Response:
    import uuid

    jur = d.jurisdiction
    groups: dict[str, list[Any]] = {}
    for sv in jur.services:
        groups.setdefault(sv.group or "Other", []).append(sv)
    context.setdefault("form", {})
    return render(request, d, "console.html", who=who, status=status, active="console", title_key="console.title",
                  groups=groups, districts=d.districts, request_id=f"wb-{uuid.uuid4().hex}", **context)


@router.get("/console", include_in_schema=False)
async def console(request: Request, d: AppDeps, who: SignedIn) -> Response:
    """The call-agent console: the caller, their earlier cases, the request form with a map to place it."""
    return _console(request, d, who)


@router.post("/console/callers", include_in_schema=False, dependencies=[SameOrigin])
async def console_caller(request: Request, d: AppDeps, who: SignedIn) -> Response:
    """The caller's earlier cases (a fragment for htmx, the whole console otherwise): across channels when
    the number has a linked profile (`service_layer.people.caller_history`), with a link to the person page."""
    form = await _form(request)
    phone = (form.get("caller_phone") or "").strip()
    try:
        earlier = await pages.caller_cases(d, who, phone)
        error = None
    except ApiError as exc:
        earlier, error = None, {"status": exc.status, "message": exc.message}
    history = await people.caller_history(d, who, phone) if error is None else None
    person = people.person_url(phone=phone) if phone else None
    if request.headers.get("hx-request") == "true":
        return render(request, d, "_earlier.html", who=who, earlier=earlier, error=error, history=history,
                      person=person)
    return _console(request, d, who, earlier=earlier, error=error, form=form, history=history, person=person)


@router.post("/console/requests", include_in_schema=False, dependencies=[SameOrigin])
async def console_request(request: Request, d: AppDeps, who: SignedIn) -> Response:
    """Log the phone request; the console then waits for its case number (htmx polls `console_token`)."""
    form = await _form(request)
    try:
        accepted = await pages.log_phone_request(d, who, form)
    except ApiError as exc:
        return _console(request, d, who, status=exc.status, error={"status": exc.status, "message": exc.message},
                        form=form)
    return _console(request, d, who, accepted=accepted, status=202)


@router.get("/console/requests/{token}", include_in_schema=False)
async def console_token(request: Request, d: AppDeps, who: SignedIn, token: str) -> Response:
    """The case-number fragment of a logged request: still waiting (htmx asks again), or the number."""
    try:
        sid = await pages.case_of_request(d, who, token)
    except ApiError as exc:
        if not exc.unavailable:
            return render(request, d, "_case_number.html", who=who, token=token, sid=None,
                          error={"status": exc.status, "message": exc.message})
        sid = None
    return render(request, d, "_case_number.html", who=who, token=token, sid=sid, error=None)


# -- the managers' dashboard and the refusals ---------------------------------------------------------------
def _forbidden(request: Request, d: AppDeps, who: Principal) -> Response:
    """The error page a role that may not read a page gets (403)."""
    return render(request, d, "error.html", who=who, status=403, title_key="error.title", sid=None,
                  error={"status": 403, "message": translate(language(request), "error.forbidden")})


def _board(request: Request, d: AppDeps, who: Principal, template: str, *, status: int = 200,
           **context: Any) -> Response:
    return render(request, d, template, who=who, status=status, active="dashboard", title_key="dashboard.title",
                  districts=d.districts, now=d.clock(), tiles={"url": d.config.map_tile_url,
                                                "attribution": d.config.map_tile_attribution}, **context)


@router.get("/dashboard", include_in_schema=False)
async def dashboard(request: Request, d: AppDeps, who: SignedIn,
                    date_from: Annotated[str | None, Query(alias="from")] = None,
                    date_to: Annotated[str | None, Query(alias="to")] = None) -> Response:
    """The managers' dashboard (supervisors, administrators; 403 for other roles): the insights service's
    figures for the date filter (default the last 30 days) and the hotspot map. htmx asks for the figures
    only (``HX-Target: dashboard-figures``) every 2 seconds; when insights refuses or does not answer the
    page says the figures are unavailable (the fragment with 200, so htmx swaps it in; the page with the
    API's status). A malformed filter: 400 and the form to correct it."""
    if not who.has(*pages.MANAGER_ROLES):
        return _forbidden(request, d, who)
    fragment = request.headers.get("hx-request") == "true" and request.headers.get("hx-target") == "dashboard-figures"
    try:
        start, end = board.date_range(date_from, date_to, pages.today(d))
    except board.FilterError as exc:
        start, end = board.date_range(None, None, pages.today(d))
        return _board(request, d, who, "_dashboard_figures.html" if fragment else "dashboard.html", status=400,
                      filter_error=exc, start=start, end=end, figures=None, hotspots=None, error=None,
                      asked={"from": date_from or "", "to": date_to or ""}, oob=False)
    data = await pages.dashboard(d, who, start, end, partial(translate, language(request)))
    if data["error"] is not None:
        d.log.info("insights_unavailable", status=data["error"].status)
    status = 200 if fragment or data["error"] is None else data["error"].status
    return _board(request, d, who, "_dashboard_figures.html" if fragment else "dashboard.html", status=status,
                  asked={"from": start.isoformat(), "to": end.isoformat()}, oob=fragment, **data)


@router.get("/dashboard/hotspots.json", include_in_schema=False)
async def dashboard_hotspots(request: Request, d: AppDeps, who: SignedIn,
                             date_from: Annotated[str | None, Query(alias="from")] = None,
                             date_to: Annotated[str | None, Query(alias="to")] = None) -> Response:
    """The hotspot map's data as JSON: ``points`` ([lat, long]), ``districts`` (``{id, name, count}``) and
    ``version``. 403 for a role other than supervisor or administrator, 400 for a malformed filter, the
    insights service's status (502/503 when it does not answer) with ``detail`` otherwise."""
    if not who.has(*pages.MANAGER_ROLES):
        return JSONResponse({"detail": "supervisors and administrators only"}, 403, headers=NO_STORE)
    try:
        start, end = board.date_range(date_from, date_to, pages.today(d))
        found = await pages.hotspot_points(d, who, start, end)
    except board.FilterError as exc:
        return JSONResponse({"detail": str(exc)}, 400, headers=NO_STORE)
    except ApiError as exc:
        return JSONResponse({"detail": exc.message}, exc.status, headers=NO_STORE)
    return JSONResponse(found, headers=NO_STORE)


@router.get("/refusals", include_in_schema=False)
async def refusals(request: Request, d: AppDeps, who: SignedIn, window: str = "24h") -> Response:
    """What the public routes refused (rate limits, sizes, the spam guard), newest first, over the last
    hour, day (default) or week; supervisors and administrators (403 for other roles). intake_web's refusal
    or silence: the page with its message, answered with its status."""
    if not who.has(*pages.MANAGER_ROLES):
        return _forbidden(request, d, who)
    try:
        data = await pages.refusals(d, who, window)
    except ApiError as exc:
        return render(request, d, "refusals.html", who=who, status=exc.status, active="refusals",
                      title_key="refusals.title", rows=None, window=window if window in pages.REFUSAL_WINDOWS
                      else "24h", windows=list(pages.REFUSAL_WINDOWS), error={"status": exc.status,
                                                                                "message": exc.message})
    return render(request, d, "refusals.html", who=who, active="refusals", title_key="refusals.title",
                  windows=list(pages.REFUSAL_WINDOWS), **data)
