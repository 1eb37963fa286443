"""Hostile batches on a real Kafka and PostgreSQL (`Consumer.handle_batch` + `dispatch_batch` +
`PgBatchUnitOfWork`): one event id twice in a batch, poison first and last, a wrong version, an unknown event
type, a 900 KB body, NUL bytes, an emit of an unregistered event, a transient error for one event, a record
without a key, a batch of nothing but poison, and a dead-letter topic that is gone; and, on PostgreSQL alone,
a COMMIT refused for good (split until each poison is alone) with a `prepare` hook, one failing in a half.
Each event's effect, outbox row and after-commit action must happen exactly once; every poison lands in the
DLQ once; no offset is committed past a dead letter that was not delivered."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any, ClassVar

import asyncpg
import pytest
import structlog
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import MessageSizeTooLargeError
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from faststream.kafka.annotations import KafkaMessage

from shared.db.pool import create_pool
from shared.events import CaseStatusChanged, Envelope
from shared.events.envelope import EventData
from shared.kafka import SUBSCRIBER_DEFAULTS, PermanentError, ensure_topics
from shared.service import Runtime
from shared.service_layer import UnitOfWork
from shared.settings import Settings
from support.infra import KAFKA
from support.wait import eventually

NOW = datetime(2025, 3, 14, 15, 9, 26, tzinfo=UTC)
CASE = uuid.UUID("5d0c1e8a-3b7f-4f4e-9a61-2c8e7d9b0a11")


class NeverRegistered(EventData):
    """An event class the registry does not know: emitting it raises KeyError."""

    event_type: ClassVar[str] = "bogus.never_registered"
    schema_version: ClassVar[int] = 1
    note: str


def status_changed(notes: str) -> Envelope:
    data = CaseStatusChanged(case_id=CASE, service_request_id="311-000777", jurisdiction_id="demo",
                             status="closed", status_notes=notes)
    return Envelope.new_flow(data, subject=str(CASE), producer="case", now=NOW)


def tampered(env: Envelope, **changes: Any) -> bytes:
    wire = json.loads(env.to_bytes())
    wire.update(changes)
    return json.dumps(wire).encode()


@pytest.fixture
async def pool(database: str, schema: str) -> AsyncIterator[asyncpg.Pool]:
    p = await create_pool(database, schema, application_name="it-batches-hostile", max_size=2)
    async with p.acquire() as conn:
        await conn.execute("CREATE TABLE effects (event_id uuid NOT NULL, notes text NOT NULL)")
    yield p
    await p.close()


@pytest.fixture
async def runtimes() -> AsyncIterator[list[Runtime]]:
    started: list[Runtime] = []
    yield started
    for rt in started:
        await rt.broker.stop()


class Probe:
    """The test's handler: writes the notes to `effects`, emits the event again, registers an after-commit
    action; "poison*" raise PermanentError, "unregistered" emits an unknown event, "flaky" raises a
    transient error on its first attempt only."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.after: list[str] = []
        self.flaky_failed = False

    async def handle(self, payload: CaseStatusChanged, uow: UnitOfWork[Any]) -> str:
        notes = payload.status_notes or ""
        self.calls.append(notes[:20])
        await uow.repo.execute("INSERT INTO effects (event_id, notes) VALUES ($1, $2)", uow.envelope.event_id, notes)
        await uow.emit(payload, subject=payload.case_id)
        if notes.startswith("poison"):
            raise PermanentError(f"{notes} can never succeed")
        if notes == "unregistered":
            await uow.emit(NeverRegistered(note="x"), subject=payload.case_id)
        if notes == "flaky" and not self.flaky_failed:
            self.flaky_failed = True
            raise ConnectionResetError("database went away for this event only")

        async def after() -> str:
            self.after.append(notes[:20])
            return "after"

        uow.after_commit(after)
        return "recorded"


def service(settings: Settings, name: str, pool: asyncpg.Pool, probe: Probe, group: str) -> Runtime:
    rt = Runtime(settings, name)
    rt.pool = pool
    table = {CaseStatusChanged.event_type: (CaseStatusChanged, probe.handle)}
    call = rt.event_handler(lambda: table, lambda conn: conn)

    @rt.broker.subscriber(settings.topic("cases.lifecycle"), group_id=group, listener=rt.consumer.listener(group),
                          **SUBSCRIBER_DEFAULTS)
    async def on_lifecycle(msg: KafkaMessage) -> None:
        await rt.consumer.handle_batch(msg, call)

    return rt


async def send(settings: Settings, records: list[tuple[int, bytes | None, bytes]]) -> None:
    """(partition, key, value) in order, each acknowledged before the next."""
    producer = AIOKafkaProducer(bootstrap_servers=KAFKA, acks="all", enable_idempotence=True,
                                max_request_size=2 * 1024 * 1024)
    await producer.start()
    try:
        for partition, key, value in records:
            await producer.send_and_wait(settings.topic("cases.lifecycle"), value, key=key, partition=partition)
    finally:
        await producer.stop()


async def committed(group: str, topic: str) -> dict[int, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=KAFKA, client_id="it-hostile-offsets")
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    return {tp.partition: meta.offset for tp, meta in offsets.items() if tp.topic == topic and meta.offset >= 0}


async def test_a_hostile_batch_has_each_effect_once_and_each_poison_in_the_dlq_once(
        settings: Settings, pool: asyncpg.Pool, schema: str, runtimes: list[Runtime], kafka: Any) -> None:
    key = str(CASE).encode()
    ok_a, ok_b = status_changed("a"), status_changed("b")
    wrong_version = tampered(status_changed("v99"), schema_version=99)
    unknown_type = tampered(status_changed("unknown"), event_type="nothing.anybody_consumes")
    huge = status_changed("h" * 900_000)
    nul = status_changed("nul\u0000byte")
    p0: list[tuple[bytes | None, bytes]] = [
        (key, status_changed("poison-first").to_bytes()),  # 0 dlq
        (key, ok_a.to_bytes()),                              # 1
        (key, ok_a.to_bytes()),                              # 2 same event id, same partition: skipped
        (key, wrong_version),                                # 3 dlq
        (key, unknown_type),                                 # 4 committed untouched
        (key, b"\x00\xff not json"),                         # 5 dlq
        (key, huge.to_bytes()),                              # 6
        (key, nul.to_bytes()),                               # 7 dlq (PostgreSQL text refuses NUL)
        (key, status_changed("unregistered").to_bytes()),    # 8 dlq (KeyError at emit)
        (key, status_changed("flaky").to_bytes()),           # 9 transient once: the whole batch again
        (None, status_changed("no key").to_bytes()),         # 10
        (key, status_changed("poison-last").to_bytes()),     # 11 dlq
    ]
    p1: list[tuple[bytes | None, bytes]] = [(key, ok_a.to_bytes()), (key, ok_b.to_bytes())]  # ok_a again: skipped
    await send(settings, [(0, k, v) for k, v in p0] + [(1, k, v) for k, v in p1])  # before the consumer: one batch
    probe = Probe()
    group = settings.group("it-hostile")
    rt = service(settings, schema, pool, probe, group)
    await rt.broker.start()
    runtimes.append(rt)

    topic = settings.topic("cases.lifecycle")
    deadline = asyncio.get_running_loop().time() + 30
    while (done := await committed(group, topic)) != {0: len(p0), 1: len(p1)}:
        assert asyncio.get_running_loop().time() < deadline, f"committed offsets {done}"
        await asyncio.sleep(0.3)
    dead = await kafka.read(topic + ".dlq", 6, timeout=10)
    await asyncio.sleep(1.0)  # a duplicate dead letter would show up now
    async with pool.acquire() as conn:
        effects = [(r["event_id"], r["notes"][:20]) for r in await conn.fetch("SELECT * FROM effects ORDER BY notes")]
        causes = [Envelope.from_bytes(r["payload"]).causation_id
                  for r in await conn.fetch("SELECT payload FROM outbox ORDER BY id")]
        inbox = {r["event_id"] for r in await conn.fetch("SELECT event_id FROM inbox")}

    handled = {"a", "b", "h" * 20, "flaky", "no key"}
    assert sorted(probe.after) == sorted(handled), "each after-commit action exactly once, none for a rolled back event"
    assert sorted(n for _, n in effects) == sorted(handled), "each effect exactly once"
    assert len(causes) == len(set(causes)) == len(handled), "each outbox row exactly once"
    assert len(inbox) == len(handled)
    assert ok_a.event_id in inbox and nul.event_id not in inbox
    assert await kafka.count(topic + ".dlq") == 6, [(dict(d.headers)["x-omni311-error"]) for d in dead]
    sources = sorted(int(dict(d.headers)["x-omni311-source-offset"]) for d in dead)
    assert sources == [0, 3, 5, 7, 8, 11]
    reasons = {int(dict(d.headers)["x-omni311-source-offset"]): dict(d.headers)["x-omni311-error"] for d in dead}
    assert reasons[0] == reasons[11] == b"PermanentError" and reasons[8] == b"KeyError"
    assert reasons[5] == b"unparseable_envelope" and reasons[3] == b"ValueError"
    assert all(d.value == p0[int(dict(d.headers)["x-omni311-source-offset"])][1] for d in dead), "kept unchanged"


async def test_a_batch_of_nothing_but_poison_is_dead_lettered_and_committed(
        settings: Settings, pool: asyncpg.Pool, schema: str, runtimes: list[Runtime], kafka: Any) -> None:
    key = str(CASE).encode()
    poison = [(0, key, b"{}"), (0, key, status_changed("poison-1").to_bytes()), (0, None, b""),
              (0, key, tampered(status_changed("v2"), schema_version=2)), (0, key, status_changed("poison-2").to_bytes())]
    await send(settings, poison)
    probe = Probe()
    group = settings.group("it-hostile-all-poison")
    rt = service(settings, schema, pool, probe, group)
    await rt.broker.start()
    runtimes.append(rt)

    topic = settings.topic("cases.lifecycle")
    dead = await kafka.read(topic + ".dlq", len(poison), timeout=30)
    deadline = asyncio.get_running_loop().time() + 20
    while (done := await committed(group, topic)) != {0: len(poison)}:
        assert asyncio.get_running_loop().time() < deadline, f"committed offsets {done}"
        await asyncio.sleep(0.3)
    assert sorted(int(dict(d.headers)["x-omni311-source-offset"]) for d in dead) == list(range(len(poison)))
    assert probe.after == []
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM effects") == 0
        assert await conn.fetchval("SELECT count(*) FROM outbox") == 0
        assert await conn.fetchval("SELECT count(*) FROM inbox") == 0, "a dead-lettered event's claim is given back"


async def test_no_offset_is_committed_past_a_dead_letter_the_broker_did_not_take(
        settings: Settings, pool: asyncpg.Pool, schema: str, runtimes: list[Runtime], kafka: Any) -> None:
    topic = settings.topic("cases.lifecycle")
    admin = AIOKafkaAdminClient(bootstrap_servers=KAFKA, client_id="it-hostile-admin")
    await admin.start()
    try:
        await admin.delete_topics([topic + ".dlq"])
        deadline = asyncio.get_running_loop().time() + 20
        while topic + ".dlq" in await admin.list_topics():
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.2)
    finally:
        await admin.close()
    key = str(CASE).encode()
    await send(settings, [(0, key, status_changed("ok").to_bytes()), (0, key, status_changed("poison").to_bytes()),
                          (0, key, status_changed("behind").to_bytes())])
    probe = Probe()
    group = settings.group("it-hostile-no-dlq")
    rt = service(settings, schema, pool, probe, group)
    await rt.broker.start()
    runtimes.append(rt)

    await eventually(lambda: "poison" in probe.calls, timeout=20, what="the poison handled")
    await asyncio.sleep(3.0)
    assert await committed(group, topic) == {}, "nothing committed while the dead letter is undelivered"

    await ensure_topics(settings)  # the DLQ comes back: the poison lands there and the batch commits
    deadline = asyncio.get_running_loop().time() + 45
    while (done := await committed(group, topic)) != {0: 3}:
        assert asyncio.get_running_loop().time() < deadline, f"committed offsets {done}"
        await asyncio.sleep(0.3)
    (dead,) = await kafka.read(topic + ".dlq", 1, timeout=10)
    assert Envelope.from_bytes(dead.value).data["status_notes"] == "poison"
    assert sorted(probe.after) == ["behind", "ok"], "each after-commit action once, despite the redelivery"
    async with pool.acquire() as conn:
        assert sorted(r["notes"] for r in await conn.fetch("SELECT notes FROM effects")) == ["behind", "ok"]
        assert await conn.fetchval("SELECT count(*) FROM outbox") == 2


async def test_a_record_near_the_size_limit_still_fits_in_the_dlq_with_its_error_headers(
        settings: Settings, pool: asyncpg.Pool, schema: str, runtimes: list[Runtime], kafka: Any) -> None:
    """The broker took the record (1 MiB less 200 bytes); its dead letter adds the error headers (a few hundred
    bytes): it must still go to the DLQ, or the partition would stop behind it for ever."""
    body = b"\x01" * (1024 * 1024 - 200)
    key = str(CASE).encode()
    await send(settings, [(0, key, body), (0, key, status_changed("behind").to_bytes())])
    probe = Probe()
    group = settings.group("it-hostile-big")
    rt = service(settings, schema, pool, probe, group)
    await rt.broker.start()
    runtimes.append(rt)

    topic = settings.topic("cases.lifecycle")
    deadline = asyncio.get_running_loop().time() + 25
    while (done := await committed(group, topic)) != {0: 2}:
        assert asyncio.get_running_loop().time() < deadline, f"committed offsets {done}; handled {probe.calls}"
        await asyncio.sleep(0.3)
    (dead,) = await kafka.read(topic + ".dlq", 1, timeout=10)
    assert dead.value == body and dict(dead.headers)["x-omni311-error"] == b"unparseable_envelope"
    assert probe.after == ["behind"]


async def test_a_dead_letter_the_broker_refuses_is_retried_with_backoff_and_logged_not_in_a_hot_loop(
        settings: Settings, pool: asyncpg.Pool, schema: str, runtimes: list[Runtime], kafka: Any) -> None:
    """The broker refuses every dead letter at once (here: the DLQ's max.message.bytes lowered to 100; in
    production an ACL or a policy): nothing may be committed past it, and the batch must not be redone
    several times a second (each time a transaction, each time the poison's handler)."""
    topic = settings.topic("cases.lifecycle")
    admin = AIOKafkaAdminClient(bootstrap_servers=KAFKA, client_id="it-hostile-admin")
    await admin.start()
    try:
        await admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, topic + ".dlq",
                                                  configs={"max.message.bytes": "100"})])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=KAFKA, acks="all")
    await producer.start()
    try:  # the broker applies a topic's new config a moment after it answered: wait until it refuses
        deadline = asyncio.get_running_loop().time() + 15
        while True:
            try:
                await producer.send_and_wait(topic + ".dlq", b"p" * 300)
            except MessageSizeTooLargeError:
                break
            assert asyncio.get_running_loop().time() < deadline, "the DLQ still takes 300 bytes"
            await asyncio.sleep(0.2)
    finally:
        await producer.stop()
    before = await kafka.count(topic + ".dlq")
    key = str(CASE).encode()
    await send(settings, [(0, key, status_changed("poison").to_bytes()), (0, key, status_changed("behind").to_bytes())])
    probe = Probe()
    group = settings.group("it-hostile-refused")
    rt = service(settings, schema, pool, probe, group)
    with structlog.testing.capture_logs() as logs:
        await rt.broker.start()
        runtimes.append(rt)
        await eventually(lambda: "poison" in probe.calls, timeout=20, what="the poison handled")
        await asyncio.sleep(4.0)
    assert await kafka.count(topic + ".dlq") == before, "the broker refused every dead letter"
    assert await committed(group, topic) == {}, "nothing committed past an undelivered dead letter"
    assert probe.calls.count("poison") <= 4, f"redone {probe.calls.count('poison')} times in ~4 s: a hot loop"
    failed = [e for e in logs if e["event"] == "dead_letter_failed"]
    assert failed and failed[0]["topic"] == topic and failed[0]["offset"] == 0, [e["event"] for e in logs][:20]


async def test_an_event_whose_outbox_row_postgresql_refuses_is_dead_lettered_alone(
        settings: Settings, pool: asyncpg.Pool, schema: str, runtimes: list[Runtime], kafka: Any) -> None:
    """A handler emits with a subject PostgreSQL cannot store (a NUL byte, e.g. copied from a hostile
    envelope): the outbox rows are written at the batch's commit, so the error must still be laid on that
    event alone, not rewind the batch for ever."""
    probe = Probe()
    original = probe.handle

    async def handle(payload: CaseStatusChanged, uow: UnitOfWork[Any]) -> str:
        if payload.status_notes == "nul subject":
            await uow.emit(payload, subject="case\u0000x")
        return await original(payload, uow)

    probe.handle = handle  # type: ignore[method-assign]
    key = str(CASE).encode()
    await send(settings, [(0, key, status_changed("before").to_bytes()), (0, key, status_changed("nul subject").to_bytes()),
                          (0, key, status_changed("after").to_bytes())])
    group = settings.group("it-hostile-nul-subject")
    rt = service(settings, schema, pool, probe, group)
    await rt.broker.start()
    runtimes.append(rt)

    topic = settings.topic("cases.lifecycle")
    deadline = asyncio.get_running_loop().time() + 20
    while (done := await committed(group, topic)) != {0: 3}:
        assert asyncio.get_running_loop().time() < deadline, f"committed offsets {done}; handled {probe.calls}"
        await asyncio.sleep(0.3)
    (dead,) = await kafka.read(topic + ".dlq", 1, timeout=10)
    assert Envelope.from_bytes(dead.value).data["status_notes"] == "nul subject"
    assert sorted(probe.after) == ["after", "before"]


# --- adversarial: a COMMIT refused for good, split until the poison is alone, with a `prepare` hook ---


async def _split_run(pool: asyncpg.Pool, schema: str, notes: list[str], *, prepare_fails_without: str | None = None,
                     consumed: list[tuple[Envelope, Any]] | None = None, fresh: bool = True
                     ) -> tuple[list[Any], list[list[str]], list[str], list[str], set[str]]:
    """`dispatch_batch` on events carrying `notes`; a "poison" note is refused only at COMMIT (a deferred
    unique key already taken). Returns the outcomes, the notes each `prepare` saw (one list per transaction),
    the notes committed in insertion order, the after-commit actions run, and the notes of the events in the
    inbox. With `prepare_fails_without`, a prepare whose events lack that note raises; `consumed`: the events
    to use (made from `notes` when None); `fresh` False: run on what an earlier run left."""
    from shared.db.unit_of_work import PgBatchUnitOfWork
    from shared.kafka import Delivery
    from shared.service_layer import dispatch_batch

    async with pool.acquire() as conn:
        if fresh:
            await conn.execute("DROP TABLE IF EXISTS deferred_notes; DELETE FROM inbox; "
                               "CREATE TABLE deferred_notes (id bigserial PRIMARY KEY, notes text NOT NULL, "
                               "CONSTRAINT one_note UNIQUE (notes) DEFERRABLE INITIALLY DEFERRED); "
                               "INSERT INTO deferred_notes (notes) VALUES ('taken')")
    prepared: list[list[str]] = []
    after: list[str] = []

    async def prepare(payloads: Any, uow: UnitOfWork[Any]) -> None:
        prepared.append([p.status_notes for p in payloads])
        await uow.repo.execute("SELECT pg_advisory_xact_lock(42)")  # held to the commit, as dedup's locks
        if prepare_fails_without is not None and prepare_fails_without not in prepared[-1]:
            raise RuntimeError("prepare failed")

    async def handle(payload: CaseStatusChanged, uow: UnitOfWork[Any]) -> str:
        note = payload.status_notes or ""
        await uow.repo.execute("INSERT INTO deferred_notes (notes) VALUES ($1)", "taken" if note.startswith("poison")
                               else note)

        async def done() -> str:
            after.append(note)
            return "after"

        uow.after_commit(done)
        return "recorded"

    if consumed is None:
        consumed = [(status_changed(n), Delivery(topic="cases.lifecycle", partition=0, offset=i, consumer="it"))
                    for i, n in enumerate(notes)]
    outcomes = await dispatch_batch({CaseStatusChanged.event_type: (CaseStatusChanged, handle)}, consumed,
                                    lambda: PgBatchUnitOfWork(pool, service=schema, repository=lambda c: c),
                                    clock=lambda: NOW, prepare=prepare)
    async with pool.acquire() as conn:
        kept = [r["notes"] for r in await conn.fetch(
            "SELECT notes FROM deferred_notes WHERE notes <> 'taken' ORDER BY id")]
        inbox = {r["event_id"] for r in await conn.fetch("SELECT event_id FROM inbox")}
    ids = {e.event_id: n for (e, _), n in zip(consumed, notes, strict=True)}
    assert inbox <= set(ids), "no claim but the batch's"
    return outcomes, prepared, kept, after, {ids[i] for i in inbox}


@pytest.mark.parametrize("notes", [
    ["poison", "a", "b", "c", "d", "e", "f"],
    ["a", "b", "c", "d", "e", "f", "poison"],
    ["poison"],
    ["a", "poison1", "b", "c", "d", "poison2", "e"],
    ["a", "b", "poison1", "poison2", "c"],
    ["poison1", "poison2", "poison3"],
], ids=["first", "last", "only", "two_apart", "two_adjacent", "all"])
async def test_a_commit_refused_for_good_leaves_each_poison_alone_wherever_it_is_and_keeps_the_order(
        pool: asyncpg.Pool, schema: str, notes: list[str]) -> None:
    outcomes, prepared, kept, after, inbox = await _split_run(pool, schema, notes)

    good = [n for n in notes if not n.startswith("poison")]
    assert [o.failure[0] if o.failure else o.result for o in outcomes] == [
        "UniqueViolationError" if n.startswith("poison") else "recorded,after" for n in notes]
    assert kept == good, "the good events' effects, once each, in event order across the halves"
    assert after == good, "after-commit actions once each, in order, none for a rolled-back try"
    assert inbox == set(good), "claims of the good events only (the poisons' rolled back with their try)"
    assert prepared[0] == notes, "the first transaction prepares the whole batch"
    for seen in prepared:
        assert seen == [n for n in notes if n in seen], "each half prepares its own events, in batch order"


async def test_a_prepare_that_fails_in_a_half_leaves_the_committed_half_and_a_retry_finishes_the_batch(
        pool: asyncpg.Pool, schema: str) -> None:
    """The whole batch's prepare passes, its COMMIT is refused, the first half commits, the second half's
    prepare fails: the error reaches the caller (who retries the batch), the first half stays committed once,
    and the retry skips it (the inbox) and isolates the poison."""
    from shared.kafka import Delivery

    notes = ["a", "b", "c", "poison", "d"]
    events = [(status_changed(n), Delivery(topic="cases.lifecycle", partition=0, offset=i, consumer="it"))
              for i, n in enumerate(notes)]
    with pytest.raises(RuntimeError, match="prepare failed"):
        await _split_run(pool, schema, notes, prepare_fails_without="a", consumed=events)
    async with pool.acquire() as conn:
        kept = [r["notes"] for r in await conn.fetch(
            "SELECT notes FROM deferred_notes WHERE notes <> 'taken' ORDER BY id")]
        claimed = await conn.fetchval("SELECT count(*) FROM inbox")
    assert (kept, claimed) == (["a", "b"], 2), "the first half committed with its claims; nothing of the second"

    outcomes, prepared, kept, after, inbox = await _split_run(pool, schema, notes, consumed=events, fresh=False)

    assert [o.failure[0] if o.failure else o.result for o in outcomes] == [
        "duplicate", "duplicate", "recorded,after", "UniqueViolationError", "recorded,after"]
    assert kept == ["a", "b", "c", "d"] and after == ["c", "d"] and inbox == {"a", "b", "c", "d"}
    assert prepared[0] == ["c", "poison", "d"], "a retry prepares only the events it claims"
