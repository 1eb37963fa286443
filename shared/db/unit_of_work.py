"""The PostgreSQL unit of work: one connection from the service's pool, one transaction, the inbox claim
and the outbox writes in it (see `shared.service_layer.unit_of_work`)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Generic, TypeVar

import asyncpg

from shared.db.inbox import claim
from shared.db.outbox import enqueue, wake_relay
from shared.events import Envelope
from shared.kafka import Delivery
from shared.service_layer.unit_of_work import UnitOfWork

R = TypeVar("R")


class PgUnitOfWork(UnitOfWork[R], Generic[R]):
    """A unit of work on `pool` (connections set to the service's schema).

    `repository(conn)` builds the service's repository on the transaction's connection. With a
    `delivery` (where the event was consumed from), entering claims the event in the inbox; without
    one (a staff action, or the record after a send) nothing is claimed.
    """

    def __init__(self, pool: asyncpg.Pool, *, service: str, repository: Callable[[asyncpg.Connection], R],
                 now: datetime, envelope: Envelope | None = None, delivery: Delivery | None = None) -> None:
        super().__init__(service=service, repo=None, now=now, envelope=envelope)  # type: ignore[arg-type]
        self._pool = pool
        self._repository = repository
        self._delivery = delivery
        self._conn: Any = None
        self._tx: Any = None

    async def _begin(self) -> None:
        self._conn = await self._pool.acquire()
        try:
            self._tx = self._conn.transaction()
            await self._tx.start()
            self.repo = self._repository(self._conn)
            if self.envelope is not None and self._delivery is not None:
                d = self._delivery
                self.claimed = await claim(self._conn, self.service, self.envelope.event_id, topic=d.topic,
                                           partition=d.partition, offset=d.offset)
        except BaseException:
            await self._release(rollback=True)
            raise

    async def _commit(self) -> None:
        if self.emitted and self._conn is not None:
            await wake_relay(self._conn, schema=self.service)  # once per transaction, not per row
        await self._release(rollback=False)

    async def _rollback(self) -> None:
        await self._release(rollback=True)

    async def _release(self, *, rollback: bool) -> None:
        try:
            if self._tx is not None:
                if rollback:
                    await self._tx.rollback()
                else:
                    await self._tx.commit()
        finally:
            self._tx = None
            if self._conn is not None:
                conn, self._conn = self._conn, None
                await self._pool.release(conn)

    async def _write_outbox(self, envelope: Envelope) -> None:
        await enqueue(self._conn, envelope, schema=self.service, notify=False)
