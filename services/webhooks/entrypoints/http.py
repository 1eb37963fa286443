"""The webhooks admin API (docs/integrations.md section 1), administrators only (bearer token via
`shared.auth`: 401 without a valid token, 403 for any other role, and nothing changes):

- `POST /admin/subscriptions` → 201 the subscription and its `secret`, shown once;
- `GET /admin/subscriptions`, `GET /admin/subscriptions/{id}` (no secret);
- `PATCH /admin/subscriptions/{id}` (url, filters, `personal_data`, `description`);
- `DELETE /admin/subscriptions/{id}` (disabled, kept with its log);
- `POST /admin/subscriptions/{id}/secret` (rotation: the new secret, once; the old one signs beside it);
- `POST /admin/subscriptions/{id}/resume`;
- `POST /admin/subscriptions/{id}/redeliver` `{"since", "until"}` → 202 `{"count"}`;
- `GET /admin/subscriptions/{id}/deliveries?status=&limit=` (the delivery log, newest first).

422 for an unknown event type, department or service code, a URL we do not send to (private address,
not https), or a bad body; 404 for an unknown id; 409 for a disabled subscription. The routes find what
they need on `app.state.webhooks` (a `WebhooksApi`, put there by `mount`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from services.webhooks.adapters.sender import UrlRefused
from services.webhooks.domain.records import LoggedAttempt, Subscription
from services.webhooks.service_layer import admin
from services.webhooks.service_layer.handlers import Uow
from shared.auth import Principal, Role, require

router = APIRouter(prefix="/admin/subscriptions", tags=["subscriptions"])
Administrators = Annotated[Principal, Depends(require(Role.ADMINISTRATOR))]

Url = Annotated[str, Field(min_length=1, max_length=2000, description="The receiver's https URL")]
Names = Annotated[list[Annotated[str, Field(min_length=1, max_length=200)]], Field(max_length=100)]


@dataclass(frozen=True)
class WebhooksApi:
    """What the routes use, each called per request (before the service started they raise: 500):
    `unit_of_work()` a unit of work claiming nothing, `known()` what filters may name, `check_url(url)` the
    address check (raises `UrlRefused`), `new_secret()` a fresh secret, `new_id()` a subscription id,
    `secret_overlap_s` the rotation overlap, `wake()` starts a delivery round, `public_body(body)` a message
    body without personal data (for a subscription whose grant is withdrawn)."""

    unit_of_work: Callable[[], Uow]
    known: Callable[[], admin.Known]
    check_url: Callable[[str], Awaitable[None]]
    new_secret: Callable[[], str]
    new_id: Callable[[], UUID]
    secret_overlap_s: float
    wake: Callable[[], None]
    public_body: Callable[[dict[str, Any]], dict[str, Any]]


def mount(app: FastAPI, api: WebhooksApi) -> None:
    """Serve the routes on `app` with `api`; the app needs a token verifier (`shared.auth.install_auth`)."""
    app.state.webhooks = api
    for refusal in (admin.NotFound, admin.Conflict, admin.Invalid):
        app.add_exception_handler(refusal, _refused)
    app.include_router(router)


def _api(request: Request) -> WebhooksApi:
    return request.app.state.webhooks


# --- bodies and answers ----------------------------------------------------------------------------------


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NewSubscription(_Body):
    """A subscription to create."""

    url: Url
    event_types: Names = Field(min_length=1, description="Events of cases.lifecycle, e.g. case.routed")
    service_codes: Names = Field(default_factory=list, description="Only cases of these services (empty: all)")
    departments: Names = Field(default_factory=list, description="Only cases of these department ids (empty: all)")
    personal_data: bool = Field(default=False, description="Keep the events' personal data and the reporters' "
                                                           "words as they are")
    description: str = Field(default="", max_length=500)


class SubscriptionChange(_Body):
    """What to change (absent: unchanged)."""

    url: Url | None = None
    event_types: Names | None = Field(default=None, min_length=1)
    service_codes: Names | None = None
    departments: Names | None = None
    personal_data: bool | None = None
    description: str | None = Field(default=None, max_length=500)


class SubscriptionOut(BaseModel):
    """A subscription as administrators see it (never its secret)."""

    id: UUID
    url: str
    event_types: list[str]
    service_codes: list[str]
    departments: list[str]
    personal_data: bool
    description: str
    status: Literal["active", "paused", "disabled"]
    consecutive_failures: int = Field(description="Failed attempts in a row")
    last_error: str | None
    last_attempt_at: datetime | None
    last_success_at: datetime | None
    paused_at: datetime | None
    previous_secret_expires_at: datetime | None = Field(description="Until when the secret before the last "
                                                                    "rotation still signs beside the new one")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, sub: Subscription) -> SubscriptionOut:
        return cls(id=sub.id, url=sub.url, event_types=sub.event_types, service_codes=sub.service_codes,
                   departments=sub.departments, personal_data=sub.personal_data, description=sub.description,
                   status=sub.status, consecutive_failures=sub.consecutive_failures, last_error=sub.last_error,
                   last_attempt_at=sub.last_attempt_at, last_success_at=sub.last_success_at, paused_at=sub.paused_at,
                   previous_secret_expires_at=sub.previous_secret_until if sub.previous_secret else None,
                   created_at=sub.created_at, updated_at=sub.updated_at)


class SubscriptionCreated(SubscriptionOut):
    """A new subscription with its secret (`whsec_` + base64), shown this once."""

    secret: str


class SecretRotated(BaseModel):
    """The new secret, shown this once, and until when the old one signs beside it."""

    id: UUID
    secret: str
    previous_secret_expires_at: datetime


class Resumed(SubscriptionOut):
    """The resumed subscription and how many of its messages wait to be sent."""

    waiting: int


class RedeliveryRange(_Body):
    """Events that occurred from `since` (included) to `until` (excluded), UTC. A time whose UTC is outside
    the years 1 to 9999 is a 422 (PostgreSQL's driver refuses it: a 500 before)."""

    since: AwareDatetime
    until: AwareDatetime

    @field_validator("since", "until")
    @classmethod
    def _in_utc(cls, value: datetime) -> datetime:
        try:
            return value.astimezone(UTC)
        except OverflowError:
            raise ValueError("a time between the years 1 and 9999 in UTC") from None


class RedeliveryQueued(BaseModel):
    """How many messages will be sent again."""

    count: int


class DeliveryOut(BaseModel):
    """One attempt of the delivery log."""

    id: int
    message_id: int
    webhook_id: str
    event_type: str
    event_id: UUID
    case_id: UUID | None
    attempt: int
    attempted_at: datetime
    duration_ms: int
    http_status: int | None
    error: str | None
    outcome: Literal["delivered", "failed"]
    next_attempt_at: datetime | None

    @classmethod
    def of(cls, row: LoggedAttempt) -> DeliveryOut:
        return cls(**vars(row))


async def _refused(_request: Request, exc: Exception) -> JSONResponse:
    """An admin action the service layer refused, whichever route asked: 404 for an unknown subscription,
    409 for one whose state forbids it (`admin.Conflict`), 422 for a value it cannot take (`admin.Invalid`)."""
    if isinstance(exc, admin.NotFound):
        return JSONResponse({"detail": "no such subscription"}, status_code=404)
    return JSONResponse({"detail": str(exc)}, status_code=409 if isinstance(exc, admin.Conflict) else 422)


async def _checked_url(api: WebhooksApi, url: str) -> None:
    try:
        await api.check_url(url)
    except UrlRefused as exc:
        raise HTTPException(422, f"url refused: {exc.reason}") from None


# --- routes --------------------------------------------------------------------------------------------


@router.post("", status_code=201, response_model=SubscriptionCreated)
async def create_subscription(body: NewSubscription, request: Request, _who: Administrators) -> SubscriptionCreated:
    """Create a subscription; its secret is in this answer only."""
    api = _api(request)
    await _checked_url(api, body.url)
    secret = api.new_secret()
    sub = await admin.create(api.unit_of_work(), sub_id=api.new_id(), url=body.url, event_types=body.event_types,
                             service_codes=body.service_codes, departments=body.departments,
                             personal_data=body.personal_data, description=body.description, secret=secret,
                             known=api.known())
    return SubscriptionCreated(**SubscriptionOut.of(sub).model_dump(), secret=secret)


@router.get("", response_model=list[SubscriptionOut])
async def list_subscriptions(request: Request, _who: Administrators) -> list[SubscriptionOut]:
    """Every subscription (paused ones with their last error; disabled ones too), oldest first."""
    return [SubscriptionOut.of(s) for s in await admin.read_all(_api(request).unit_of_work())]


@router.get("/{sub_id}", response_model=SubscriptionOut)
async def get_subscription(sub_id: UUID, request: Request, _who: Administrators) -> SubscriptionOut:
    """One subscription."""
    return SubscriptionOut.of(await admin.read(_api(request).unit_of_work(), sub_id))


@router.patch("/{sub_id}", response_model=SubscriptionOut)
async def change_subscription(sub_id: UUID, body: SubscriptionChange, request: Request,
                              _who: Administrators) -> SubscriptionOut:
    """Change the url, filters, personal data or description (messages already made keep theirs)."""
    api = _api(request)
    changes = body.model_dump(exclude_unset=True)
    if any(v is None for v in changes.values()):
        raise HTTPException(422, "a field given must have a value")
    if "url" in changes:
        await _checked_url(api, changes["url"])
    return SubscriptionOut.of(await admin.change(api.unit_of_work(), sub_id, changes, known=api.known(),
                                                    public_body=api.public_body))


@router.delete("/{sub_id}", response_model=SubscriptionOut)
async def disable_subscription(sub_id: UUID, request: Request, _who: Administrators) -> SubscriptionOut:
    """Disable the subscription: kept with its log, nothing more is sent."""
    return SubscriptionOut.of(await admin.disable(_api(request).unit_of_work(), sub_id))


@router.post("/{sub_id}/secret", response_model=SecretRotated)
async def rotate_secret(sub_id: UUID, request: Request, _who: Administrators) -> SecretRotated:
    """A new secret, shown once; the old one keeps signing beside it for the overlap."""
    api = _api(request)
    secret = api.new_secret()
    _sub, until = await admin.rotate_secret(api.unit_of_work(), sub_id, secret=secret, overlap_s=api.secret_overlap_s)
    return SecretRotated(id=sub_id, secret=secret, previous_secret_expires_at=until)


@router.post("/{sub_id}/resume", response_model=Resumed)
async def resume_subscription(sub_id: UUID, request: Request, _who: Administrators) -> Resumed:
    """Resume a paused subscription: failures reset, its waiting messages sent."""
    api = _api(request)
    sub, waiting = await admin.resume(api.unit_of_work(), sub_id)
    api.wake()
    return Resumed(**SubscriptionOut.of(sub).model_dump(), waiting=waiting)


@router.post("/{sub_id}/redeliver", status_code=202, response_model=RedeliveryQueued)
async def redeliver(sub_id: UUID, body: RedeliveryRange, request: Request, _who: Administrators) -> RedeliveryQueued:
    """Send again every message whose event occurred in the range, with the same webhook-id."""
    api = _api(request)
    count = await admin.redeliver(api.unit_of_work(), sub_id, since=body.since, until=body.until)
    api.wake()
    return RedeliveryQueued(count=count)


@router.get("/{sub_id}/deliveries", response_model=list[DeliveryOut])
async def deliveries(sub_id: UUID, request: Request, _who: Administrators,
                     status: Annotated[Literal["delivered", "failed"] | None, Query()] = None,
                     limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[DeliveryOut]:
    """The delivery log, newest first: one row per attempt."""
    rows = await admin.deliveries(_api(request).unit_of_work(), sub_id, outcome=status, limit=limit)
    return [DeliveryOut.of(r) for r in rows]
