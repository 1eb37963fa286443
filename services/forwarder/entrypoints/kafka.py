"""The forwarder's one subscription: `cases.lifecycle` (it acts on `case.routed`), in the consumer group
`forwarder`."""

from __future__ import annotations

from faststream.kafka.annotations import KafkaMessage

from services.forwarder.config import SERVICE
from shared.kafka import SUBSCRIBER_DEFAULTS, EventCallback
from shared.service import Runtime


def subscribe(rt: Runtime, call: EventCallback) -> None:
    """Hand every `cases.lifecycle` message to `call` through the retry/DLQ wrapper."""
    s = rt.settings

    @rt.broker.subscriber(s.topic("cases.lifecycle"), group_id=s.group(SERVICE), **SUBSCRIBER_DEFAULTS)
    async def on_lifecycle(msg: KafkaMessage) -> None:
        await rt.consumer.handle(msg, call)
