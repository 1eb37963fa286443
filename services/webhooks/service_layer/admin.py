"""What administrators do to subscriptions (docs/integrations.md section 1, the `/admin/subscriptions`
routes), each in one unit of work that claims nothing: create, change, disable, rotate the secret, resume,
redeliver a time range, read the delivery log. Ids, secrets and the time are passed in."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from services.webhooks.adapters.repository import CHANGEABLE
from services.webhooks.domain.records import LoggedAttempt, Subscription
from services.webhooks.service_layer.handlers import Uow


class NotFound(LookupError):
    """No subscription has this id."""


class Conflict(ValueError):
    """The subscription's status does not allow this (e.g. redelivering to a disabled one)."""


class Invalid(ValueError):
    """A filter names what does not exist: an event type not on `cases.lifecycle`, a department or a
    service code the jurisdiction does not have. The message names them."""


@dataclass(frozen=True)
class Known:
    """What filters may name: the `cases.lifecycle` event types (the registry's), the jurisdiction's
    department ids and service codes."""

    event_types: frozenset[str]
    departments: frozenset[str]
    service_codes: frozenset[str]

    def check(self, *, event_types: Iterable[str] | None = None, departments: Iterable[str] | None = None,
              service_codes: Iterable[str] | None = None) -> None:
        """Raises `Invalid` naming every unknown value (and for an empty `event_types`)."""
        problems = []
        if event_types is not None:
            types = list(event_types)
            if not types:
                problems.append("event_types must name at least one event")
            if bad := sorted(set(types) - self.event_types):
                problems.append(f"unknown event types {bad} (events of cases.lifecycle only)")
        if departments is not None and (bad := sorted(set(departments) - self.departments)):
            problems.append(f"unknown departments {bad}")
        if service_codes is not None and (bad := sorted(set(service_codes) - self.service_codes)):
            problems.append(f"unknown service codes {bad}")
        if problems:
            raise Invalid("; ".join(problems))


async def create(uow: Uow, *, sub_id: UUID, url: str, event_types: list[str], service_codes: list[str],
                 departments: list[str], personal_data: bool, description: str, secret: str,
                 known: Known) -> Subscription:
    """Keep a new active subscription with `secret`; raises `Invalid` for an unknown filter value."""
    known.check(event_types=event_types, departments=departments, service_codes=service_codes)
    sub = Subscription(id=sub_id, url=url, event_types=_unique(event_types), service_codes=_unique(service_codes),
                       departments=_unique(departments), personal_data=personal_data, description=description,
                       status="active", secret=secret, previous_secret=None, previous_secret_until=None,
                       consecutive_failures=0, last_error=None, last_attempt_at=None, last_success_at=None,
                       paused_at=None, created_at=uow.now, updated_at=uow.now)
    async with uow:
        await uow.repo.add_subscription(sub)
    return sub


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))


async def _existing(uow: Uow, sub_id: UUID) -> Subscription:
    sub = await uow.repo.subscription(sub_id, for_update=True)
    if sub is None:
        raise NotFound(str(sub_id))
    return sub


async def read(uow: Uow, sub_id: UUID) -> Subscription:
    """One subscription; raises `NotFound`."""
    async with uow:
        sub = await uow.repo.subscription(sub_id)
    if sub is None:
        raise NotFound(str(sub_id))
    return sub


async def read_all(uow: Uow) -> list[Subscription]:
    """Every subscription, disabled ones included, oldest first."""
    async with uow:
        return await uow.repo.subscriptions()


async def change(uow: Uow, sub_id: UUID, changes: Mapping[str, Any], *, known: Known,
                 public_body: Callable[[dict[str, Any]], dict[str, Any]]) -> Subscription:
    """Change the url, filters, `personal_data` or `description` (the keys of `changes`); raises `NotFound`,
    `Invalid` for an unknown filter value, `Conflict` for a disabled subscription. Messages already made keep
    what they were made with, except personal data: when `personal_data` is withdrawn, every message of the
    subscription that kept it (waiting, or delivered and open to a redelivery) is rewritten by `public_body`,
    so nothing personal is sent after the grant ended."""
    known.check(event_types=changes.get("event_types"), departments=changes.get("departments"),
                service_codes=changes.get("service_codes"))
    cleaned = {k: (_unique(v) if isinstance(v, list) else v) for k, v in changes.items() if k in CHANGEABLE}
    async with uow:
        sub = await _existing(uow, sub_id)
        if sub.status == "disabled":
            raise Conflict("a disabled subscription cannot be changed")
        await uow.repo.update_subscription(sub_id, cleaned, uow.now)
        if sub.personal_data and cleaned.get("personal_data") is False:
            for message_id, body in await uow.repo.subscription_personal_messages(sub_id):
                await uow.repo.replace_body(message_id, public_body(body))
    return replace(sub, **cleaned, updated_at=uow.now)


async def disable(uow: Uow, sub_id: UUID) -> Subscription:
    """Disable the subscription (kept with its log; nothing more is made or sent); raises `NotFound`."""
    async with uow:
        sub = await _existing(uow, sub_id)
        if sub.status != "disabled":
            await uow.repo.disable(sub_id, uow.now)
    return replace(sub, status="disabled", updated_at=uow.now)


async def rotate_secret(uow: Uow, sub_id: UUID, *, secret: str, overlap_s: float) -> tuple[Subscription, datetime]:
    """Sign with `secret` from now on, the old one beside it for `overlap_s` seconds (a secret still in an
    earlier overlap is dropped). Returns the subscription and when the old secret stops signing; raises
    `NotFound`, `Conflict` for a disabled subscription."""
    until = uow.now + timedelta(seconds=overlap_s)
    async with uow:
        sub = await _existing(uow, sub_id)
        if sub.status == "disabled":
            raise Conflict("a disabled subscription has no secret to rotate")
        await uow.repo.rotate_secret(sub_id, secret, sub.secret, until, uow.now)
    return replace(sub, secret=secret, previous_secret=sub.secret, previous_secret_until=until,
                   updated_at=uow.now), until


async def resume(uow: Uow, sub_id: UUID) -> tuple[Subscription, int]:
    """Resume a paused subscription: its failure count reset, its waiting messages due now. An active one
    stays as it is (its waiting messages are made due now too). Returns it and how many messages wait;
    raises `NotFound`, `Conflict` for a disabled subscription."""
    async with uow:
        sub = await _existing(uow, sub_id)
        if sub.status == "disabled":
            raise Conflict("a disabled subscription cannot be resumed")
        waiting = await uow.repo.resume(sub_id, uow.now)
    if sub.status == "paused":
        sub = replace(sub, status="active", consecutive_failures=0, paused_at=None, updated_at=uow.now)
    return sub, waiting


async def redeliver(uow: Uow, sub_id: UUID, *, since: datetime, until: datetime) -> int:
    """Send again every message of the subscription whose event occurred in [`since`, `until`), with the
    same webhook-id, in message order; returns how many. Raises `Invalid` when `until` is not after `since`,
    `NotFound`, `Conflict` for a disabled subscription."""
    if until <= since:
        raise Invalid("until must be later than since")
    async with uow:
        sub = await _existing(uow, sub_id)
        if sub.status == "disabled":
            raise Conflict("a disabled subscription sends nothing")
        return await uow.repo.redeliver(sub_id, since, until, uow.now)


async def deliveries(uow: Uow, sub_id: UUID, *, outcome: str | None, limit: int) -> list[LoggedAttempt]:
    """The delivery log of the subscription, newest first; raises `NotFound`."""
    async with uow:
        if await uow.repo.subscription(sub_id) is None:
            raise NotFound(str(sub_id))
        return await uow.repo.attempts_log(sub_id, outcome=outcome, limit=limit)
