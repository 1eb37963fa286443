"""The case service's one subscription: `intake.messages`, `routing.decisions`, `dedup.decisions` and
`notifications.outcomes`, in the consumer group `case`."""

from __future__ import annotations

from faststream.kafka.annotations import KafkaMessage

from services.case.config import SERVICE
from shared.kafka import SUBSCRIBER_DEFAULTS, EventCallback
from shared.service import Runtime


def subscribe(rt: Runtime, call: EventCallback) -> None:
    """Hand every message of the four topics to `call` through the retry/DLQ wrapper."""
    s = rt.settings

    @rt.broker.subscriber(
        s.topic("intake.messages"), s.topic("routing.decisions"), s.topic("dedup.decisions"),
        s.topic("notifications.outcomes"),
        group_id=s.group(SERVICE), **SUBSCRIBER_DEFAULTS,
    )
    async def on_event(msg: KafkaMessage) -> None:
        await rt.consumer.handle(msg, call)
