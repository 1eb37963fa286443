"""The unit of work: what a handler of case, router, dedup, notifier and every consuming service works on.

Entering a unit of work for an event claims `(consumer, event_id)` in the service's inbox; the handler
then reads and writes through `uow.repo` and announces what happened with `uow.emit(event)`, which
writes an outbox row whose correlation and causation ids follow the consumed event; leaving it commits
once (or rolls everything back, claim included, when the handler raised). Work that must not run inside
the transaction (sending a mail, a text) is registered with `uow.after_commit` and runs after the commit.

Consumed events come in batches (`dispatch_batch`): one `BatchUnitOfWork` transaction claims the whole
batch in the inbox at once, and each event's handler runs on a unit of work that is a savepoint of it, so
an event that can never succeed is rolled back alone (and dead-lettered by the caller) while the rest of
the batch commits; after-commit work runs once the batch committed, in event order. A batch whose commit
itself fails for good (a deferred constraint, a value PostgreSQL refuses only at COMMIT) is split in two
and each half redone in its own transaction, in order, until the event that cannot commit is alone.

`UnitOfWork` and `BatchUnitOfWork` hold the logic every implementation shares; `shared.db.unit_of_work`
has the PostgreSQL ones, `tests/support/uow.py` the in-memory ones handler tests use.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar
from uuid import UUID, uuid4

import structlog
from pydantic import ValidationError

from shared.events import Envelope
from shared.events.envelope import EventData
from shared.kafka import Delivery, permanent_failure
from shared.logs import get_logger

R = TypeVar("R")

AfterCommit = Callable[[], Awaitable[Any]]

log = get_logger(__name__)



def check_subject(subject: str | UUID) -> None:
    """Raise `ValueError` when an event's `subject` holds a NUL byte: the outbox's key is PostgreSQL text,
    which cannot store one, and found only at a batch's commit the error could not be laid on its event."""
    if "\x00" in str(subject):
        raise ValueError(f"event subject {str(subject)!r} holds a NUL byte")

class UnitOfWork(ABC, Generic[R]):
    """One transaction of one service: `repo` (the service's repository on that transaction), `now` (UTC,
    read once by the runtime), `envelope` (the event being handled; None for a staff action) and
    `claimed` (False when the inbox already holds the event: the handler must not run).

    Subclasses open and close the transaction (`__aenter__`/`__aexit__`) and write outbox rows
    (`_write_outbox`); everything else is here so that the fake behaves as the real one does.
    """

    def __init__(self, *, service: str, repo: R, now: datetime, envelope: Envelope | None) -> None:
        self.service = service
        self.repo = repo
        self.now = now
        self.envelope = envelope
        self.claimed = True
        self.emitted: list[Envelope] = []
        self._after_commit: list[AfterCommit] = []
        self.after_commit_results: list[Any] = []
        self.deferred: list[AfterCommit] | None = None
        """Set by a batch: the after-commit actions are handed over here instead of run at this commit
        (a savepoint's release is not the commit)."""

    async def emit(self, event: EventData, *, subject: str | UUID, correlation_id: UUID | None = None) -> Envelope:
        """Write `event` to the outbox in this transaction; returns its envelope.

        Inside an event's unit of work the new envelope is caused by that event (same correlation id).
        A staff action has no causing event: the envelope starts a flow, with `correlation_id` (e.g. the
        case's own, for tracing) when given. Raises `KeyError` when the registry does not know the event, and
        `ValueError` when `subject` holds a NUL byte (the outbox's key is PostgreSQL text, which cannot store
        one: found only at the batch's commit, the error could not be laid on this event and the whole batch
        would be redone for ever).
        """
        check_subject(subject)
        if self.envelope is not None:
            env = self.envelope.caused_by(event, subject=str(subject), producer=self.service, now=self.now)
        else:
            env = Envelope.new_flow(event, subject=str(subject), producer=self.service, now=self.now,
                                    event_id=uuid4(), correlation_id=correlation_id)
        await self._write_outbox(env)
        self.emitted.append(env)
        return env

    def after_commit(self, action: AfterCommit) -> None:
        """Run `action()` once this unit of work has committed (never when it rolled back), in order.
        What an action returns is kept in `after_commit_results`; an action that raises is logged
        (`after_commit_failed`, with the event's ids from the log context) and counted there as
        "after_commit_failed", and the next action still runs."""
        self._after_commit.append(action)

    async def __aenter__(self) -> UnitOfWork[R]:
        await self._begin()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        if exc_type is not None:
            self._after_commit.clear()
            await self._rollback()
            return
        try:
            await self._commit()
        except BaseException:
            self._after_commit.clear()
            await self._rollback()  # the connection goes back whatever the commit left open
            raise
        actions, self._after_commit = self._after_commit, []
        if self.deferred is not None:
            self.deferred.extend(actions)
            return
        self.after_commit_results.extend(await run_after_commit(actions))

    # --- what an implementation provides ---------------------------------------------------------------

    @abstractmethod
    async def _begin(self) -> None:
        """Open the transaction and, for an event, claim it in the inbox (set `claimed`)."""

    @abstractmethod
    async def _commit(self) -> None:
        """Commit the transaction (the claim, the effect and the outbox rows together). When it raises,
        `_rollback` is called next (it must then undo what is left, or nothing)."""

    @abstractmethod
    async def _rollback(self) -> None:
        """Undo everything since `_begin`, the inbox claim included."""

    @abstractmethod
    async def _write_outbox(self, envelope: Envelope) -> None:
        """Write `envelope` as an outbox row of this transaction."""


async def run_after_commit(actions: Sequence[AfterCommit]) -> list[Any]:
    """Run `actions` in order, once their transaction committed; returns what each returned, or
    "after_commit_failed" for one that raised (logged as `after_commit_failed` with the event's ids from
    the log context; the next action still runs)."""
    results: list[Any] = []
    for action in actions:
        # The event's effect is committed: a failing action must neither stop the others (another
        # reporter's notice) nor reach the consumer, which would retry an event already claimed.
        try:
            results.append(await action())
        except Exception as exc:  # noqa: BLE001 - logged with the event's ids; the action records its own state
            log.error("after_commit_failed", action=getattr(action, "__qualname__", repr(action))[:200],
                      error=repr(exc)[:500])
            results.append("after_commit_failed")
    return results


class BatchUnitOfWork(ABC, Generic[R]):
    """One transaction for a batch of consumed events of one service: `claim` takes the inbox claims of
    all of them at once, `event` gives each event's unit of work (a savepoint of this transaction: its
    rollback undoes that event alone), `release` gives a claim back for an event rolled back alone;
    leaving commits the batch once (or rolls everything back when an exception crosses it).
    """

    def __init__(self, *, service: str) -> None:
        self.service = service

    async def __aenter__(self) -> BatchUnitOfWork[R]:
        await self._begin()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        if exc_type is not None:
            await self._rollback()
            return
        try:
            await self._commit()
        except BaseException:
            await self._rollback()  # the connection goes back whatever the commit left open
            raise

    @abstractmethod
    async def claim(self, consumed: Sequence[tuple[Envelope, Delivery]]) -> set[UUID]:
        """Claim every event of `consumed` in the inbox in this transaction; returns the event ids claimed
        now (an id already in the inbox is not among them)."""

    @abstractmethod
    async def release(self, event_id: UUID) -> None:
        """Give back the claim of `event_id` (an event rolled back alone, sent to the DLQ): a replay of it
        from the DLQ is then handled, as it was before batches."""

    @abstractmethod
    def event(self, envelope: Envelope, now: datetime) -> UnitOfWork[R]:
        """The unit of work of one claimed event of the batch: a savepoint, claiming nothing itself."""

    @abstractmethod
    async def _begin(self) -> None:
        """Open the transaction."""

    @abstractmethod
    async def _commit(self) -> None:
        """Commit the batch (claims, effects, outbox rows) and wake the relay once if anything was emitted.
        When it raises, `_rollback` is called next (it must then undo what is left, or nothing)."""

    @abstractmethod
    async def _rollback(self) -> None:
        """Undo the whole batch, claims included."""


@dataclass
class Outcome:
    """What became of one consumed event of a batch: `result` (the handler's word with its after-commit
    words, "duplicate", or None for an event type the service does not consume) or `failure` (reason,
    detail: the event was rolled back alone and must go to the DLQ)."""

    result: str | None = None
    failure: tuple[str, str] | None = None


def _bind(envelope: Envelope) -> None:
    structlog.contextvars.bind_contextvars(event_id=str(envelope.event_id),
                                           correlation_id=str(envelope.correlation_id),
                                           event_type=envelope.event_type)


def _unbind() -> None:
    structlog.contextvars.unbind_contextvars("event_id", "correlation_id", "event_type")


async def dispatch_batch(handlers: Handlers, consumed: Sequence[tuple[Envelope, Delivery]],
                         batch: Callable[[], BatchUnitOfWork[Any]], *, clock: Callable[[], datetime],
                         last_attempt: bool = True, prepare: BatchPrepare | None = None) -> list[Outcome]:
    """Handle a batch of consumed events (in partition-offset order) in one transaction; returns one
    `Outcome` per event, in the same order.

    Events the service does not consume are left out (no transaction at all when none is left). A payload
    that does not fit its class fails alone. The others are claimed in one statement; each claimed one runs
    its handler on `batch().event(...)` (a savepoint) at `clock()`, in order, with its ids in the log
    context; one already claimed is a "duplicate". An error that can never succeed (`shared.kafka.
    permanent_failure`; an unknown error only when `last_attempt`) rolls back that event's savepoint and
    releases its claim: it fails alone. A transient error, or an unknown one before the last attempt,
    propagates and rolls back the whole batch (the caller retries it). After the commit each event's
    after-commit actions run, in event order, with its log context.

    `prepare` (see `BatchPrepare`), when given, runs in each transaction after the claims and before the
    first handler, with the payloads of the events claimed in it; what it raises rolls that transaction back.

    The commit itself may fail for good, where no savepoint saw it: a deferred constraint, or a value
    PostgreSQL refuses only at COMMIT. Classified the same way (a transient error, or an unknown one before
    the last attempt, propagates: the caller retries the whole batch), such a failure splits the events
    that had run into two halves, each redone in a transaction of its own, the first half committed before
    the second starts (order per key kept), and halves that fail are split again, until the event that
    cannot commit is alone: it fails (its claim rolled back with its transaction) and the others commit. A
    failed commit of a batch in which no event ran is raised. Logged as `batch_commit_failed`.
    """
    outcomes = [Outcome() for _ in consumed]
    todo: list[tuple[int, Any, Any]] = []  # (index, payload, handler)
    for i, (envelope, _delivery) in enumerate(consumed):
        entry = handlers.get(envelope.event_type)
        if entry is None:
            continue
        model, handler = entry
        try:
            todo.append((i, envelope.payload(model), handler))
        except (ValueError, ValidationError) as exc:
            outcomes[i].failure = (type(exc).__name__, str(exc))
    if todo:
        await _dispatch_in_one_transaction(todo, consumed, outcomes, batch, clock=clock, last_attempt=last_attempt,
                                           prepare=prepare)
    return outcomes


async def _dispatch_in_one_transaction(todo: Sequence[tuple[int, Any, Any]],
                                       consumed: Sequence[tuple[Envelope, Delivery]], outcomes: list[Outcome],
                                       batch: Callable[[], BatchUnitOfWork[Any]], *, clock: Callable[[], datetime],
                                       last_attempt: bool, prepare: BatchPrepare | None) -> None:
    """`dispatch_batch`'s transaction for the events `todo` (index into `consumed` and `outcomes`, payload,
    handler), filling their outcomes; splits `todo` when the commit fails for good (see `dispatch_batch`)."""
    deferred: list[tuple[int, list[AfterCommit]]] = []
    committing = False
    try:
        async with batch() as tx:
            unclaimed = await tx.claim([consumed[i] for i, _, _ in todo])
            if prepare is not None:
                await _prepare(prepare, tx, [(consumed[i][0], payload) for i, payload, _ in todo
                                             if consumed[i][0].event_id in unclaimed], clock())
            for i, payload, handler in todo:
                envelope = consumed[i][0]
                if envelope.event_id not in unclaimed:  # in the inbox already, or twice in this batch
                    outcomes[i].result = "duplicate"
                    continue
                unclaimed.discard(envelope.event_id)
                _bind(envelope)
                try:
                    uow = tx.event(envelope, clock())
                    uow.deferred = actions = []
                    async with uow:
                        outcomes[i].result = await handler(payload, uow)
                except Exception as exc:  # noqa: BLE001 - classified: transient or not yet given up re-raises
                    outcomes[i].failure = permanent_failure(exc, last_attempt=last_attempt)
                    await tx.release(envelope.event_id)
                else:
                    deferred.append((i, actions))
                finally:
                    _unbind()
            committing = True
    except Exception as exc:
        ran = [i for i, _actions in deferred]
        if not committing or not ran:
            raise
        failure = permanent_failure(exc, last_attempt=last_attempt)  # raises a transient one, or unknown too early
        for i in ran:
            outcomes[i].result = None  # rolled back with the batch: redone below, or failed
        log.warning("batch_commit_failed", error=repr(exc)[:500], events=len(ran),
                    first_event_id=str(consumed[ran[0]][0].event_id),
                    next="the event fails alone" if len(ran) == 1 else "split in two halves, redone in order")
        if len(ran) == 1:
            outcomes[ran[0]].failure = failure
            return
        redo = [item for item in todo if item[0] in set(ran)]
        half = len(redo) // 2
        for part in (redo[:half], redo[half:]):
            await _dispatch_in_one_transaction(part, consumed, outcomes, batch, clock=clock,
                                               last_attempt=last_attempt, prepare=prepare)
        return
    for i, actions in deferred:
        if not actions:
            continue
        _bind(consumed[i][0])
        try:
            words = [r for r in await run_after_commit(actions) if isinstance(r, str)]
        finally:
            _unbind()
        if words:
            outcomes[i].result = ",".join([outcomes[i].result or "", *words])


async def _prepare(prepare: BatchPrepare, tx: BatchUnitOfWork[Any], claimed: Sequence[tuple[Envelope, Any]],
                   now: datetime) -> None:
    """Run `prepare` once on the payloads of `claimed` (each event once), in a unit of work of the batch."""
    seen: set[UUID] = set()
    payloads = []
    for envelope, payload in claimed:
        if envelope.event_id not in seen:  # the same event twice in a batch runs once
            seen.add(envelope.event_id)
            payloads.append(payload)
    if not payloads:
        return
    uow = tx.event(claimed[0][0], now)
    uow.deferred = []
    async with uow:
        await prepare(payloads, uow)


Handler = Callable[[Any, Any], Awaitable[str]]
"""handler(payload, uow) -> a short word for the log ("opened", "duplicate", "skipped", ...)."""

Handlers = Mapping[str, tuple[type[EventData], Handler]]
"""event type -> (payload class, handler): what a service consumes, in one place."""

BatchPrepare = Callable[[Sequence[Any], UnitOfWork[Any]], Awaitable[None]]
"""prepare(payloads, uow): what a batch's transaction does once before its handlers, with the payloads of
the events claimed in it, in batch order, on a unit of work of the batch (a savepoint, under the first
claimed event's envelope): the locks it takes stay held until the transaction ends. For the locks the
handlers need, taken all at once in one order so that two replicas' batches cannot deadlock (services/dedup,
`lock_categories`). It must not emit, and must raise only what no single event caused (the transaction is
rolled back and retried: an error is never laid on one event)."""


async def dispatch(handlers: Handlers, envelope: Envelope, unit_of_work: Callable[[], Any]) -> str | None:
    """Run the handler for `envelope` in a fresh unit of work; None when the service does not consume
    this event type (another consumer's event on a shared topic: nothing to do).

    The payload is validated first (raises `ValueError` or `pydantic.ValidationError`: the caller
    dead-letters it). An event already in the inbox returns "duplicate" without running the handler.
    What the handler registered with `after_commit` runs after the commit; its words are appended.
    """
    entry = handlers.get(envelope.event_type)
    if entry is None:
        return None
    model, handler = entry
    payload = envelope.payload(model)
    uow = unit_of_work()
    async with uow:
        if not uow.claimed:
            return "duplicate"
        result = await handler(payload, uow)
    after = [r for r in uow.after_commit_results if isinstance(r, str)]
    return ",".join([result, *after]) if after else result
