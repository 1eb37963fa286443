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
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError, UnknownTopicOrPartitionError, for_code
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.message import KafkaMessage
from pydantic import ValidationError
import structlog

from shared.events import DLQ_SUFFIX, Envelope, registry
from shared.logs import get_logger
from shared.retry import exponential_delay_s
from shared.settings import Settings

log = get_logger(__name__)

SUBSCRIBER_DEFAULTS: dict[str, Any] = {
    "auto_offset_reset": "earliest",
    "ack_policy": AckPolicy.NACK_ON_ERROR,
}
"""What every omni311 subscriber states besides its topic and group id (docs/architecture.md, house rule 7)."""

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


def _raw_body(msg: Any) -> bytes:
    """Broker decoder: hand the body over as bytes. `Consumer.handle` parses envelopes itself, so that a
    corrupt body is dead-lettered; FastStream's default decoder would `json.loads` any message labelled
    ``application/json`` before the handler runs, fail, nack and redeliver it forever."""
    return msg.body


def create_broker(settings: Settings, service: str) -> KafkaBroker:
    """A FastStream Kafka broker whose producer waits for all in-sync replicas, with idempotence on.

    Subscribers receive raw bytes (see `_raw_body`); take the message as `msg: KafkaMessage` and pass it
    to `Consumer.handle`.
    """
    return KafkaBroker(
        settings.kafka_bootstrap,
        client_id=f"omni311-{service}",
        acks="all",
        enable_idempotence=True,
        allow_auto_create_topics=False,
        graceful_timeout=15.0,
        logger=None,
        decoder=_raw_body,
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
    `Settings.kafka_replication_factor` replicas and `min.insync.replicas` from `min_insync_replicas`.

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
        wanted = [NewTopic(name=name, num_partitions=parts, replication_factor=settings.kafka_replication_factor,
                           topic_configs=configs)
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


EventCallback = Callable[[Envelope, Delivery], Awaitable[None]]
"""What `Consumer.handle` calls for each parsed envelope."""


class Consumer:
    """Wraps every subscriber of one service: parse, log context, retry, dead-letter."""

    def __init__(self, *, broker: KafkaBroker, settings: Settings, service: str) -> None:
        self.broker = broker
        self.settings = settings
        self.service = service
        self.dead_lettered = 0

    async def handle(self, msg: KafkaMessage, handler: EventCallback) -> None:
        """Run `handler` for one Kafka message.

        Returns normally when the effect is done or the message went to the DLQ (the offset is then
        committed); raises a transient error after backing off so that the partition is rewound.
        """
        raw = msg.raw_message
        delivery = Delivery(topic=raw.topic, partition=raw.partition, offset=raw.offset, consumer=self.service)
        try:
            envelope = Envelope.from_bytes(msg.body)
        except Exception as exc:  # noqa: BLE001 - whatever the bytes do to the parser, they can never succeed
            await self.dead_letter(msg, delivery, "unparseable_envelope", f"{type(exc).__name__}: {exc}")
            return
        structlog.contextvars.bind_contextvars(
            event_id=str(envelope.event_id), correlation_id=str(envelope.correlation_id),
            event_type=envelope.event_type,
        )
        try:
            attempts = self.settings.consumer_retry_attempts
            for attempt in range(1, attempts + 1):
                try:
                    await handler(envelope, delivery)
                    return
                except TRANSIENT_ERRORS as exc:
                    delay = exponential_delay_s(attempt, self.settings.consumer_retry_base_s, 10.0)
                    log.warning("transient_error", error=repr(exc), attempt=attempt, retry_in_s=delay)
                    await asyncio.sleep(delay)
                    if attempt == attempts:
                        raise  # rewind the partition; an outage is never dead-lettered
                except (PermanentError, ValidationError, KeyError, ValueError, asyncpg.DataError) as exc:
                    await self.dead_letter(msg, delivery, type(exc).__name__, str(exc))
                    return
                except Exception as exc:  # noqa: BLE001 - unknown: retry a few times, then dead-letter
                    if attempt == attempts:
                        await self.dead_letter(msg, delivery, type(exc).__name__, repr(exc))
                        return
                    delay = exponential_delay_s(attempt, self.settings.consumer_retry_base_s, 10.0)
                    log.warning("handler_error", error=repr(exc), attempt=attempt, retry_in_s=delay)
                    await asyncio.sleep(delay)
        finally:
            structlog.contextvars.unbind_contextvars("event_id", "correlation_id", "event_type")

    async def dead_letter(self, msg: KafkaMessage, delivery: Delivery, reason: str, detail: str) -> None:
        """Publish the raw message unchanged to `<topic>.dlq` with the error in headers, then log it."""
        headers = {
            "x-omni311-error": reason,
            "x-omni311-error-detail": detail[:2000],
            "x-omni311-source-topic": delivery.topic,
            "x-omni311-source-partition": str(delivery.partition),
            "x-omni311-source-offset": str(delivery.offset),
            "x-omni311-consumer": self.service,
        }
        await self.broker.publish(
            msg.body, topic=delivery.topic + DLQ_SUFFIX, key=msg.raw_message.key, headers=headers,
        )
        self.dead_lettered += 1
        log.error("dead_lettered", reason=reason, detail=detail[:500], topic=delivery.topic,
                  partition=delivery.partition, offset=delivery.offset)


def create_producer(settings: Settings, service: str) -> AIOKafkaProducer:
    """A plain aiokafka producer with the safe settings (acks=all, idempotence), for the outbox relay."""
    return AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, client_id=f"omni311-{service}-outbox",
                            acks="all", enable_idempotence=True, linger_ms=5)


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
