"""`Consumer.handle_batch` with a fake broker and a fake aiokafka consumer: dead letters after the batch's
effect, offsets committed per partition after the last record, a failed commit logged and counted
(never raised, never silent), a transient error retried then raised so that the batch is rewound."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import pytest
import structlog
from aiokafka import ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalGenerationError
from prometheus_client import CollectorRegistry

from shared.events import CaseStatusChanged, Envelope
from shared.kafka import BatchResult, Consumed, Consumer, PermanentError, per_event
from shared.settings import Settings

NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
CASE = UUID("6f1c8f5e-2f7a-4c55-9b1e-0d1f2a3b4c5d")


def record(partition: int, offset: int, value: bytes) -> ConsumerRecord:
    return ConsumerRecord(topic="cases.lifecycle", partition=partition, offset=offset, timestamp=0,
                          timestamp_type=0, key=b"k", value=value, checksum=None, serialized_key_size=1,
                          serialized_value_size=len(value), headers=[])


def envelope(notes: str) -> bytes:
    data = CaseStatusChanged(case_id=CASE, service_request_id="311-000123", jurisdiction_id="demo",
                             status="closed", status_notes=notes)
    return Envelope.new_flow(data, subject=str(CASE), producer="case", now=NOW).to_bytes()


@dataclass
class FakeKafkaConsumer:
    fail_with: BaseException | None = None
    commits: list[dict[TopicPartition, int]] = field(default_factory=list)
    _group_id: str = "grp"

    def assignment(self) -> set[TopicPartition]:
        return {TopicPartition("cases.lifecycle", p) for p in (0, 1)}

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        if self.fail_with is not None:
            raise self.fail_with
        self.commits.append(offsets)


@dataclass
class FakeMessage:
    raw_message: tuple[ConsumerRecord, ...]
    consumer: FakeKafkaConsumer
    committed: Any = None


class FakeBroker:
    def __init__(self) -> None:
        self.published: list[tuple[bytes, str, dict[str, str]]] = []

    async def publish(self, body: bytes, *, topic: str, key: bytes, headers: dict[str, str]) -> None:
        self.published.append((body, topic, headers))


def consumer(broker: FakeBroker, registry: CollectorRegistry, *, topic_prefix: str = "") -> Consumer:
    settings = Settings(consumer_retry_attempts=3, consumer_retry_base_s=0.0, topic_prefix=topic_prefix)
    return Consumer(broker=broker, settings=settings, service="svc", metrics=registry)  # type: ignore[arg-type]


async def test_dead_letters_follow_the_batch_and_each_partition_commits_after_its_last_record() -> None:
    broker, registry = FakeBroker(), CollectorRegistry()
    seen: list[str] = []

    async def handle(env: Envelope, _d: Any) -> None:
        seen.append(env.data["status_notes"])
        if env.data["status_notes"] == "poison":
            raise PermanentError("no such case")

    kafka = FakeKafkaConsumer()
    msg = FakeMessage((record(0, 5, envelope("a")), record(0, 6, b"garbage"), record(0, 7, envelope("poison")),
                       record(0, 8, envelope("b")), record(1, 3, envelope("c"))), kafka)

    await consumer(broker, registry).handle_batch(msg, per_event(handle))  # type: ignore[arg-type]

    assert seen == ["a", "poison", "b", "c"]
    assert [(h["x-omni311-error"], h["x-omni311-source-offset"]) for _, _, h in broker.published] == [
        ("unparseable_envelope", "6"), ("PermanentError", "7")]
    assert kafka.commits == [{TopicPartition("cases.lifecycle", 0): 9, TopicPartition("cases.lifecycle", 1): 4}]
    assert msg.committed is not None, "FastStream must not commit again"
    # labelled with the consumer group id, as the rebalance and commit series are (a dashboard joins them)
    assert registry.get_sample_value("omni311_consumer_batch_size_sum", {"group": "grp"}) == 5
    assert registry.get_sample_value("omni311_consumer_batch_handled_sum", {"group": "grp"}) == 3


async def test_a_failed_commit_is_logged_with_group_partitions_and_error_and_counted() -> None:
    registry = CollectorRegistry()
    failure = CommitFailedError("the group has already rebalanced")
    failure.__cause__ = IllegalGenerationError()
    msg = FakeMessage((record(0, 1, envelope("a")), record(2, 9, envelope("b"))), FakeKafkaConsumer(failure))

    async def done(consumed: Any, _last: bool) -> BatchResult:
        return BatchResult(handled=len(consumed))

    with structlog.testing.capture_logs() as logs:
        await consumer(FakeBroker(), registry).handle_batch(msg, done)  # type: ignore[arg-type]

    failed = [e for e in logs if e["event"] == "offset_commit_failed"]
    assert [(e["error"], e["partitions"]) for e in failed] == [
        ("PartitionRevoked", ["cases.lifecycle:2"]), ("IllegalGenerationError", ["cases.lifecycle:0"])]
    assert all(e["group"] == "grp" for e in failed)
    assert registry.get_sample_value("omni311_consumer_commit_failures_total",
                                     {"group": "grp", "error": "IllegalGenerationError"}) == 1
    assert registry.get_sample_value("omni311_consumer_commit_failures_total",
                                     {"group": "grp", "error": "PartitionRevoked"}) == 1


async def test_a_transient_error_retries_the_whole_batch_then_raises_to_rewind_it_without_committing() -> None:
    calls: list[int] = []

    async def down(consumed: list[Consumed], _last: bool) -> BatchResult:
        calls.append(len(consumed))
        raise OSError("connection refused")

    kafka, broker = FakeKafkaConsumer(), FakeBroker()
    msg = FakeMessage((record(0, 1, envelope("a")), record(0, 2, envelope("b"))), kafka)

    with pytest.raises(OSError):
        await consumer(broker, CollectorRegistry()).handle_batch(msg, down)  # type: ignore[arg-type]

    assert calls == [2, 2, 2] and kafka.commits == [] and broker.published == [] and msg.committed is None


async def test_without_a_group_id_on_the_kafka_consumer_batches_are_labelled_with_the_services_group() -> None:
    registry = CollectorRegistry()
    kafka = FakeKafkaConsumer(_group_id="")
    msg = FakeMessage((record(0, 1, envelope("a")),), kafka)

    async def done(consumed: Any, _last: bool) -> BatchResult:
        return BatchResult(handled=len(consumed))

    await consumer(FakeBroker(), registry, topic_prefix="nyc.").handle_batch(msg, done)  # type: ignore[arg-type]

    assert registry.get_sample_value("omni311_consumer_batch_size_sum", {"group": "nyc.svc"}) == 1
    assert registry.get_sample_value("omni311_consumer_batch_size_sum", {"group": "svc"}) is None


def test_wiring_a_subscriber_shows_its_groups_commit_failures_and_rebalances_at_zero() -> None:
    registry = CollectorRegistry()
    c = consumer(FakeBroker(), registry)

    c.listener("nyc.case")

    for error in ("PartitionRevoked", "IllegalGenerationError", "UnknownMemberIdError", "RebalanceInProgressError"):
        assert registry.get_sample_value("omni311_consumer_commit_failures_total",
                                         {"group": "nyc.case", "error": error}) == 0
    assert registry.get_sample_value("omni311_consumer_rebalances_total", {"group": "nyc.case"}) == 0
    assert registry.get_sample_value("omni311_consumer_batch_size_count", {"group": "nyc.case"}) == 0


async def test_a_rebalance_is_counted_once_however_many_subscribers_of_the_group_the_process_has() -> None:
    registry = CollectorRegistry()
    c = consumer(FakeBroker(), registry)
    intake, decisions, other = c.listener("nyc.case"), c.listener("nyc.case"), c.listener("nyc.router")
    tp = TopicPartition

    def count(group: str) -> float | None:
        return registry.get_sample_value("omni311_consumer_rebalances_total", {"group": group})

    # generation 1: only the intake subscriber has joined yet
    await intake.on_partitions_assigned({tp("intake.messages", p) for p in range(6)})
    assert count("nyc.case") == 1
    # generation 2: the decisions subscriber joins; Kafka revokes and assigns every member, in either order
    for generation, members in ((2, (intake, decisions)), (3, (decisions, intake)), (4, (intake, decisions))):
        for member in members:
            await member.on_partitions_revoked(set())
        for member in members:
            await member.on_partitions_assigned({tp("routing.decisions", 0)} if member is decisions
                                                else {tp("intake.messages", 0)})
        assert count("nyc.case") == generation
    # generation 5: the decisions subscriber stopped; the intake one alone is assigned
    await intake.on_partitions_assigned({tp("intake.messages", p) for p in range(6)})
    assert count("nyc.case") == 5
    await other.on_partitions_assigned({tp("cases.lifecycle", 0)})
    assert count("nyc.router") == 1 and count("nyc.case") == 5


def test_the_broker_log_keeps_faststreams_warnings_and_drops_its_chatter() -> None:
    from shared.kafka import BrokerLog

    with structlog.testing.capture_logs() as logs:
        BrokerLog().log(20, "Received", extra={"topic": "t"})
        BrokerLog().log(30, "Auto create topics is disabled. Make sure the topics exist.")
        BrokerLog().log(50, "CommitFailedError()", exc_info=CommitFailedError("rebalanced"), extra={"topic": "t"})

    assert [(e["log_level"], e["message"], e["topic"]) for e in logs] == [("critical", "CommitFailedError()", "t")]
