"""Insights' one subscription: `cases.lifecycle` and `intake.messages`, in the consumer group `insights`.

On `intake.messages` only `intake.help_deflected` is in the handler table; residents' messages, follows
and survey answers there are the case service's, committed untouched.
"""

from __future__ import annotations

from faststream.kafka.annotations import KafkaMessage

from services.insights.config import SERVICE
from shared.kafka import SUBSCRIBER_DEFAULTS, BatchCallback
from shared.service import Runtime


def subscribe(rt: Runtime, call: BatchCallback) -> None:
    """Hand every `cases.lifecycle` and `intake.messages` message to `call` in batches
    through the retry/DLQ/commit wrapper (`shared.kafka.Consumer.handle_batch`)."""
    s = rt.settings
    group = s.group(SERVICE)

    @rt.broker.subscriber(s.topic("cases.lifecycle"), s.topic("intake.messages"),
                          group_id=group, listener=rt.consumer.listener(group),
                          **SUBSCRIBER_DEFAULTS)
    async def on_event(msg: KafkaMessage) -> None:
        await rt.consumer.handle_batch(msg, call)
