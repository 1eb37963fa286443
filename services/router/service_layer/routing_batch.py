"""Set-based routing of a batch of new cases: the router's fast path for a burst on `cases.lifecycle`.

Consumes `case.opened` (a consumed batch whose only events the router handles are these); produces
`routing.decided` through the outbox. One read first finds the events the inbox already holds (a redelivered
batch); every other case is decided by `handlers.first_decision`, as `on_case_opened` does, before the
transaction opens, so a decision's model and geocoder look-ups (a geocoder server is a network call) are
neither repeated for a redelivered event nor made while a transaction is open. Then one transaction writes
the whole batch with three statements besides BEGIN and COMMIT instead of three per event (a savepoint, the
decision, the release) on top of the batch's own: the inbox claims in one statement, the decisions in one
(`RouterRepository.add_decisions`), the outbox rows in one at the commit. A batch the inbox holds whole
opens no transaction. The claim stays the decision: the read is only a hint.
Events of types the router does not consume (the case service's `case.routed`, ...) are left untouched, as
`dispatch_batch` leaves them.

Anything else declines, and the caller hands the batch to the per-event path (`dispatch_batch`: a savepoint
per event, so a poison event is rolled back and dead-lettered alone while the rest commit): a
`case.message_added` or `case.recategorised` in the batch (its order after the case's first decision is
kept by the per-event path), a payload that does not validate, or a decision that raises. An error while
writing rolls the transaction back (claims included) and propagates; the caller then hands the batch to the
per-event path as well.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import ValidationError

from services.router.adapters.repository import NewDecision
from services.router.adapters.routing_batch import RoutingBatch
from services.router.service_layer.handlers import Judges, first_decision
from shared.events import CaseOpened, Envelope, RoutingDecided, RoutingFields
from shared.jurisdiction import Jurisdiction
from shared.kafka import Delivery
from shared.service_layer import Handlers


class Declined(Exception):  # noqa: N818 - a verdict, not an error: the per-event path takes the batch
    """The batch is not one of new cases only (or one of them cannot be decided here): nothing was written."""


async def route_new_cases(consumed: Sequence[tuple[Envelope, Delivery]], batch: Callable[[], RoutingBatch], *,
                          handled: Handlers, jurisdiction: Jurisdiction, judges: Judges,
                          now: datetime) -> list[str | None]:
    """Route every `case.opened` of `consumed` (in partition-offset order) in one transaction of `batch()` at
    `now` (aware UTC), deciding only the events the inbox does not already hold; returns one word per event,
    in order: the handler's (`category_source`, or
    ``"already_routed"`` for a case the log already holds, or the second `case.opened` of one case in the
    batch), ``"duplicate"`` for an event the inbox already holds (or the second of one id in the batch), None
    for an event type the router does not consume (`handled`: its handler table, not called).

    Raises:
        Declined: an event the router consumes other than `case.opened`, a payload that does not validate,
            a decision that raised, or an event held by the inbox at the read and claimed now (its claim
            given back in between: rolled back) — nothing written; the per-event path isolates it.
        asyncpg.PostgresError, OSError: the transaction failed and was rolled back, claims included.
    """
    picked: list[int] = []
    opened: list[CaseOpened] = []
    for i, (envelope, _delivery) in enumerate(consumed):
        if envelope.event_type not in handled:
            continue
        if envelope.event_type != CaseOpened.event_type:
            raise Declined(envelope.event_type)
        try:
            opened.append(envelope.payload(CaseOpened))
        except (ValueError, ValidationError) as exc:
            raise Declined("payload") from exc
        picked.append(i)
    words: list[str | None] = [None] * len(consumed)
    if not picked:
        return words
    tx = batch()
    # A redelivered event is not decided again: a decision may ask a geocoder server (a network call of up
    # to twice `geocoding.timeout_s` per case without a point), and deciding inside the transaction, after
    # the claim, would hold it open that long.
    seen = await tx.already_claimed([consumed[i][0].event_id for i in picked])
    if all(consumed[i][0].event_id in seen for i in picked):
        for i in picked:
            words[i] = "duplicate"
        return words
    decided: dict[UUID, tuple[RoutingFields, dict[str, Any]]] = {}
    for i, case in zip(picked, opened, strict=True):
        event_id = consumed[i][0].event_id
        if event_id in seen or event_id in decided:
            continue
        try:
            decided[event_id] = await first_decision(case, jurisdiction, judges, now)
        except Exception as exc:  # noqa: BLE001 - the per-event path classifies it and dead-letters it alone
            raise Declined("decision") from exc
    async with tx:
        claimed = await tx.claim([consumed[i] for i in picked])
        rows: list[NewDecision] = []
        first_of_case: dict[UUID, int] = {}
        for i, case in zip(picked, opened, strict=True):
            envelope = consumed[i][0]
            if envelope.event_id not in claimed:
                words[i] = "duplicate"
                continue
            claimed.discard(envelope.event_id)  # the second of one id in the batch is a duplicate
            if envelope.event_id not in decided:  # its claim was given back since the read: rolled back
                raise Declined("claimed, not decided")
            if case.case_id in first_of_case:
                words[i] = "already_routed"  # as the per-event path: the first decision of the batch stands
                continue
            first_of_case[case.case_id] = i
            fields, record = decided[envelope.event_id]
            rows.append(NewDecision(case.case_id, envelope.event_id, now, fields, record))
        assert tx.repo is not None
        logged = await tx.repo.add_decisions(rows)
        for row in rows:
            i = first_of_case[row.case_id]
            if row.case_id not in logged:
                words[i] = "already_routed"
                continue
            tx.emit(consumed[i][0], RoutingDecided(case_id=row.case_id, routing=row.fields), subject=row.case_id,
                    now=now)
            words[i] = row.fields.category_source
    return words
