"""The raw floor: how fast this machine moves events from an aiokafka producer through a topic to an
aiokafka consumer that writes them into one PostgreSQL table with COPY — no envelope parsing, no inbox, no
handler. The pipeline's throughput is read against it."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from tools.loadgen import create_producer

PARTITIONS = 6
"""As many as `intake.messages`."""


@dataclass(frozen=True)
class Floor:
    """`events` moved: produced (acks=all, idempotent, batched) at `produce_per_s` events/s; consumed and
    COPYed into PostgreSQL (one transaction per fetched batch) at `consume_write_per_s` events/s."""

    events: int
    produce_per_s: float
    consume_write_per_s: float


async def measure_floor(bootstrap: str, dsn: str, topic: str, values: Sequence[tuple[bytes, bytes]], *,
                        timeout: float = 120.0) -> Floor:
    """Produce every (key, value) of `values` to a new `topic` (6 partitions), then consume them all from the
    beginning and COPY them into a new table ``floor_events`` in the database of `dsn`; both topic and table
    are removed afterwards.

    Raises `TimeoutError` when the consumer has not written everything in `timeout` seconds, and
    `aiokafka.errors.KafkaError` / `asyncpg.PostgresError` on broker or database errors.
    """
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="omni311-bench-floor")
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=PARTITIONS, replication_factor=1)])
        producer = create_producer(bootstrap, client_id="omni311-bench-floor")
        await producer.start()
        try:
            for p in range(PARTITIONS):  # leaders elected, metadata and producer id known before the clock
                await producer.send_and_wait(topic, b"warm-up", key=b"warm-up", partition=p)
            start = time.monotonic()
            futures = [await producer.send(topic, v, key=k) for k, v in values]
            for f in futures:
                await f
            produce_s = time.monotonic() - start
        finally:
            await producer.stop()
        consume_s = await _consume_and_copy(bootstrap, dsn, topic, len(values) + PARTITIONS, timeout)
    finally:
        try:
            await admin.delete_topics([topic])
        finally:
            await admin.close()
    return Floor(events=len(values), produce_per_s=len(values) / produce_s,
                 consume_write_per_s=(len(values) + PARTITIONS) / consume_s)


async def _consume_and_copy(bootstrap: str, dsn: str, topic: str, expected: int, timeout: float) -> float:
    conn = await asyncpg.connect(dsn)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                                auto_offset_reset="earliest", client_id="omni311-bench-floor",
                                fetch_max_bytes=32 << 20, max_partition_fetch_bytes=8 << 20)
    try:
        await conn.execute("CREATE TABLE floor_events (part int NOT NULL, off bigint NOT NULL, key bytea, "
                           "value bytea NOT NULL, PRIMARY KEY (part, off))")
        await consumer.start()
        parts = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        written = 0
        start = time.monotonic()
        while written < expected:
            if time.monotonic() - start > timeout:
                raise TimeoutError(f"the floor consumer wrote {written} of {expected} events in {timeout:.0f} s")
            batch = await consumer.getmany(timeout_ms=200, max_records=10_000)
            rows = [(r.partition, r.offset, r.key, r.value) for recs in batch.values() for r in recs]
            if not rows:
                continue
            async with conn.transaction():
                await conn.copy_records_to_table("floor_events", records=rows)
            written += len(rows)
        return time.monotonic() - start
    finally:
        await consumer.stop()
        try:
            await conn.execute("DROP TABLE IF EXISTS floor_events")
        finally:
            await conn.close()
