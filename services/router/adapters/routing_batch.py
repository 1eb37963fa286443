"""The transaction of a set-based routing of new cases (`service_layer/routing_batch.py`):
`shared.db.unit_of_work.PgSetBatch` with the router's repository; and, before it, the read of which of the
batch's events the inbox already holds."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

import asyncpg

from services.router.adapters.repository import RouterRepository
from shared.db.unit_of_work import PgSetBatch


class RoutingBatch(PgSetBatch[RouterRepository]):
    """One transaction on a connection of `pool` for a consumed batch in the router's `service` schema:
    `claim` (the inbox claims in one statement), `repo` (the `RouterRepository` on the transaction's
    connection), `emit` (an event caused by a consumed one, written to the outbox at the commit); see
    `PgSetBatch`. `already_claimed` is read before entering."""

    def __init__(self, pool: asyncpg.Pool, *, service: str) -> None:
        super().__init__(pool, service=service, repository=RouterRepository)

    async def already_claimed(self, event_ids: Sequence[UUID]) -> set[UUID]:
        """The ids of `event_ids` the inbox already holds for this service (committed claims: a redelivered
        event), read in one statement on a pooled connection of its own, outside the transaction (call it
        before entering). Only a hint for work done before the transaction: `claim` stays the decision."""
        if not event_ids:
            return set()
        rows = await self._pool.fetch("SELECT event_id FROM inbox WHERE consumer = $1 AND event_id = ANY($2::uuid[])",
                                      self.service, list(event_ids))
        return {row["event_id"] for row in rows}
