"""The unit of work: one transaction per consumed event, shared by case, router, dedup and notifier.

Entering a unit of work for an event claims `(consumer, event_id)` in the service's inbox; the handler
then reads and writes through `uow.repo` and announces what happened with `uow.emit(event)`, which
writes an outbox row whose correlation and causation ids follow the consumed event; leaving it commits
once (or rolls everything back, claim included, when the handler raised). Work that must not run inside
the transaction (sending a mail, a text) is registered with `uow.after_commit` and runs after the commit.

`UnitOfWork` holds the logic every implementation shares; `shared.db.unit_of_work.PgUnitOfWork` is the
PostgreSQL one, `tests/support/uow.py` the in-memory one handler tests use.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any, Generic, TypeVar
from uuid import UUID, uuid4

from shared.events import Envelope
from shared.events.envelope import EventData
from shared.logs import get_logger

R = TypeVar("R")

AfterCommit = Callable[[], Awaitable[Any]]

log = get_logger(__name__)


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

    async def emit(self, event: EventData, *, subject: str | UUID, correlation_id: UUID | None = None) -> Envelope:
        """Write `event` to the outbox in this transaction; returns its envelope.

        Inside an event's unit of work the new envelope is caused by that event (same correlation id).
        A staff action has no causing event: the envelope starts a flow, with `correlation_id` (e.g. the
        case's own, for tracing) when given. Raises `KeyError` when the registry does not know the event.
        """
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
        await self._commit()
        actions, self._after_commit = self._after_commit, []
        for action in actions:
            # The event's effect is committed: a failing action must neither stop the others (another
            # reporter's notice) nor reach the consumer, which would retry an event already claimed.
            try:
                self.after_commit_results.append(await action())
            except Exception as exc:  # noqa: BLE001 - logged with the event's ids; the action records its own state
                log.error("after_commit_failed", action=getattr(action, "__qualname__", repr(action))[:200],
                          error=repr(exc)[:500])
                self.after_commit_results.append("after_commit_failed")

    # --- what an implementation provides ---------------------------------------------------------------

    @abstractmethod
    async def _begin(self) -> None:
        """Open the transaction and, for an event, claim it in the inbox (set `claimed`)."""

    @abstractmethod
    async def _commit(self) -> None:
        """Commit the transaction (the claim, the effect and the outbox rows together)."""

    @abstractmethod
    async def _rollback(self) -> None:
        """Undo everything since `_begin`, the inbox claim included."""

    @abstractmethod
    async def _write_outbox(self, envelope: Envelope) -> None:
        """Write `envelope` as an outbox row of this transaction."""


Handler = Callable[[Any, Any], Awaitable[str]]
"""handler(payload, uow) -> a short word for the log ("opened", "duplicate", "skipped", ...)."""

Handlers = Mapping[str, tuple[type[EventData], Handler]]
"""event type -> (payload class, handler): what a service consumes, in one place."""


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
