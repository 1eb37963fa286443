"""Integration fixtures: the real PostgreSQL and Kafka (the suite fails, never skips, when they are
missing), one fresh database for the session, a fresh schema and a fresh topic prefix per test, and a
small reader that looks at what really landed in a topic."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from shared.db.migrate import migrate
from shared.db.pool import create_pool
from shared.kafka import ensure_topics, topic_partitions
from shared.settings import Settings
from support.infra import KAFKA, PG_DSN, check_kafka, check_postgres
from support.wait import eventually

RUN = uuid.uuid4().hex[:8]
TOPICS_SERVED_S = 60.0
"""Seconds a test waits for the shared broker to serve topics it has just created (under load it took ~12 s)."""
MIGRATED_PACKAGE = "services.router"  # any service package: inbox and outbox come with every schema


def dsn_for(database: str) -> str:
    return urlunsplit(urlsplit(PG_DSN)._replace(path=f"/{database}"))


@pytest.fixture(scope="session", autouse=True)
async def infra() -> None:
    """Fail every test here at once, with a hint, when PostgreSQL (with PostGIS) or Kafka is down."""
    await check_postgres()
    await check_kafka()


@pytest.fixture(scope="session")
async def database(infra: None) -> AsyncIterator[str]:
    """DSN of a database created for this session (``omni311_it_<random>``, with PostGIS), then dropped."""
    name = f"omni311_it_{RUN}"
    admin = await asyncpg.connect(PG_DSN)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    conn = await asyncpg.connect(dsn_for(name))
    try:
        await conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    finally:
        await conn.close()
    try:
        yield dsn_for(name)
    finally:
        admin = await asyncpg.connect(PG_DSN)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


@pytest.fixture
async def bare_database(infra: None) -> AsyncIterator[str]:
    """DSN of a database created for one test with nothing in it (no PostGIS), then dropped."""
    name = f"omni311_it_{RUN}_{uuid.uuid4().hex[:6]}"
    admin = await asyncpg.connect(PG_DSN)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield dsn_for(name)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.fixture
def migrated_package() -> str:
    return MIGRATED_PACKAGE


@pytest.fixture
def fresh_schema_name() -> str:
    return f"it_{uuid.uuid4().hex[:10]}"


@pytest.fixture
async def schema(database: str, fresh_schema_name: str) -> str:
    """A migrated schema (inbox, outbox and a service's own tables) used by one test only."""
    await migrate(database, fresh_schema_name, MIGRATED_PACKAGE)
    return fresh_schema_name


@pytest.fixture
async def service_pool(database: str, fresh_schema_name: str, migrated_package: str) -> AsyncIterator[asyncpg.Pool]:
    """A pool acting as a service's role on a fresh schema migrated with `migrated_package` (a test
    module of one service's repository overrides that fixture with its package)."""
    await migrate(database, fresh_schema_name, migrated_package)
    p = await create_pool(database, fresh_schema_name, application_name=f"it-{migrated_package}", max_size=2)
    yield p
    await p.close()


@pytest.fixture(scope="session")
async def created_prefixes(infra: None) -> AsyncIterator[list[str]]:
    """Every topic prefix handed out this session; their topics are deleted at the end."""
    prefixes: list[str] = []
    yield prefixes
    if not prefixes:
        return
    admin = AIOKafkaAdminClient(bootstrap_servers=KAFKA, client_id="omni311-it-cleanup")
    await admin.start()
    try:
        doomed = [t for t in await admin.list_topics() if t.startswith(tuple(prefixes))]
        if doomed:
            await admin.delete_topics(doomed)
    finally:
        await admin.close()


@pytest.fixture
async def settings(database: str, created_prefixes: list[str]) -> Settings:
    """Settings with a topic prefix of this test's own, whose registry topics and DLQs exist and are served
    (every partition has a leader: `topics_served`)."""
    prefix = f"it{RUN}{uuid.uuid4().hex[:6]}."
    created_prefixes.append(prefix)
    s = Settings(kafka_bootstrap=KAFKA, pg_dsn=database, topic_prefix=prefix, consumer_retry_attempts=3,
                 consumer_retry_base_s=0.05, outbox_poll_interval_s=0.2)
    await ensure_topics(s)
    await topics_served(topic_partitions(s))
    return s


def served(described: list[dict[str, Any]], wanted: Mapping[str, int | None]) -> bool:
    """Whether a DescribeTopics answer (aiokafka's dicts) shows every topic of `wanted` (name: partition
    count, None for any count but none) with all its partitions, each with a leader."""

    def whole(topic: dict[str, Any]) -> bool:
        parts, count = topic["partitions"], wanted.get(topic["topic"], 0)
        return (topic["error_code"] == 0 and bool(parts) and (count is None or len(parts) == count)
                and all(p["error_code"] == 0 and p["leader"] >= 0 for p in parts))

    return len(described) == len(wanted) and all(whole(t) for t in described)


async def topics_served(wanted: Mapping[str, int | None], *,
                        admin: AIOKafkaAdminClient | None = None) -> list[dict[str, Any]]:
    """Wait until the broker serves every topic of `wanted` (name: partition count, None for any), each
    partition with a leader, and return its DescribeTopics answer; one round trip when it already does.
    The shared broker answers CreateTopics before its own metadata has the new topics: a describe right
    after failed (UNKNOWN_TOPIC_OR_PARTITION) and a first publish retried NOT_LEADER_FOR_PARTITION, for
    seconds (up to ~12 s) while other tests created theirs. Raises AssertionError, with the last answer,
    after `TOPICS_SERVED_S` seconds."""
    own = admin is None
    client = admin or AIOKafkaAdminClient(bootstrap_servers=KAFKA, client_id="omni311-it-topics")
    if own:
        await client.start()

    async def described() -> list[dict[str, Any]]:
        answer = await client.describe_topics(list(wanted))
        assert served(answer, wanted), answer
        return answer

    try:
        result: list[dict[str, Any]] = await eventually(described, timeout=TOPICS_SERVED_S, interval=0.1,
                                                        what=f"the broker serves {sorted(wanted)[:3]}...")
        return result
    finally:
        if own:
            await client.close()


class TopicReader:
    """Reads a topic from the beginning (no consumer group, nothing committed)."""

    def __init__(self) -> None:
        self._consumer = AIOKafkaConsumer(bootstrap_servers=KAFKA, group_id=None, enable_auto_commit=False,
                                          auto_offset_reset="earliest", client_id="omni311-it-reader")
        self._admin = AIOKafkaAdminClient(bootstrap_servers=KAFKA, client_id="omni311-it-reader-admin")
        self._parts: dict[str, list[TopicPartition]] = {}

    async def start(self) -> None:
        await self._consumer.start()
        await self._admin.start()

    async def stop(self) -> None:
        await self._consumer.stop()
        await self._admin.close()

    async def _partitions(self, topic: str) -> list[TopicPartition]:
        """The topic's partitions, once the broker serves them all with a leader (`topics_served`: a topic
        just created may not be served yet; raises AssertionError when it never is)."""
        if topic not in self._parts:
            (desc,) = await topics_served({topic: None}, admin=self._admin)
            self._parts[topic] = sorted(TopicPartition(topic, p["partition"]) for p in desc["partitions"])
        return self._parts[topic]

    async def count(self, topic: str) -> int:
        """Records in the topic right now (end minus beginning offsets over every partition)."""
        tps = await self._partitions(topic)
        end = await self._consumer.end_offsets(tps)
        begin = await self._consumer.beginning_offsets(tps)
        return sum(end[tp] - begin[tp] for tp in tps)

    async def read(self, topic: str, until: Callable[[list[ConsumerRecord]], bool] | int, *,
                   timeout: float = 10.0) -> list[ConsumerRecord]:
        """Every record of `topic` from the start, once `until(records)` holds (or `until` records were
        read); raises AssertionError with what was read when `timeout` seconds pass first."""
        done = (lambda rs: len(rs) >= until) if isinstance(until, int) else until
        tps = await self._partitions(topic)
        self._consumer.assign(tps)
        await self._consumer.seek_to_beginning(*tps)
        records: list[ConsumerRecord] = []
        deadline = time.monotonic() + timeout
        while not done(records):
            if time.monotonic() > deadline:
                raise AssertionError(f"{topic}: condition not met within {timeout}s; read {len(records)}: "
                                     f"{[(r.partition, r.offset, r.key) for r in records][:20]}")
            batch = await self._consumer.getmany(timeout_ms=200)
            for tp in sorted(batch, key=lambda t: t.partition):
                records.extend(batch[tp])
        return records


@pytest.fixture
async def kafka(infra: None) -> AsyncIterator[TopicReader]:
    reader = TopicReader()
    await reader.start()
    try:
        yield reader
    finally:
        await reader.stop()

