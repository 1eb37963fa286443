"""The delivery of waiting messages (house rule 11: recorded before and after): one unit of work leases the
head message of each due subscription, the attempt is sent after that commit, and a second unit of work
records its outcome (delivered, or due again after a backoff, pausing the subscription after repeated
failures) and one row of the delivery log. A process killed mid-attempt leaves the lease to expire: the
message is then tried again with the same webhook-id (the receiver drops the repeat).

Each subscription's messages go one at a time in message order: only a subscription's lowest waiting
message is ever leased, so a failing message holds back the later ones."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from uuid import UUID

from services.webhooks.domain import Outcome, RetryPolicy, after_attempt, body_text, signature_headers, signing_secrets
from services.webhooks.domain.model import AfterAttempt
from services.webhooks.domain.records import Claimed
from services.webhooks.service_layer.handlers import Uow

Send = Callable[[str, dict[str, str], str], Awaitable[Outcome]]
"""`send(url, headers, body)` → the attempt's outcome (never raises)."""


async def claim(uow: Uow, *, batch: int, lease_s: float, token: UUID) -> list[Claimed]:
    """Lease (with `token`, for `lease_s` seconds) the due head message of at most `batch` active
    subscriptions; subscriptions another process is serving are skipped."""
    async with uow:
        due = await uow.repo.lock_due_subscriptions(uow.now, batch)
        if not due:
            return []
        return await uow.repo.lease_heads(due, uow.now, uow.now + timedelta(seconds=lease_s), token)


def signed(claimed: Claimed, now: datetime) -> tuple[dict[str, str], str]:
    """The headers and body of an attempt at `now`, signed with every secret that signs then."""
    body = body_text(claimed.body)
    secrets = signing_secrets(claimed.secret, claimed.previous_secret, claimed.previous_secret_until, now)
    return signature_headers(claimed.webhook_id, now, body, secrets), body


async def attempt(claimed: Claimed, send: Send, now: datetime) -> Outcome:
    """Sign and send one attempt of `claimed` at `now`."""
    headers, body = signed(claimed, now)
    return await send(claimed.url, headers, body)


async def record(uow: Uow, claimed: Claimed, outcome: Outcome, *, attempted_at: datetime, policy: RetryPolicy,
                 jitter: float) -> AfterAttempt:
    """Record the attempt that started at `attempted_at`: the message delivered or due again after the
    backoff (`jitter` in [−1, 1]), the subscription's failures in a row (paused at `policy.pause_after`), and
    a delivery-log row. When the lease was lost (the attempt outlived it and another process took the
    message) only the log row is written."""
    async with uow:
        sub = await uow.repo.subscription(claimed.subscription_id, for_update=True)
        in_a_row = sub.consecutive_failures if sub is not None else claimed.consecutive_failures
        after = after_attempt(outcome, message_failures=claimed.failures, consecutive_failures=in_a_row,
                              now=uow.now, policy=policy, jitter=jitter)
        number = await uow.repo.finish_message(claimed, delivered=after.delivered, failures=after.message_failures,
                                               next_attempt_at=after.next_attempt_at, now=uow.now)
        await uow.repo.log_attempt(claimed, attempt=number or claimed.attempts + 1, at=attempted_at,
                                   duration_ms=outcome.duration_ms, http_status=outcome.http_status,
                                   error=outcome.error, delivered=outcome.delivered,
                                   next_attempt_at=after.next_attempt_at)
        if number is not None and sub is not None:
            await uow.repo.after_attempt(sub.id, delivered=after.delivered,
                                         consecutive_failures=after.consecutive_failures, error=after.reason,
                                         pause=after.pause, now=uow.now)
    return after


async def figures(uow: Uow) -> tuple[int, int, float]:
    """(paused subscriptions, waiting messages, age in seconds of the oldest waiting message)."""
    async with uow:
        return await uow.repo.figures(uow.now)


async def prune(uow: Uow, *, retention_days: float) -> tuple[int, int]:
    """Delete the delivery log and the delivered messages older than `retention_days`; (rows, messages)."""
    async with uow:
        return await uow.repo.prune(uow.now - timedelta(days=retention_days))
