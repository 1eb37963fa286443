"""The PostgreSQL unit of work on a real schema: the inbox claim, the effect and the outbox rows commit
together or not at all, work registered for after the commit runs only after it, and a batch whose COMMIT
PostgreSQL refuses (a deferred constraint) is split until the event that cannot commit is alone."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from uuid import uuid4

import asyncpg
import pytest

from services.router.adapters.repository import RouterRepository
from shared.db.pool import create_pool
from shared.db.unit_of_work import PgBatchUnitOfWork, PgUnitOfWork
from shared.events import CaseStatusChanged, Envelope, RoutingDecided, RoutingFields
from shared.kafka import Delivery
from shared.service_layer import UnitOfWork, dispatch_batch
from support.uow import event
from support.wait import eventually

NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


@pytest.fixture
async def pool(database: str, schema: str) -> AsyncIterator[asyncpg.Pool]:
    p = await create_pool(database, schema, application_name="it-uow", max_size=2)
    yield p
    await p.close()


def decided() -> RoutingDecided:
    fields = RoutingFields(service_code="pothole", service_name="Pothole", category_source="service_code",
                           agency_responsible="DPW", queue="dpw-roads", priority=3, district=None,
                           sla_due_at=NOW, rule_id="default", config_version="v1")
    return RoutingDecided(case_id=uuid4(), routing=fields)


def uow_for(pool: asyncpg.Pool, schema: str, env: Envelope | None, offset: int = 7) -> PgUnitOfWork[RouterRepository]:
    delivery = Delivery(topic="cases.lifecycle", partition=0, offset=offset, consumer=schema) if env else None
    return PgUnitOfWork(pool, service=schema, repository=RouterRepository, now=NOW, envelope=env,
                        delivery=delivery)


async def counts(pool: asyncpg.Pool) -> tuple[int, int]:
    async with pool.acquire() as conn:
        return (await conn.fetchval("SELECT count(*) FROM inbox"), await conn.fetchval("SELECT count(*) FROM outbox"))


async def test_claim_and_outbox_commit_together_and_a_second_delivery_is_not_claimed(pool: asyncpg.Pool,
                                                                                     schema: str) -> None:
    env = event(decided(), subject="c1")
    async with uow_for(pool, schema, env) as uow:
        assert uow.claimed
        out = await uow.emit(decided(), subject="c1")

    assert out.causation_id == env.event_id and out.correlation_id == env.correlation_id and out.producer == schema
    assert await counts(pool) == (1, 1)
    async with pool.acquire() as conn:
        row = await conn.fetchrow("SELECT topic, message_key, payload FROM outbox")
    assert (row["topic"], row["message_key"]) == ("routing.decisions", "c1")
    assert Envelope.from_bytes(row["payload"]) == out

    async with uow_for(pool, schema, env, offset=8) as again:
        assert not again.claimed
    assert await counts(pool) == (1, 1)


async def test_an_error_in_the_handler_rolls_back_claim_and_outbox_and_skips_after_commit(pool: asyncpg.Pool,
                                                                                          schema: str) -> None:
    env = event(decided(), subject="c2")
    ran: list[str] = []

    async def after() -> str:
        ran.append("after")
        return "sent"

    with pytest.raises(RuntimeError):
        async with uow_for(pool, schema, env) as uow:
            await uow.emit(decided(), subject="c2")
            uow.after_commit(after)
            raise RuntimeError("handler failed")

    assert await counts(pool) == (0, 0) and ran == []
    async with uow_for(pool, schema, env) as uow:
        assert uow.claimed, "the rolled-back claim is free again: the redelivered event is handled"
        uow.after_commit(after)
    assert ran == ["after"] and uow.after_commit_results == ["sent"]
    assert pool.get_size() - pool.get_idle_size() == 0, "the connection went back to the pool"


async def test_after_commit_work_sees_the_committed_state(pool: asyncpg.Pool, schema: str) -> None:
    seen: list[int] = []

    async def look() -> None:
        async with pool.acquire() as conn:
            seen.append(await conn.fetchval("SELECT count(*) FROM inbox"))

    async with uow_for(pool, schema, event(decided(), subject="c3")) as uow:
        uow.after_commit(look)

    assert seen == [1]


async def test_a_unit_of_work_without_an_event_claims_nothing_and_starts_a_flow(pool: asyncpg.Pool,
                                                                               schema: str) -> None:
    correlation = uuid4()
    async with uow_for(pool, schema, None) as uow:
        out = await uow.emit(decided(), subject="c4", correlation_id=correlation)

    assert out.causation_id is None and out.correlation_id == correlation
    assert await counts(pool) == (0, 1)


async def test_the_relay_is_woken_by_a_commit_and_not_by_a_rollback(pool: asyncpg.Pool, schema: str,
                                                                   database: str) -> None:
    from shared.db.outbox import channel_name
    from shared.db.pool import connect

    listener = await connect(database, schema, application_name="it-uow-listen")
    heard: list[str] = []
    await listener.add_listener(channel_name(schema), lambda *args: heard.append(args[2]))
    try:
        async with uow_for(pool, schema, event(decided(), subject="c5")) as uow:
            for _ in range(3):
                await uow.emit(decided(), subject="c5")
        with pytest.raises(RuntimeError):
            async with uow_for(pool, schema, event(decided(), subject="c6")) as uow:
                await uow.emit(decided(), subject="c6")
                raise RuntimeError("rolled back")
        await eventually(lambda: heard, timeout=5, what="the commit's NOTIFY")
        await listener.execute("SELECT 1")  # a round trip: any later notification has arrived by now
    finally:
        await listener.close()

    assert heard == [channel_name(schema)]
    assert await counts(pool) == (1, 3)


async def test_a_batch_whose_commit_a_deferred_constraint_refuses_is_split_and_only_the_bad_event_fails(
        pool: asyncpg.Pool, schema: str) -> None:
    async with pool.acquire() as conn:
        await conn.execute("CREATE TABLE scratch_parent (id text PRIMARY KEY);"
                           "CREATE TABLE scratch_child (id text PRIMARY KEY, parent text NOT NULL"
                           " REFERENCES scratch_parent (id) DEFERRABLE INITIALLY DEFERRED);"
                           "INSERT INTO scratch_parent VALUES ('known')")

    async def handle(payload: CaseStatusChanged, uow: UnitOfWork[asyncpg.Connection]) -> str:
        notes = payload.status_notes or ""
        # passes at the INSERT (the check is deferred): PostgreSQL refuses only the COMMIT
        await uow.repo.execute("INSERT INTO scratch_child VALUES ($1, $2)", notes,
                               "missing" if notes == "orphan" else "known")
        await uow.emit(payload, subject=payload.case_id)
        return "recorded"

    case = uuid4()
    envelopes = [event(CaseStatusChanged(case_id=case, service_request_id="DEMO-26-000001", jurisdiction_id="demo",
                                         status="closed", status_notes=n), subject=str(case))
                 for n in ("one", "two", "orphan", "four", "five")]
    consumed = [(e, Delivery(topic="cases.lifecycle", partition=0, offset=i, consumer=schema))
                for i, e in enumerate(envelopes)]

    def batch() -> PgBatchUnitOfWork[asyncpg.Connection]:
        return PgBatchUnitOfWork(pool, service=schema, repository=lambda conn: conn)

    table = {CaseStatusChanged.event_type: (CaseStatusChanged, handle)}
    with pytest.raises(asyncpg.ForeignKeyViolationError):  # before the last attempt: the batch is retried whole
        await dispatch_batch(table, consumed, batch, clock=lambda: NOW, last_attempt=False)
    assert await counts(pool) == (0, 0)

    outcomes = await dispatch_batch(table, consumed, batch, clock=lambda: NOW, last_attempt=True)

    assert outcomes[2].failure is not None and outcomes[2].failure[0] == "ForeignKeyViolationError"
    assert [o.result for i, o in enumerate(outcomes) if i != 2] == ["recorded"] * 4
    good = [e for i, e in enumerate(envelopes) if i != 2]
    async with pool.acquire() as conn:
        inbox = {r["event_id"] for r in await conn.fetch("SELECT event_id FROM inbox")}
        caused = [Envelope.from_bytes(r["payload"]).causation_id
                  for r in await conn.fetch("SELECT payload FROM outbox ORDER BY id")]
        children = [r["id"] for r in await conn.fetch("SELECT id FROM scratch_child ORDER BY id")]
    assert inbox == {e.event_id for e in good}, "the refused event is not claimed: a replay from the DLQ is handled"
    assert caused == [e.event_id for e in good], "the case's events committed in their order"
    assert sorted(children) == sorted(["one", "two", "four", "five"])
    assert pool.get_size() - pool.get_idle_size() == 0, "every connection went back to the pool"
