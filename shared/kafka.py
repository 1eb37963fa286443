"""Kafka plumbing with safe settings: the broker factory, topic creation (and deletion, for `make reset`),
and the consume wrapper.

Producers: `acks="all"` with idempotence on. Consumers: an explicit group per service, `earliest` offset
for new groups, commit only after the effect is durable (`AckPolicy.NACK_ON_ERROR`: an exception rewinds
the partition instead of committing). Envelopes that cannot be parsed, payloads that do not fit their
event's class and handler errors that retrying cannot fix go to `<topic>.dlq` with the error in headers,
and consumption goes on (an event type a service does not consume is committed untouched: a topic
carries other consumers' events too); outages (database or broker unreachable) are retried with
backoff until they pass.
FastStream's and aiokafka's own defaults (auto-commit, `latest` for a new group, acks=1) would lose
or duplicate messages; docs/architecture.md "Guarantees" says why each setting is there.

Subscribers take batches (`SUBSCRIBER_DEFAULTS`: up to `BATCH_MAX_RECORDS` records per fetch) and hand them
to `Consumer.handle_batch`, which commits the batch's offsets once its effect is durable. Every rebalance
(partitions revoked and assigned, per consumer group) and every failed offset commit is logged and
counted on the service's metrics (`Consumer.listener`).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError, UnknownTopicOrPartitionError, for_code
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.message import KafkaMessage
from faststream.message import AckStatus
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from pydantic import ValidationError
import structlog

from shared.events import DLQ_SUFFIX, Envelope, registry
from shared.logs import get_logger
from shared.retry import exponential_delay_s
from shared.settings import Settings

log = get_logger(__name__)

BATCH_MAX_RECORDS = 500
"""Most records one fetch hands a subscriber (all its partitions together): one transaction, one commit."""

BATCH_TIMEOUT_MS = 10
"""How long a fetch waits for a first record (ms). A fetch returns as soon as records are buffered, but after
an empty one FastStream sleeps as long again, deaf: small, so an idle service adds at most this to a hop's
latency (the cost: an idle consumer wakes about 50 times a second, locally, without a broker round trip)."""

REVOKE_WAIT_S = 10.0
"""How long a rebalance waits for the batch in flight to finish and commit (seconds), so its offsets are
committed while the partitions are still ours instead of failing and being redelivered to the next owner."""

DEAD_LETTER_RETRY_BASE_S = 1.0
"""First wait after a dead letter the broker did not take (seconds), doubling per failure in a row, at most
`REVOKE_WAIT_S`: the batch is then rewound and redone, not several times a second."""

SUBSCRIBER_DEFAULTS: dict[str, Any] = {
    "auto_offset_reset": "earliest",
    "ack_policy": AckPolicy.NACK_ON_ERROR,
    "batch": True,
    "max_records": BATCH_MAX_RECORDS,
    "batch_timeout_ms": BATCH_TIMEOUT_MS,
}
"""What every omni311 subscriber states besides its topics, group id and rebalance listener
(docs/architecture.md, house rule 7): batches, earliest offset for a new group, and an exception rewinds
every partition of the batch to its first record (`Consumer.handle_batch` commits a batch that succeeded)."""

TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncio.TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.SerializationError,
    asyncpg.DeadlockDetectedError,
    KafkaError,
)
"""Errors that a later attempt may not meet: retried with backoff, never sent to the DLQ."""


class PermanentError(Exception):
    """Raised by a handler for an event that can never succeed; the event goes to the DLQ."""


PERMANENT_ERRORS: tuple[type[BaseException], ...] = (
    PermanentError, ValidationError, KeyError, ValueError, asyncpg.DataError,
)
"""Errors that no retry can fix: the event goes to the DLQ at once."""

COMMIT_ERRORS: tuple[str, ...] = (
    "PartitionRevoked", "IllegalGenerationError", "UnknownMemberIdError", "RebalanceInProgressError",
)
"""The `error` labels of `omni311_consumer_commit_failures` a rebalance gives (our own "PartitionRevoked": the
partitions were gone before the commit; the others aiokafka's causes of a `CommitFailedError`): set to 0 for
each group when its subscriber is wired, so that a dashboard sees the series before the first failure. Any
other failed commit is counted under its own error's class name as it happens."""


def permanent_failure(exc: BaseException, *, last_attempt: bool) -> tuple[str, str]:
    """(reason, detail) for the DLQ headers of an event whose handler raised `exc`, when it must be
    dead-lettered: a `PERMANENT_ERRORS` one always, an unknown one on the last attempt. Re-raises `exc`
    otherwise: a `TRANSIENT_ERRORS` one (never dead-lettered) and an unknown one before the last attempt
    (the batch is retried)."""
    if isinstance(exc, TRANSIENT_ERRORS):
        raise exc
    if isinstance(exc, PERMANENT_ERRORS):
        return type(exc).__name__, str(exc)
    if last_attempt and isinstance(exc, Exception):
        return type(exc).__name__, repr(exc)
    raise exc


class BrokerLog:
    """FastStream's logger: its warnings and errors (a Kafka error in the fetch loop, an ack or a seek that
    failed, a handler exception) as structured lines of ours; its per-message and INFO lines dropped."""

    EXPECTED = ("Auto create topics is disabled",)
    """Warnings FastStream gives at every start that say nothing here (`ensure_topics` made the topics)."""

    def log(self, level: int, msg: Any, /, *, exc_info: Any = None, extra: Mapping[str, Any] | None = None) -> None:
        if level < logging.WARNING or str(msg).startswith(self.EXPECTED):
            return
        ctx = {k: v for k, v in (extra or {}).items() if k in ("topic", "group_id")}
        error = repr(exc_info)[:500] if isinstance(exc_info, BaseException) else None
        log.log(level, "broker_log", message=str(msg)[:500], error=error, **ctx)


def _raw_body(msg: Any) -> bytes:
    """Broker decoder: hand the body over as bytes. `Consumer.handle` parses envelopes itself, so that a
    corrupt body is dead-lettered; FastStream's default decoder would `json.loads` any message labelled
    ``application/json`` before the handler runs, fail, nack and redeliver it forever."""
    return msg.body


PRODUCER_LINGER_MS = 5
"""How long a producer waits to fill a batch (ms): a burst goes out in a few requests, a lone event late by
at most this."""

PRODUCER_MAX_BATCH_BYTES = 256 * 1024
"""Most bytes per partition in one produce batch (aiokafka's default is 16 KiB, a few dozen events; a request
holds at most 1 MiB)."""

DLQ_MAX_MESSAGE_BYTES = 2 * 1024 * 1024
"""`max.message.bytes` of a `<topic>.dlq` (bytes), and the most a broker's producer sends in one request: a
dead letter is the record the source topic took (at most Kafka's default 1 MiB) plus its error headers (up to
~2.5 KB), so it must fit where the record did not need to. With 1 MiB for both, a record within a few KB of
the limit could never be dead-lettered and its partition stopped behind it for ever."""

PRODUCER_COMPRESSION = "lz4"
"""Compression of produced batches: lz4 (aiokafka's codec needs `cramjam`), cheap on CPU; JSON envelopes
compress well."""


def create_broker(settings: Settings, service: str) -> KafkaBroker:
    """A FastStream Kafka broker whose producer waits for all in-sync replicas, with idempotence on,
    batching (`PRODUCER_LINGER_MS`, `PRODUCER_MAX_BATCH_BYTES`) and compression (`PRODUCER_COMPRESSION`);
    its own warnings and errors are logged by `BrokerLog`.

    Subscribers receive batches of raw bytes (see `_raw_body`); take the batch as `msg: KafkaMessage` and
    pass it to `Consumer.handle_batch`.
    """
    return KafkaBroker(
        settings.kafka_bootstrap.split(","),  # FastStream takes a str as ONE host: "a:9092,b:9094" is a list
        client_id=f"omni311-{service}",
        acks="all",
        enable_idempotence=True,
        allow_auto_create_topics=False,
        graceful_timeout=15.0,
        logger=BrokerLog(),
        log_level=logging.DEBUG,
        decoder=_raw_body,
        linger_ms=PRODUCER_LINGER_MS,
        max_batch_size=PRODUCER_MAX_BATCH_BYTES,
        compression_type=PRODUCER_COMPRESSION,
        max_request_size=DLQ_MAX_MESSAGE_BYTES,  # a dead letter of a record near 1 MiB (the topic still says no)
    )


def topic_partitions(settings: Settings) -> dict[str, int]:
    """The real name (``settings.topic_prefix`` + registry name) of every registry topic and of its DLQ twin
    (`DLQ_SUFFIX`), with its partition count (a DLQ has one), in registry order. The one place topic names
    are derived: `ensure_topics` creates these, `delete_topics` deletes these."""
    names: dict[str, int] = {}
    for spec in registry().topics.values():
        names[settings.topic(spec.name)] = spec.partitions
        names[settings.topic(spec.name + DLQ_SUFFIX)] = 1
    return names


def min_insync_replicas(settings: Settings) -> int:
    """`min.insync.replicas` for the topics we create: `Settings.kafka_min_insync_replicas`, else replication
    factor - 1 (at least 1): with RF 3, a write acknowledged with acks=all is on two brokers, and one broker
    may be down (Kafka's own recommendation for RF 3)."""
    if settings.kafka_min_insync_replicas is not None:
        return settings.kafka_min_insync_replicas
    return max(1, settings.kafka_replication_factor - 1)


async def ensure_topics(settings: Settings) -> list[str]:
    """Create every registry topic and its DLQ when missing, in one CreateTopics request; returns the names
    this call created, sorted (a topic another process created meanwhile is not among them). Each topic gets
    `Settings.kafka_replication_factor` replicas and `min.insync.replicas` from `min_insync_replicas`; a DLQ
    also `max.message.bytes` = `DLQ_MAX_MESSAGE_BYTES` (room for a record and its error headers).

    One request, not one per topic: the broker answers each request only once its topics exist, and every
    service runs this at start-up (six at once in a stack), so twelve round trips per service were seconds
    of every stack's start. Raises `KafkaError` when the broker cannot be reached, or the error the broker
    named for a topic it refused (any error but "already exists").
    """
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap, client_id="omni311-topics")
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        configs = {"min.insync.replicas": str(min_insync_replicas(settings))}
        dlq_configs = {**configs, "max.message.bytes": str(DLQ_MAX_MESSAGE_BYTES)}
        wanted = [NewTopic(name=name, num_partitions=parts, replication_factor=settings.kafka_replication_factor,
                           topic_configs=dlq_configs if name.endswith(DLQ_SUFFIX) else configs)
                  for name, parts in topic_partitions(settings).items() if name not in existing]
        if not wanted:
            return []
        response = await admin.create_topics(wanted)
        created: list[str] = []
        for topic, code, *_message in response.topic_errors:
            if code == 0:
                created.append(topic)
            elif code != TopicAlreadyExistsError.errno:
                raise for_code(code)(f"creating topic {topic}")
        return sorted(created)
    finally:
        await admin.close()


async def delete_topics(settings: Settings, *, timeout_s: float = 60.0) -> list[str]:
    """Delete every registry topic and its DLQ under ``settings.topic_prefix`` (`topic_partitions`: never
    another prefix's, never a topic the registry does not name) that exists, and wait until the broker no
    longer lists them, so a `ensure_topics` that follows creates them empty; returns the names deleted,
    sorted. The broker drops the consumer groups' offsets of a deleted topic, so a group starts again from
    the beginning of the new, empty topic (`make reset`).

    Raises `KafkaError` when the broker cannot be reached or refuses a deletion, `TimeoutError` when a
    topic is still listed after `timeout_s` seconds.
    """
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap, client_id="omni311-topics")
    await admin.start()
    try:
        doomed = sorted(set(topic_partitions(settings)) & set(await admin.list_topics()))
        if not doomed:
            return []
        response = await admin.delete_topics(doomed, timeout_ms=int(timeout_s * 1000))
        for topic, code in response.topic_error_codes:
            if code not in (0, UnknownTopicOrPartitionError.errno):  # already gone: what we want
                raise for_code(code)(f"deleting topic {topic}")
        deadline = asyncio.get_running_loop().time() + timeout_s
        while left := set(doomed) & set(await admin.list_topics()):
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"topics still listed {timeout_s} s after their deletion: {sorted(left)}")
            await asyncio.sleep(0.2)
        return doomed
    finally:
        await admin.close()


@dataclass(frozen=True)
class Delivery:
    """Where a consumed message came from: topic (real name), partition, offset and the consumer group."""

    topic: str
    partition: int
    offset: int
    consumer: str


EventCallback = Callable[["Envelope", Delivery], Awaitable[None]]
"""A callback for one parsed envelope (`per_event` makes a `BatchCallback` of it)."""


@dataclass(frozen=True)
class Consumed:
    """One parsed record of a batch: its envelope, where it came from and the record itself (for the DLQ)."""

    envelope: Envelope
    delivery: Delivery
    record: ConsumerRecord = field(repr=False, compare=False)


@dataclass(frozen=True)
class Rejected:
    """A consumed record that can never succeed: it goes to `<topic>.dlq` with `reason` and `detail`."""

    consumed: Consumed
    reason: str
    detail: str


@dataclass
class BatchResult:
    """What a `BatchCallback` reports: how many events ran a handler, and the records to dead-letter."""

    handled: int = 0
    rejected: list[Rejected] = field(default_factory=list)


BatchCallback = Callable[[Sequence[Consumed], bool], Awaitable[BatchResult]]
"""callback(consumed, last_attempt): handle a batch's parsed envelopes in order, durably. Returns normally
when the batch's effect is durable (its `rejected` records rolled back alone); raises to have the whole
batch retried (a transient error; an unknown one before the last attempt)."""


def per_event(callback: EventCallback) -> BatchCallback:
    """A `BatchCallback` calling `callback(envelope, delivery)` for each event in order, with the event's ids
    in the log context: for a consumer without a transaction of its own. An error that can never succeed
    rejects that event alone; a transient one retries the whole batch (the events before it run again:
    such a callback must be idempotent, as a rewind already required)."""

    async def call(consumed: Sequence[Consumed], last_attempt: bool) -> BatchResult:
        result = BatchResult()
        for item in consumed:
            env = item.envelope
            structlog.contextvars.bind_contextvars(event_id=str(env.event_id), correlation_id=str(env.correlation_id),
                                                   event_type=env.event_type)
            try:
                await callback(env, item.delivery)
                result.handled += 1
            except Exception as exc:  # noqa: BLE001 - classified: transient or not yet given up re-raises
                result.rejected.append(Rejected(item, *permanent_failure(exc, last_attempt=last_attempt)))
            finally:
                structlog.contextvars.unbind_contextvars("event_id", "correlation_id", "event_type")
        return result

    return call


def _tp(tp: TopicPartition) -> str:
    return f"{tp.topic}:{tp.partition}"


class Consumer:
    """Wraps every subscriber of one service: parse, log context, retry, dead-letter, commit; logs and counts
    rebalances and failed commits on `metrics` (the service's registry)."""

    def __init__(self, *, broker: KafkaBroker, settings: Settings, service: str,
                 metrics: CollectorRegistry | None = None) -> None:
        self.broker = broker
        self.settings = settings
        self.service = service
        self.dead_lettered = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._busy = 0  # batches being handled: a service may have several subscribers (the case service two)
        self._dead_letter_failures = 0  # in a row: the backoff before a batch with an undelivered one is redone
        self._assigned_this_round: dict[str, set[RebalanceLog]] = {}  # per group: `count_rebalance`
        registry = metrics if metrics is not None else CollectorRegistry()
        self.rebalances = Counter(
            "omni311_consumer_rebalances",
            "Rebalances of the consumer group seen by this process: one per new assignment of the group's "
            "partitions, counted once however many Kafka consumers of the group the process runs",
            ["group"], registry=registry)
        self.assigned = Gauge("omni311_consumer_assigned_partitions", "Partitions assigned to this consumer",
                              ["group", "topic"], registry=registry)
        self.commit_failures = Counter("omni311_consumer_commit_failures", "Offset commits that failed",
                                       ["group", "error"], registry=registry)
        buckets = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)
        self.batch_size = Histogram("omni311_consumer_batch_size", "Records per consumed batch", ["group"],
                                    buckets=buckets, registry=registry)
        self.batch_handled = Histogram("omni311_consumer_batch_handled", "Events that ran a handler, per batch",
                                       ["group"], buckets=(0, *buckets), registry=registry)

    def listener(self, group: str) -> ConsumerRebalanceListener:
        """The rebalance listener of a subscriber of consumer group `group` (pass it as `listener=`; a service
        may have several subscribers in one group, as the case service does). Called when the subscriber is
        wired, it also makes the group's series exist at 0 (the commit failures of `COMMIT_ERRORS`, the
        rebalances, the batch histograms), so a dashboard sees them before the first rebalance or failure."""
        for error in COMMIT_ERRORS:
            self.commit_failures.labels(group, error)
        self.rebalances.labels(group)
        self.batch_size.labels(group)
        self.batch_handled.labels(group)
        return RebalanceLog(self, group)

    def count_rebalance(self, listener: RebalanceLog) -> None:
        """Count a new assignment of `listener`'s group once for this process.

        Kafka rebalances eagerly: every member of the group is assigned again in each new generation,
        so a process with two subscribers of one group hears each rebalance twice. aiokafka does not tell
        a listener the generation, so a round is counted by its first assignment: an assignment counts
        when the group has had none yet, or when this same listener was already assigned in the round
        (a new generation), which then starts a new round; another listener's assignment in the round
        joins it uncounted. One case is missed: a generation in which only a listener that did not open the
        round is assigned (its sibling subscriber has left the group, e.g. while the service stops)."""
        round_ = self._assigned_this_round.setdefault(listener.group, set())
        if not round_ or listener in round_:
            self.rebalances.labels(listener.group).inc()
            round_.clear()
        round_.add(listener)

    async def wait_idle(self, timeout_s: float) -> bool:
        """Wait until no batch is being handled, at most `timeout_s` seconds; False on timeout."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout_s)
            return True
        except TimeoutError:
            return False

    async def handle_batch(self, msg: KafkaMessage, handler: BatchCallback) -> None:
        """Handle one batch of Kafka records (`msg.raw_message`, in partition-offset order) and commit it.

        Unparseable envelopes and what `handler` rejects go to `<topic>.dlq` (a dead letter the broker does not
        take is logged, `dead_letter_failed`, and raised after a backoff: nothing is committed past it, the
        batch is redone); `handler` is retried with
        backoff (`Settings.consumer_retry_attempts`) while it raises; then the error is raised, so that
        FastStream rewinds every partition of the batch to its first record (never a skip). Once the
        batch's effect is durable and its dead letters acknowledged, its offsets are committed; a failed
        commit (a rebalance took the partitions) is logged and counted, not raised: the next owner gets
        the records again and its inbox skips them.
        """
        records: tuple[ConsumerRecord, ...] = msg.raw_message if isinstance(msg.raw_message, tuple) \
            else (msg.raw_message,)
        consumer: Any = msg.consumer
        group = getattr(consumer, "_group_id", None) or self.settings.group(self.service)
        self._busy += 1
        self._idle.clear()
        try:
            await self._handle_records(records, handler, group)
            await self._commit(msg, records, group)
        finally:
            self._busy -= 1
            if not self._busy:
                self._idle.set()

    async def _handle_records(self, records: Sequence[ConsumerRecord], handler: BatchCallback, group: str) -> None:
        dead: list[tuple[ConsumerRecord, Delivery, str, str]] = []
        consumed: list[Consumed] = []
        for rec in records:
            delivery = Delivery(topic=rec.topic, partition=rec.partition, offset=rec.offset, consumer=self.service)
            try:
                consumed.append(Consumed(Envelope.from_bytes(rec.value or b""), delivery, rec))
            except Exception as exc:  # noqa: BLE001 - whatever the bytes do to the parser, they can never succeed
                dead.append((rec, delivery, "unparseable_envelope", f"{type(exc).__name__}: {exc}"))
        self.batch_size.labels(group).observe(len(records))
        result = BatchResult()
        if consumed:
            attempts = self.settings.consumer_retry_attempts
            for attempt in range(1, attempts + 1):
                try:
                    result = await handler(consumed, attempt == attempts)
                    break
                except Exception as exc:  # noqa: BLE001 - transient, or unknown before the last attempt
                    first = consumed[0].delivery
                    delay = exponential_delay_s(attempt, self.settings.consumer_retry_base_s, 10.0)
                    kind = "transient_error" if isinstance(exc, TRANSIENT_ERRORS) else "handler_error"
                    log.warning(kind, error=repr(exc)[:500], attempt=attempt, retry_in_s=delay, batch=len(consumed),
                                topic=first.topic, partition=first.partition, offset=first.offset)
                    if attempt == attempts:
                        raise  # rewind the batch; an outage is never dead-lettered
                    await asyncio.sleep(delay)
        self.batch_handled.labels(group).observe(result.handled)
        dead.extend((r.consumed.record, r.consumed.delivery, r.reason, r.detail) for r in result.rejected)
        dead.sort(key=lambda d: (d[1].topic, d[1].partition, d[1].offset))
        for rec, delivery, reason, detail in dead:
            try:
                await self.dead_letter(rec, delivery, reason, detail)
            except Exception as exc:
                # Not committed past it: the batch is rewound and redone (its inbox skips what committed);
                # after a wait, or a broker that refuses at once (an ACL, a size limit) makes a hot loop.
                self._dead_letter_failures += 1
                delay = exponential_delay_s(self._dead_letter_failures, DEAD_LETTER_RETRY_BASE_S, REVOKE_WAIT_S)
                log.error("dead_letter_failed", error=repr(exc)[:500], reason=reason, topic=delivery.topic,
                          partition=delivery.partition, offset=delivery.offset, retry_in_s=delay)
                await asyncio.sleep(delay)
                raise
        self._dead_letter_failures = 0

    async def _commit(self, msg: KafkaMessage, records: Sequence[ConsumerRecord], group: str) -> None:
        """Commit the offset after the last record of each partition of the batch (of consumer group `group`)."""
        offsets: dict[TopicPartition, int] = {}
        for rec in records:
            tp = TopicPartition(rec.topic, rec.partition)
            offsets[tp] = max(offsets.get(tp, 0), rec.offset + 1)
        consumer: Any = msg.consumer
        assignment = consumer.assignment() if hasattr(consumer, "assignment") else set(offsets)
        revoked = sorted(_tp(tp) for tp in offsets if tp not in assignment)
        mine = {tp: offset for tp, offset in offsets.items() if tp in assignment}
        msg.committed = AckStatus.ACKED  # committed here, or the failure logged: FastStream must not retry it silently
        if revoked:
            self.commit_failures.labels(group, "PartitionRevoked").inc()
            log.warning("offset_commit_failed", group=group, partitions=revoked, error="PartitionRevoked",
                        detail="the partitions were revoked before the batch committed; the next owner "
                               "gets these records again and its inbox skips them")
        if not mine:
            return
        try:
            await consumer.commit(mine)
        except KafkaError as exc:
            cause = exc.__cause__ if isinstance(exc.__cause__, KafkaError) else exc
            self.commit_failures.labels(group, type(cause).__name__).inc()
            log.warning("offset_commit_failed", group=group, partitions=sorted(_tp(tp) for tp in mine),
                        offsets={_tp(tp): o for tp, o in mine.items()}, error=type(cause).__name__,
                        detail=str(exc)[:500])

    async def dead_letter(self, record: ConsumerRecord, delivery: Delivery, reason: str, detail: str) -> None:
        """Publish the raw record unchanged to `<topic>.dlq` with the error in headers, then log it."""
        headers = {
            "x-omni311-error": reason,
            "x-omni311-error-detail": detail[:2000],
            "x-omni311-source-topic": delivery.topic,
            "x-omni311-source-partition": str(delivery.partition),
            "x-omni311-source-offset": str(delivery.offset),
            "x-omni311-consumer": self.service,
        }
        await self.broker.publish(
            record.value or b"", topic=delivery.topic + DLQ_SUFFIX, key=record.key, headers=headers,
        )
        self.dead_lettered += 1
        log.error("dead_lettered", reason=reason, detail=detail[:500], topic=delivery.topic,
                  partition=delivery.partition, offset=delivery.offset)


class RebalanceLog(ConsumerRebalanceListener):  # type: ignore[misc]
    """Logs every rebalance of one subscriber of a consumer group (`consumer_rebalance`: the partitions
    revoked and assigned) and keeps the assigned-partitions gauge and, through `Consumer.count_rebalance`
    (once per process however many subscribers the group has), the rebalance counter; on revocation it lets
    the batch in flight finish and commit first (at most `REVOKE_WAIT_S`)."""

    def __init__(self, consumer: Consumer, group: str) -> None:
        self.consumer = consumer
        self.group = group
        self._revoked: list[str] = []
        self._topics: set[str] = set()

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        self._revoked = sorted(_tp(tp) for tp in revoked)
        if not await self.consumer.wait_idle(REVOKE_WAIT_S):
            log.warning("rebalance_before_batch_committed", group=self.group, waited_s=REVOKE_WAIT_S)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        per_topic: dict[str, int] = {}
        for tp in assigned:
            per_topic[tp.topic] = per_topic.get(tp.topic, 0) + 1
        for topic in self._topics | set(per_topic):
            self.consumer.assigned.labels(self.group, topic).set(per_topic.get(topic, 0))
        self._topics |= set(per_topic)
        self.consumer.count_rebalance(self)
        log.info("consumer_rebalance", group=self.group, revoked=self._revoked,
                 assigned=sorted(_tp(tp) for tp in assigned))
        self._revoked = []


def create_producer(settings: Settings, service: str) -> AIOKafkaProducer:
    """A plain aiokafka producer with the safe settings (acks=all, idempotence), batching and compression
    (as `create_broker`'s), for the outbox relay."""
    return AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, client_id=f"omni311-{service}-outbox",
                            acks="all", enable_idempotence=True, linger_ms=PRODUCER_LINGER_MS,
                            max_batch_size=PRODUCER_MAX_BATCH_BYTES, compression_type=PRODUCER_COMPRESSION)


def outbox_publisher(producer: AIOKafkaProducer) -> Callable[[list[tuple[bytes, str, bytes]]], Awaitable[None]]:
    """The batch `publish` the outbox relay uses.

    Messages are handed to the producer one after another (so per-key order is the outbox order) and
    only then awaited together; the idempotent producer keeps that order on retries. Raises the first
    `KafkaError` if any message was not acknowledged.
    """

    async def publish(batch: list[tuple[bytes, str, bytes]]) -> None:
        headers = [("content-type", b"application/json")]
        futures = [await producer.send(topic, payload, key=key, headers=headers) for payload, topic, key in batch]
        await asyncio.gather(*futures)

    return publish


def main(argv: list[str] | None = None) -> int:
    """`python -m shared.kafka delete-topics`: delete the registry's topics and their DLQs under
    ``OMNI311_TOPIC_PREFIX`` (`delete_topics`) and print the names deleted, one a line. Used by
    `make reset` (deploy/local/bin/reset.sh); services create the topics again when they start."""
    parser = argparse.ArgumentParser(prog="python -m shared.kafka", description=main.__doc__)
    parser.add_argument("action", choices=("delete-topics",))
    parser.parse_args(argv)
    for name in asyncio.run(delete_topics(Settings())):
        print(name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
