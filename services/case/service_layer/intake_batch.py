"""Set-based opening of a batch of new reports: the case service's fast path for a burst on `intake.messages`.

Consumes `intake.message_received` (a whole consumed batch of them); produces `case.opened` through the
outbox. A batch in which every event is a report that opens a case of its own (`accept_message` would take
its `_open_case` branch for each) is opened in one transaction with a handful of round trips for the whole
batch instead of four per event: the inbox claims in one statement, the threading look-ups pipelined, the
case numbers in one statement, the openings pipelined (`CaseRepository.open_cases`), the outbox rows in one
statement at the commit. The rows and events are built by the same functions the per-event handler uses
(`handlers.cleaned_message`, `handlers.located_message`, `handlers.opening`), so both paths write the same.

An event of a type the case service does not handle (`handlers.CONSUMED_TYPES`: another consumer's event on
the shared topic, e.g. the notifier's bounces) is left out, unclaimed and untouched, as `dispatch_batch`
leaves it. Anything else declines, and the caller hands the batch to the per-event path (`dispatch_batch`: a
savepoint per event, so a poison event is rolled back and dead-lettered alone while the rest commit): an
event of another handled type, a payload that does not validate, two events for one channel message, a message answering
another message of the batch, a message whose look-up finds a case, a message or a pending withdrawal (it
repeats or threads), a message quoting a case number the store does not hold (it may be one the batch gives
out: declined before any number is drawn, since a number drawn and rolled back is never given again, and
the per-event path would then give the quoted number to no report or another one), and any error while
writing (the transaction is rolled back first, claims included, so the per-event path starts from a clean
slate).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from pydantic import ValidationError

from services.case.adapters.opening_batch import OpeningBatch
from services.case.domain.rules import CheckedLocation, find_case_number
from services.case.domain.threading import ThreadingFacts
from services.case.service_layer.handlers import (
    CONSUMED_TYPES,
    Opening,
    cleaned_message,
    located_message,
    opening,
)
from shared.events import Envelope, MessageReceived
from shared.jurisdiction import Jurisdiction
from shared.kafka import Delivery
from shared.logs import get_logger

log = get_logger(__name__)


class Declined(Exception):  # noqa: N818 - says what happened to the batch
    """The batch is not a batch of new reports only: nothing of it was kept; the per-event path handles it."""


Report = tuple[MessageReceived, CheckedLocation, str | None]
"""A report's message cleaned and located, its location check and the case number it quotes (or None)."""


def _plain_reports(consumed: Sequence[tuple[Envelope, Delivery]], jurisdiction: Jurisdiction
                   ) -> list[Report | None]:
    """Each event's `Report`, in order, None for an event of a type the service does not handle (left out).
    Raises `Declined` for a batch the fast path does not take on the events alone (see the module)."""
    reports: list[Report | None] = []
    for envelope, _delivery in consumed:
        if envelope.event_type not in CONSUMED_TYPES:
            reports.append(None)  # another consumer's event: the per-event path claims and changes nothing
            continue
        if envelope.event_type != MessageReceived.event_type:
            raise Declined(f"a {envelope.event_type} event")
        try:
            msg, place = located_message(cleaned_message(envelope.payload(MessageReceived)), jurisdiction)
        except (ValueError, ValidationError) as exc:
            raise Declined(f"a payload that does not validate ({type(exc).__name__})") from exc
        reports.append((msg, place, find_case_number(msg.case_number_hint, jurisdiction.id)))
    held = [r for r in reports if r is not None]
    keys = [(m.channel, m.channel_message_id) for m, _, _ in held]
    if len(set(keys)) != len(keys):
        raise Declined("a channel message twice")
    answered = {reply for m, _, _ in held for reply in m.in_reply_to}
    if answered & {cmid for _, cmid in keys}:
        raise Declined("a message answering another of the batch")
    return reports


async def open_new_reports(consumed: Sequence[tuple[Envelope, Delivery]],
                           batch: Callable[[], OpeningBatch], *, jurisdiction: Jurisdiction,
                           now: datetime) -> list[str | None]:
    """Open a case for each report of `consumed` (intake events in partition-offset order) in one transaction
    of `batch()`, at `now` (aware UTC); returns one word per event, in order: "opened", "duplicate" for an
    event the inbox already holds (or the second of one event id), or None for an event of a type the
    service does not handle (not claimed; no transaction at all when the batch holds no report). Raises
    `Declined`, having kept nothing, when the batch is not only new reports (see the module); any other
    error raised leaves nothing kept either (the transaction is rolled back): the caller then hands the
    batch to the per-event path."""
    found = _plain_reports(consumed, jurisdiction)
    mine = [i for i, r in enumerate(found) if r is not None]
    words: list[str | None] = [None if r is None else "duplicate" for r in found]
    if not mine:
        return words
    reports: dict[int, Report] = {i: r for i, r in enumerate(found) if r is not None}
    async with batch() as tx:
        unclaimed = await tx.claim([consumed[i] for i in mine])
        todo: list[int] = []
        for i in mine:
            envelope = consumed[i][0]
            if envelope.event_id in unclaimed:
                unclaimed.discard(envelope.event_id)
                todo.append(i)
        if todo:
            repo = tx.repo
            assert repo is not None, "a batch entered has its repository"
            facts = await repo.threading_facts_many(
                [(reports[i][0].channel, reports[i][0].channel_message_id, reports[i][2], reports[i][0].in_reply_to)
                 for i in todo])
            if any(f != ThreadingFacts() for f in facts):
                raise Declined("a message the store already knows of (it repeats or threads)")
            if any(reports[i][2] is not None for i in todo):
                # Checked before numbers are drawn: a number drawn here and rolled back is a gap, so the
                # per-event path would give the number quoted to another report than this batch would.
                raise Declined("a message quoting a case number the store does not hold (yet)")
            numbers = await repo.next_case_numbers(len(todo))
            openings: list[Opening] = [
                opening(reports[i][0], consumed[i][0], now, jurisdiction=jurisdiction, place=reports[i][1],
                        number=n) for i, n in zip(todo, numbers, strict=True)]
            await repo.open_cases([(o.reporter, o.case_row, o.message_row, o.at, o.event_id, o.entries)
                                   for o in openings])
            for i, o in zip(todo, openings, strict=True):
                tx.emit(consumed[i][0], o.opened, subject=o.case_id, now=now)
                words[i] = "opened"
    return words
