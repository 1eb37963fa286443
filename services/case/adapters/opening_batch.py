"""The transaction of a set-based batch (the opening of new reports, `service_layer/intake_batch.py`, and the
routing decisions, `service_layer/decision_batch.py`): one `PgBatchUnitOfWork` of the case service without
savepoints, its repository, and its outbox rows."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from services.case.adapters.repository import CaseRepository
from shared.db.outbox import outbox_row
from shared.db.unit_of_work import PgBatchUnitOfWork
from shared.events import Envelope
from shared.events.envelope import EventData
from shared.kafka import Delivery


class OpeningBatch:
    """One transaction on a connection of `pool` for a consumed batch (the case service's `service` schema):
    `claim` takes the batch's inbox claims in one statement, `repo` is the `CaseRepository` on the
    transaction's connection, `emit` queues an event caused by a consumed one, written to the outbox in one
    statement with the relay's NOTIFY just before the commit. Leaving commits once, or rolls everything back
    (claims included) when an exception crosses it."""

    def __init__(self, pool: asyncpg.Pool, *, service: str) -> None:
        self.service = service
        self._tx: PgBatchUnitOfWork[CaseRepository] = PgBatchUnitOfWork(pool, service=service,
                                                                         repository=CaseRepository)
        self.repo: CaseRepository | None = None

    async def __aenter__(self) -> OpeningBatch:
        await self._tx.__aenter__()
        self.repo = CaseRepository(self._tx.conn)
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
        if "\x00" in str(subject):
            raise ValueError(f"event subject {str(subject)!r} holds a NUL byte")
        env = cause.caused_by(event, subject=str(subject), producer=self.service, now=now)
        self._tx.outbox.append(outbox_row(env))
        self._tx.emitted = True
        return env
