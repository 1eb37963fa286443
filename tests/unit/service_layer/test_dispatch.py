"""`dispatch` and the unit of work's contract, on the in-memory unit of work: what is consumed, what is
claimed, when after-commit work runs, and how a staff action's events start a flow."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import pytest
from pydantic import ValidationError

from shared.events import CaseStatusChanged, Envelope
from shared.service_layer import UnitOfWork, dispatch
from support.uow import T0, FakeStore, event


class Repo:
    def __init__(self) -> None:
        self.rows: list[str] = []


def changed(status: str = "closed") -> CaseStatusChanged:
    return CaseStatusChanged(case_id=uuid4(), service_request_id="DEMO-26-000001", jurisdiction_id="demo",
                             status=status)


async def closing(payload: CaseStatusChanged, uow: UnitOfWork[Repo]) -> str:
    uow.repo.rows.append(payload.status)

    async def send() -> str:
        return "sent"

    uow.after_commit(send)
    await uow.emit(payload, subject=payload.case_id)
    return "recorded"


TABLE: Any = {CaseStatusChanged.event_type: (CaseStatusChanged, closing)}


async def test_a_consumed_event_is_claimed_handled_and_its_after_commit_word_appended() -> None:
    store = FakeStore(Repo(), "svc")
    env = event(changed())

    assert await store.handle(TABLE, env) == "recorded,sent"
    assert store.repo.rows == ["closed"] and store.inbox == {("svc", env.event_id)} and store.commits == 1
    assert await store.handle(TABLE, env) == "duplicate"
    assert store.repo.rows == ["closed"] and len(store.outbox) == 1


async def test_an_event_the_service_does_not_consume_is_neither_claimed_nor_committed() -> None:
    store = FakeStore(Repo(), "svc")
    assert await store.handle({}, event(changed())) is None
    assert store.inbox == set() and store.commits == 0


async def test_a_payload_that_does_not_fit_raises_before_anything_is_claimed() -> None:
    store = FakeStore(Repo(), "svc")
    env = event(changed())
    broken = env.model_copy(update={"data": {**env.data, "status": 42}})
    with pytest.raises(ValidationError):
        await store.handle(TABLE, broken)
    assert store.inbox == set()


async def test_a_handler_error_rolls_back_the_repository_the_claim_and_the_outbox() -> None:
    store = FakeStore(Repo(), "svc")

    async def failing(payload: CaseStatusChanged, uow: UnitOfWork[Repo]) -> str:
        await closing(payload, uow)
        raise RuntimeError("after the writes")

    env = event(changed())
    with pytest.raises(RuntimeError):
        await dispatch({CaseStatusChanged.event_type: (CaseStatusChanged, failing)}, env, lambda: store.uow(env))
    assert store.repo.rows == [] and store.inbox == set() and store.outbox == [] and store.rollbacks == 1


async def test_a_staff_action_emits_a_new_flow_with_the_given_correlation_id() -> None:
    store = FakeStore(Repo(), "case")
    correlation = uuid4()
    async with store.uow(None, now=T0) as uow:
        out = await uow.emit(changed(), subject="c1", correlation_id=correlation)
    assert out.causation_id is None and out.correlation_id == correlation and out.occurred_at == T0
    assert store.inbox == set() and store.outbox == [out]


async def test_an_event_caused_by_a_consumed_one_keeps_its_correlation() -> None:
    store = FakeStore(Repo(), "svc")
    env = event(changed())
    await store.handle(TABLE, env)
    [out] = store.outbox
    assert isinstance(out, Envelope)
    assert (out.causation_id, out.correlation_id, out.producer) == (env.event_id, env.correlation_id, "svc")


async def test_a_failing_after_commit_action_is_logged_and_the_next_one_still_runs() -> None:
    store = FakeStore(Repo(), "svc")
    ran: list[str] = []

    async def two_notices(payload: CaseStatusChanged, uow: UnitOfWork[Repo]) -> str:
        async def first() -> str:
            raise ConnectionError("database went away while recording")

        async def second() -> str:
            ran.append("second")
            return "sent"

        uow.after_commit(first)
        uow.after_commit(second)
        return "sending"

    env = event(changed())
    result = await dispatch({CaseStatusChanged.event_type: (CaseStatusChanged, two_notices)}, env,
                            lambda: store.uow(env))

    assert result == "sending,after_commit_failed,sent"
    assert ran == ["second"] and store.commits == 1 and ("svc", env.event_id) in store.inbox
