"""Producing built events straight onto the intake topic with one batching, idempotent aiokafka producer
(acks=all), as fast as the broker takes them or at a steady rate."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from uuid import UUID

from aiokafka import AIOKafkaProducer

from tools.loadgen.events import LoadEvent

BATCH_BYTES = 1 << 20
LINGER_MS = 5


def create_producer(bootstrap: str, *, compression: str | None = None, client_id: str = "omni311-loadgen",
                    ) -> AIOKafkaProducer:
    """A producer that keeps every guarantee the services rely on (acks=all, idempotent: no duplicate
    and no reordering on retry) and batches up to 1 MiB per partition, waiting at most 5 ms to fill one.
    `compression`: None, ``gzip`` (always available) or another codec aiokafka has a library for."""
    return AIOKafkaProducer(bootstrap_servers=bootstrap, client_id=client_id, acks="all", enable_idempotence=True,
                            linger_ms=LINGER_MS, max_batch_size=BATCH_BYTES, compression_type=compression,
                            request_timeout_ms=30_000)


@dataclass
class Produced:
    """What `produce` did: `count` events acknowledged by the broker in `seconds` (from the first send to
    the last acknowledgement); `sent_at[correlation_id]` is the wall-clock time (`time.time()`, seconds)
    each event was handed to the producer, the start of its end-to-end latency."""

    count: int = 0
    seconds: float = 0.0
    sent_at: dict[UUID, float] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        """Events acknowledged per second (0 when nothing was sent)."""
        return self.count / self.seconds if self.seconds > 0 else 0.0


async def produce(producer: AIOKafkaProducer, topic: str, events: Sequence[LoadEvent], *,
                  rate: float | None = None, on_sent: Callable[[LoadEvent, float], None] | None = None,
                  ) -> Produced:
    """Send `events` to `topic` (keyed by contact key) on a started `producer`, in order, and wait until the
    broker acknowledged every one.

    `rate` None: as fast as the producer takes them (it waits only when its buffer is full). `rate` in
    events/s: event i is sent at start + i/rate (a steady schedule; a late send catches up without
    bursts beyond the schedule). `on_sent(event, wall_time)` is called as each is handed over.

    Raises `ValueError` for a rate <= 0, and `aiokafka.errors.KafkaError` when the broker refuses an event
    (every event is then in doubt: the caller may produce them again, the services are idempotent on the
    event id).
    """
    if rate is not None and rate <= 0:
        raise ValueError(f"rate must be > 0 events/s, not {rate}")
    result = Produced()
    pending: list[asyncio.Future] = []
    start = time.monotonic()
    for i, ev in enumerate(events):
        if rate is not None:
            delay = start + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        now = time.time()
        result.sent_at[ev.correlation_id] = now
        pending.append(await producer.send(topic, ev.value(), key=ev.key()))
        if on_sent is not None:
            on_sent(ev, now)
    await asyncio.gather(*pending)
    result.count = len(events)
    result.seconds = time.monotonic() - start
    return result
