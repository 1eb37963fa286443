"""The PostgreSQL unit of work: one connection from the service's pool, one transaction, the inbox claim
and the outbox writes in it; the batch one, one transaction for a consumed batch with a savepoint per
event (see `shared.service_layer.unit_of_work`); and the set-based one, a batch's transaction without
savepoints for a service's fast path (`PgSetBatch`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Generic, Self, TypeVar
from uuid import UUID

import asyncpg

from shared.db.inbox import claim, claim_many, release
from shared.db.outbox import OutboxRow, enqueue, enqueue_many, outbox_row, wake_relay
from shared.events import Envelope
from shared.kafka import Delivery
from shared.events.envelope import EventData
from shared.service_layer.unit_of_work import BatchUnitOfWork, UnitOfWork, check_subject

R = TypeVar("R")


async def _open_transaction(pool: asyncpg.Pool) -> tuple[Any, Any]:
    """(connection from `pool`, its started transaction); the connection goes back to the pool when the
    transaction cannot start (the error is raised)."""
    conn = await pool.acquire()
    try:
        tx = conn.transaction()
        await tx.start()
    except BaseException:
        await pool.release(conn)
        raise
    return conn, tx


async def _close_transaction(pool: asyncpg.Pool, conn: Any, tx: Any, *, rollback: bool) -> None:
    """Commit (or roll back) `tx` when there is one, and give `conn` back to `pool` whatever happened."""
    try:
        if tx is not None:
            await (tx.rollback() if rollback else tx.commit())
    finally:
        if conn is not None:
            await pool.release(conn)


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
        self._conn, self._tx = await _open_transaction(self._pool)
        try:
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
        conn, tx, self._conn, self._tx = self._conn, self._tx, None, None
        await _close_transaction(self._pool, conn, tx, rollback=rollback)

    async def _write_outbox(self, envelope: Envelope) -> None:
        await enqueue(self._conn, envelope, schema=self.service, notify=False)


class PgBatchUnitOfWork(BatchUnitOfWork[R], Generic[R]):
    """One transaction on one connection of `pool` for a consumed batch: the inbox claims of the whole
    batch in one statement, each event's unit of work a savepoint (`PgSavepointUnitOfWork`) with a fresh
    `repository(conn)`; what the released savepoints emitted is written to the outbox in one statement with
    the relay's NOTIFY just before the commit (`enqueue_many`: one round trip per batch, not one per row)."""

    def __init__(self, pool: asyncpg.Pool, *, service: str, repository: Callable[[asyncpg.Connection], R]) -> None:
        super().__init__(service=service)
        self._pool = pool
        self._repository = repository
        self.conn: Any = None
        self._tx: Any = None
        self.emitted = False
        self.outbox: list[OutboxRow] = []
        """The outbox rows of the batch's released savepoints, in emission order: written in one statement
        (with the relay's NOTIFY) just before the commit."""

    async def _begin(self) -> None:
        self.conn, self._tx = await _open_transaction(self._pool)

    async def claim(self, consumed: Sequence[tuple[Envelope, Delivery]]) -> set[UUID]:
        return await claim_many(self.conn, self.service, [(env.event_id, d.topic, d.partition, d.offset)
                                                          for env, d in consumed])

    async def release(self, event_id: UUID) -> None:
        await release(self.conn, self.service, event_id)

    def event(self, envelope: Envelope, now: datetime) -> PgSavepointUnitOfWork[R]:
        return PgSavepointUnitOfWork(self, repo=self._repository(self.conn), now=now, envelope=envelope)

    async def _commit(self) -> None:
        if self.outbox:  # one statement for the batch's rows and the NOTIFY (delivered at the commit)
            await enqueue_many(self.conn, self.outbox, schema=self.service)
        elif self.emitted:
            await wake_relay(self.conn, schema=self.service)
        await self._release(rollback=False)

    async def _rollback(self) -> None:
        await self._release(rollback=True)

    async def _release(self, *, rollback: bool) -> None:
        conn, tx, self.conn, self._tx = self.conn, self._tx, None, None
        await _close_transaction(self._pool, conn, tx, rollback=rollback)


class PgSavepointUnitOfWork(UnitOfWork[R], Generic[R]):
    """One event of a `PgBatchUnitOfWork`: a savepoint on the batch's transaction, claimed by the batch;
    leaving it releases the savepoint (the batch commits later) or rolls back to it."""

    def __init__(self, batch: PgBatchUnitOfWork[R], *, repo: R, now: datetime, envelope: Envelope) -> None:
        super().__init__(service=batch.service, repo=repo, now=now, envelope=envelope)
        self._batch = batch
        self._savepoint: Any = None
        self._outbox: list[OutboxRow] = []

    async def _begin(self) -> None:
        self._savepoint = self._batch.conn.transaction()  # nested in an open transaction: a savepoint
        await self._savepoint.start()

    async def _commit(self) -> None:
        savepoint, self._savepoint = self._savepoint, None
        await savepoint.commit()
        rows, self._outbox = self._outbox, []
        self._batch.outbox.extend(rows)  # handed to the batch only once released: a rolled back event's are dropped

    async def _rollback(self) -> None:
        savepoint, self._savepoint = self._savepoint, None
        self._outbox.clear()
        if savepoint is not None:
            await savepoint.rollback()

    async def _write_outbox(self, envelope: Envelope) -> None:
        self._outbox.append(outbox_row(envelope))  # KeyError now for an unknown event; written at the batch's commit
        self._batch.emitted = True


class PgSetBatch(Generic[R]):
    """One transaction on a connection of `pool` for a consumed batch handled set-based (a service's fast path,
    which writes the whole batch in a few statements and hands any batch it cannot take to `dispatch_batch`):
    `claim` takes the batch's inbox claims in one statement, `repo` is `repository(conn)` on the transaction's
    connection while inside, `emit` queues an event caused by a consumed one, written to the outbox in one
    statement with the relay's NOTIFY just before the commit. Leaving commits once, or rolls everything back
    (claims included) when an exception crosses it. No savepoints: one failing statement fails the batch."""

    def __init__(self, pool: asyncpg.Pool, *, service: str, repository: Callable[[asyncpg.Connection], R]) -> None:
        self.service = service
        self._pool = pool
        self._repository = repository
        self._tx: PgBatchUnitOfWork[R] = PgBatchUnitOfWork(pool, service=service, repository=repository)
        self.repo: R | None = None

    async def __aenter__(self) -> Self:
        await self._tx.__aenter__()
        self.repo = self._repository(self._tx.conn)
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        self.repo = None
        await self._tx.__aexit__(exc_type, exc, tb)

    async def claim(self, consumed: Sequence[tuple[Envelope, Delivery]]) -> set[UUID]:
        """Claim every event of `consumed` in the inbox; returns the ids claimed now (an id already in the
        inbox, or the second of one id in the batch, is not among them)."""
        return await self._tx.claim(consumed)

    def emit(self, cause: Envelope, event: EventData, *, subject: str | UUID, now: datetime) -> Envelope:
        """Queue `event` for the outbox, caused by `cause` (same correlation id) at `now`; written at the
        commit, in the order queued. Raises `KeyError` for an event the registry does not know, `ValueError`
        for a `subject` holding a NUL byte (as `UnitOfWork.emit`)."""
        check_subject(subject)
        env = cause.caused_by(event, subject=str(subject), producer=self.service, now=now)
        self._tx.outbox.append(outbox_row(env))
        self._tx.emitted = True
        return env
