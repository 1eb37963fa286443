"""A service that reads `intake.messages` beside other topics reads it on a Kafka consumer of its own, in its
one consumer group (the case service, insights, the notifier): a burst of reports on `intake.messages` fills
every fetch of a consumer it shares and the other topics wait behind it."""

from __future__ import annotations

from typing import Any

import pytest

from services.case.entrypoints import kafka as case_kafka
from services.insights.entrypoints import kafka as insights_kafka
from services.notifier.entrypoints import kafka as notifier_kafka
from shared.kafka import BatchResult, RebalanceLog
from shared.service import Runtime
from shared.settings import Settings


async def nothing(_consumed: Any, _last: bool) -> BatchResult:
    return BatchResult()


@pytest.mark.parametrize(("service", "subscribe", "lanes"), [
    ("insights", insights_kafka.subscribe, [{"cases.lifecycle"}, {"intake.messages"}]),
    ("notifier", notifier_kafka.subscribe, [{"cases.lifecycle"}, {"intake.messages"}]),
    ("case", case_kafka.subscribe, [{"intake.messages"}, {"routing.decisions", "dedup.decisions",
                                                          "notifications.outcomes", "forwarding.outcomes"}]),
])
def test_intake_messages_has_a_consumer_of_its_own_in_the_services_one_group(service: str, subscribe: Any,
                                                                            lanes: list[set[str]]) -> None:
    settings = Settings(topic_prefix="nyc.")
    rt = Runtime(settings, service)

    subscribe(rt, nothing)

    subscribers = rt.broker.subscribers
    assert sorted(sorted(t.name for t in s.topics) for s in subscribers) == sorted(
        sorted(f"nyc.{t}" for t in lane) for lane in lanes)
    assert {s.group_id for s in subscribers} == {f"nyc.{service}"}, "one group: offsets and inbox name unchanged"
    assert all(isinstance(s._listener, RebalanceLog) for s in subscribers), "every rebalance logged and counted"
    assert rt.metrics.get_sample_value("omni311_consumer_rebalances_total", {"group": f"nyc.{service}"}) == 0


def test_both_notifier_consumers_take_the_notifiers_small_batches() -> None:
    rt = Runtime(Settings(topic_prefix="nyc."), "notifier")

    notifier_kafka.subscribe(rt, nothing)

    assert [s.max_records for s in rt.broker.subscribers] == [notifier_kafka.MAX_RECORDS] * 2, (
        "a batch's sends are in hand before the next poll (services/notifier/README.md, Sends)")
