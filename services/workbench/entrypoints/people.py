"""The person page (``/people?contact_key=``, ``?email=``, ``?phone=``; docs/integrations.md section 3): the
notifier's profile of a contact key and every case of every key of it, newest first with its channel; the
staff forms that link a caller's number and an email address and set the preferred channel and language.
Forms post and redirect back (303) with a confirmation, or show the page again with the refusal (the API's
status, 422 for a form that makes no request). Thin: `service_layer.people` decides."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from services.workbench.adapters.http_api import ApiError
from services.workbench.domain.forms import FormError
from services.workbench.entrypoints.web import AppDeps, SameOrigin, SignedIn, render
from services.workbench.service_layer import people
from shared.auth import Principal

router = APIRouter()


async def _form(request: Request) -> dict[str, str]:
    data = await request.form()
    return {k: v for k, v in data.items() if isinstance(v, str)}


async def _page(request: Request, d: AppDeps, who: Principal, *, key: str | None, status: int = 200,
                error: Any = None, done: str | None = None, form: dict[str, str] | None = None,
                asked: dict[str, str] | None = None) -> Response:
    data: dict[str, Any] = {"contact_key": None, "profile": None, "keys": [], "cases": [], "profile_error": None,
                            "cases_error": None}
    if key is not None:
        try:
            data = await people.person(d, who, key)
        except ApiError as exc:
            status, error = exc.status, {"status": exc.status, "message": exc.message}
    return render(request, d, "person.html", who=who, status=status, active="people", title_key="person.title",
                  error=error, done=done, form=form or {}, asked=asked or {}, **data)


@router.get("/people", include_in_schema=False)
async def person_page(request: Request, d: AppDeps, who: SignedIn, contact_key: str | None = None,
                      email: str | None = None, phone: str | None = None, done: str | None = None) -> Response:
    """A person: the profile (masked contacts, preferred channel, language) and every case of every contact
    key of it. Without a question: a search form; 422 for one that cannot name a contact key."""
    asked = {"contact_key": contact_key or "", "email": email or "", "phone": phone or ""}
    if not any(asked.values()):
        return await _page(request, d, who, key=None, asked=asked)
    try:
        key = people.person_key(d, contact_key_=contact_key, email=email, phone=phone)
    except FormError as exc:
        return await _page(request, d, who, key=None, status=422, asked=asked,
                           error={"status": 422, "message": exc.message})
    return await _page(request, d, who, key=key, done=done, asked=asked,
                       form={"phone": phone or "", "email": email or ""})


@router.post("/people/link", include_in_schema=False, dependencies=[SameOrigin])
async def link(request: Request, d: AppDeps, who: SignedIn) -> Response:
    """Link the caller's number and an email address (``POST /staff/profiles/links``), then the person page
    of the page's contact key (or of the number) with a confirmation."""
    form = await _form(request)
    back = (form.get("contact_key") or "").strip() or None
    try:
        await people.link(d, who, form)
        key = back or people.person_key(d, phone=form.get("phone"))
    except (FormError, ApiError) as exc:
        status = exc.status if isinstance(exc, ApiError) else 422
        d.log.info("profile_link_refused", status=status)
        return await _page(request, d, who, key=back, status=status, form=form,
                           error={"status": status, "message": exc.message})
    d.log.info("profile_linked_by_staff", subject=who.subject)
    return RedirectResponse(f"/people?contact_key={quote(key, safe='')}&done=link", status_code=303)


@router.post("/people/{profile_id}/preferences", include_in_schema=False, dependencies=[SameOrigin])
async def preferences(request: Request, d: AppDeps, who: SignedIn, profile_id: str) -> Response:
    """Set the profile's preferred channel and language (``PATCH /staff/profiles/{id}``), then back."""
    form = await _form(request)
    back = (form.get("contact_key") or "").strip()
    try:
        key = people.person_key(d, contact_key_=back)
        await people.set_preferences(d, who, profile_id, form)
    except (FormError, ApiError) as exc:
        status = exc.status if isinstance(exc, ApiError) else 422
        return await _page(request, d, who, key=back if people.CONTACT_KEY_RE.match(back) else None, status=status,
                           form=form, error={"status": status, "message": exc.message})
    return RedirectResponse(f"/people?contact_key={quote(key, safe='')}&done=preferences", status_code=303)
