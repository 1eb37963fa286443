"""The notifier's two subscriptions, both in the consumer group `notifier`: one for `cases.lifecycle` (the
notices to reporters, followers and supervisors), one for `intake.messages` (bounces, opt-outs and opt-ins,
provider statuses, `intake.message_unsupported`).

Two subscribers, so two Kafka consumers in the one group, each fetching its own topic, as the case service
and insights do: with one consumer for both, a backlog on `intake.messages` (a burst of reports, none of
them the notifier's) filled every fetch and the lifecycle notices waited behind it. Nothing the notifier
does depends on an order between the two topics (one consumer never ordered them either: order holds per
partition): an opt-out, an opt-in or a bounce is a row read by the claims that come after its commit,
whichever consumer claims; a provider status is matched to a delivery row by the provider's message id,
which the send's own record writes, never a lifecycle event; a request to write as text has no case.
Both members keep the group id `notifier`, so the offsets a deployment committed before this split stay
valid (an offset is kept per group and partition, not per member) and the inbox consumer name stays
`notifier`: nothing is read twice or skipped on upgrade. The two batches run concurrently, each in its own
transaction, as batches of two replicas always did; their sends share the process's one `SendLanes`
(`notifier_send_concurrency` at once in the process, in order per case: a lifecycle lane is a case, an
intake lane a sender's contact key, never the same lane) and its one in-flight set, which the sweeper reads
(services/notifier/README.md, "Sends").

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
"""Records per notifier batch, on each of its two consumers (the other services take
`shared.kafka.BATCH_MAX_RECORDS`, 500): a batch's sends run after its commit, `notifier_send_concurrency`
at once (`SendLanes`, shared by both consumers), and the poll loop waits for them to be in hand; 100 sends
through a mail server taking 0.3 s each keep it about 4 s from the next poll, and even 100 sends that each
time out stay far from Kafka's max.poll.interval (300 s) (services/notifier/README.md, "Sends"; the worst
case with both consumers' sends timing out at once is under "Limits")."""

SUBSCRIBER_DEFAULTS = {**kafka.SUBSCRIBER_DEFAULTS, "max_records": MAX_RECORDS}
"""The house subscriber defaults (`shared.kafka.SUBSCRIBER_DEFAULTS`), with the notifier's batch size."""


def subscribe(rt: Runtime, call: BatchCallback) -> None:
    """Hand every `cases.lifecycle` and `intake.messages` message (names from `rt.settings.topic`, consumer
    group `notifier`; one subscriber per topic, so neither waits behind the other's backlog) to `call` in
    batches of at most `MAX_RECORDS` through the retry/DLQ/commit wrapper
    (`shared.kafka.Consumer.handle_batch`)."""
    s = rt.settings
    group = s.group(SERVICE)

    @rt.broker.subscriber(s.topic("cases.lifecycle"),
                          group_id=group, listener=rt.consumer.listener(group), **SUBSCRIBER_DEFAULTS)
    async def on_lifecycle(msg: KafkaMessage) -> None:
        await rt.consumer.handle_batch(msg, call)

    @rt.broker.subscriber(s.topic("intake.messages"),
                          group_id=group, listener=rt.consumer.listener(group), **SUBSCRIBER_DEFAULTS)
    async def on_intake(msg: KafkaMessage) -> None:
        await rt.consumer.handle_batch(msg, call)
