"""The in-memory unit of work handler tests use: the same `UnitOfWork` logic as PostgreSQL's, with the
inbox, the outbox and the repository kept in a `FakeStore` that outlives each unit of work.

A rollback restores the repository's attributes as they were on entry (a deep copy), drops the outbox
rows written and releases the inbox claim, as a PostgreSQL rollback does. A batch (`FakeStore.batch`,
`FakeStore.handle_batch`) is one transaction whose events are savepoints, as `PgBatchUnitOfWork`'s.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar
from uuid import UUID

from shared.events import Envelope
from shared.kafka import Delivery
from shared.service_layer import BatchUnitOfWork, Handlers, UnitOfWork, dispatch, dispatch_batch
from shared.service_layer.unit_of_work import Outcome

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

    def batch(self) -> FakeBatchUnitOfWork[R]:
        """A batch transaction whose events are savepoints (`dispatch_batch`)."""
        return FakeBatchUnitOfWork(self)

    async def handle_batch(self, handlers: Handlers, envelopes: Sequence[Envelope], *, now: datetime = T0,
                           last_attempt: bool = True) -> list[Outcome]:
        """Consume `envelopes` as one batch, as the service would (partition 0, offsets 0, 1, ...)."""
        consumed = [(e, Delivery(topic="t", partition=0, offset=i, consumer=self.service))
                    for i, e in enumerate(envelopes)]
        return await dispatch_batch(handlers, consumed, self.batch, clock=lambda: now, last_attempt=last_attempt)

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


class FakeBatchUnitOfWork(BatchUnitOfWork[R], Generic[R]):
    """One batch transaction on a `FakeStore`: claims, outbox rows and the repository's state are kept
    until the commit and undone by a rollback; each event is a `FakeSavepoint`."""

    def __init__(self, store: FakeStore[R]) -> None:
        super().__init__(service=store.service)
        self.store = store
        self.claims: set[tuple[str, UUID]] = set()
        self.pending: list[Envelope] = []
        self._snapshot: dict[str, Any] | None = None

    async def _begin(self) -> None:
        self._snapshot = _snapshot(self.store.repo)

    async def claim(self, consumed: Sequence[tuple[Envelope, Delivery]]) -> set[UUID]:
        new: set[UUID] = set()
        for env, _delivery in consumed:
            key = (self.service, env.event_id)
            if key not in self.store.inbox:
                self.store.inbox.add(key)
                self.claims.add(key)
                new.add(env.event_id)
        return new

    async def release(self, event_id: UUID) -> None:
        key = (self.service, event_id)
        self.claims.discard(key)
        self.store.inbox.discard(key)

    def event(self, envelope: Envelope, now: datetime) -> FakeSavepoint[R]:
        return FakeSavepoint(self, envelope=envelope, now=now)

    async def _commit(self) -> None:
        self.store.outbox.extend(self.pending)
        self.store.commits += 1

    async def _rollback(self) -> None:
        _restore(self.store.repo, self._snapshot)
        self.store.inbox -= self.claims
        self.pending.clear()
        self.store.rollbacks += 1


class FakeSavepoint(UnitOfWork[R], Generic[R]):
    """One event of a `FakeBatchUnitOfWork`: its rollback restores the repository as it was when the event
    began and drops the event's outbox rows; its release hands them to the batch."""

    def __init__(self, batch: FakeBatchUnitOfWork[R], *, envelope: Envelope, now: datetime) -> None:
        super().__init__(service=batch.service, repo=batch.store.repo, now=now, envelope=envelope)
        self.batch = batch
        self._snapshot: dict[str, Any] | None = None
        self._pending: list[Envelope] = []

    async def _begin(self) -> None:
        self._snapshot = _snapshot(self.repo)

    async def _commit(self) -> None:
        self.batch.pending.extend(self._pending)

    async def _rollback(self) -> None:
        _restore(self.repo, self._snapshot)
        self._pending.clear()

    async def _write_outbox(self, envelope: Envelope) -> None:
        self._pending.append(envelope)


def _snapshot(repo: Any) -> dict[str, Any] | None:
    return copy.deepcopy(vars(repo)) if hasattr(repo, "__dict__") else None


def _restore(repo: Any, snapshot: dict[str, Any] | None) -> None:
    if snapshot is not None:
        vars(repo).clear()
        vars(repo).update(snapshot)


def event(payload: Any, *, subject: str | UUID = "subject", producer: str = "test", now: datetime = T0) -> Envelope:
    """An envelope carrying `payload` as its producer would have put it on Kafka (a new flow)."""
    return Envelope.new_flow(payload, subject=str(subject), producer=producer, now=now)
