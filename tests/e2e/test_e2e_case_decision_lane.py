"""A routing decision is applied while the case service still has an intake backlog (issue 14, BENCH's
finding): with one consumer for every topic, a burst on `intake.messages` filled each fetch and the
decisions about cases already open waited until intake drained, so no case reached `case.routed` during a
burst. The case service reads intake and decisions with two consumers of its one group
(services/case/entrypoints/kafka.py).

Only the case service runs; the test publishes the events itself (the wire format, support.pipeline).
"""

from __future__ import annotations

import asyncio
import signal
import time
import uuid
from typing import Any

from support.infra import check_kafka, check_postgres
from support.pipeline import Kafka, envelope, intake_message, rows, to_bytes, val
from support.stack import Stack
from support.wait import eventually

BACKLOG = 3000
"""Intake events published in one go before the routing decision (the case service opens ~50-300 a second
on this machine: the backlog lasts many seconds)."""


def _report(token: str, i: int) -> tuple[str, dict[str, Any]]:
    ck = f"ck_lane_{token}_{i}"
    return ck, envelope("intake.message_received", intake_message(
        token=f"lane-{token}-{i}", contact_key=ck, email=f"lane-{token}-{i}@resident.test", service_code="graffiti",
        lat=45.42 + (i % 100) * 1e-4, long=-75.69 + (i // 100) * 1e-4, description=f"Tags on wall {i}"), subject=ck)


def _routing(case_id: str) -> dict[str, Any]:
    return {"case_id": case_id, "routing": {
        "service_code": "graffiti", "service_name": "Graffiti", "category_source": "service_code",
        "agency_responsible": "Public Works", "queue": "lane-queue", "priority": 3, "district": None,
        "sla_due_at": None, "rule_id": "lane-test", "config_version": "x", "matched_keywords": [], "score": None}}


async def test_a_routing_decision_is_applied_before_an_intake_backlog_drains() -> None:
    tag = uuid.uuid4().hex[:8]
    await check_kafka()
    await check_postgres()
    stack = Stack(jurisdiction="demo", services=("case",))
    await stack.up()
    try:
        await _run(stack, tag)
    finally:
        await stack.down()


async def _run(stack: Stack, tag: str) -> None:
    async with Kafka(stack.topic_prefix) as kafka:
        # 1. One case, opened before the burst.
        ck, first = _report(tag, 0)
        await kafka.send("intake.messages", to_bytes(first), ck)
        found = await eventually(lambda: rows(stack, "case", "SELECT c.case_id FROM messages m JOIN cases c "
                                              "USING (case_id) WHERE m.channel_message_id = $1",
                                              first["data"]["channel_message_id"]),
                                 timeout=60, what="the first case opened")
        case_id = str(found[0]["case_id"])
        # 2. The backlog, published while the case service is down, so that its first fetch takes it all in
        #    (up to 1 MiB per partition: aiokafka then serves buffered partitions in the order they were
        #    fetched); the decision comes once the service is busy with the backlog.
        stack.kill("case", signal.SIGTERM)
        topic = stack.topic_prefix + "intake.messages"
        futures = []
        for i in range(1, BACKLOG + 1):
            key, env = _report(tag, i)
            futures.append(await kafka.producer.send(topic, to_bytes(env), key=key.encode()))
        await asyncio.gather(*futures)
        stack.start("case")
        await stack.wait_ready("case")
        like = f"lane-{tag}-%"
        await eventually(lambda: val(stack, "case", "SELECT count(*) > 1 FROM messages WHERE channel_message_id "
                                     "LIKE $1", like), timeout=60, what="the backlog being handled")
        decided = envelope("routing.decided", _routing(case_id), subject=case_id, producer="router")
        await kafka.send("routing.decisions", to_bytes(decided), case_id)
        sent = time.monotonic()

        async def routed() -> bool:
            return await val(stack, "case", "SELECT queue FROM cases WHERE case_id = $1::uuid", case_id) == "lane-queue"

        await eventually(routed, timeout=120, what="the routing decision applied")
        waited = time.monotonic() - sent
        opened = await val(stack, "case", "SELECT count(*) FROM messages WHERE channel_message_id LIKE $1", like)
        print(f"DECISION LANE: routed {waited:.1f} s after the decision, {opened - 1} of {BACKLOG} backlog "
              "reports handled by then")
        assert opened - 1 < BACKLOG, ("the routing decision waited until the whole intake backlog was "
                                      f"handled ({opened - 1} of {BACKLOG})")
