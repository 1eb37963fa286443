"""The portal's "Link my email and phone" page (``/profile/link``, EN/FR, USWDS; docs/integrations.md
section 3): step 1 the email address, the phone number, the preferred channel and the language (behind the
portal forms' spam guard); step 2 the two codes the notifier sent; step 3 the contacts linked, masked.
Every refusal shows the form again with what to do, and changes nothing. Thin:
`service_layer.profile_link` decides; the notifier owns the profile."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request, Response

from services.intake_web.adapters.profiles import (
    CodeMismatch,
    LinkExpired,
    LinkInvalid,
    LinkRateLimited,
    LinkUnknown,
    ProfilesUnavailable,
)
from services.intake_web.domain.portal import FormProblem, SpamRefused, form_token
from services.intake_web.entrypoints.http import AppDeps
from services.intake_web.entrypoints.portal import RETRY_AFTER_S, language, render
from services.intake_web.service_layer import profile_link
from services.intake_web.service_layer.deps import Deps

router = APIRouter(include_in_schema=False)

LINK_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,100}$")
"""A link id the notifier could have made (a UUID or a token); anything else is unknown (404)."""


def _step1(request: Request, d: Deps, *, status: int = 200, values: Any = None,
           problems: dict[str, tuple[str, str]] | None = None, notice: str | None = None) -> Response:
    values = values if values is not None else {}
    response = render(request, d, "portal_link.html", status=status, step=1, values=values, problems=problems or {},
                      notice=notice, form_token=form_token(d.site.settings.portal_form_secret, d.clock()),
                      chosen_language=values.get("language") or language(request, d), title_key="link.title")
    if status == 503:
        response.headers["Retry-After"] = str(RETRY_AFTER_S)
    return response


def _step2(request: Request, d: Deps, link_id: str, *, status: int = 200,
           problems: dict[str, tuple[str, str]] | None = None, notice: str | None = None,
           notice_n: int | None = None) -> Response:
    response = render(request, d, "portal_link.html", status=status, step=2, link_id=link_id, values={},
                      problems=problems or {}, notice=notice, notice_n=notice_n, title_key="link.codes.title")
    if status == 503:
        response.headers["Retry-After"] = str(RETRY_AFTER_S)
    return response


@router.get("/profile/link")
async def link_form(request: Request, d: AppDeps) -> Response:
    """Step 1: the form (email, phone, preferred channel, language) with the spam guard's token."""
    return _step1(request, d)


@router.post("/profile/link")
async def link_start(request: Request, d: AppDeps) -> Response:
    """Step 1 sent: the notifier sends a code by SMS and one by email, and the page asks for both. 400 with
    the form again for a field to correct or the spam guard, 422 when the notifier refuses the address or
    number, 429 over its rate (3 an hour), 503 with ``Retry-After`` when it does not answer; nothing is
    sent then."""
    form = await request.form()
    try:
        _, started = await profile_link.start_link(d, d.site.profiles, form)
    except SpamRefused as exc:
        request.state.refusal_reason = exc.reason
        key = f"error.spam.{exc.reason}" if exc.reason in ("form_too_fast", "form_expired") else "error.spam"
        return _step1(request, d, status=400, values=form, notice=key)
    except FormProblem as exc:
        return _step1(request, d, status=400, values=form, problems=exc.problems)
    except LinkInvalid:
        return _step1(request, d, status=422, values=form, notice="link.error.invalid")
    except LinkRateLimited:
        return _step1(request, d, status=429, values=form, notice="link.error.rate_limited")
    except ProfilesUnavailable:
        return _step1(request, d, status=503, values=form, notice="link.error.unavailable")
    return _step2(request, d, started.link_id)


@router.post("/profile/link/{link_id}/confirm")
async def link_confirm(link_id: str, request: Request, d: AppDeps) -> Response:
    """Step 2 sent: both codes confirmed, the linked contacts shown masked. 400 for a code that is not six
    digits (no try spent), 422 for a code that does not match (with the tries left), 410 once expired or
    out of tries and 404 for an unknown link (the first step again), 429 over the rate, 503 with
    ``Retry-After`` when the notifier does not answer; nothing is linked then."""
    if not LINK_ID_RE.match(link_id):
        return _step1(request, d, status=404, notice="link.error.expired")
    form = await request.form()
    try:
        linked = await profile_link.confirm_link(d, d.site.profiles, link_id, form)
    except FormProblem as exc:
        return _step2(request, d, link_id, status=400, problems=exc.problems)
    except CodeMismatch as exc:
        return _step2(request, d, link_id, status=422, notice="link.error.mismatch", notice_n=exc.attempts_left)
    except (LinkExpired, LinkUnknown) as exc:
        return _step1(request, d, status=exc.status, notice="link.error.expired")
    except LinkRateLimited:
        return _step2(request, d, link_id, status=429, notice="link.error.rate_limited")
    except ProfilesUnavailable:
        return _step2(request, d, link_id, status=503, notice="link.error.unavailable")
    return render(request, d, "portal_link.html", step=3, contacts=linked.contacts, values={}, problems={},
                  notice=None, title_key="link.done.title")
