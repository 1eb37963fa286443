"""Insights' one subscription: `cases.lifecycle` and `intake.messages`, in the consumer group `insights`.

On `intake.messages` only `intake.help_deflected` is in the handler table; residents' messages, follows
and survey answers there are the case service's, committed untouched.
"""

from __future__ import annotations

from faststream.kafka.annotations import KafkaMessage

from services.insights.config import SERVICE
from shared.kafka import SUBSCRIBER_DEFAULTS, EventCallback
from shared.service import Runtime


def subscribe(rt: Runtime, call: EventCallback) -> None:
    """Hand every `cases.lifecycle` and `intake.messages` message to `call` through the retry/DLQ wrapper."""
    s = rt.settings

    @rt.broker.subscriber(s.topic("cases.lifecycle"), s.topic("intake.messages"), group_id=s.group(SERVICE),
                          **SUBSCRIBER_DEFAULTS)
    async def on_event(msg: KafkaMessage) -> None:
        await rt.consumer.handle(msg, call)
