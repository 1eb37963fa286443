"""The resident portal's routes (server-rendered Jinja2 pages and htmx fragments, EN/FR, USWDS): home,
report form and its fragments (questions, nearby reports, help), photo upload and media, tracking,
following, the satisfaction survey and help deflections (and, from `entrypoints/profile_link.py`, the
"Link my email and phone" page). Thin: `service_layer.portal` decides.
Contract: docs/residents-and-insights.md, "The resident portal (intake_web)".
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Sequence
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import quote
from uuid import UUID
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.datastructures import UploadFile

from services.intake_web.adapters.portal import PgPortalStore, PortalCaseReads
from services.intake_web.adapters.profiles import NotifierProfiles
from services.intake_web.domain.agent import default_region
from services.intake_web.domain.i18n import LANGUAGE_COOKIE, choose_language, other_language, phone_example, translate
from services.intake_web.domain.limits import Refused
from shared.media.photos import NotAnImage
from services.intake_web.domain.portal import (
    FormProblem,
    SpamRefused,
    in_language,
    looks_like_case_number,
    service_label,
)
from services.intake_web.entrypoints.http import AppDeps, error, fmt_of
from services.intake_web.service_layer import portal
from services.intake_web.service_layer.deps import CaseReads, Deps, PortalDeps, PortalStore
from services.intake_web.service_layer.intake import PublishFailed
from services.intake_web.service_layer.photo_gate import PhotosBusy
from shared.intake import CaseApiNoRoute, CaseApiUnavailable
from shared.jurisdiction.help import load_help
from shared.service import Runtime
from shared.surveys import InvalidSurveyToken
from shared.web import mount_vendor, require_vendor

router = APIRouter(include_in_schema=False)
media_router = APIRouter(tags=["media"])
"""The portal's one route in its OpenAPI document: ``/media/{photo_id}.jpg``, the Open311 ``media_url`` of
portal photos, which other systems fetch (a forwarded case's ``media_url``, Open311 readers)."""

PACKAGE = Path(__file__).resolve().parents[1]
"""`services/intake_web`: templates in `templates/`, the portal's script and styles in `static/`."""
MEDIA_MAX_AGE_S = 300
"""How long a browser or proxy may keep a photo (seconds): short, since a photo may be erased."""
PHOTO_SWEEP_INTERVAL_S = 300.0
"""How often the unused-photo sweep runs (seconds)."""
RETRY_AFTER_S = 5
"""What a 503 page asks the browser to wait before sending again (seconds)."""
SESSION_COOKIE = "portal_session"
"""A random key of the browser (no personal data): the `contact_key` of its help deflections."""
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    # Every script and style is ours (vendor files included); map tiles and app-sent photos may be elsewhere.
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob: http: https:; "
                               "style-src 'self' 'unsafe-inline'; object-src 'none'; base-uri 'self'; "
                               "frame-ancestors 'none'; form-action 'self'",
}


def mount(rt: Runtime, deps: Deps, *, store: PortalStore | None, reads: CaseReads | None,
          dependencies: Sequence[Any] = ()) -> None:
    """Wire the portal on `rt`: its dependencies on `deps` (the PostgreSQL store on the runtime's pool and a
    reader of the case API unless tests pass fakes), the jurisdiction's help articles loaded at start, the
    front-end libraries at ``/static/vendor`` (checked first at start: `shared.web.AssetsMissing` when
    ``make assets`` was not run) and its routes (with `dependencies`, e.g. the abuse limits).
    Call before including the Open311 router, so that the portal answers ``/``."""
    s = rt.settings

    async def require_assets() -> None:  # at start, as the workbench: a portal without its USWDS is broken
        require_vendor()

    rt.on_start.insert(0, require_assets)
    client = PortalCaseReads(s.case_api_url) if reads is None else None
    deps.portal = PortalDeps(store=store or PgPortalStore(lambda: rt.db), reads=reads or client, settings=s)

    async def load_articles() -> None:
        deps.site.help = load_help(deps.jurisdiction.source)

    rt.on_start.append(load_articles)
    sweeper = PhotoSweeper(deps, rt.log)
    rt.on_start.append(sweeper.start)
    rt.on_stop.append(sweeper.stop)
    if deps.serves:
        deps.site.help = load_help(deps.jurisdiction.source)
    if client is not None:
        rt.on_start.append(client.start)
        rt.on_stop.append(client.stop)
    if deps.site.profiles is None:  # the "Link my email and phone" page's notifier (tests set a fake after)
        deps.site.profiles = profiles = NotifierProfiles.configured(s.notifier_api_url)
        rt.on_start.append(profiles.start)
        rt.on_stop.append(profiles.stop)
    rt.app.state.portal_templates = templates()
    rt.app.add_exception_handler(PhotosBusy, photos_busy)  # the Open311 POST's media file
    mount_vendor(rt.app)
    abuse = getattr(rt.app.state, "abuse", None)
    if abuse is not None:  # 429/413 on portal pages as a portal page (Open311 routes keep their error lists)
        abuse.page = refusal_page
    from services.intake_web.entrypoints import profile_link  # it renders with this module's `render`

    rt.app.include_router(router, dependencies=list(dependencies))
    rt.app.include_router(media_router, dependencies=list(dependencies))
    rt.app.include_router(profile_link.router, dependencies=list(dependencies))


class PhotoSweeper:
    """Runs `service_layer.portal.sweep_unused_photos` every `PHOTO_SWEEP_INTERVAL_S` seconds from start to
    stop; a failed sweep is logged and tried again at the next."""

    def __init__(self, deps: Deps, log: Any, interval_s: float = PHOTO_SWEEP_INTERVAL_S) -> None:
        self._deps, self._log, self._interval_s = deps, log, interval_s
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start the loop (the first sweep runs at once)."""
        self._task = asyncio.create_task(self._run(), name="intake_web-photo-sweep")

    async def stop(self) -> None:
        """Stop the loop."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                await portal.sweep_unused_photos(self._deps)
            except Exception as exc:  # noqa: BLE001 - the database may be away a moment; next round retries
                self._log.warning("photo_sweep_failed", error=repr(exc)[:300])
            await asyncio.sleep(self._interval_s)


def templates() -> Environment:
    """The portal's Jinja2 environment (``templates/``, HTML autoescaped): built once by `mount`, kept as
    ``app.state.portal_templates``; it compiles each template once and keeps it."""
    return Environment(loader=FileSystemLoader(PACKAGE / "templates"), autoescape=select_autoescape(["html"]),
                       trim_blocks=True, lstrip_blocks=True)


def language(request: Request, d: Deps) -> str:
    """The page's language: ``?lang=``, the ``lang`` cookie, the language the page was sent in (a survey
    invitation's, `request.state.lang_hint`), ``Accept-Language``, the jurisdiction's first locale."""
    locales = d.jurisdiction.locales
    hint = getattr(request.state, "lang_hint", None)
    return choose_language(request.query_params.get("lang"), request.cookies.get(LANGUAGE_COOKIE) or hint,
                           request.headers.get("accept-language"), default=locales[0] if locales else "en")


def refusal_page(request: Request, status: int, english: str, french: str) -> Response:
    """`shared.abuse.PageRenderer`: a refusal (429 over a limit, 413 over a size) as a portal page in the
    request's language, with the portal's layout (USWDS)."""
    d: Deps = request.app.state.deps
    message = french if language(request, d) == "fr" else english
    return render(request, d, "portal_error.html", status=status, message=message,
                  title_key=f"error.refused.{status}" if status in (413, 429) else "error.title")


def _is_fragment(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def render(request: Request, d: Deps, template: str, *, status: int = 200, **context: Any) -> HTMLResponse:
    """One page or fragment in the request's language, with the security headers; a ``?lang=`` choice is
    kept in the ``lang`` cookie for a year, and a browser gets its random session key. Phone hints show a
    number of the country the forms accept (`phone_example` of `domain.agent.default_region`)."""
    lang = language(request, d)
    s = d.site.settings
    t = partial(translate, lang, phone_example=phone_example(default_region(d.jurisdiction, d.agent.default_region)))
    zone = ZoneInfo(d.jurisdiction.timezone)

    def when(value: datetime | str | None) -> str:
        if value is None:
            return ""
        moment = datetime.fromisoformat(value) if isinstance(value, str) else value
        return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")

    html = request.app.state.portal_templates.get_template(template).render(
        request=request, lang=lang, other_lang=other_language(lang), t=t, city=d.jurisdiction.name,
        switch_url=_switch_url(request, other_language(lang)),
        tile_url=s.map_tile_url, tile_attribution=s.map_tile_attribution, when=when,
        in_language=lambda text: in_language(text, lang), **context)
    response = HTMLResponse(html, status_code=status, headers=PAGE_HEADERS)
    chosen = request.query_params.get("lang")
    if chosen in ("en", "fr") and chosen != request.cookies.get(LANGUAGE_COOKIE):
        response.set_cookie(LANGUAGE_COOKIE, chosen, max_age=365 * 24 * 3600, samesite="lax", path="/")
    if not request.cookies.get(SESSION_COOKIE):
        response.set_cookie(SESSION_COOKIE, secrets.token_hex(12), samesite="lax", httponly=True, path="/")
    return response


def _switch_url(request: Request, to: str) -> str:
    """This page in the other language (same path and query, ``lang`` replaced)."""
    url = request.url.include_query_params(lang=to)
    return f"{url.path}?{url.query}"


def _refuse(request: Request, reason: str) -> None:
    """Tell the refusal log (the abuse middleware) why this request was refused."""
    request.state.refusal_reason = reason


def _report_context(request: Request, d: Deps, values: Any, **kw: Any) -> dict[str, Any]:
    return portal.report_form(d, values, lang=language(request, d), **kw)


@router.get("/")
async def home(request: Request, d: AppDeps) -> Response:
    """The portal's home: report a problem, track a request, search the help articles."""
    return render(request, d, "portal_home.html", title_key="home.title", active="home")


@router.get("/report")
async def report_form(request: Request, d: AppDeps) -> Response:
    """The report form (a category given as ``?service_code=`` is chosen, with its questions)."""
    return render(request, d, "portal_report.html", **_report_context(request, d, request.query_params))


@router.get("/report/questions")
async def report_questions(request: Request, d: AppDeps, service_code: str = "") -> Response:
    """The category's questions (its Open311 attributes) as a form fragment."""
    return render(request, d, "_questions.html", attributes=portal.form_attributes(d, service_code), values={},
                  multi=lambda _k: [], problems={})


@router.get("/report/nearby")
async def report_nearby(request: Request, d: AppDeps, service_code: str = "", lat: str = "",
                        long: str = "") -> Response:
    """Open reports of the category near the pin, nearest first (fragment; JSON with
    ``Accept: application/json``). 400 for a category or a point that is not one (WGS84 degrees: lat in
    [-90, 90], long in [-180, 180]), so the case service is never asked what it would refuse."""
    la, lo = portal.coordinate(lat), portal.coordinate(long)
    if service_code not in d.service_codes or la is None or lo is None or abs(la) > 90 or abs(lo) > 180:
        return JSONResponse({"detail": "service_code, lat (-90 to 90) and long (-180 to 180) are required"},
                            status_code=400)
    wants_json = "application/json" in request.headers.get("accept", "")
    try:
        found = await portal.nearby_reports(d, service_code=service_code, lat=la, long=lo)
    except CaseApiUnavailable:
        if wants_json:
            return JSONResponse({"available": False, "requests": []}, headers={"Retry-After": "5"})
        return render(request, d, "_nearby.html", unavailable=True, nearby=[], radius=0)
    radius = round(d.site.settings.portal_nearby_radius_m)
    if wants_json:
        return JSONResponse({"available": True, "radius_m": radius, "requests": [
            {"service_request_id": n.request.service_request_id, "distance_m": round(n.distance_m),
             "address": n.request.address, "lat": n.request.lat, "long": n.request.long,
             "requested_datetime": n.request.requested_datetime.isoformat() if n.request.requested_datetime else None}
            for n in found]})
    return render(request, d, "_nearby.html", unavailable=False, nearby=found, radius=radius,
                  label=service_label(d.jurisdiction.service(service_code), language(request, d)))


@router.get("/report/help")
async def report_help(request: Request, d: AppDeps, service_code: str = "", q: str = "") -> Response:
    """Help articles for the category or the words typed (fragment; a full page without htmx)."""
    articles = portal.help_for(d, service_code=service_code or None, query=q)
    if _is_fragment(request):
        return render(request, d, "_help.html", articles=articles, code=service_code)
    return render(request, d, "portal_help.html", articles=articles, code=service_code, q=q, title_key="help.title")


@router.post("/help/{article_id}/answered")
async def help_answered(article_id: str, request: Request, d: AppDeps) -> Response:
    """"This answered my question": publishes `intake.help_deflected` (404 for an unknown article)."""
    article = portal.help_article(d, article_id)
    if article is None:
        return render(request, d, "portal_error.html", status=404, message_key="error.not_found")
    form = await request.form()
    session = request.cookies.get(SESSION_COOKIE) or secrets.token_hex(12)
    await portal.help_answered(d, article, service_code=str(form.get("service_code") or "") or None,
                               session_key=session, language=language(request, d))
    if _is_fragment(request):
        return render(request, d, "_help_thanks.html")
    return render(request, d, "portal_help_thanks.html", title_key="help.thanks")


@router.post("/report")
async def submit_report(request: Request, d: AppDeps) -> Response:
    """Send a report: the spam guard, the Open311 POST's checks (attributes included), then
    `intake.message_received` (channel ``web``); the page holds the token and a link to tracking.
    400 with the form again (the text kept) for what the resident must correct or send again."""
    form = await request.form(max_part_size=d.site.settings.max_upload_bytes + 1)
    lang = language(request, d)
    files = [f for f in form.getlist("photo") if isinstance(f, UploadFile) and f.filename]
    try:
        datas = [await f.read(d.site.settings.max_upload_bytes + 1) for f in files]
        accepted = await portal.submit_report(d, form, files=datas, language=lang)
    except SpamRefused as exc:
        _refuse(request, exc.reason)
        key = f"error.spam.{exc.reason}" if exc.reason in ("form_too_fast", "form_expired") else "error.spam"
        return render(request, d, "portal_report.html", status=400,
                      **_report_context(request, d, form, notice=key))
    except portal.UnusablePhotos as exc:  # made-up ids, or photos of another report: shown again without them
        return render(request, d, "portal_report.html", status=400,
                      **_report_context(request, d, form, problems=exc.problems, drop_photos=exc.ids))
    except FormProblem as exc:
        return render(request, d, "portal_report.html", status=400,
                      **_report_context(request, d, form, problems=exc.problems))
    except Refused as exc:
        return render(request, d, "portal_report.html", status=400, **_report_context(
            request, d, form, problems={"jurisdiction_id": ("error.invalid", "; ".join(exc.descriptions))}))
    except portal.UploadTooLarge:
        _refuse(request, "upload_too_large")
        return render(request, d, "portal_report.html", status=413, **_report_context(
            request, d, form, problems={"photo": ("error.photo", f"> {d.site.settings.max_upload_bytes} B")}))
    except NotAnImage:
        return render(request, d, "portal_report.html", status=415, **_report_context(
            request, d, form, problems={"photo": ("error.photo", "not an image")}))
    except (PublishFailed, PhotosBusy):  # nothing accepted, the resident's text is kept
        response = render(request, d, "portal_report.html", status=503,
                          **_report_context(request, d, form, notice="error.try_again"))
        response.headers["Retry-After"] = str(RETRY_AFTER_S)
        return response
    return render(request, d, "portal_submitted.html", token=accepted.token, sid=None, n=0, poll=True,
                  title_key="submitted.title")


@router.post("/photos")
async def upload_photo(request: Request, d: AppDeps) -> Response:
    """One image (multipart field ``photo``): stored cleaned; ``{"id", "url"}``. 413 over the upload limit,
    415 for what is not an image, 400 without the field, 503 with ``Retry-After`` while every photo worker
    is busy and the waiting line full (`OMNI311_PHOTO_WORKERS`)."""
    form = await request.form(max_part_size=d.site.settings.max_upload_bytes + 1)
    upload = form.get("photo")
    if not isinstance(upload, UploadFile):
        return JSONResponse({"detail": "multipart field 'photo' is required"}, status_code=400)
    data = await upload.read(d.site.settings.max_upload_bytes + 1)
    try:
        stored = await portal.store_photo(d, data)
    except portal.UploadTooLarge as exc:
        _refuse(request, "upload_too_large")
        return JSONResponse({"detail": str(exc)}, status_code=413)
    except NotAnImage as exc:
        return JSONResponse({"detail": str(exc)}, status_code=415)
    except PhotosBusy:
        return photos_busy_json()
    return JSONResponse({"id": str(stored.id), "url": stored.url}, status_code=201,
                        headers={"Location": f"/media/{stored.id}.jpg"})


def photos_busy_json() -> JSONResponse:
    """503 with ``Retry-After``: every photo worker is busy, the client may send the photo again shortly."""
    return JSONResponse({"detail": "too many photos are being processed; please retry"}, status_code=503,
                        headers={"Retry-After": str(RETRY_AFTER_S)})


async def photos_busy(request: Request, exc: Exception) -> Response:
    """`PhotosBusy` raised by a route that does not answer it itself (the Open311 POST's `media` file):
    503 with ``Retry-After``, as an Open311 error list."""
    response = error(fmt_of(request), 503, "media: too many photos are being processed; please retry")
    response.headers["Retry-After"] = str(RETRY_AFTER_S)
    return response


@media_router.get("/media/{photo_id}.jpg", response_class=Response, responses={
    200: {"description": "The photo: a JPEG re-encoded without its metadata",
          "content": {"image/jpeg": {"schema": {"type": "string", "format": "binary"}}}},
    404: {"description": "No such photo (never stored, or erased), or an id that is not a UUID"}})
async def media(photo_id: str, d: AppDeps) -> Response:
    """A stored photo (public; cached 5 minutes only: it is erased with its case or when no report used
    it, so no cache may keep it long). `photo_id` is the photo's UUID; anything else is a 404."""
    try:
        pid = UUID(photo_id)
    except ValueError:
        return Response(status_code=404)
    jpeg = await d.site.store.photo(pid)
    if jpeg is None:
        return Response(status_code=404)
    return Response(jpeg, media_type="image/jpeg", headers={
        "Cache-Control": f"public, max-age={MEDIA_MAX_AGE_S}", "X-Content-Type-Options": "nosniff"})


@router.get("/report/status")
async def report_status(request: Request, d: AppDeps, token: str = "", n: int = 0) -> Response:
    """The case number a portal report became (fragment the submitted page polls every 2 s, at most 60
    times): a link to its page once open, else the same fragment asking again."""
    try:
        sid = await d.site.reads.case_of_token(token, "web") if token.startswith("web-") else None
    except CaseApiUnavailable:
        sid = None
    except CaseApiNoRoute:  # a token the case API's path cannot carry: never a case
        sid, n = None, 60
    return render(request, d, "_case_number.html", token=token, sid=sid, n=n + 1, poll=sid is None and n < 60)


@router.get("/track")
async def track(request: Request, d: AppDeps, q: str = "") -> Response:
    """Find a request by number or token: to its page (303), or a page saying it is not (yet) there."""
    query = q.strip()[:200]
    if not query:
        return render(request, d, "portal_track.html", q="", state=None, title_key="track.title")
    try:
        if looks_like_case_number(query):
            sid = query.upper() if await d.site.reads.request(query.upper()) else None
        else:
            sid = await d.site.reads.case_of_token(query, "web") or await d.site.reads.case_of_token(query, "open311")
    except CaseApiUnavailable:
        return render(request, d, "portal_track.html", status=503, q=query, state="unavailable",
                      title_key="track.title")
    except CaseApiNoRoute:  # a token the case API's path cannot carry (dots, slashes): no such request
        sid = None
    if sid:
        return RedirectResponse(f"/cases/{quote(sid)}", status_code=303)
    state = "not_found" if looks_like_case_number(query) or not query.startswith("web-") else "pending"
    return render(request, d, "portal_track.html", status=404 if state == "not_found" else 200, q=query,
                  state=state, title_key="track.title")


@router.get("/cases/{service_request_id}")
async def case_page(service_request_id: str, request: Request, d: AppDeps) -> Response:
    """The tracking page: status, category, place, photos, the public history and a follow form."""
    try:
        case, history = await portal.case_page(d, service_request_id)
    except portal.UnknownCase:
        return render(request, d, "portal_track.html", status=404, q=service_request_id, state="not_found",
                      title_key="track.title")
    except CaseApiUnavailable:
        return render(request, d, "portal_track.html", status=503, q=service_request_id, state="unavailable",
                      title_key="track.title")
    return render(request, d, "portal_case.html", **_case_context(request, d, case, history))


def _case_context(request: Request, d: Deps, case: Any, history: dict[str, Any] | None,
                  **extra: Any) -> dict[str, Any]:
    return portal.case_view(d, case, history, lang=language(request, d), **extra)


@router.post("/cases/{service_request_id}/follow")
async def follow_case(service_request_id: str, request: Request, d: AppDeps) -> Response:
    """Follow a request by email or SMS: publishes `intake.follow_requested`. 400 with the form again for
    a missing or malformed address, 404 for an unknown request."""
    form = await request.form(max_part_size=d.site.settings.max_upload_bytes + 1)
    fragment = _is_fragment(request)
    try:
        await portal.follow(d, service_request_id, form, language=language(request, d))
    except SpamRefused as exc:
        _refuse(request, exc.reason)
        key = f"error.spam.{exc.reason}" if exc.reason in ("form_too_fast", "form_expired") else "error.spam"
        return await _follow_again(request, d, service_request_id, form, FormProblem({"notify": key}))
    except portal.UnknownCase:
        return render(request, d, "portal_track.html", status=404, q=service_request_id, state="not_found",
                      title_key="track.title")
    except FormProblem as exc:
        return await _follow_again(request, d, service_request_id, form, exc)
    if fragment:
        return render(request, d, "_followed.html", sid=service_request_id, problems={})
    return render(request, d, "portal_followed.html", sid=service_request_id, title_key=None)


async def _follow_again(request: Request, d: Deps, service_request_id: str, form: Any,
                        problem: FormProblem) -> Response:
    """400: the follow form again with its `problem` (a fragment for htmx; the tracking page, with a fresh
    form token, else)."""
    if _is_fragment(request):
        return render(request, d, "_followed.html", status=400, sid=service_request_id, problems=problem.problems)
    try:
        case, history = await portal.case_page(d, service_request_id)
    except (portal.UnknownCase, CaseApiUnavailable):
        return render(request, d, "portal_error.html", status=400,
                      message_key=next(iter(problem.problems.values()))[0])
    return render(request, d, "portal_case.html", status=400,
                  **_case_context(request, d, case, history, values=form, problems=problem.problems))


@router.get("/survey/{survey_token}")
async def survey_form(survey_token: str, request: Request, d: AppDeps) -> Response:
    """The satisfaction survey of a closed request (400 page for a link that is malformed, truncated, forged
    or expired)."""
    try:
        invitation = portal.survey_invitation(d, survey_token)
    except InvalidSurveyToken:
        return render(request, d, "portal_survey_done.html", status=400, kind="invalid", title_key="survey.invalid")
    request.state.lang_hint = invitation.language  # the language the invitation was written in
    return render(request, d, "portal_survey.html", sid=invitation.service_request_id, token=survey_token,
                  values={}, problems={}, title_key="survey.title")


@router.post("/survey/{survey_token}")
async def survey_answer(survey_token: str, request: Request, d: AppDeps) -> Response:
    """Answer the survey: publishes `intake.survey_answered`; 409 for a second answer to the same
    invitation, 400 for an invalid link (malformed, truncated, forged, expired) or rating; nothing is
    published then."""
    form = await request.form()
    try:
        await portal.answer_survey(d, survey_token, form, language=language(request, d))
    except InvalidSurveyToken:
        return render(request, d, "portal_survey_done.html", status=400, kind="invalid", title_key="survey.invalid")
    except portal.SurveyAlreadyAnswered:
        return render(request, d, "portal_survey_done.html", status=409, kind="already", title_key="survey.already")
    except FormProblem as exc:
        try:
            invitation = portal.survey_invitation(d, survey_token)
        except InvalidSurveyToken:  # expired between the two reads
            return render(request, d, "portal_survey_done.html", status=400, kind="invalid",
                          title_key="survey.invalid")
        return render(request, d, "portal_survey.html", status=400, sid=invitation.service_request_id,
                      token=survey_token, values=form, problems=exc.problems, title_key="survey.title")
    return render(request, d, "portal_survey_done.html", kind="thanks", title_key="survey.thanks")


@router.get("/static/portal/{name}")
async def portal_asset(name: str) -> Response:
    """The portal's own script and styles (``static/portal.js``, ``static/portal.css``)."""
    types = {"portal.js": "text/javascript", "portal.css": "text/css"}
    if name not in types:
        return Response(status_code=404)
    return Response((PACKAGE / "static" / name).read_bytes(), media_type=types[name],
                    headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"})
