"""The transactional outbox publishes exactly what was committed, in order, promptly, from one relay.

Every wait here is on a condition with a generous deadline (`WAIT_S`: the broker and PostgreSQL are shared
and the cores busy). Where a test proves that a relay was woken by a NOTIFY or by the advisory lock's queue,
not by its poll, the relay polls once an hour (`NEVER_POLL_S`), so any arrival within the deadline proves it
without a bound on a clock."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer

from shared.db.outbox import OutboxRelay, enqueue, enqueue_many, oldest_unpublished_age_s, outbox_row
from shared.db.pool import connect
from shared.events import CaseOpened, Envelope, MessageReceived
from shared.kafka import create_producer, outbox_publisher
from shared.settings import Settings
from support.wait import eventually

NOW = datetime(2025, 3, 14, 15, 9, 26, tzinfo=UTC)
WAIT_S = 60.0
"""Seconds a test waits for a condition before it fails."""
NEVER_POLL_S = 3600.0
"""A relay's poll interval no test waits out: a row published within `WAIT_S` came by its NOTIFY (or, for a
standby, by the lock's queue)."""
Publish = Callable[[list[tuple[bytes, str, bytes]]], Awaitable[None]]


def case_opened(case_id: uuid.UUID, n: int = 0) -> Envelope:
    data = CaseOpened(case_id=case_id, service_request_id=f"311-{n:06d}", jurisdiction_id="demo", channel="web",
                      channel_message_id=f"tok-{n}", contact_key="ck:1", requested_datetime=NOW,
                      description=f"report {n}")
    return Envelope.new_flow(data, subject=str(case_id), producer="case", now=NOW)


def message_received(contact_key: str, n: int = 0) -> Envelope:
    data = MessageReceived(channel="web", channel_message_id=f"m-{n}", contact_key=contact_key, received_at=NOW)
    return Envelope.new_flow(data, subject=contact_key, producer="intake_web", now=NOW)


async def enqueue_committed(conn: asyncpg.Connection, schema: str, envelopes: list[Envelope]) -> None:
    async with conn.transaction():
        for env in envelopes:
            await enqueue(conn, env, schema=schema)


def event_ids(records: list[Any]) -> list[str]:
    return [str(Envelope.from_bytes(r.value).event_id) for r in records]


@pytest.fixture
async def db(database: str, schema: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await connect(database, schema, application_name="it-outbox-writer")
    try:
        yield conn
    finally:
        await conn.close()


@pytest.fixture
async def producer(settings: Settings) -> AsyncIterator[AIOKafkaProducer]:
    p = create_producer(settings, "it")
    await p.start()
    try:
        yield p
    finally:
        await p.stop()


@pytest.fixture
async def relays(database: str, schema: str, settings: Settings,
                 producer: AIOKafkaProducer) -> AsyncIterator[Callable[..., OutboxRelay]]:
    """Start relays on the test's schema: `relays(poll_interval_s=..., publish=...)`; all stopped after."""
    started: list[OutboxRelay] = []

    def start(*, poll_interval_s: float = 0.2, publish: Publish | None = None) -> OutboxRelay:
        relay = OutboxRelay(dsn=database, schema=schema, publish=publish or outbox_publisher(producer),
                            topic_name=settings.topic, poll_interval_s=poll_interval_s)
        relay.start()
        started.append(relay)
        return relay

    try:
        yield start
    finally:
        for relay in started:
            await relay.stop()


def contains(event_id: uuid.UUID) -> Callable[[list[Any]], bool]:
    return lambda records: str(event_id) in event_ids(records)


async def test_an_enqueue_in_a_rolled_back_transaction_publishes_nothing(
        db: asyncpg.Connection, schema: str, settings: Settings, relays: Any, kafka: Any) -> None:
    case_id = uuid.uuid4()
    rolled_back, marker = case_opened(case_id, 1), case_opened(case_id, 2)
    with pytest.raises(RuntimeError):
        async with db.transaction():
            await enqueue(db, rolled_back, schema=schema)
            raise RuntimeError("the state change failed")
    await enqueue_committed(db, schema, [marker])

    relays()
    topic = settings.topic("cases.lifecycle")
    records = await kafka.read(topic, contains(marker.event_id), timeout=WAIT_S)

    assert event_ids(records) == [str(marker.event_id)]
    assert await db.fetchval("SELECT count(*) FROM outbox") == 1
    assert await kafka.count(topic) == 1


async def test_committed_rows_are_relayed_in_id_order_to_the_registry_topic_keyed_by_subject(
        db: asyncpg.Connection, schema: str, settings: Settings, relays: Any, kafka: Any) -> None:
    case_a, case_b = uuid.uuid4(), uuid.uuid4()
    lifecycle = [case_opened(case_a if n % 3 else case_b, n) for n in range(30)]
    intake = [message_received("ck:reporter-7", n) for n in range(5)]
    # several transactions, interleaving topics and keys
    for i in range(0, 30, 6):
        await enqueue_committed(db, schema, [*lifecycle[i:i + 6], intake[i // 6]])

    relays()
    cases_topic, intake_topic = settings.topic("cases.lifecycle"), settings.topic("intake.messages")
    cases = await kafka.read(cases_topic, 30, timeout=WAIT_S)
    intakes = await kafka.read(intake_topic, 5, timeout=WAIT_S)

    for subject in (case_a, case_b):
        got = [r for r in cases if r.key == str(subject).encode()]
        assert len({r.partition for r in got}) == 1, "one key, one partition"
        assert event_ids(got) == [str(e.event_id) for e in lifecycle if e.subject == str(subject)]
    assert {r.key for r in cases} == {str(case_a).encode(), str(case_b).encode()}
    assert event_ids(intakes) == [str(e.event_id) for e in intake]
    assert {r.key for r in intakes} == {b"ck:reporter-7"}
    assert await kafka.count(cases_topic) == 30 and await kafka.count(intake_topic) == 5
    assert await kafka.count(settings.topic("routing.decisions")) == 0
    assert await db.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL") == 0


async def test_notify_wakes_an_idle_relay_long_before_its_poll_interval(
        db: asyncpg.Connection, schema: str, settings: Settings, relays: Any, kafka: Any) -> None:
    relay = relays(poll_interval_s=NEVER_POLL_S)
    topic = settings.topic("cases.lifecycle")
    first = case_opened(uuid.uuid4(), 1)
    await enqueue_committed(db, schema, [first])
    await kafka.read(topic, contains(first.event_id), timeout=WAIT_S)

    for n in range(3):
        # The relay marked what it published and waits (for an hour, or a NOTIFY) before the next row.
        await eventually(lambda n=n: relay.published == 1 + n, timeout=WAIT_S, what=f"{1 + n} rows marked")
        env = case_opened(uuid.uuid4(), 10 + n)
        await enqueue_committed(db, schema, [env])
        await kafka.read(topic, contains(env.event_id), timeout=WAIT_S)


async def test_a_batch_written_in_one_statement_keeps_its_order_skips_known_ids_and_wakes_the_relay(
        db: asyncpg.Connection, schema: str, settings: Settings, relays: Any, kafka: Any) -> None:
    """`enqueue_many` (a consumed batch's outbox, PgBatchUnitOfWork): ids in the given order, an event id
    already in the outbox skipped, and its NOTIFY wakes an idle relay at the commit (it polls once an hour)."""
    relay = relays(poll_interval_s=NEVER_POLL_S)
    topic = settings.topic("cases.lifecycle")
    case_a, case_b = uuid.uuid4(), uuid.uuid4()
    envs = [case_opened(case_a if n % 2 else case_b, 200 + n) for n in range(8)]
    await enqueue_committed(db, schema, [envs[3]])
    await kafka.read(topic, contains(envs[3].event_id), timeout=WAIT_S)
    await eventually(lambda: relay.published == 1, timeout=WAIT_S, what="the first row marked")  # then idle
    async with db.transaction():
        await enqueue_many(db, [outbox_row(e) for e in envs], schema=schema)

    records = await kafka.read(topic, 8, timeout=WAIT_S)
    rows = [r["event_id"] for r in await db.fetch("SELECT event_id FROM outbox ORDER BY id")]
    assert rows == [envs[3].event_id] + [e.event_id for i, e in enumerate(envs) if i != 3]
    in_order = [envs[3]] + [e for i, e in enumerate(envs) if i != 3]
    for subject in (case_a, case_b):  # Kafka keeps the order per key (partition)
        assert event_ids([r for r in records if r.key == str(subject).encode()]) == [
            str(e.event_id) for e in in_order if e.subject == str(subject)]
    with pytest.raises(KeyError):
        outbox_row(Envelope.model_validate({**envs[0].model_dump(), "event_type": "case.unknown"}))


async def test_a_row_committed_while_the_relay_publishes_is_not_left_for_the_poll(
        db: asyncpg.Connection, database: str, schema: str, settings: Settings, producer: AIOKafkaProducer,
        relays: Any, kafka: Any) -> None:
    """The NOTIFY of a row committed during a drain must not be lost when the drain ends."""
    topic = settings.topic("cases.lifecycle")
    late = case_opened(uuid.uuid4(), 99)
    real_publish = outbox_publisher(producer)
    writer = await connect(database, schema, application_name="it-concurrent-writer")
    calls = 0

    async def publish_while_another_transaction_commits(batch: list[tuple[bytes, str, bytes]]) -> None:
        nonlocal calls
        calls += 1
        await real_publish(batch)
        if calls == 1:
            await enqueue_committed(writer, schema, [late])  # its NOTIFY reaches the relay mid-drain
            await asyncio.sleep(0.2)

    try:
        await enqueue_committed(db, schema, [case_opened(uuid.uuid4(), 1)])
        relays(poll_interval_s=NEVER_POLL_S, publish=publish_while_another_transaction_commits)
        await kafka.read(topic, contains(late.event_id), timeout=WAIT_S)
    finally:
        await writer.close()


async def test_two_relays_on_one_schema_never_both_publish(
        db: asyncpg.Connection, schema: str, settings: Settings, relays: Any, kafka: Any) -> None:
    a, b = relays(), relays()
    topic = settings.topic("cases.lifecycle")
    written: list[Envelope] = []
    for batch in range(4):
        envs = [case_opened(uuid.uuid4(), batch * 10 + n) for n in range(10)]
        await enqueue_committed(db, schema, envs)
        written += envs
        await asyncio.sleep(0.1)

    records = await kafka.read(topic, 40, timeout=WAIT_S)
    await eventually(lambda: a.published + b.published >= 40, timeout=WAIT_S, what="all marked published")
    await asyncio.sleep(0.5)  # give a misbehaving second relay time to publish again

    assert sorted(event_ids(records)) == sorted(str(e.event_id) for e in written)
    assert await kafka.count(topic) == 40, "duplicates in the topic"
    assert sorted([a.published, b.published]) == [0, 40], "exactly one relay holds the lock"


async def test_a_standby_relay_takes_over_when_the_active_one_stops(
        db: asyncpg.Connection, schema: str, settings: Settings, relays: Any, kafka: Any) -> None:
    a, b = relays(), relays()
    topic = settings.topic("cases.lifecycle")
    first = [case_opened(uuid.uuid4(), n) for n in range(5)]
    await enqueue_committed(db, schema, first)
    await kafka.read(topic, 5, timeout=WAIT_S)
    await eventually(lambda: a.published + b.published == 5, timeout=WAIT_S, what="first batch marked published")
    active, standby = (a, b) if a.published else (b, a)
    await active.stop()

    second = [case_opened(uuid.uuid4(), 10 + n) for n in range(5)]
    await enqueue_committed(db, schema, second)
    records = await kafka.read(topic, 10, timeout=WAIT_S)

    assert sorted(event_ids(records)) == sorted(str(e.event_id) for e in first + second)
    await eventually(lambda: standby.published == 5, timeout=WAIT_S, what="second batch marked by the standby")
    assert active.published == 5
    assert await kafka.count(topic) == 10


async def test_a_standby_relay_takes_over_at_once_when_the_active_one_dies(
        db: asyncpg.Connection, database: str, schema: str, settings: Settings, relays: Any, kafka: Any) -> None:
    """A crash, not a stop: PostgreSQL ends the active relay's session (as when its process is killed) and
    the relay never comes back. The standby, started once the lock was taken, waits in the lock's queue, so
    it publishes the next row long before its hourly poll interval would have let it ask again."""
    active = relays(poll_interval_s=NEVER_POLL_S)
    topic = settings.topic("cases.lifecycle")
    first = case_opened(uuid.uuid4(), 1)
    await enqueue_committed(db, schema, [first])
    await kafka.read(topic, contains(first.event_id), timeout=WAIT_S)
    await eventually(lambda: active.published == 1, timeout=WAIT_S, what="first row marked published")
    standby = relays(poll_interval_s=NEVER_POLL_S)

    admin = await asyncpg.connect(database)
    try:
        # The standby found the lock taken: its session waits in the lock's queue.
        await eventually(lambda: admin.fetchval(
            "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity s USING (pid) "
            "WHERE l.locktype = 'advisory' AND NOT l.granted AND s.application_name = $1",
            f"{schema}-outbox-relay"), timeout=WAIT_S, what="the standby queued on the relay lock")
        killed = await admin.fetchval(
            "SELECT pg_terminate_backend(l.pid) FROM pg_locks l JOIN pg_stat_activity s USING (pid) "
            "WHERE l.locktype = 'advisory' AND l.granted AND s.application_name = $1",
            f"{schema}-outbox-relay")
    finally:
        await admin.close()
    assert killed, "the active relay's session held the lock"
    await active.stop()  # the dead process does not come back
    second = case_opened(uuid.uuid4(), 2)
    await enqueue_committed(db, schema, [second])
    # Read within WAIT_S while the relays poll once an hour: only a standby queued on the lock gets there.
    await kafka.read(topic, contains(second.event_id), timeout=WAIT_S)

    await eventually(lambda: standby.published == 1, timeout=WAIT_S, what="the standby marked the second row")
    assert active.published == 1
    assert await kafka.count(topic) == 2


async def test_a_relay_that_starts_with_a_backlog_publishes_it(
        db: asyncpg.Connection, schema: str, settings: Settings, relays: Any, kafka: Any) -> None:
    backlog = [case_opened(uuid.uuid4(), n) for n in range(250)]  # more than one batch of 200
    for i in range(0, 250, 50):
        await enqueue_committed(db, schema, backlog[i:i + 50])
    topic = settings.topic("cases.lifecycle")
    assert await kafka.count(topic) == 0

    relay = relays(poll_interval_s=NEVER_POLL_S)
    records = await kafka.read(topic, 250, timeout=WAIT_S)

    assert sorted(event_ids(records)) == sorted(str(e.event_id) for e in backlog)
    await eventually(lambda: relay.published == 250, timeout=WAIT_S, what="backlog marked published")
    assert await relay.pending() == 0
    assert await kafka.count(topic) == 250


async def test_stopping_a_relay_mid_publish_does_not_make_its_successor_resend(
        db: asyncpg.Connection, schema: str, settings: Settings, producer: AIOKafkaProducer, relays: Any,
        kafka: Any) -> None:
    """A rolling restart: SIGTERM arrives while a batch is being acknowledged by Kafka."""
    topic = settings.topic("cases.lifecycle")
    real_publish = outbox_publisher(producer)
    in_flight = asyncio.Event()

    async def slow_ack(batch: list[tuple[bytes, str, bytes]]) -> None:
        await real_publish(batch)
        in_flight.set()
        await asyncio.sleep(0.5)  # the acknowledgement is slow to come back

    envs = [case_opened(uuid.uuid4(), n) for n in range(5)]
    await enqueue_committed(db, schema, envs)
    old = relays(publish=slow_ack)
    await asyncio.wait_for(in_flight.wait(), WAIT_S)
    await old.stop()

    successor = relays()
    marker = case_opened(uuid.uuid4(), 99)
    await enqueue_committed(db, schema, [marker])
    records = await kafka.read(topic, contains(marker.event_id), timeout=WAIT_S)

    assert sorted(event_ids(records)) == sorted(str(e.event_id) for e in [*envs, marker])
    assert await kafka.count(topic) == 6
    assert old.published == 5
    await eventually(lambda: successor.published == 1, timeout=WAIT_S, what="successor published the marker only")


async def test_the_outbox_age_is_the_oldest_unpublished_rows_and_zero_once_all_are_published(
        db: asyncpg.Connection, schema: str) -> None:
    assert await oldest_unpublished_age_s(db) == 0.0
    await enqueue_committed(db, schema, [case_opened(uuid.uuid4(), 1), case_opened(uuid.uuid4(), 2)])
    await db.execute("UPDATE outbox SET created_at = now() - interval '90 seconds' WHERE id = (SELECT min(id) FROM outbox)")
    assert 90.0 <= await oldest_unpublished_age_s(db) < 120.0
    await db.execute("UPDATE outbox SET published_at = now() WHERE id = (SELECT min(id) FROM outbox)")
    assert 0.0 <= await oldest_unpublished_age_s(db) < 30.0
    await db.execute("UPDATE outbox SET published_at = now()")
    assert await oldest_unpublished_age_s(db) == 0.0
