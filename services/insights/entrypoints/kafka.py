"""Insights' two subscriptions, both in the consumer group `insights`: one for `cases.lifecycle` (the public
projection of cases), one for `intake.messages` (`intake.help_deflected`).

Two subscribers, so two Kafka consumers in the one group, each fetching its own topic, as the case service
does: with one consumer for both, a backlog on `intake.messages` (a burst of reports, almost none of them
insights' events) filled every 500-record fetch and the projection waited behind it, and the other way
round. Nothing insights keeps depends on an order between the two topics: a deflection is a row of its own
keyed by its event id, never read with a case's (and one consumer never ordered two topics either: order
holds per partition). Both members keep the group id `insights`, so the offsets a deployment committed
before this split stay valid (an offset is kept per group and partition, not per member) and the inbox
consumer name stays `insights`: nothing is read twice or skipped on upgrade. The two batches run
concurrently, each in its own transaction, on disjoint tables (the projection and survey ratings; the
deflections).

On `intake.messages` only `intake.help_deflected` is in the handler table; residents' messages, follows
and survey answers there are the case service's, committed untouched.
"""

from __future__ import annotations

from faststream.kafka.annotations import KafkaMessage

from services.insights.config import SERVICE
from shared.kafka import SUBSCRIBER_DEFAULTS, BatchCallback
from shared.service import Runtime


def subscribe(rt: Runtime, call: BatchCallback) -> None:
    """Hand every `cases.lifecycle` and `intake.messages` message (names from `rt.settings.topic`, consumer
    group `insights`; one subscriber per topic, so neither waits behind the other's backlog) to `call` in
    batches through the retry/DLQ/commit wrapper (`shared.kafka.Consumer.handle_batch`)."""
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
