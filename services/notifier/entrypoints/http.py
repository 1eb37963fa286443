"""The notifier's profile API (docs/integrations.md section 3): resident profiles across channels.

`POST /profile-links` and `POST /profile-links/{link_id}/confirm` are internal: intake_web's portal calls
them server-side; they must not be reachable from the internet (only on the internal network, and, when
`OMNI311_NOTIFIER_INTERNAL_TOKEN` is set, only with the header `X-Omni311-Internal-Token`). The `/staff/...`
routes take a staff bearer token (`shared.auth`): call agents and up, supervisors and administrators to
unlink. A refusal answers `{"detail": sentence, "error": word, ...}` with its status and changes nothing
(but a wrong code, which counts one try). The routes find their units of work, settings and ids on
`app.state.profiles` (a `ProfileApi`, put there by `mount`).
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID, uuid4

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from services.notifier.adapters.repository import NotifierRepository
from services.notifier.config import ProfileSettings
from services.notifier.domain.profiles import Profile, mask
from services.notifier.service_layer import profiles as svc
from services.notifier.service_layer.handlers import Senders
from services.notifier.service_layer.profiles import Linking, ProfileError, Uow
from shared.auth import Principal, Role, TokenVerifier, install_auth, require
from shared.jurisdiction import load_jurisdiction
from shared.service import Runtime

router = APIRouter()

CALL_AGENTS_AND_UP = require(Role.CALL_AGENT, Role.DEPARTMENT_STAFF, Role.SUPERVISOR, Role.ADMINISTRATOR)
SUPERVISORS_AND_UP = require(Role.SUPERVISOR, Role.ADMINISTRATOR)
Staff = Annotated[Principal, Depends(CALL_AGENTS_AND_UP)]
Supervisor = Annotated[Principal, Depends(SUPERVISORS_AND_UP)]
INTERNAL_HEADER = "X-Omni311-Internal-Token"
CONTACT_KEY = r"^ck_[A-Za-z0-9_]{1,80}$"


class ProfileApi:
    """What the routes use: `unit_of_work()` (one per request, claiming nothing), `linking()` (the senders
    and code settings, ready once the service started) and the `internal_token` the portal's routes
    need (None: none)."""

    def __init__(self, unit_of_work: Callable[[], Uow], linking: Callable[[], Linking],
                 internal_token: str | None = None) -> None:
        self.unit_of_work = unit_of_work
        self.linking = linking
        self.internal_token = internal_token


def serve(rt: Runtime, senders: Senders, ps: ProfileSettings) -> None:
    """Serve the profile API on `rt.app` (staff tokens from `shared.auth`), sending codes with `senders`;
    phone numbers are read in the jurisdiction's region, known once the service started."""
    linking: dict[str, Linking] = {}

    async def start() -> None:
        linking["l"] = Linking(senders, secret=ps.profile_code_secret.get_secret_value(), ttl_s=ps.profile_code_ttl_s,
                               max_attempts=ps.profile_code_attempts, per_hour=ps.profile_link_requests_per_hour,
                               region=load_jurisdiction(rt.settings.jurisdiction).phone_region)

    rt.on_start.append(start)
    install_auth(rt.app, TokenVerifier(rt.settings))
    token = ps.notifier_internal_token.get_secret_value() if ps.notifier_internal_token else None
    mount(rt.app, ProfileApi(lambda: rt.unit_of_work(NotifierRepository), lambda: linking["l"], token))


def mount(app: FastAPI, api: ProfileApi) -> None:
    """Serve the routes on `app`; the app needs a token verifier (`shared.auth.install_auth`)."""
    app.state.profiles = api
    app.add_exception_handler(ProfileError, _refused)
    app.include_router(router)


async def _refused(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ProfileError)
    return JSONResponse({"detail": exc.detail, "error": exc.error, **exc.extra}, status_code=exc.status,
                        headers=exc.headers)


def _api(request: Request) -> ProfileApi:
    return request.app.state.profiles  # type: ignore[no-any-return]


def internal(request: Request) -> ProfileApi:
    """The API, for a caller on the internal network; 401 without the internal token when one is set."""
    api = _api(request)
    if api.internal_token is not None and not hmac.compare_digest(
            request.headers.get(INTERNAL_HEADER, "").encode(), api.internal_token.encode()):
        raise HTTPException(401, f"this route is internal (header {INTERNAL_HEADER})")
    return api


Internal = Annotated[ProfileApi, Depends(internal)]
Api = Annotated[ProfileApi, Depends(_api)]


# --- models ----------------------------------------------------------------------------------------------

class _Body(BaseModel):
    model_config = {"extra": "forbid"}


class LinkBody(_Body):
    email: str = Field(min_length=3, max_length=254, examples=["jo@example.org"])
    phone: str = Field(min_length=4, max_length=40, examples=["+1 514 555 0123"])
    preferred_channel: Literal["email", "sms"] | None = None
    language: Literal["en", "fr"] = "en"


class LinkCreated(BaseModel):
    link_id: UUID
    expires_at: datetime


class ConfirmBody(_Body):
    email_code: str = Field(min_length=1, max_length=32, examples=["482913"])
    sms_code: str = Field(min_length=1, max_length=32, examples=["103877"])


class MaskedContact(BaseModel):
    contact_key: str
    kind: str
    masked: str = Field(examples=["j***@example.org", "+1 514-***-0123"])


class Linked(BaseModel):
    profile_id: UUID
    contacts: list[MaskedContact]


class StaffContact(MaskedContact):
    linked_by: str = Field(examples=["resident", "staff:agent-7"])
    linked_at: datetime


class ProfileOut(BaseModel):
    profile_id: UUID
    preferred_channel: Literal["email", "sms"] | None
    language: Literal["en", "fr"] | None
    contacts: list[StaffContact]


class NewContact(_Body):
    kind: str = Field(min_length=1, max_length=20, examples=["phone", "email", "messenger"])
    value: str = Field(min_length=1, max_length=254)


class StaffLinkBody(_Body):
    contacts: list[NewContact] = Field(min_length=2, max_length=10)
    preferred_channel: Literal["email", "sms"] | None = None
    language: Literal["en", "fr"] | None = None


class PreferencesBody(_Body):
    preferred_channel: Literal["email", "sms"] | None = None
    language: Literal["en", "fr"] | None = None


class Refusal(BaseModel):
    """A refusal: `detail` a sentence (a list of field errors for a body that does not fit its model),
    `error` a word, `attempts_left` after a wrong code."""

    detail: str | list[Any]
    error: str | None = None
    attempts_left: int | None = None


def _refusals(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": Refusal} for code in codes}


def _out(profile: Profile) -> ProfileOut:
    return ProfileOut(profile_id=profile.profile_id, preferred_channel=profile.preferred_channel,  # type: ignore[arg-type]
                      language=profile.language,  # type: ignore[arg-type]
                      contacts=[StaffContact(contact_key=c.contact_key, kind=c.kind, masked=mask(c.kind, c.address),
                                             linked_by=c.linked_by, linked_at=c.linked_at) for c in profile.contacts])


# --- the portal's routes (internal) ---------------------------------------------------------------------

@router.post("/profile-links", status_code=201, response_model=LinkCreated, tags=["profiles (internal)"],
             responses=_refusals(401, 422, 429, 502))
async def request_link(body: LinkBody, api: Internal) -> LinkCreated:
    """A resident asks to link `email` and `phone`: a six-digit code is texted to the phone and another
    emailed, in `language`, valid 10 minutes. 422 for an address or number that is not one (or a number
    of another country, one that texted STOP, an address that bounced), 429 over 3 requests per address
    and hour, 502 when a code could not be sent."""
    request = await svc.request_link(api.unit_of_work, api.linking(), email=body.email, phone=body.phone,
                                     preferred_channel=body.preferred_channel, language=body.language,
                                     link_id=uuid4())
    return LinkCreated(link_id=request.link_id, expires_at=request.expires_at)


@router.post("/profile-links/{link_id}/confirm", response_model=Linked, tags=["profiles (internal)"],
             responses=_refusals(401, 404, 410, 422))
async def confirm_link(body: ConfirmBody, api: Internal, link_id: Annotated[str, Path(max_length=64)]) -> Any:
    """Both codes of a link request: 200 the profile (its contacts masked); 422 `code_mismatch` with
    `attempts_left`; 410 expired, out of tries or already confirmed; 404 for an unknown request."""
    try:
        parsed = UUID(link_id)
    except ValueError:
        raise ProfileError(404, "unknown", "no such link request") from None
    async with api.unit_of_work() as uow:
        done = await svc.confirm_link(uow, api.linking(), parsed, email_code=body.email_code,
                                      sms_code=body.sms_code, new_profile_id=uuid4())
    if done.profile is None:
        return JSONResponse({"detail": "a code does not match", "error": "code_mismatch",
                             "attempts_left": done.attempts_left}, status_code=422)
    return Linked(profile_id=done.profile.profile_id,
                  contacts=[MaskedContact(contact_key=c.contact_key, kind=c.kind, masked=mask(c.kind, c.address))
                            for c in done.profile.contacts])


# --- staff -----------------------------------------------------------------------------------------------

@router.get("/staff/profiles", response_model=ProfileOut, tags=["profiles"], responses=_refusals(401, 403, 404))
async def profile_of(api: Api, _who: Staff,
                     contact_key: Annotated[str, Query(pattern=CONTACT_KEY, max_length=84)]) -> ProfileOut:
    """The profile a contact key belongs to, its contacts masked; 404 when it has none."""
    async with api.unit_of_work() as uow:
        profile = await uow.repo.profile_of(contact_key)
    if profile is None:
        raise ProfileError(404, "unknown", "this contact key has no profile")
    return _out(profile)


@router.post("/staff/profiles/links", response_model=ProfileOut, tags=["profiles"], responses=_refusals(401, 403, 422))
async def link_by_staff(body: StaffLinkBody, api: Api, who: Staff) -> ProfileOut:
    """Link two or more contacts (`kind` ``email``, ``phone`` or a platform, `value` as given) into one
    profile, `linked_by` ``staff:<sub>``; contacts that had profiles join them. 422 for a contact that is
    not one, one given twice, or a preferred channel without a contact of its kind."""
    async with api.unit_of_work() as uow:
        profile = await svc.link_by_staff(uow, api.linking(), contacts=[(c.kind, c.value) for c in body.contacts],
                                          staff_subject=who.subject, preferred_channel=body.preferred_channel,
                                          language=body.language, new_profile_id=uuid4())
    return _out(profile)


@router.patch("/staff/profiles/{profile_id}", response_model=ProfileOut, tags=["profiles"],
              responses=_refusals(401, 403, 404, 422))
async def set_preferences(profile_id: UUID, body: PreferencesBody, api: Api, _who: Staff) -> ProfileOut:
    """Change the preferred channel and/or language (a field given as null clears it); 404 for an unknown
    profile, 422 for an empty body or a channel without a contact of its kind."""
    changes = {name: getattr(body, name) for name in body.model_fields_set}
    async with api.unit_of_work() as uow:
        profile = await svc.set_preferences(uow, profile_id, changes)
    return _out(profile)


@router.delete("/staff/profiles/{profile_id}/contacts/{contact_key}", response_model=ProfileOut, tags=["profiles"],
               responses=_refusals(401, 403, 404))
async def unlink(profile_id: UUID, api: Api, who: Supervisor,
                 contact_key: Annotated[str, Path(pattern=CONTACT_KEY, max_length=84)]) -> ProfileOut:
    """Supervisors and administrators: unlink one contact; the profile as it is after (no contacts: it was
    deleted). 404 for an unknown profile or a key not linked to it."""
    async with api.unit_of_work() as uow:
        profile = await svc.unlink(uow, profile_id, contact_key, staff_subject=who.subject)
    return _out(profile)
