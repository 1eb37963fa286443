"""The webhooks service's records as its repository reads and writes them (plain data, no I/O): a
subscription, a message claimed for delivery, and one row of the delivery log. Times are aware UTC."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from services.webhooks.domain.model import Filters, Status, SubscriptionView


@dataclass(frozen=True)
class Subscription:
    """A subscription with its secrets (`secret`; `previous_secret` signs beside it until
    `previous_secret_until`) and its counters."""

    id: UUID
    url: str
    event_types: list[str]
    service_codes: list[str]
    departments: list[str]
    personal_data: bool
    description: str
    status: Status
    secret: str
    previous_secret: str | None
    previous_secret_until: datetime | None
    consecutive_failures: int
    last_error: str | None
    last_attempt_at: datetime | None
    last_success_at: datetime | None
    paused_at: datetime | None
    created_at: datetime
    updated_at: datetime

    def view(self) -> SubscriptionView:
        """What the matching reads."""
        return SubscriptionView(id=self.id, status=self.status, personal_data=self.personal_data,
                                filters=Filters(frozenset(self.event_types), frozenset(self.service_codes),
                                                frozenset(self.departments)))


@dataclass(frozen=True)
class NewMessage:
    """A message to make for one subscription: the event's ids and time, its `webhook_id` and `body`."""

    subscription_id: UUID
    event_id: UUID
    event_type: str
    case_id: UUID | None
    occurred_at: datetime
    webhook_id: str
    body: dict[str, Any]
    personal_data: bool


@dataclass(frozen=True)
class Claimed:
    """A subscription's head message, leased for one attempt (`lease_token`): where and how to send it."""

    message_id: int
    subscription_id: UUID
    url: str
    webhook_id: str
    body: dict[str, Any]
    attempts: int
    failures: int
    consecutive_failures: int
    secret: str
    previous_secret: str | None
    previous_secret_until: datetime | None
    lease_token: UUID


@dataclass(frozen=True)
class LoggedAttempt:
    """One row of the delivery log, with its message's `webhook_id`, event and case."""

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
