"""The forwarder's one subscription: `cases.lifecycle` (it acts on `case.routed`), in the consumer group
`forwarder`."""

from __future__ import annotations

from faststream.kafka.annotations import KafkaMessage

from services.forwarder.config import SERVICE
from shared.kafka import SUBSCRIBER_DEFAULTS, BatchCallback
from shared.service import Runtime


def subscribe(rt: Runtime, call: BatchCallback) -> None:
    """Hand every `cases.lifecycle` message to `call` in batches
    through the retry/DLQ/commit wrapper (`shared.kafka.Consumer.handle_batch`)."""
    s = rt.settings
    group = s.group(SERVICE)

    @rt.broker.subscriber(s.topic("cases.lifecycle"),
                          group_id=group, listener=rt.consumer.listener(group), **SUBSCRIBER_DEFAULTS)
    async def on_lifecycle(msg: KafkaMessage) -> None:
        await rt.consumer.handle_batch(msg, call)
