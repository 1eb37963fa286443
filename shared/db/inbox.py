"""The inbox: a consumer claims `(consumer, event_id)` in the same transaction as the effect.

A redelivered event (after a crash, a rebalance or a retry) finds its claim and is skipped, so every
consumer is idempotent (docs/architecture.md "Guarantees").
"""

from __future__ import annotations

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
