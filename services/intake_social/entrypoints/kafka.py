"""intake_social's one subscription: `cases.lifecycle`, in the consumer group `intake_social`.

Only `case.personal_data_erased` is acted on (`service_layer.erasure.handlers`); every other case event
on the topic is committed untouched.
"""

from __future__ import annotations

from faststream.kafka.annotations import KafkaMessage

from services.intake_social.config import SERVICE
from shared.kafka import SUBSCRIBER_DEFAULTS, BatchCallback
from shared.service import Runtime


def subscribe(rt: Runtime, call: BatchCallback) -> None:
    """Hand every `cases.lifecycle` message to `call` in batches
    through the retry/DLQ/commit wrapper (`shared.kafka.Consumer.handle_batch`)."""
    s = rt.settings
    group = s.group(SERVICE)

    @rt.broker.subscriber(s.topic("cases.lifecycle"),
                          group_id=group, listener=rt.consumer.listener(group), **SUBSCRIBER_DEFAULTS)
    async def on_event(msg: KafkaMessage) -> None:
        await rt.consumer.handle_batch(msg, call)
