"""The transaction of a set-based routing of new cases (`service_layer/routing_batch.py`): one
`PgBatchUnitOfWork` of the router without savepoints, its repository, and its outbox rows; and, before it,
the read of which of the batch's events the inbox already holds."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from services.router.adapters.repository import RouterRepository
from shared.db.outbox import outbox_row
from shared.db.unit_of_work import PgBatchUnitOfWork
from shared.events import Envelope
from shared.events.envelope import EventData
from shared.kafka import Delivery


class RoutingBatch:
    """One transaction on a connection of `pool` for a consumed batch (the router's `service` schema):
    `claim` takes the batch's inbox claims in one statement, `repo` is the `RouterRepository` on the
    transaction's connection, `emit` queues an event caused by a consumed one, written to the outbox in one
    statement with the relay's NOTIFY just before the commit. Leaving commits once, or rolls everything back
    (claims included) when an exception crosses it."""

    def __init__(self, pool: asyncpg.Pool, *, service: str) -> None:
        self.service = service
        self._pool = pool
        self._tx: PgBatchUnitOfWork[RouterRepository] = PgBatchUnitOfWork(pool, service=service,
                                                                           repository=RouterRepository)
        self.repo: RouterRepository | None = None

    async def __aenter__(self) -> RoutingBatch:
        await self._tx.__aenter__()
        self.repo = RouterRepository(self._tx.conn)
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        self.repo = None
        await self._tx.__aexit__(exc_type, exc, tb)

    async def already_claimed(self, event_ids: Sequence[UUID]) -> set[UUID]:
        """The ids of `event_ids` the inbox already holds for this service (committed claims: a redelivered
        event), read in one statement on a pooled connection of its own, outside the transaction (call it
        before entering). Only a hint for work done before the transaction: `claim` stays the decision."""
        if not event_ids:
            return set()
        rows = await self._pool.fetch("SELECT event_id FROM inbox WHERE consumer = $1 AND event_id = ANY($2::uuid[])",
                                      self.service, list(event_ids))
        return {row["event_id"] for row in rows}

    async def claim(self, consumed: Sequence[tuple[Envelope, Delivery]]) -> set[UUID]:
        """Claim every event of `consumed` in the inbox; returns the ids claimed now (an id already in the
        inbox, or the second of one id in the batch, is not among them)."""
        return await self._tx.claim(consumed)

    def emit(self, cause: Envelope, event: EventData, *, subject: str | UUID, now: datetime) -> Envelope:
        """Queue `event` for the outbox, caused by `cause` (same correlation id) at `now`; written at the
        commit, in the order queued. Raises `KeyError` for an event the registry does not know, `ValueError`
        for a `subject` holding a NUL byte (as `UnitOfWork.emit`)."""
        if "\x00" in str(subject):
            raise ValueError(f"event subject {str(subject)!r} holds a NUL byte")
        env = cause.caused_by(event, subject=str(subject), producer=self.service, now=now)
        self._tx.outbox.append(outbox_row(env))
        self._tx.emitted = True
        return env
