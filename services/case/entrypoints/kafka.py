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
subscribed to its topic. The two batches run concurrently, each in its own transaction. A burst on either
goes set-based where it can (`intake_batches`, `decision_batches`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from faststream.kafka.annotations import KafkaMessage

from services.case.adapters.opening_batch import OpeningBatch
from services.case.config import SERVICE
from services.case.service_layer import decision_batch, intake_batch
from services.case.service_layer.handlers import Clocks
from shared.jurisdiction import Jurisdiction
from shared.kafka import SUBSCRIBER_DEFAULTS, BatchCallback, BatchResult, Consumed
from shared.service import Runtime


def subscribe(rt: Runtime, call: BatchCallback, jurisdiction: Callable[[], Jurisdiction] | None = None,
              clocks: Clocks | None = None) -> None:
    """Subscribe `rt`'s broker to the five topics (names from `rt.settings.topic`, consumer group `case`;
    two subscribers: intake, and the decisions and outcomes, which never wait behind an intake backlog) and
    hand every batch to `call` through `rt.consumer.handle_batch`, the retry/DLQ/commit wrapper (`shared.kafka.Consumer.handle_batch`; one
    transaction per batch, one savepoint per event): a `ValueError` (e.g. an event about an unknown case)
    or a payload that does not validate goes to `<topic>.dlq` at once, a transient error (PostgreSQL or
    Kafka away) is retried and then rewinds the batch, any other error is retried a few times and then
    dead-lettered. With `jurisdiction` (the loaded one, once started), the batches of `intake.messages` go
    through `intake_batches` first (the set-based opening of a burst of new reports, which hands any other
    batch to `call`), and those of the decision topics through `decision_batches` (the routing decisions
    applied set-based with the SLA `clocks`, as the handlers bound to `call` keep them)."""
    s = rt.settings
    group = s.group(SERVICE)
    intake = intake_batches(rt, call, jurisdiction) if jurisdiction is not None else call
    decided = decision_batches(rt, call, jurisdiction, clocks) if jurisdiction is not None else call

    @rt.broker.subscriber(s.topic("intake.messages"),
                          group_id=group, listener=rt.consumer.listener(group), **SUBSCRIBER_DEFAULTS)
    async def on_intake(msg: KafkaMessage) -> None:
        await rt.consumer.handle_batch(msg, intake)

    @rt.broker.subscriber(s.topic("routing.decisions"), s.topic("dedup.decisions"),
                          s.topic("notifications.outcomes"), s.topic("forwarding.outcomes"),
                          group_id=group, listener=rt.consumer.listener(group), **SUBSCRIBER_DEFAULTS)
    async def on_decision(msg: KafkaMessage) -> None:
        await rt.consumer.handle_batch(msg, decided)


def intake_batches(rt: Runtime, call: BatchCallback, jurisdiction: Callable[[], Jurisdiction]) -> BatchCallback:
    """The consume callback of `intake.messages`: a batch of new reports only is opened set-based
    (`intake_batch.open_new_reports`: a few round trips per batch); any other batch, or one whose fast path
    raised (rolled back, nothing kept), goes to `call`, the per-event path (a savepoint per event: a poison
    event is dead-lettered alone). Each event is logged and counted as `call` does."""

    async def intake(consumed: Sequence[Consumed], last_attempt: bool) -> BatchResult:
        try:
            words = await intake_batch.open_new_reports(
                [(c.envelope, c.delivery) for c in consumed], lambda: OpeningBatch(rt.db, service=rt.service),
                jurisdiction=jurisdiction(), now=rt.clock())
        except intake_batch.Declined:
            return await call(consumed, last_attempt)
        except Exception as exc:  # noqa: BLE001 - rolled back; the per-event path isolates or retries it
            rt.log.info("intake_batch_fallback", error=repr(exc)[:500], batch=len(consumed))
            return await call(consumed, last_attempt)
        return rt.counted(consumed, words)

    return intake


def decision_batches(rt: Runtime, call: BatchCallback, jurisdiction: Callable[[], Jurisdiction],
                     clocks: Clocks | None) -> BatchCallback:
    """The consume callback of the decision topics: a batch's routing decisions, when `decision_batch.split`
    lets them go first, are applied set-based (`decision_batch.apply_decisions`: a few round trips per batch),
    then its other events go to `call`, the per-event path; a batch it does not split, or whose decisions
    the fast path declined or failed on (rolled back, nothing kept), goes to `call` whole (a savepoint per
    event: a poison event is dead-lettered alone). Each event is logged and counted as `call` does."""

    async def decisions(consumed: Sequence[Consumed], last_attempt: bool) -> BatchResult:
        parts = decision_batch.split([(c.envelope, c.delivery) for c in consumed])
        if parts is None:
            return await call(consumed, last_attempt)
        routing, rest = parts
        picked = [consumed[i] for i in routing]
        try:
            words = await decision_batch.apply_decisions(
                [(c.envelope, c.delivery) for c in picked], lambda: OpeningBatch(rt.db, service=rt.service),
                jurisdiction=jurisdiction(), clocks=clocks, now=rt.clock())
        except decision_batch.Declined:
            return await call(consumed, last_attempt)
        except Exception as exc:  # noqa: BLE001 - rolled back; the per-event path isolates or retries it
            rt.log.info("decision_batch_fallback", error=repr(exc)[:500], batch=len(consumed))
            return await call(consumed, last_attempt)
        result = rt.counted(picked, words)
        if rest:
            others = await call([consumed[i] for i in rest], last_attempt)
            result.handled += others.handled
            result.rejected += others.rejected
        return result

    return decisions

