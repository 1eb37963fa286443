"""The case service's two subscriptions, both in the consumer group `case`: one for `intake.messages`
(new reports: the bulk of a burst), one for `routing.decisions`, `dedup.decisions`,
`notifications.outcomes` and `forwarding.outcomes` (decisions and outcomes about cases already open).

Two subscribers, so two Kafka consumers in the one group, each fetching its own topics: with a single
consumer for all five, a backlog on `intake.messages` filled every 500-record fetch and routing decisions
waited behind it (a 20,000-report burst: 7,300 cases opened but 200 routing decisions applied in 150 s, so
no case reached `case.routed` until intake drained). Both members keep the group id `case`, so the
offsets a deployment committed before this split stay valid (an offset is kept per group and partition,
not per member) and the inbox consumer name stays `case` (`Consumer`'s service): nothing is read twice
or skipped when a deployment upgrades. Kafka's round-robin assignor gives each partition to a member
subscribed to its topic. The two batches run concurrently, each in its own transaction."""

from __future__ import annotations

from faststream.kafka.annotations import KafkaMessage

from services.case.config import SERVICE
from shared.kafka import SUBSCRIBER_DEFAULTS, BatchCallback
from shared.service import Runtime


def subscribe(rt: Runtime, call: BatchCallback, *, intake: BatchCallback | None = None) -> None:
    """Subscribe `rt`'s broker to the five topics (names from `rt.settings.topic`, consumer group `case`;
    two subscribers: intake, and the decisions and outcomes, which never wait behind an intake backlog) and
    hand every batch to `call` through `rt.consumer.handle_batch`, the retry/DLQ/commit wrapper (`shared.kafka.Consumer.handle_batch`; one
    transaction per batch, one savepoint per event): a `ValueError` (e.g. an event about an unknown case)
    or a payload that does not validate goes to `<topic>.dlq` at once, a transient error (PostgreSQL or
    Kafka away) is retried and then rewinds the batch, any other error is retried a few times and then
    dead-lettered. `intake` (default `call`) takes the batches of `intake.messages` instead (the set-based
    opening of a burst of new reports, which hands any other batch to `call`)."""
    s = rt.settings
    group = s.group(SERVICE)

    @rt.broker.subscriber(s.topic("intake.messages"),
                          group_id=group, listener=rt.consumer.listener(group), **SUBSCRIBER_DEFAULTS)
    async def on_intake(msg: KafkaMessage) -> None:
        await rt.consumer.handle_batch(msg, intake or call)

    @rt.broker.subscriber(s.topic("routing.decisions"), s.topic("dedup.decisions"),
                          s.topic("notifications.outcomes"), s.topic("forwarding.outcomes"),
                          group_id=group, listener=rt.consumer.listener(group), **SUBSCRIBER_DEFAULTS)
    async def on_decision(msg: KafkaMessage) -> None:
        await rt.consumer.handle_batch(msg, call)
