"""Crashes around the unit of work, on real processes: the notifier SIGKILLed after its delivery claims
committed but before the send finished (an SMTP server that never answers holds it there), and the router
SIGKILLed in the middle of a burst. Nothing may be sent twice or lost silently; a delivery a dead notifier
left ``sending`` is settled by the next one (services/notifier/README.md, "Crashes").

Each test runs its own small stack (only the services it needs) and publishes lifecycle events itself.
Envelopes are written as raw JSON (support.pipeline), so the wire format itself is what is tested.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from services.notifier.domain.messages import delivery_message_id
from services.notifier.domain.outcomes import INTERRUPTED, RESENT
from support.infra import SMTP, check_kafka, check_postgres
from support.mail import inbox
from support.stack import Stack
from support.wait import eventually
from support.pipeline import Kafka, envelope, outbox_events, read_topic, rows, settled, to_bytes, val


class StallingSmtp:
    """A TCP server that accepts SMTP connections and never says a word (the send hangs in the greeting)."""

    def __init__(self) -> None:
        self.connections = 0
        self._writers: list[asyncio.StreamWriter] = []
        self.server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> None:
        async def hold(_r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            self.connections += 1
            self._writers.append(w)

        self.server = await asyncio.start_server(hold, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        for w in self._writers:
            w.close()
        assert self.server is not None
        self.server.close()


def _use_smtp(stack: Stack, port: int, timeout_s: float) -> None:
    stack.extra_env.update({"OMNI311_SMTP_HOST": "127.0.0.1", "OMNI311_SMTP_PORT": str(port),
                            "OMNI311_SMTP_TIMEOUT_S": str(timeout_s)})


@contextlib.asynccontextmanager
async def small_stack(services: tuple[str, ...], extra_env: dict[str, str] | None = None) -> AsyncIterator[Stack]:
    await check_kafka()
    await check_postgres()
    stack = Stack(jurisdiction="demo", services=services, extra_env=dict(extra_env or {}))
    await stack.up()
    try:
        yield stack
    finally:
        await stack.down()


def _opened(case_id: str, number: str, email: str) -> dict[str, Any]:
    return envelope("case.opened", {
        "case_id": case_id, "service_request_id": number, "jurisdiction_id": "demo", "channel": "open311",
        "channel_message_id": f"tok-{case_id}", "contact_key": f"ck_{case_id[:12]}", "service_code": "graffiti",
        "description": "Tags on the wall", "lat": 45.43, "long": -75.66,
        "requested_datetime": datetime.now(UTC).isoformat(), "pii": {"email": email}}, subject=case_id,
        producer="case")


def _number() -> str:
    return f"DEMO-26-{uuid.uuid4().int % 10**6:06d}"


async def _deliveries(stack: Stack, case_id: str) -> list[dict[str, Any]]:
    return await rows(stack, "notifier", "SELECT id, kind, status, cause_event_id, reason, attempted_at IS NOT NULL "
                                         "AS attempted FROM deliveries WHERE case_id = $1::uuid ORDER BY id", case_id)


NOTIFIER_GROUPS = {"notifier": ("cases.lifecycle", "intake.messages")}


async def _notifier_settled(stack: Stack) -> bool:
    return await settled(stack, NOTIFIER_GROUPS)


# --- the notifier --------------------------------------------------------------------------------------


SENDING_TIMEOUT_S = 3.0
"""The notifier's `notifier_sending_timeout_s` in this test (900 s in production): a process silent this
long is taken for dead."""


async def test_notifier_killed_while_sending_settles_each_claim_once_and_never_sends_twice() -> None:
    stall = StallingSmtp()
    await stall.start()
    async with small_stack(("notifier",), {"OMNI311_NOTIFIER_SENDING_TIMEOUT_S": str(SENDING_TIMEOUT_S),
                                           "OMNI311_NOTIFIER_SWEEP_INTERVAL_S": "0.5"}) as stack, \
            Kafka(stack.topic_prefix) as kafka:
        try:
            await _run_notifier_crash(stack, kafka, stall)
        finally:
            await stall.stop()


async def _run_notifier_crash(stack: Stack, kafka: Kafka, stall: StallingSmtp) -> None:
    h = uuid.uuid4().hex[:8]
    # 1. Two reporters, the second merged into the first, acknowledged through the real mail server.
    survivor, merged = str(uuid.uuid4()), str(uuid.uuid4())
    s_mail, m_mail = f"crash-s-{h}@resident.test", f"crash-m-{h}@resident.test"
    s_no, m_no = _number(), _number()
    for cid, no, mail in ((survivor, s_no, s_mail), (merged, m_no, m_mail)):
        e = _opened(cid, no, mail)
        await kafka.send("cases.lifecycle", to_bytes(e), cid)
    merge = envelope("case.merged", {"case_id": merged, "service_request_id": m_no, "jurisdiction_id": "demo",
                                     "merged_into": survivor, "merged_into_service_request_id": s_no,
                                     "status_notes": f"Duplicate of {s_no}"}, subject=merged, producer="case")
    await kafka.send("cases.lifecycle", to_bytes(merge), merged)

    async def all_sent() -> bool:
        d = await _deliveries(stack, survivor) + await _deliveries(stack, merged)
        return len(d) == 3 and all(x["status"] == "sent" for x in d)

    await eventually(all_sent, timeout=60, what="two acknowledgements and a merge notice sent")
    await eventually(lambda: _notifier_settled(stack), timeout=60, what="notifier settled")

    # 2. Restart the notifier on an SMTP server that never answers; close the survivor.
    stack.kill("notifier")
    _use_smtp(stack, stall.port, 600)
    stack.start("notifier")
    await stack.wait_ready("notifier")
    closed = envelope("case.status_changed", {"case_id": survivor, "service_request_id": s_no,
                                              "jurisdiction_id": "demo", "status": "closed",
                                              "status_notes": "Wall cleaned"}, subject=survivor, producer="case")
    await kafka.send("cases.lifecycle", to_bytes(closed), survivor)

    async def stuck_in_send():  # noqa: ANN202
        sending = [d for d in await _deliveries(stack, survivor) + await _deliveries(stack, merged)
                   if d["status"] == "sending"]
        return sending if sending and stall.connections >= 1 else None

    await eventually(stuck_in_send, timeout=60, what="a closure claimed and its send hanging")
    # A live notifier's slow send is never settled under it: its sweeper beats and sweeps past the timeout.
    await eventually(lambda: val(stack, "notifier", "SELECT max(beat_at) > (SELECT max(claimed_at) FROM deliveries) "
                                 "+ make_interval(secs => $1) FROM senders", SENDING_TIMEOUT_S + 0.5),
                     timeout=30, what="a sweep round past the timeout while the send hangs")
    sending_at_kill = [(d["kind"], d["status"], d["attempted"]) for d in await _deliveries(stack, survivor)
                       + await _deliveries(stack, merged) if d["kind"] == "closed"]
    stack.kill("notifier")  # SIGKILL in the middle of the send
    claimed = await rows(stack, "notifier", "SELECT event_id FROM inbox WHERE event_id = $1::uuid", closed["event_id"])

    # 3. Back on the real mail server: the closure event is redelivered (its offset was never committed).
    _use_smtp(stack, SMTP[1], 10)
    stack.start("notifier")
    await stack.wait_ready("notifier")
    # A new case after the restart: consumption goes on.
    late_case, late_mail = str(uuid.uuid4()), f"crash-late-{h}@resident.test"
    await kafka.send("cases.lifecycle", to_bytes(_opened(late_case, _number(), late_mail)), late_case)

    async def late_acknowledged() -> bool:
        return [d["status"] for d in await _deliveries(stack, late_case)] == ["sent"]

    await eventually(late_acknowledged, timeout=60, what="consumption goes on after the restart")

    async def closures_settled():  # noqa: ANN202
        ds = [d for d in await _deliveries(stack, survivor) + await _deliveries(stack, merged) if d["kind"] == "closed"]
        return ds if ds and all(d["status"] != "sending" for d in ds) else None

    settled_rows = await eventually(closures_settled, timeout=60, what="the dead notifier's closures settled")
    await eventually(lambda: _notifier_settled(stack), timeout=60, what="notifier settled after restart")
    closures = sorted((d["kind"], d["status"], d["reason"]) for d in settled_rows)
    recorded = [e for e in await outbox_events(stack, "notifier")
                if e["data"].get("kind") == "closed"]
    s_closed = [m for m in await inbox(s_mail) if "closed" in m["Subject"]]
    m_closed = [m for m in await inbox(m_mail) if "closed" in m["Subject"]]
    report = {"closures_at_kill": sending_at_kill, "claimed_at_kill": len(claimed),
              "closures_after": [(k, s, (r or "")[:12]) for k, s, r in closures],
              "closure_records": [(e["data"]["outcome"], (e["data"]["reason"] or "")[:12]) for e in recorded],
              "closure_mails": (len(s_closed), len(m_closed)), "stall_connections": stall.connections}
    print("NOTIFIER CRASH REPORT", json.dumps(report))
    # At the kill both closures were claimed and still `sending` past the timeout (their owner lived): the
    # first handed to the mail server that never answered, the second waiting its turn.
    assert sorted(sending_at_kill) == [("closed", "sending", False), ("closed", "sending", True)], report
    # Then settled once each: the one never handed over sent by the restarted notifier; the one in flight
    # recorded failed (it may have gone out: never sent twice). Both published, so both reach the timeline.
    assert closures == [("closed", "failed", INTERRUPTED), ("closed", "sent", None)], report
    assert sorted((e["data"]["outcome"], e["data"]["reason"]) for e in recorded) == [
        ("failed", INTERRUPTED), ("sent", RESENT)], report
    assert sorted((len(s_closed), len(m_closed))) == [0, 1], report  # the stalled one never left
    [mail] = s_closed + m_closed
    [sent_row] = [d for d in settled_rows if d["status"] == "sent"]
    assert mail["Message-ID"] == delivery_message_id(sent_row["id"], sent_row["cause_event_id"], stack.city_address)


# --- the router ----------------------------------------------------------------------------------------


BURST = 150


async def test_router_killed_mid_burst_routes_every_case_exactly_once() -> None:
    async with small_stack(("router",)) as stack, Kafka(stack.topic_prefix) as kafka:
        case_ids = [str(uuid.uuid4()) for _ in range(BURST)]
        sent = {cid: _opened(cid, _number(), "x@resident.test") for cid in case_ids}
        # The burst's first half before the kill, the second while the router is down: mid-burst by construction.
        for cid in case_ids[:BURST // 2]:
            await kafka.send("cases.lifecycle", to_bytes(sent[cid]), cid)

        async def some_routed() -> bool:
            return (await rows(stack, "router", "SELECT count(*) AS n FROM decisions"))[0]["n"] >= BURST // 4

        await eventually(some_routed, timeout=120, what="a quarter of the burst routed")
        stack.kill("router")
        at_kill = (await rows(stack, "router", "SELECT count(*) AS n FROM decisions"))[0]["n"]
        for cid in case_ids[BURST // 2:]:
            await kafka.send("cases.lifecycle", to_bytes(sent[cid]), cid)
        # The first ten again, byte for byte (a redelivery), and ten more under new event ids (a replay).
        for cid in case_ids[:10]:
            await kafka.send("cases.lifecycle", to_bytes(sent[cid]), cid)
        for cid in case_ids[10:20]:
            await kafka.send("cases.lifecycle", to_bytes(_opened(cid, _number(), "x@resident.test")), cid)
        stack.start("router")
        await stack.wait_ready("router")
        await eventually(lambda: settled(stack, {"router": ("cases.lifecycle",)}), timeout=180,
                         what="router caught up after the restart")
        decisions = await rows(stack, "router", "SELECT case_id FROM decisions")
        out = [e for e in await outbox_events(stack, "router") if e["event_type"] == "routing.decided"]
        on_topic = [json.loads(m["value"]) for m in await read_topic(stack.topic_prefix, "routing.decisions")]
        dlq = await read_topic(stack.topic_prefix, "cases.lifecycle.dlq")
    per_case_topic: dict[str, set[str]] = {}
    for e in on_topic:
        per_case_topic.setdefault(e["data"]["case_id"], set()).add(e["event_id"])
    print("ROUTER CRASH REPORT", json.dumps({"at_kill": at_kill, "decisions": len(decisions), "outbox": len(out),
                                            "topic_messages": len(on_topic), "topic_cases": len(per_case_topic)}))
    assert sorted(str(d["case_id"]) for d in decisions) == sorted(case_ids)
    assert sorted(e["data"]["case_id"] for e in out) == sorted(case_ids), "one routing.decided per case"
    assert set(per_case_topic) == set(case_ids)
    assert all(len(v) == 1 for v in per_case_topic.values()), "a case routed twice under two event ids"
    assert not dlq



# --- dedup ---------------------------------------------------------------------------------------------


PAIRS = 40


def _routed(case_id: str, lat: float, long: float, text: str) -> dict[str, Any]:
    return envelope("case.routed", {
        "case_id": case_id, "service_request_id": _number(), "jurisdiction_id": "demo",
        "routing": {"service_code": "graffiti", "service_name": "Graffiti", "category_source": "service_code",
                    "agency_responsible": "Public Works", "queue": "pw", "priority": 3, "district": None,
                    "sla_due_at": None, "rule_id": "r", "config_version": "v", "matched_keywords": [], "score": None},
        "description": text, "lat": lat, "long": long, "requested_datetime": datetime.now(UTC).isoformat()},
        subject=case_id, producer="case")


async def test_dedup_killed_mid_burst_decides_each_pair_once() -> None:
    async with small_stack(("dedup",)) as stack, Kafka(stack.topic_prefix) as kafka:
        pairs, burst = [], []
        for i in range(PAIRS):
            lat, long = 45.40 + (i // 8) * 0.01, -75.72 + (i % 8) * 0.01  # about 1 km apart
            a, b = str(uuid.uuid4()), str(uuid.uuid4())
            text = f"Large graffiti tag number {i} on the north wall of the bridge"
            pairs.append((a, b))
            burst += [(a, _routed(a, lat, long, text)), (b, _routed(b, lat + 0.00003, long, text))]
        # The burst's first half before the kill, the second while dedup is down: mid-burst by construction.
        for cid, env in burst[:PAIRS]:
            await kafka.send("cases.lifecycle", to_bytes(env), cid)

        async def some_projected() -> bool:
            return (await rows(stack, "dedup", "SELECT count(*) AS n FROM cases"))[0]["n"] >= PAIRS // 2

        await eventually(some_projected, timeout=120, what="part of the burst projected")
        stack.kill("dedup")
        at_kill = (await rows(stack, "dedup", "SELECT count(*) AS n FROM cases"))[0]["n"]
        for cid, env in burst[PAIRS:]:
            await kafka.send("cases.lifecycle", to_bytes(env), cid)
        stack.start("dedup")
        await stack.wait_ready("dedup")
        await eventually(lambda: settled(stack, {"dedup": ("cases.lifecycle",)}), timeout=180,
                         what="dedup caught up after the restart")
        decisions = await rows(stack, "dedup", "SELECT case_id, duplicate_of FROM decisions")
        on_topic = [json.loads(m["value"]) for m in await read_topic(stack.topic_prefix, "dedup.decisions")]
        projected = (await rows(stack, "dedup", "SELECT count(*) AS n FROM cases"))[0]["n"]
    print("DEDUP CRASH REPORT", json.dumps({"at_kill": at_kill, "projected": projected, "decisions": len(decisions),
                                           "topic_messages": len(on_topic)}))
    assert projected == 2 * PAIRS
    want = {frozenset(p) for p in pairs}
    assert sorted(frozenset((str(d["case_id"]), str(d["duplicate_of"]))) in want for d in decisions) == [True] * PAIRS
    per_pair: dict[frozenset, set[str]] = {}
    for e in on_topic:
        per_pair.setdefault(frozenset((e["data"]["case_id"], e["data"]["duplicate_of"])), set()).add(e["event_id"])
    assert set(per_pair) == want and all(len(v) == 1 for v in per_pair.values()), per_pair
