"""`dispatch_batch` on the in-memory batch unit of work: one transaction per batch, one inbox claim for all
of it, a savepoint per event (an event that can never succeed fails alone), a transient error undoing
the whole batch, after-commit work after the commit in event order, and a batch whose commit fails for good
split until the event that cannot commit is alone."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import pytest
import structlog

from shared.events import CaseStatusChanged, Envelope
from shared.kafka import Delivery, PermanentError
from shared.service_layer import UnitOfWork, dispatch_batch
from support.uow import T0, FakeBatchUnitOfWork, FakeStore, event


class Repo:
    def __init__(self) -> None:
        self.rows: list[str] = []


def changed(notes: str) -> Envelope:
    return event(CaseStatusChanged(case_id=uuid4(), service_request_id="DEMO-26-000001", jurisdiction_id="demo",
                                   status="closed", status_notes=notes))


def notes_of(uow: UnitOfWork[Repo]) -> str:
    assert uow.envelope is not None
    return str(uow.envelope.data["status_notes"])


def table(store: FakeStore[Repo], seen: list[tuple[str, int, str | None]]) -> Any:
    """A handler that writes a row, emits, and registers an after-commit action; "poison" raises a
    PermanentError after writing, "flaky" an OSError, "odd" a RuntimeError."""

    async def handle(payload: CaseStatusChanged, uow: UnitOfWork[Repo]) -> str:
        uow.repo.rows.append(payload.status_notes or "")
        await uow.emit(payload, subject=payload.case_id)

        async def after() -> str:
            seen.append((payload.status_notes or "", store.commits,
                         structlog.contextvars.get_contextvars().get("event_id")))
            return "sent"

        uow.after_commit(after)
        if payload.status_notes == "poison":
            raise PermanentError("never")
        if payload.status_notes == "flaky":
            raise OSError("database went away")
        if payload.status_notes == "odd":
            raise RuntimeError("who knows")
        return "recorded"

    return {CaseStatusChanged.event_type: (CaseStatusChanged, handle)}


async def test_a_batch_is_claimed_at_once_and_committed_once_skipping_events_already_handled() -> None:
    store: FakeStore[Repo] = FakeStore(Repo(), "svc")
    seen: list[Any] = []
    first, second, third = changed("a"), changed("b"), changed("c")
    await store.handle_batch(table(store, seen), [first])

    outcomes = await store.handle_batch(table(store, seen), [first, second, second, third])

    assert [o.result for o in outcomes] == ["duplicate", "recorded,sent", "duplicate", "recorded,sent"]
    assert store.repo.rows == ["a", "b", "c"] and store.commits == 2
    assert store.inbox == {("svc", e.event_id) for e in (first, second, third)}
    assert [e.causation_id for e in store.outbox] == [first.event_id, second.event_id, third.event_id]


async def test_a_poison_event_in_the_middle_fails_alone_and_the_events_around_it_commit() -> None:
    store: FakeStore[Repo] = FakeStore(Repo(), "svc")
    seen: list[Any] = []
    before, poison, after = changed("before"), changed("poison"), changed("after")

    outcomes = await store.handle_batch(table(store, seen), [before, poison, after])

    assert outcomes[1].failure == ("PermanentError", "never") and outcomes[1].result is None
    assert [outcomes[0].result, outcomes[2].result] == ["recorded,sent", "recorded,sent"]
    assert store.repo.rows == ["before", "after"], "the poison's row was rolled back with its savepoint"
    assert [e.causation_id for e in store.outbox] == [before.event_id, after.event_id]
    assert ("svc", poison.event_id) not in store.inbox, "its claim is given back: a replay from the DLQ is handled"
    assert [s[0] for s in seen] == ["before", "after"] and store.commits == 1


async def test_a_payload_that_does_not_fit_fails_alone_before_the_transaction() -> None:
    store: FakeStore[Repo] = FakeStore(Repo(), "svc")
    good = changed("good")
    broken = good.model_copy(update={"event_id": uuid4(), "data": {**good.data, "status": 42}})

    outcomes = await store.handle_batch(table(store, []), [broken, good])

    assert outcomes[0].failure is not None and outcomes[0].failure[0] == "ValidationError"
    assert outcomes[1].result == "recorded,sent" and store.repo.rows == ["good"]


async def test_a_transient_error_undoes_the_whole_batch_and_raises_for_a_retry() -> None:
    store: FakeStore[Repo] = FakeStore(Repo(), "svc")
    seen: list[Any] = []

    with pytest.raises(OSError):
        await store.handle_batch(table(store, seen), [changed("a"), changed("flaky"), changed("c")])

    assert store.repo.rows == [] and store.outbox == [] and store.inbox == set()
    assert store.commits == 0 and store.rollbacks == 1 and seen == [], "nothing ran after a commit that never was"


async def test_an_unknown_error_retries_the_batch_until_the_last_attempt_then_fails_alone() -> None:
    store: FakeStore[Repo] = FakeStore(Repo(), "svc")
    batch = [changed("a"), changed("odd"), changed("c")]

    with pytest.raises(RuntimeError):
        await store.handle_batch(table(store, []), batch, last_attempt=False)
    assert store.repo.rows == [] and store.inbox == set()

    outcomes = await store.handle_batch(table(store, []), batch, last_attempt=True)
    assert outcomes[1].failure == ("RuntimeError", "RuntimeError('who knows')")
    assert store.repo.rows == ["a", "c"]


async def test_after_commit_work_runs_after_the_batch_commit_in_event_order_with_each_events_ids() -> None:
    store: FakeStore[Repo] = FakeStore(Repo(), "svc")
    seen: list[Any] = []
    batch = [changed(n) for n in ("one", "two", "three")]

    await store.handle_batch(table(store, seen), batch)

    assert seen == [(e.data["status_notes"], 1, str(e.event_id)) for e in batch]
    assert "event_id" not in structlog.contextvars.get_contextvars()


async def test_a_batch_without_an_event_the_service_consumes_opens_no_transaction() -> None:
    store: FakeStore[Repo] = FakeStore(Repo(), "svc")

    outcomes = await store.handle_batch({}, [changed("a"), changed("b")])

    assert [o.result for o in outcomes] == [None, None] and store.commits == 0 and store.inbox == set()


class CommitRefused(Exception):
    """What a deferred constraint does: the statement passed, the COMMIT is refused."""


class RefusingBatch(FakeBatchUnitOfWork[Repo]):
    """A batch whose commit raises `error` when it would commit an event with the notes "deferred" (as
    PostgreSQL does with a deferred constraint), rolling everything back; `sizes` records every commit tried."""

    def __init__(self, store: FakeStore[Repo], error: Exception, sizes: list[list[str]]) -> None:
        super().__init__(store)
        self.error, self.sizes = error, sizes

    async def _commit(self) -> None:
        notes = [str(e.data["status_notes"]) for e in self.pending]
        self.sizes.append(notes)
        if "deferred" in notes:
            raise self.error
        await super()._commit()


async def refused(store: FakeStore[Repo], seen: list[Any], envelopes: list[Envelope], error: Exception,
                  sizes: list[list[str]], *, last_attempt: bool) -> list[Any]:
    consumed = [(e, Delivery(topic="t", partition=0, offset=i, consumer="svc")) for i, e in enumerate(envelopes)]
    return await dispatch_batch(table(store, seen), consumed, lambda: RefusingBatch(store, error, sizes),
                                clock=lambda: T0, last_attempt=last_attempt)


async def test_a_commit_refused_for_good_is_retried_then_split_until_the_event_that_cannot_commit_fails_alone(
        ) -> None:
    store: FakeStore[Repo] = FakeStore(Repo(), "svc")
    seen: list[Any] = []
    sizes: list[list[str]] = []
    batch = [changed(n) for n in ("a", "b", "deferred", "d", "e", "f")]

    with pytest.raises(CommitRefused):  # an unknown error: the caller retries the whole batch first
        await refused(store, seen, batch, CommitRefused("deferred constraint"), sizes, last_attempt=False)
    assert store.repo.rows == [] and store.inbox == set() and store.outbox == [] and seen == []

    sizes.clear()
    outcomes = await refused(store, seen, batch, CommitRefused("deferred constraint"), sizes, last_attempt=True)

    assert outcomes[2].failure == ("CommitRefused", "CommitRefused('deferred constraint')")
    assert outcomes[2].result is None
    assert [o.result for i, o in enumerate(outcomes) if i != 2] == ["recorded,sent"] * 5
    assert sizes == [["a", "b", "deferred", "d", "e", "f"], ["a", "b", "deferred"], ["a"], ["b", "deferred"], ["b"],
                     ["deferred"], ["d", "e", "f"]], "halves in order, each committed before the next starts"
    assert store.repo.rows == ["a", "b", "d", "e", "f"]
    assert [e.causation_id for e in store.outbox] == [e.event_id for i, e in enumerate(batch) if i != 2]
    assert store.inbox == {("svc", e.event_id) for i, e in enumerate(batch) if i != 2}
    assert [s[0] for s in seen] == ["a", "b", "d", "e", "f"], "after-commit work once, after its own commit"
    assert [s[1] for s in seen] == [1, 2, 3, 3, 3]


async def test_a_commit_refused_by_a_transient_error_is_never_split_and_raises_for_a_retry() -> None:
    store: FakeStore[Repo] = FakeStore(Repo(), "svc")
    sizes: list[list[str]] = []

    with pytest.raises(OSError):
        await refused(store, [], [changed("a"), changed("deferred")], OSError("connection reset"), sizes,
                      last_attempt=True)

    assert sizes == [["a", "deferred"]] and store.repo.rows == [] and store.inbox == set()
