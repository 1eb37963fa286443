"""Watching what became of submitted events: reads `cases.lifecycle`, `routing.decisions`, `dedup.decisions`
and `notifications.outcomes` (no consumer group, from their ends) and times, per correlation id, when the
case was opened, routed, dedup-decided and when its acknowledgement went out."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from aiokafka import AIOKafkaConsumer, TopicPartition

from shared.events.topics import CASES_LIFECYCLE, DEDUP_DECISIONS, NOTIFICATIONS_OUTCOMES, ROUTING_DECISIONS

WATCHED = (CASES_LIFECYCLE.name, ROUTING_DECISIONS.name, DEDUP_DECISIONS.name, NOTIFICATIONS_OUTCOMES.name)
"""Topic names, without the stack's prefix."""


@dataclass
class Progress:
    """What happened to one submitted event, as wall-clock times (`time.time()`, seconds) when the watcher
    read each event; None until it happens.

    `dedup_at` is set by a `dedup.decided` or `dedup.suggested` only: the duplicate detector announces
    nothing for a case it found unique (its projection row is the only trace, see the benchmark).
    `ack_at`/`ack_outcome` come from the first `notification.recorded` of kind ``acknowledgement``
    (``sent``, ``failed`` or ``suppressed``)."""

    case_id: str | None = None
    opened_at: float | None = None
    decided_at: float | None = None
    routed_at: float | None = None
    dedup_at: float | None = None
    dedup_kind: str | None = None
    merged_at: float | None = None
    ack_at: float | None = None
    ack_outcome: str | None = None


def apply(progress: dict[UUID, Progress], raw: bytes, now: float) -> bool:
    """Record one Kafka value in `progress` (keyed by correlation id; only ids already there are tracked).
    Returns whether it was one of ours. A value that is not an envelope is ignored (returns False)."""
    try:
        env: dict[str, Any] = json.loads(raw)
        cid = UUID(env["correlation_id"])
        kind = env["event_type"]
    except (ValueError, KeyError, TypeError):
        return False
    p = progress.get(cid)
    if p is None:
        return False
    data = env.get("data") or {}
    if kind == "case.opened":
        p.case_id = p.case_id or data.get("case_id")
        p.opened_at = p.opened_at or now
    elif kind == "routing.decided":
        p.decided_at = p.decided_at or now
    elif kind == "case.routed":
        p.routed_at = p.routed_at or now
    elif kind in ("dedup.decided", "dedup.suggested"):
        if p.dedup_at is None:
            p.dedup_at, p.dedup_kind = now, kind
    elif kind == "case.merged":
        p.merged_at = p.merged_at or now
    elif kind == "notification.recorded" and data.get("kind") == "acknowledgement" and p.ack_at is None:
        p.ack_at, p.ack_outcome = now, data.get("outcome")
    return True


class Watcher:
    """Reads the watched topics of a stack (`topic_prefix`) and fills `progress` for the correlation ids it
    is told to track (`track`). Use ``async with Watcher(...) as w:`` before producing: it starts at the
    topics' ends, so only what happens after it started is seen.

    Raises `RuntimeError` on start when none of the topics exists (wrong prefix, stack not started)."""

    def __init__(self, bootstrap: str, topic_prefix: str = "", *, client_id: str = "omni311-loadgen-watch") -> None:
        self.bootstrap = bootstrap
        self.topics = [f"{topic_prefix}{t}" for t in WATCHED]
        self.client_id = client_id
        self.progress: dict[UUID, Progress] = {}
        self.seen = 0
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None

    def track(self, correlation_ids: Iterable[UUID]) -> None:
        """Follow these flows (call before producing them)."""
        for cid in correlation_ids:
            self.progress.setdefault(cid, Progress())

    def count(self, what: Callable[[Progress], bool]) -> int:
        """How many tracked flows satisfy `what` (e.g. ``lambda p: p.routed_at is not None``)."""
        return sum(1 for p in self.progress.values() if what(p))

    async def wait_for(self, what: Callable[[Progress], bool], *, timeout: float, poll_s: float = 0.1) -> bool:
        """Wait until every tracked flow satisfies `what`, at most `timeout` seconds; returns whether they all
        did."""
        deadline = time.monotonic() + timeout
        while True:
            if self._task is not None and self._task.done():
                self._task.result()  # the reader died: raise its error rather than wait for nothing
            if all(what(p) for p in self.progress.values()):
                return True
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(poll_s)

    def latencies(self, sent_at: dict[UUID, float], field: str) -> list[float]:
        """Seconds from each flow's `sent_at` (`Produced.sent_at`) to its `field` (a `Progress` time, e.g.
        ``routed_at``), for the flows that reached it."""
        out = []
        for cid, p in self.progress.items():
            at = getattr(p, field)
            if at is not None and cid in sent_at:
                out.append(at - sent_at[cid])
        return out

    async def __aenter__(self) -> Watcher:
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, group_id=None, enable_auto_commit=False,
                                    client_id=self.client_id, fetch_max_bytes=16 << 20,
                                    max_partition_fetch_bytes=4 << 20)
        await consumer.start()
        try:
            await consumer._client.force_metadata_update()  # noqa: SLF001 - topics made after the client started
            parts = [TopicPartition(t, p) for t in self.topics for p in (consumer.partitions_for_topic(t) or set())]
            if not parts:
                raise RuntimeError(f"none of {', '.join(self.topics)} exists: is the stack up, and the prefix its?")
            consumer.assign(parts)
            await consumer.seek_to_end(*parts)
            for tp in parts:
                await consumer.position(tp)
        except BaseException:
            await consumer.stop()
            raise
        self._consumer = consumer
        self._task = asyncio.create_task(self._run())
        return self

    async def _run(self) -> None:
        assert self._consumer is not None
        while True:
            batch = await self._consumer.getmany(timeout_ms=100, max_records=5000)
            now = time.time()
            for records in batch.values():
                for rec in records:
                    if rec.value is not None and apply(self.progress, rec.value, now):
                        self.seen += 1

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None
