"""The portal's "Link my email and phone" handlers (docs/integrations.md section 3): the resident's email
address, phone number, preferred channel and language checked and handed to the notifier, which sends one
code by SMS and one by email; then both codes confirmed. intake_web keeps nothing: the notifier owns the
profile, the addresses and the codes. Produces no event."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Protocol

from services.intake_web.adapters.profiles import Linked, LinkRequest, LinkStarted
from services.intake_web.domain.agent import default_region
from services.intake_web.domain.portal import FormProblem, sms_region
from services.intake_web.service_layer.deps import Deps
from services.intake_web.service_layer.portal import check_spam_guard
from shared.contacts import e164, looks_like_email

CODE_RE = re.compile(r"^[0-9]{6}$")
"""A confirmation code as the notifier sends it: six digits (docs/integrations.md section 3)."""


class ProfileLinks(Protocol):
    """The notifier's profile API as the portal uses it (`adapters.profiles.NotifierProfiles`). Raises the
    `adapters.profiles.ProfileLinkError` subclasses."""

    async def start_link(self, request: LinkRequest) -> LinkStarted:
        """Send both codes; the link's id and expiry."""

    async def confirm(self, link_id: str, *, email_code: str, sms_code: str) -> Linked:
        """Confirm a link with both codes; the profile linked."""


def read_link_form(deps: Deps, form: Mapping[str, Any]) -> LinkRequest:
    """The step-1 form as a `LinkRequest`: ``email`` (at most 254 characters), ``phone`` (read in the
    jurisdiction's region, `domain.agent.default_region`, and of that country: the code goes by SMS, and
    texts abroad cost money), ``preferred_channel`` (``email`` or ``sms``), ``language`` (``en`` or ``fr``).
    Raises `FormProblem` naming every field to correct."""
    problems: dict[str, str | tuple[str, str]] = {}
    email = str(form.get("email") or "").strip()
    if not looks_like_email(email):
        problems["email"] = "error.email"
    region = default_region(deps.jurisdiction, deps.agent.default_region)
    phone = e164(str(form.get("phone") or "")[:40], region)
    if phone is None:
        problems["phone"] = "error.phone"
    elif sms_region(phone, region) != region.upper():
        problems["phone"] = "error.phone_region"
    channel = str(form.get("preferred_channel") or "")
    if channel not in ("email", "sms"):
        problems["preferred_channel"] = "error.notify"
    language = str(form.get("language") or "")
    if language not in ("en", "fr"):
        problems["language"] = "link.error.language"
    if problems:
        raise FormProblem(problems)
    return LinkRequest(email=email, phone=phone or "", preferred_channel=channel,  # type: ignore[arg-type]
                       language=language)  # type: ignore[arg-type]


async def start_link(deps: Deps, profiles: ProfileLinks, form: Mapping[str, Any]) -> tuple[LinkRequest, LinkStarted]:
    """Step 1: the spam guard (`service_layer.portal.check_spam_guard`: honeypot, form token's age), the
    fields (`read_link_form`), then the notifier sends the codes. Raises `SpamRefused`, `FormProblem`
    (nothing asked of the notifier then), and `LinkInvalid`, `LinkRateLimited`, `ProfilesUnavailable` as the
    notifier answers (nothing sent)."""
    check_spam_guard(deps, form)
    request = read_link_form(deps, form)
    started = await profiles.start_link(request)
    deps.log.info("profile_link_started", link_id=started.link_id)
    return request, started


def read_codes(form: Mapping[str, Any]) -> tuple[str, str]:
    """The step-2 form's ``email_code`` and ``sms_code``, spaces and dashes removed. Raises `FormProblem`
    for a code that is not six digits (the notifier is not asked then, so no try is spent)."""
    codes = {name: re.sub(r"[\s-]", "", str(form.get(name) or ""))[:20] for name in ("email_code", "sms_code")}
    problems = {name: "link.error.code_format" for name, code in codes.items() if not CODE_RE.match(code)}
    if problems:
        raise FormProblem(problems)
    return codes["email_code"], codes["sms_code"]


async def confirm_link(deps: Deps, profiles: ProfileLinks, link_id: str, form: Mapping[str, Any]) -> Linked:
    """Step 2: both codes checked for shape (`read_codes`) and confirmed by the notifier. Raises `FormProblem`,
    and `CodeMismatch` (with the tries left), `LinkExpired`, `LinkUnknown`, `ProfilesUnavailable` as the
    notifier answers (nothing linked then)."""
    email_code, sms_code = read_codes(form)
    linked = await profiles.confirm(link_id, email_code=email_code, sms_code=sms_code)
    deps.log.info("profile_linked", link_id=link_id, profile_id=linked.profile_id, contacts=len(linked.contacts))
    return linked
