"""What every workbench page shares: the Jinja2 templates, the session (a cookie holding the user's token,
verified on each request), the language (cookie, else ``Accept-Language``), same-origin checks on forms,
and the security headers of every page."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache, partial
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

from fastapi import Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, Undefined, select_autoescape

from services.workbench.config import SESSION_COOKIE
from services.workbench.domain.case_page import actor_label, claim_offer, forward_title, person_name
from services.workbench.domain.i18n import LANGUAGE_COOKIE, choose_language, other_language, translate
from services.workbench.domain.queue import SLA_TAG_CLASS, due_at, sla_state
from services.workbench.service_layer.deps import Deps
from shared.auth import InvalidToken, KeysUnavailable, Principal, Role

PACKAGE = Path(__file__).resolve().parents[1]
"""`services/workbench`: templates in `templates/`, our own assets and the copied vendor ones in `static/`."""

PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    # Every script and style is ours (vendor files included); photos may come from intake_email's /media.
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data: http: https:; "
                               "style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; form-action 'self'",
}


class SignInRequired(Exception):  # noqa: N818 - what the page needs, not an error of the caller
    """No valid session: the page answers with a redirect to the sign-in page (`expired` says why)."""

    def __init__(self, next_path: str, expired: bool) -> None:
        super().__init__(next_path)
        self.next_path = next_path
        self.expired = expired


def deps(request: Request) -> Deps:
    """The `Deps` `app.create_app` put on the app's state."""
    return request.app.state.deps  # type: ignore[no-any-return]


AppDeps = Annotated[Deps, Depends(deps)]


def language(request: Request) -> str:
    """The page language: the ``lang`` cookie, else the browser's ``Accept-Language``, else English."""
    return choose_language(request.cookies.get(LANGUAGE_COOKIE), request.headers.get("accept-language"))


def safe_next(value: str | None) -> str:
    """A same-site path to go back to after sign-in or a language switch (``/`` for anything else, so no
    open redirect: no scheme, no host, no ``//``)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    parts = urlsplit(value)
    return value if not parts.scheme and not parts.netloc else "/"


def signed_in(request: Request, d: AppDeps) -> Principal:
    """The signed-in staff member (a FastAPI dependency): the session cookie's token verified as every
    service verifies it. Raises `SignInRequired` without a cookie or with an invalid or expired token, and
    HTTPException 503 when the issuer's keys cannot be read."""
    token = request.cookies.get(SESSION_COOKIE)
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if not token:
        raise SignInRequired(here, expired=False)
    try:
        return d.verifier.verify(token, now=d.clock())
    except InvalidToken as exc:
        raise SignInRequired(here, expired=True) from exc
    except KeysUnavailable as exc:
        raise HTTPException(503, "the identity provider's keys cannot be read; try again shortly") from exc


SignedIn = Annotated[Principal, Depends(signed_in)]


def same_origin(request: Request, d: AppDeps) -> None:
    """Refuse (403) a form post whose ``Origin`` (or, without one, ``Referer``) is another site: with the
    SameSite=Lax cookie this keeps other sites from acting in a staff member's name."""
    origin = request.headers.get("origin") or request.headers.get("referer")
    if not origin or origin == "null":
        return
    parts = urlsplit(origin)
    host = request.headers.get("host", "")
    allowed = {host, urlsplit(d.config.base_url).netloc}
    if parts.netloc not in allowed:
        raise HTTPException(403, "form posted from another site")


SameOrigin = Depends(same_origin)


def sign_in_redirect(exc: SignInRequired) -> RedirectResponse:
    """Where a page without a session sends the browser: the sign-in page, back to `next` afterwards."""
    target = f"/sign-in?next={quote(exc.next_path, safe='')}" + ("&expired=1" if exc.expired else "")
    response = RedirectResponse(target, status_code=303)
    if exc.expired:
        response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@cache
def templates() -> Environment:
    """The page templates (autoescaped HTML)."""
    env = Environment(loader=FileSystemLoader(PACKAGE / "templates"), autoescape=select_autoescape(["html"]),
                      trim_blocks=True, lstrip_blocks=True)
    env.globals.update(sla_state=sla_state, due_at=due_at, SLA_TAG_CLASS=SLA_TAG_CLASS, Role=Role,
                       actor_label=actor_label, claim_offer=claim_offer, person_name=person_name,
                       forward_title=forward_title)
    return env


def local_time(value: Any, tz: str, with_date: bool = True) -> str:
    """An instant (datetime or ISO 8601 text) as the jurisdiction's local time with its zone's abbreviation
    at that instant (`tz` an IANA name, e.g. ``America/New_York``): ``YYYY-MM-DD HH:MM EST`` (``HH:MM EST``
    without the date); ``—`` without one, the text as it is when it is not a time."""
    if value is None or value == "" or isinstance(value, Undefined):
        return "—"
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    shown = value.astimezone(ZoneInfo(tz))
    return shown.strftime("%Y-%m-%d %H:%M %Z" if with_date else "%H:%M %Z")


def render(request: Request, d: Deps, template: str, *, who: Principal | None = None, status: int = 200,
           active: str | None = None, title_key: str | None = None, **context: Any) -> HTMLResponse:
    """One page (or, for htmx, one fragment): the template with the language, its `t` function, the
    signed-in user, the city and the active navigation item; not cached, not framed."""
    lang = language(request)
    jur = d.jurisdiction
    html = templates().get_template(template).render(
        request=request, lang=lang, other_lang=other_language(lang), t=partial(translate, lang), who=who,
        city=jur.name, tz=jur.timezone, active=active, title_key=title_key,
        when=partial(local_time, tz=jur.timezone), here=request.url.path + (
            f"?{request.url.query}" if request.url.query else ""), **context)
    return HTMLResponse(html, status_code=status, headers=PAGE_HEADERS)


def set_session(response: Response, token: str, d: Deps) -> None:
    """Put the token in the session cookie: HttpOnly (no script reads it), SameSite=Lax, Secure over https,
    for the token's lifetime at most (the cookie is a session cookie: it ends with the browser)."""
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="lax", secure=d.config.secure_cookies,
                        path="/")
