"""The router's one subscription: `cases.lifecycle`, in the consumer group `router`."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from faststream.kafka.annotations import KafkaMessage

from services.router.adapters.routing_batch import RoutingBatch
from services.router.config import SERVICE
from services.router.service_layer import routing_batch
from services.router.service_layer.handlers import Judges
from shared.jurisdiction import Jurisdiction
from shared.kafka import SUBSCRIBER_DEFAULTS, BatchCallback, BatchResult, Consumed
from shared.service import Runtime
from shared.service_layer import Handlers


def subscribe(rt: Runtime, call: BatchCallback,
              started: Callable[[], tuple[Handlers, Jurisdiction, Judges]] | None = None) -> None:
    """Hand every `cases.lifecycle` message to `call` in batches
    through the retry/DLQ/commit wrapper (`shared.kafka.Consumer.handle_batch`). With `started` (the
    handler table, jurisdiction and judges, once started), a batch goes through `new_case_batches` first."""
    s = rt.settings
    group = s.group(SERVICE)
    consume = new_case_batches(rt, call, started) if started is not None else call

    @rt.broker.subscriber(s.topic("cases.lifecycle"),
                          group_id=group, listener=rt.consumer.listener(group), **SUBSCRIBER_DEFAULTS)
    async def on_lifecycle(msg: KafkaMessage) -> None:
        await rt.consumer.handle_batch(msg, consume)


def new_case_batches(rt: Runtime, call: BatchCallback,
                     started: Callable[[], tuple[Handlers, Jurisdiction, Judges]]) -> BatchCallback:
    """The consume callback of `cases.lifecycle`: a batch of new cases only is routed set-based
    (`routing_batch.route_new_cases`: six round trips per batch, BEGIN and COMMIT included, one of them the
    read that skips the decisions of redelivered events; one for a batch the inbox holds whole); any other
    batch, or one whose fast path raised (rolled back, nothing kept), goes to `call`, the per-event path (a
    savepoint per event: a poison event is dead-lettered alone). Each handled event is logged and counted
    as `call` does."""

    async def consume(consumed: Sequence[Consumed], last_attempt: bool) -> BatchResult:
        table, jurisdiction, judges = started()
        try:
            words = await routing_batch.route_new_cases(
                [(c.envelope, c.delivery) for c in consumed], lambda: RoutingBatch(rt.db, service=rt.service),
                handled=table, jurisdiction=jurisdiction, judges=judges, now=rt.clock())
        except routing_batch.Declined:
            return await call(consumed, last_attempt)
        except Exception as exc:  # noqa: BLE001 - rolled back; the per-event path isolates or retries it
            rt.log.info("routing_batch_fallback", error=repr(exc)[:500], batch=len(consumed))
            return await call(consumed, last_attempt)
        return rt.counted(consumed, words)

    return consume
