"""A service's batch consumer on real Kafka and PostgreSQL: one transaction per batch, a poison message in
the middle of a partition dead-lettered while the messages behind it are handled, redelivered duplicates
skipped by the inbox, and every rebalance logged and counted (once per process, however many subscribers of
the group it runs)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
import structlog
from aiokafka import AIOKafkaProducer
from faststream.kafka.annotations import KafkaMessage

from shared.db.pool import create_pool
from shared.events import CaseStatusChanged, Envelope
from shared.kafka import SUBSCRIBER_DEFAULTS, PermanentError
from shared.service import Runtime
from shared.service_layer import UnitOfWork
from shared.settings import Settings
from support.infra import KAFKA
from support.wait import eventually

NOW = datetime(2025, 3, 14, 15, 9, 26, tzinfo=UTC)
CASE = uuid.UUID("0b6a3a52-7d0e-4a8e-8f49-6a3c1d2e9f10")
PARTITIONS = 6  # cases.lifecycle's, from the registry


def status_changed(notes: str) -> Envelope:
    data = CaseStatusChanged(case_id=CASE, service_request_id="311-000321", jurisdiction_id="demo",
                             status="closed", status_notes=notes)
    return Envelope.new_flow(data, subject=str(CASE), producer="case", now=NOW)


@pytest.fixture
async def pool(database: str, schema: str) -> AsyncIterator[asyncpg.Pool]:
    p = await create_pool(database, schema, application_name="it-batches", max_size=2)
    yield p
    await p.close()


@pytest.fixture
async def runtimes() -> AsyncIterator[list[Runtime]]:
    started: list[Runtime] = []
    yield started
    for rt in started:
        await rt.broker.stop()


def service(settings: Settings, name: str, pool: asyncpg.Pool | None, table: Any, group: str) -> Runtime:
    """A service's runtime as `create_app` wires it (the pool given instead of opened by the lifespan),
    subscribed to cases.lifecycle in consumer group `group`."""
    rt = Runtime(settings, name)
    rt.pool = pool
    call = rt.event_handler(lambda: table, lambda conn: conn)

    @rt.broker.subscriber(settings.topic("cases.lifecycle"), group_id=group, listener=rt.consumer.listener(group),
                          **SUBSCRIBER_DEFAULTS)
    async def on_lifecycle(msg: KafkaMessage) -> None:
        await rt.consumer.handle_batch(msg, call)

    return rt


async def send_all(settings: Settings, envelopes: list[bytes]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=KAFKA, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for value in envelopes:
            await producer.send_and_wait(settings.topic("cases.lifecycle"), value, key=str(CASE).encode())
    finally:
        await producer.stop()


async def test_a_poison_message_in_a_batch_is_dead_lettered_and_the_messages_behind_it_commit(
        settings: Settings, pool: asyncpg.Pool, schema: str, runtimes: list[Runtime], kafka: Any) -> None:
    handled: list[str] = []

    async def handle(payload: CaseStatusChanged, uow: UnitOfWork[Any]) -> str:
        handled.append(payload.status_notes or "")
        await uow.emit(payload, subject=payload.case_id)
        if payload.status_notes == "poison":
            raise PermanentError("case 311-000321 cannot be closed twice")
        return "recorded"

    table = {CaseStatusChanged.event_type: (CaseStatusChanged, handle)}
    batch = [status_changed(n) for n in ("one", "two", "poison", "four", "five")]
    await send_all(settings, [e.to_bytes() for e in batch])  # before the consumer starts: one batch
    rt = service(settings, schema, pool, table, settings.group("it"))
    await rt.broker.start()
    runtimes.append(rt)

    (dead,) = await kafka.read(settings.topic("cases.lifecycle") + ".dlq", 1, timeout=20)  # after the batch committed
    async with pool.acquire() as conn:
        inbox = {r["event_id"] for r in await conn.fetch("SELECT event_id FROM inbox")}
        caused = [r["payload"] for r in await conn.fetch("SELECT payload FROM outbox ORDER BY id")]

    assert Envelope.from_bytes(dead.value) == batch[2]
    assert dict(dead.headers)["x-omni311-error"] == b"PermanentError"
    assert dict(dead.headers)["x-omni311-source-offset"] == b"2"
    assert handled == ["one", "two", "poison", "four", "five"]
    assert inbox == {e.event_id for i, e in enumerate(batch) if i != 2}
    assert [Envelope.from_bytes(p).causation_id for p in caused] == [e.event_id for i, e in enumerate(batch) if i != 2]
    assert rt.metrics.get_sample_value("omni311_consumer_batch_size_count", {"group": settings.group("it")}) >= 1

    await send_all(settings, [batch[0].to_bytes(), batch[3].to_bytes(), status_changed("six").to_bytes()])
    await eventually(lambda: handled[-1:] == ["six"], timeout=15, what="the event after the redelivered ones")
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM outbox") == 5
    assert handled == ["one", "two", "poison", "four", "five", "six"], "redelivered duplicates are skipped"
    assert await kafka.count(settings.topic("cases.lifecycle") + ".dlq") == 1


def rebalances(logs: list[dict[str, Any]]) -> list[tuple[list[str], list[str]]]:
    return [(e["revoked"], e["assigned"]) for e in logs if e["event"] == "consumer_rebalance"]


async def test_a_second_consumer_joining_the_group_makes_the_first_log_the_rebalance_and_count_it(
        settings: Settings, runtimes: list[Runtime]) -> None:
    group, topic = settings.group("it-rebalance"), settings.topic("cases.lifecycle")
    every = sorted(f"{topic}:{p}" for p in range(PARTITIONS))

    def gauge(rt: Runtime) -> float | None:
        return rt.metrics.get_sample_value("omni311_consumer_assigned_partitions", {"group": group, "topic": topic})

    def count(rt: Runtime) -> float | None:
        return rt.metrics.get_sample_value("omni311_consumer_rebalances_total", {"group": group})

    with structlog.testing.capture_logs() as logs:
        first = service(settings, "it-first", None, {}, group)
        await first.broker.start()
        runtimes.append(first)
        await eventually(lambda: gauge(first) == PARTITIONS, timeout=30, what="every partition assigned to the first")
        assert rebalances(logs) == [([], every)] and count(first) == 1

        second = service(settings, "it-second", None, {}, group)
        await second.broker.start()
        runtimes.append(second)
        await eventually(lambda: gauge(first) == PARTITIONS // 2 and gauge(second) == PARTITIONS // 2, timeout=60,
                         what="the partitions shared between the two")

    revoked_all = [(revoked, assigned) for revoked, assigned in rebalances(logs) if revoked == every]
    assert len(revoked_all) == 1, rebalances(logs)
    (_, kept), = revoked_all
    assert len(kept) == PARTITIONS // 2 and set(kept) < set(every)
    assert count(first) == 2
    assert all(e["group"] == group for e in logs if e["event"] == "consumer_rebalance")


async def test_a_rebalance_of_a_group_read_by_two_subscribers_of_one_process_is_counted_once(
        settings: Settings, runtimes: list[Runtime]) -> None:
    group = settings.group("it-lanes")
    lifecycle, intake = settings.topic("cases.lifecycle"), settings.topic("intake.messages")
    first = Runtime(settings, "it-lanes")  # two subscribers of one group, as the case service and insights have
    call = first.event_handler(lambda: {}, lambda conn: conn)
    heard: list[str] = []  # which of the first process's subscribers was assigned, each time

    def lane(topic: str) -> Any:
        listener: Any = first.consumer.listener(group)
        assigned = listener.on_partitions_assigned

        async def on_assigned(partitions: Any) -> None:
            await assigned(partitions)
            heard.append(topic)

        listener.on_partitions_assigned = on_assigned
        return listener

    @first.broker.subscriber(lifecycle, group_id=group, listener=lane(lifecycle), **SUBSCRIBER_DEFAULTS)
    async def on_lifecycle(msg: KafkaMessage) -> None:
        await first.consumer.handle_batch(msg, call)

    @first.broker.subscriber(intake, group_id=group, listener=lane(intake), **SUBSCRIBER_DEFAULTS)
    async def on_intake(msg: KafkaMessage) -> None:
        await first.consumer.handle_batch(msg, call)

    def assigned(rt: Runtime, topic: str) -> float | None:
        return rt.metrics.get_sample_value("omni311_consumer_assigned_partitions", {"group": group, "topic": topic})

    def count(rt: Runtime) -> float | None:
        return rt.metrics.get_sample_value("omni311_consumer_rebalances_total", {"group": group})

    await first.broker.start()
    runtimes.append(first)
    await eventually(lambda: assigned(first, lifecycle) == PARTITIONS and assigned(first, intake) == PARTITIONS,
                     timeout=30, what="each topic assigned to its subscriber")
    seen = {topic: heard.count(topic) for topic in (lifecycle, intake)}

    second = service(settings, "it-lanes-2", None, {}, group)  # joins for cases.lifecycle: a rebalance
    await second.broker.start()
    runtimes.append(second)
    await eventually(lambda: assigned(first, lifecycle) == PARTITIONS // 2
                     and all(heard.count(t) > n for t, n in seen.items()), timeout=60,
                     what="both subscribers of the first process assigned again, cases.lifecycle shared")

    # Eager rebalancing: every member of the group is assigned in every generation it belongs to, so the
    # subscriber that joined first was assigned once per generation; counted per subscriber, the first
    # process said 2 for each rebalance both its subscribers were in.
    generations = max(heard.count(lifecycle), heard.count(intake))
    assert count(first) == generations, heard
    assert heard.count(lifecycle) + heard.count(intake) > generations
    assert count(second) == 1
