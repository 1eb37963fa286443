"""The case service's one subscription: `intake.messages`, `routing.decisions`, `dedup.decisions`,
`notifications.outcomes` and `forwarding.outcomes`, in the consumer group `case`."""

from __future__ import annotations

from faststream.kafka.annotations import KafkaMessage

from services.case.config import SERVICE
from shared.kafka import SUBSCRIBER_DEFAULTS, BatchCallback
from shared.service import Runtime


def subscribe(rt: Runtime, call: BatchCallback) -> None:
    """Subscribe `rt`'s broker to the five topics (names from `rt.settings.topic`, consumer group `case`)
    and hand every batch to `call` through `rt.consumer.handle_batch`, the retry/DLQ/commit wrapper
    (`shared.kafka.Consumer.handle_batch`; one transaction per batch, one savepoint per event): a
    `ValueError` (e.g. an event about an unknown case) or a payload that does not validate goes to
    `<topic>.dlq` at once, a transient error (PostgreSQL or Kafka away) is retried and then rewinds the
    batch, any other error is retried a few times and then dead-lettered."""
    s = rt.settings
    group = s.group(SERVICE)

    @rt.broker.subscriber(
        s.topic("intake.messages"), s.topic("routing.decisions"), s.topic("dedup.decisions"),
        s.topic("notifications.outcomes"), s.topic("forwarding.outcomes"),
        group_id=group, listener=rt.consumer.listener(group), **SUBSCRIBER_DEFAULTS,
    )
    async def on_event(msg: KafkaMessage) -> None:
        await rt.consumer.handle_batch(msg, call)
