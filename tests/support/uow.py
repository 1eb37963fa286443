"""The in-memory unit of work handler tests use: the same `UnitOfWork` logic as PostgreSQL's, with the
inbox, the outbox and the repository kept in a `FakeStore` that outlives each unit of work.

A rollback restores the repository's attributes as they were on entry (a deep copy), drops the outbox
rows written and releases the inbox claim, as a PostgreSQL rollback does.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar
from uuid import UUID

from shared.events import Envelope
from shared.service_layer import Handlers, UnitOfWork, dispatch

R = TypeVar("R")

T0 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


class FakeStore(Generic[R]):
    """What survives between units of work: `repo`, `inbox` {(consumer, event_id)}, `outbox` (envelopes
    committed, in order) and `commits` (how many units of work committed)."""

    def __init__(self, repo: R, service: str) -> None:
        self.repo = repo
        self.service = service
        self.inbox: set[tuple[str, UUID]] = set()
        self.outbox: list[Envelope] = []
        self.commits = 0
        self.rollbacks = 0

    def uow(self, envelope: Envelope | None = None, *, now: datetime = T0, claim: bool = True) -> FakeUnitOfWork[R]:
        """A unit of work for `envelope`; with `claim=False` it claims nothing, as `PgUnitOfWork` without a
        delivery does (a record made after a send, caused by the consumed event)."""
        return FakeUnitOfWork(self, envelope=envelope, now=now, claim=claim)

    async def handle(self, handlers: Handlers, envelope: Envelope, *, now: datetime = T0) -> str | None:
        """Consume `envelope` as the service would: the same `dispatch` as production, in a fake unit of work."""
        return await dispatch(handlers, envelope, lambda: self.uow(envelope, now=now))

    def emitted(self, event_type: str | None = None) -> list[Envelope]:
        return [e for e in self.outbox if event_type is None or e.event_type == event_type]


class FakeUnitOfWork(UnitOfWork[R], Generic[R]):
    def __init__(self, store: FakeStore[R], *, envelope: Envelope | None, now: datetime, claim: bool = True) -> None:
        super().__init__(service=store.service, repo=store.repo, now=now, envelope=envelope)
        self.store = store
        self._claims = claim and envelope is not None
        self._claim: tuple[str, UUID] | None = None
        self._snapshot: dict[str, Any] | None = None
        self._pending: list[Envelope] = []

    async def _begin(self) -> None:
        self._snapshot = copy.deepcopy(vars(self.repo)) if hasattr(self.repo, "__dict__") else None
        if self._claims and self.envelope is not None:
            key = (self.service, self.envelope.event_id)
            self.claimed = key not in self.store.inbox
            self.store.inbox.add(key)
            self._claim = key if self.claimed else None

    async def _commit(self) -> None:
        self.store.outbox.extend(self._pending)
        self.store.commits += 1

    async def _rollback(self) -> None:
        if self._snapshot is not None:
            vars(self.repo).clear()
            vars(self.repo).update(self._snapshot)
        if self._claim is not None:
            self.store.inbox.discard(self._claim)
        self._pending.clear()
        self.store.rollbacks += 1

    async def _write_outbox(self, envelope: Envelope) -> None:
        self._pending.append(envelope)


def event(payload: Any, *, subject: str | UUID = "subject", producer: str = "test", now: datetime = T0) -> Envelope:
    """An envelope carrying `payload` as its producer would have put it on Kafka (a new flow)."""
    return Envelope.new_flow(payload, subject=str(subject), producer=producer, now=now)
