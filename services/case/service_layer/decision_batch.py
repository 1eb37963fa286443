"""Set-based routing decisions: the case service's fast path for a burst of `routing.decided` on its decision
consumer (`routing.decisions`, `dedup.decisions`, `notifications.outcomes`, `forwarding.outcomes`).

Consumes `routing.decided` (the routing decisions of a consumed batch); produces `case.routed` through the
outbox. The decisions are applied in one transaction with a handful of round trips for the whole batch
instead of four per decision: the inbox claims in one statement, every case read with its SLA clock and
locked in one statement (`CaseRepository.cases_with_clocks`, ascending case id), each decision computed in
Python by the per-event handler itself (`handlers.apply_routing`, on a unit of work whose repository serves
that read and keeps the change), the changes written pipelined (`CaseRepository.change_cases`: one round
trip per statement shape), the outbox rows in one statement at the commit. So both paths write the same rows
and events.

Anything else declines, and the caller hands the batch to the per-event path (`dispatch_batch`: a savepoint
per event, so a poison event is rolled back and dead-lettered alone while the rest commit): an event of
another type, a payload that does not validate, two decisions about one case (their order matters), a
decision about a case this service does not hold (the handler's `ValueError`), and any other error while
computing or writing (the transaction is rolled back first, claims included, so the per-event path starts
from a clean slate). `split` says which events of a mixed batch may go this way first.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast
from uuid import UUID

from pydantic import ValidationError

from services.case.adapters.opening_batch import OpeningBatch
from services.case.service_layer import handlers
from services.case.service_layer.handlers import Clocks
from shared.events import Envelope, RoutingDecided
from shared.events.envelope import EventData
from shared.jurisdiction import Jurisdiction
from shared.kafka import Delivery

_NAMING = ("case_id", "duplicate_of")
"""The payload fields by which an event of the decision consumer names a case (besides its subject)."""


class Declined(Exception):  # noqa: N818 - says what happened to the batch
    """The batch is not a batch of routing decisions of distinct cases: nothing of it was kept; the per-event
    path handles it."""


def split(consumed: Sequence[tuple[Envelope, Delivery]]) -> tuple[list[int], list[int]] | None:
    """The indexes (into `consumed`, in order) of its `routing.decided` events and of the others, when the
    decisions may be applied set-based before the others; None when the whole batch goes to the per-event
    path as it is: fewer than two decisions (nothing to gain), or another event naming one of their cases
    (as its subject, `case_id` or `duplicate_of`), whose order with the decision is then kept.

    Applying a batch's decisions before its other events is an order Kafka could have delivered them in too:
    the others come from other topics, and Kafka keeps no order between topics (only within a partition)."""
    routing = [i for i, (env, _d) in enumerate(consumed) if env.event_type == RoutingDecided.event_type]
    if len(routing) < 2:
        return None
    decided = {consumed[i][0].subject for i in routing} | {str(consumed[i][0].data.get("case_id")) for i in routing}
    rest = [i for i in range(len(consumed)) if i not in set(routing)]
    for i in rest:
        env = consumed[i][0]
        named = {env.subject, *(str(env.data.get(k)) for k in _NAMING if env.data.get(k) is not None)}
        if named & decided:
            return None
    return routing, rest


def _decisions(consumed: Sequence[tuple[Envelope, Delivery]]) -> list[RoutingDecided]:
    """Each event's decision. Raises `Declined` for an event of another type, a payload that does not validate
    or two decisions about one case."""
    decisions: list[RoutingDecided] = []
    for envelope, _delivery in consumed:
        if envelope.event_type != RoutingDecided.event_type:
            raise Declined(f"a {envelope.event_type} event")
        try:
            decisions.append(envelope.payload(RoutingDecided))
        except (ValueError, ValidationError) as exc:
            raise Declined(f"a payload that does not validate ({type(exc).__name__})") from exc
    cases = [d.case_id for d in decisions]
    if len(set(cases)) != len(cases):
        raise Declined("two decisions about one case")
    return decisions


class _Staged:
    """The repository `handlers.apply_routing` sees in a batch: the cases and clocks of the batch's one locked
    read, and the changes kept for the batch's one pipelined write. Any other repository call raises
    `AttributeError` (the batch is then rolled back and declined)."""

    def __init__(self, cases: dict[UUID, dict[str, Any]], clocks: dict[UUID, dict[str, Any] | None]) -> None:
        self._cases = cases
        self._clocks = clocks
        self.changes: list[tuple[UUID, dict[str, Any], datetime, UUID | None, Sequence[tuple[str, dict[str, Any]]],
                                 dict[str, Any] | None]] = []

    async def case_with_clock(self, case_id: UUID) -> dict[str, Any] | None:
        case = self._cases.get(case_id)
        return dict(case) if case is not None else None

    async def sla_clock(self, case_id: UUID, *, for_update: bool = False) -> dict[str, Any] | None:
        if not for_update or case_id not in self._clocks:
            raise Declined("a clock the batch did not read and lock")
        return self._clocks.pop(case_id)

    async def change_case(self, case_id: UUID, fields: dict[str, Any], *, at: datetime, event_id: UUID | None,
                          entries: Sequence[tuple[str, dict[str, Any]]], clock: dict[str, Any] | None = None
                          ) -> None:
        self._clocks.pop(case_id, None)
        self.changes.append((case_id, fields, at, event_id, list(entries), clock))


class _EventUnitOfWork:
    """What `handlers.apply_routing` uses of a unit of work, for one event of the batch: `repo` (the staged
    repository), `now`, `envelope` (the consumed event) and `emit` (queued in the batch's outbox rows)."""

    def __init__(self, repo: _Staged, tx: OpeningBatch, envelope: Envelope, now: datetime) -> None:
        self.repo, self._tx, self.envelope, self.now = repo, tx, envelope, now

    async def emit(self, event: EventData, *, subject: str | UUID) -> Envelope:
        return self._tx.emit(self.envelope, event, subject=subject, now=self.now)


async def apply_decisions(consumed: Sequence[tuple[Envelope, Delivery]], batch: Any, *, jurisdiction: Jurisdiction,
                          clocks: Clocks | None, now: datetime) -> list[str]:
    """Apply each routing decision of `consumed` (in partition-offset order) in one transaction of `batch()`
    (an `OpeningBatch`), at `now` (aware UTC), as `handlers.apply_routing` with `jurisdiction` and `clocks`
    does; returns one word per event, in order: "routed", or "duplicate" for an event the inbox already holds
    (or the second of one event id). Raises `Declined`, having kept nothing, when the batch is not only
    decisions about distinct cases (see the module); any other error raised (e.g. the handler's `ValueError`
    for a case not held) leaves nothing kept either (the transaction is rolled back): the caller then hands
    the batch to the per-event path."""
    decisions = _decisions(consumed)
    words = ["duplicate"] * len(consumed)
    tx: OpeningBatch
    async with batch() as tx:
        unclaimed = await tx.claim(consumed)
        todo: list[int] = []
        for i, (envelope, _delivery) in enumerate(consumed):
            if envelope.event_id in unclaimed:
                unclaimed.discard(envelope.event_id)
                todo.append(i)
        if todo:
            repo = tx.repo
            assert repo is not None, "a batch entered has its repository"
            cases = await repo.cases_with_clocks([decisions[i].case_id for i in todo])
            staged = _Staged(cases, repo.locked_clocks)
            for i in todo:
                uow = _EventUnitOfWork(staged, tx, consumed[i][0], now)
                words[i] = await handlers.apply_routing(decisions[i], cast(Any, uow), jurisdiction=jurisdiction,
                                                        clocks=clocks)
            await repo.change_cases(staged.changes)
    return words

