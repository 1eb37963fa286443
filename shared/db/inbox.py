"""The inbox: a consumer claims `(consumer, event_id)` in the same transaction as the effect.

A redelivered event (after a crash, a rebalance or a retry) finds its claim and is skipped, so every
consumer is idempotent (docs/architecture.md "Guarantees").
"""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

import asyncpg


async def claim(
    conn: asyncpg.Connection, consumer: str, event_id: UUID, *, topic: str, partition: int, offset: int
) -> bool:
    """Claim an event for `consumer`; True the first time, False if it was already processed.

    Must run inside the transaction that applies the effect: a rollback releases the claim.
    """
    row = await conn.fetchrow(
        "INSERT INTO inbox (consumer, event_id, topic, kafka_partition, kafka_offset) "
        "VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING event_id",
        consumer, event_id, topic, partition, offset,
    )
    return row is not None


async def claim_many(conn: asyncpg.Connection, consumer: str,
                     deliveries: Sequence[tuple[UUID, str, int, int]]) -> set[UUID]:
    """Claim a batch of events for `consumer` in one statement: `deliveries` is (event_id, topic, partition,
    offset) per event. Returns the event ids claimed now; an id already in the inbox (or twice in the
    batch, after its first) is not among them. Must run inside the transaction that applies the effects."""
    if not deliveries:
        return set()
    ids, topics, partitions, offsets = zip(*deliveries, strict=True)
    rows = await conn.fetch(
        "INSERT INTO inbox (consumer, event_id, topic, kafka_partition, kafka_offset) "
        "SELECT $1, e, t, p, o FROM unnest($2::uuid[], $3::text[], $4::int[], $5::bigint[]) AS u(e, t, p, o) "
        "ON CONFLICT DO NOTHING RETURNING event_id",
        consumer, list(ids), list(topics), list(partitions), list(offsets),
    )
    return {row["event_id"] for row in rows}


async def release(conn: asyncpg.Connection, consumer: str, event_id: UUID) -> None:
    """Give back `consumer`'s claim of `event_id` in the caller's transaction (an event rolled back alone)."""
    await conn.execute("DELETE FROM inbox WHERE consumer = $1 AND event_id = $2", consumer, event_id)
