"""The delivery loop: a background task of the webhooks service, started and stopped with its app. Each
round leases the due head messages (`service_layer.delivery.claim`), sends them (different subscriptions at
once, one message at a time per subscription), records each outcome, refreshes the Prometheus figures (at
most once per `poll_interval_s`) and, once an hour, prunes the delivery log. State is in PostgreSQL only:
the loop sleeps `poll_interval_s` between rounds unless `wake()` (a handler queued messages) cuts the sleep
short."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable
from datetime import datetime
from uuid import uuid4

from prometheus_client import CollectorRegistry, Counter, Gauge

from services.webhooks.domain import RetryPolicy
from services.webhooks.domain.records import Claimed
from services.webhooks.service_layer import delivery
from services.webhooks.service_layer.delivery import Send
from services.webhooks.service_layer.handlers import Uow
from shared.logs import get_logger

log = get_logger(__name__)

PRUNE_EVERY_S = 3600.0


class WebhookMetrics:
    """The service's Prometheus series on `registry`: `omni311_webhooks_paused_subscriptions`,
    `omni311_webhooks_waiting_messages`, `omni311_webhooks_queue_age_seconds` (the oldest waiting message),
    `omni311_webhooks_deliveries_total{outcome="delivered"|"failed"}` (attempts since start) and
    `omni311_webhooks_paused_total` (subscriptions paused since start)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.paused = Gauge("omni311_webhooks_paused_subscriptions", "Subscriptions paused after repeated failures",
                            registry=registry)
        self.waiting = Gauge("omni311_webhooks_waiting_messages", "Messages waiting to be delivered",
                             registry=registry)
        self.queue_age = Gauge("omni311_webhooks_queue_age_seconds", "Age of the oldest waiting message, in seconds",
                               registry=registry)
        self.deliveries = Counter("omni311_webhooks_deliveries", "Delivery attempts by outcome", ["outcome"],
                                  registry=registry)
        self.pauses = Counter("omni311_webhooks_paused", "Subscriptions paused since start", registry=registry)


class DeliveryLoop:
    """Delivers waiting messages: `unit_of_work()` a fresh unit of work claiming nothing, `send` the HTTP
    sender, `clock()` aware UTC, `policy` the backoff and pause, `poll_interval_s`, `batch` subscriptions per
    round, `lease_s` seconds a claimed message is held, `retention_days` of the log. An error in a round is
    logged and the next round runs."""

    def __init__(self, unit_of_work: Callable[[], Uow], send: Send, *, clock: Callable[[], datetime],
                 policy: RetryPolicy, metrics: WebhookMetrics, poll_interval_s: float, batch: int, lease_s: float,
                 retention_days: float, jitter: Callable[[], float] = lambda: random.uniform(-1.0, 1.0)) -> None:
        self.unit_of_work = unit_of_work
        self.send = send
        self.clock = clock
        self.policy = policy
        self.metrics = metrics
        self.poll_interval_s = poll_interval_s
        self.batch = batch
        self.lease_s = lease_s
        self.retention_days = retention_days
        self.jitter = jitter
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._pruned_at = 0.0
        self._refreshed_at = float("-inf")

    def wake(self) -> None:
        """Start the next round now (messages were queued or made due)."""
        self._wake.set()

    async def round(self) -> int:
        """One round: lease, send and record; returns how many attempts were made."""
        claimed = await delivery.claim(self.unit_of_work(), batch=self.batch, lease_s=self.lease_s, token=uuid4())
        await asyncio.gather(*(self._deliver(c) for c in claimed))
        return len(claimed)

    async def _deliver(self, claimed: Claimed) -> None:
        started = self.clock()
        outcome = await delivery.attempt(claimed, self.send, started)
        after = await delivery.record(self.unit_of_work(), claimed, outcome, attempted_at=started,
                                      policy=self.policy, jitter=self.jitter())
        self.metrics.deliveries.labels("delivered" if outcome.delivered else "failed").inc()
        if after.pause:
            self.metrics.pauses.inc()
            log.warning("subscription_paused", subscription_id=str(claimed.subscription_id), reason=after.reason)
        log.info("attempted", webhook_id=claimed.webhook_id, subscription_id=str(claimed.subscription_id),
                 http_status=outcome.http_status, error=outcome.error, duration_ms=outcome.duration_ms)

    async def refresh(self) -> None:
        """Refresh the gauges from the rows; prune the log when it is time."""
        paused, waiting, age = await delivery.figures(self.unit_of_work())
        self.metrics.paused.set(paused)
        self.metrics.waiting.set(waiting)
        self.metrics.queue_age.set(age)
        if time.monotonic() - self._pruned_at >= PRUNE_EVERY_S:
            self._pruned_at = time.monotonic()
            rows, messages = await delivery.prune(self.unit_of_work(), retention_days=self.retention_days)
            if rows or messages:
                log.info("pruned", attempts=rows, messages=messages)

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            made = 0
            try:
                made = await self.round()
                if time.monotonic() - self._refreshed_at >= self.poll_interval_s:
                    # Not after every round: a busy loop runs rounds back to back, and the figures count
                    # every waiting message.
                    self._refreshed_at = time.monotonic()
                    await self.refresh()
            except Exception as exc:  # noqa: BLE001 - the next round tries again; the rows stay visible
                log.warning("delivery_round_failed", error=f"{type(exc).__name__}: {exc}"[:500])
            if made:
                continue  # more may be due at once (the next message of a subscription just delivered)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll_interval_s)

    def start(self) -> None:
        """Start the loop as a task of the running event loop."""
        self._task = asyncio.get_running_loop().create_task(self._run(), name="webhooks-delivery")

    async def stop(self) -> None:
        """Cancel the loop and wait for it (an attempt in flight keeps its lease, which expires)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
