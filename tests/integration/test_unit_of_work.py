"""The PostgreSQL unit of work on a real schema: the inbox claim, the effect and the outbox rows commit
together or not at all, and work registered for after the commit runs only after it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from uuid import uuid4

import asyncpg
import pytest

from services.router.adapters.repository import RouterRepository
from shared.db.pool import create_pool
from shared.db.unit_of_work import PgUnitOfWork
from shared.events import Envelope, RoutingDecided, RoutingFields
from shared.kafka import Delivery
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
