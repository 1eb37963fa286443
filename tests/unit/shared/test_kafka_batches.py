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


def consumer(broker: FakeBroker, registry: CollectorRegistry) -> Consumer:
    settings = Settings(consumer_retry_attempts=3, consumer_retry_base_s=0.0)
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
    assert registry.get_sample_value("omni311_consumer_batch_size_sum", {"group": "svc"}) == 5
    assert registry.get_sample_value("omni311_consumer_batch_handled_sum", {"group": "svc"}) == 3


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


def test_the_broker_log_keeps_faststreams_warnings_and_drops_its_chatter() -> None:
    from shared.kafka import BrokerLog

    with structlog.testing.capture_logs() as logs:
        BrokerLog().log(20, "Received", extra={"topic": "t"})
        BrokerLog().log(30, "Auto create topics is disabled. Make sure the topics exist.")
        BrokerLog().log(50, "CommitFailedError()", exc_info=CommitFailedError("rebalanced"), extra={"topic": "t"})

    assert [(e["log_level"], e["message"], e["topic"]) for e in logs] == [("critical", "CommitFailedError()", "t")]
