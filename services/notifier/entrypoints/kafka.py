"""The notifier's one subscription: `cases.lifecycle` and `intake.messages`, in the consumer group `notifier`.

Resident messages on `intake.messages` (reports, follow-ups, a bare thanks) are the case service's: the
handler table does not name them, so they are committed untouched; `intake.message_unsupported` (a
message kind we cannot read) is the notifier's own.
"""

from __future__ import annotations

from faststream.kafka.annotations import KafkaMessage

from services.notifier.config import SERVICE
from shared.kafka import SUBSCRIBER_DEFAULTS, EventCallback
from shared.service import Runtime


def subscribe(rt: Runtime, call: EventCallback) -> None:
    """Hand every `cases.lifecycle` and `intake.messages` message to `call` through the retry/DLQ wrapper."""
    s = rt.settings

    @rt.broker.subscriber(s.topic("cases.lifecycle"), s.topic("intake.messages"), group_id=s.group(SERVICE),
                          **SUBSCRIBER_DEFAULTS)
    async def on_event(msg: KafkaMessage) -> None:
        await rt.consumer.handle(msg, call)
