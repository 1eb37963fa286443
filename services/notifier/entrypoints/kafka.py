"""The notifier's one subscription: `cases.lifecycle` and `intake.messages`, in the consumer group `notifier`.

Resident messages on `intake.messages` (reports, follow-ups, a bare thanks) are the case service's: the
handler table does not name them, so they are committed untouched; `intake.message_unsupported` (a
message kind we cannot read) is the notifier's own.
"""

from __future__ import annotations

from faststream.kafka.annotations import KafkaMessage

from services.notifier.config import SERVICE
from shared import kafka
from shared.kafka import BatchCallback
from shared.service import Runtime


MAX_RECORDS = 100
"""Records per notifier batch (the other services take `shared.kafka.BATCH_MAX_RECORDS`, 500): a batch's
sends run after its commit, `notifier_send_concurrency` at once (`SendLanes`), and the poll loop waits
for them to be in hand; 100 sends through a mail server taking 0.3 s each keep it about 4 s from the next
poll, and even 100 sends that each time out stay far from Kafka's max.poll.interval (300 s)
(services/notifier/README.md, "Sends")."""

SUBSCRIBER_DEFAULTS = {**kafka.SUBSCRIBER_DEFAULTS, "max_records": MAX_RECORDS}
"""The house subscriber defaults (`shared.kafka.SUBSCRIBER_DEFAULTS`), with the notifier's batch size."""


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
