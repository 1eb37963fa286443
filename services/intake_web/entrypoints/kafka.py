"""intake_web's one subscription: `cases.lifecycle`, in the consumer group `intake_web`.

Only `case.personal_data_erased` is acted on (`service_layer.erasure.handlers`: the photos of the case's
reports are deleted); every other case event on the topic is committed untouched.
"""

from __future__ import annotations

from faststream.kafka.annotations import KafkaMessage

from services.intake_web.config import SERVICE
from shared.kafka import SUBSCRIBER_DEFAULTS, EventCallback
from shared.service import Runtime


def subscribe(rt: Runtime, call: EventCallback) -> None:
    """Hand every `cases.lifecycle` message to `call` through the retry/DLQ wrapper."""
    s = rt.settings

    @rt.broker.subscriber(s.topic("cases.lifecycle"), group_id=s.group(SERVICE), **SUBSCRIBER_DEFAULTS)
    async def on_event(msg: KafkaMessage) -> None:
        await rt.consumer.handle(msg, call)
