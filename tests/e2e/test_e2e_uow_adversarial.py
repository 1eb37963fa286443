"""Trying to break the unit of work through the real path (every service a process, real Kafka, PostgreSQL
and mail): duplicates and redeliveries, poison messages, concurrent staff actions on a merged case.

Envelopes are written as raw JSON (support.pipeline), so the wire format itself is what is tested.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import httpx

from shared.auth import Role
from support.mail import inbox
from support.wait import eventually
from support.pipeline import (
    Kafka,
    envelope,
    intake_message,
    lag,
    outbox_events,
    read_topic,
    rows,
    settled,
    to_bytes,
    val,
)


def _fresh(tag: str) -> tuple[str, str, str]:
    h = uuid.uuid4().hex[:10]
    return f"adv-{tag}-{h}", f"ck_adv_{h}", f"adv-{tag}-{h}@resident.test"


async def _case_of_token(stack: Any, token: str) -> dict[str, Any] | None:
    found = await rows(stack, "case", "SELECT c.* FROM messages m JOIN cases c USING (case_id) "
                                      "WHERE m.channel_message_id = $1", token)
    return found[0] if found else None


async def _sent_deliveries(stack: Any, case_id: uuid.UUID) -> list[dict[str, Any]]:
    return await rows(stack, "notifier", "SELECT * FROM deliveries WHERE case_id = $1 ORDER BY id", case_id)


async def _wait_settled(stack: Any, timeout: float = 60) -> None:
    """Settled on two polls in a row, a second apart: a handler that was still committing when the first
    poll looked has produced (and relayed) whatever it produces by the second."""
    looks: list[bool] = []

    async def settled_twice() -> bool:
        looks.append(await settled(stack))
        return looks[-2:] == [True, True]

    await eventually(settled_twice, timeout=timeout, interval=1.0, what="pipeline settled on two polls in a row")


async def _flow_counts(stack: Any, case_id: uuid.UUID, token: str) -> dict[str, Any]:
    """Everything the flow of one case wrote, as counts (to compare before and after an attack)."""
    cid = str(case_id)
    case_out = [e for e in await outbox_events(stack, "case") if e["data"].get("case_id") == cid]
    router_out = [e for e in await outbox_events(stack, "router") if e["data"].get("case_id") == cid]
    dedup_out = [e for e in await outbox_events(stack, "dedup") if e["data"].get("case_id") == cid]
    notifier_out = [e for e in await outbox_events(stack, "notifier") if e["data"].get("case_id") == cid]
    timeline = await rows(stack, "case", "SELECT kind FROM timeline WHERE case_id = $1 ORDER BY id", case_id)
    return {
        "cases_for_token": await val(stack, "case", "SELECT count(DISTINCT case_id) FROM messages "
                                                    "WHERE channel_message_id = $1", token),
        "messages": await val(stack, "case", "SELECT count(*) FROM messages WHERE case_id = $1", case_id),
        "timeline": [t["kind"] for t in timeline],
        "case_outbox": sorted(e["event_type"] for e in case_out),
        "router_decisions": await val(stack, "router", "SELECT count(*) FROM decisions WHERE case_id = $1", case_id),
        "router_outbox": sorted(e["event_type"] for e in router_out),
        "dedup_projection": await val(stack, "dedup", "SELECT count(*) FROM cases WHERE case_id = $1", case_id),
        "dedup_outbox": sorted(e["event_type"] for e in dedup_out),
        "deliveries": [(d["kind"], d["status"]) for d in await _sent_deliveries(stack, case_id)],
        "notifier_outbox": sorted((e["event_type"], e["data"]["outcome"]) for e in notifier_out),
    }


async def _open_case(stack: Any, kafka: Kafka, tag: str, *, lat: float, long: float,
                     service_code: str = "graffiti", copies: int = 1) -> tuple[dict[str, Any], dict[str, Any], str]:
    token, ck, email = _fresh(tag)
    env = envelope("intake.message_received",
                   intake_message(token=token, contact_key=ck, email=email, service_code=service_code, lat=lat,
                                  long=long, description=f"Tags on the wall ({tag})"), subject=ck)
    for _ in range(copies):
        await kafka.send("intake.messages", to_bytes(env), ck)
    case = await eventually(lambda: _case_of_token(stack, token), timeout=60, what=f"{tag}: case opened")

    async def acknowledged():  # noqa: ANN202
        ds = await _sent_deliveries(stack, case["case_id"])
        return ds if ds and all(d["status"] != "sending" for d in ds) else None

    await eventually(acknowledged, timeout=60, what=f"{tag}: acknowledgement finished")
    return case, env, email


# --- 1. the same envelope twice, and a provider retry under a new event id --------------------------------


async def test_an_intake_envelope_published_twice_and_retried_makes_one_case_one_routing_one_ack(stack) -> None:
    async with Kafka(stack.topic_prefix) as kafka:
        case, env, email = await _open_case(stack, kafka, "twice", lat=45.4301, long=-75.6501, copies=2)
        # The provider retries: the same channel message published again under a new event id.
        retry = dict(env, event_id=str(uuid.uuid4()))
        retry["correlation_id"] = retry["event_id"]
        await kafka.send("intake.messages", to_bytes(retry), env["subject"])
        await _wait_settled(stack)
    counts = await _flow_counts(stack, case["case_id"], env["data"]["channel_message_id"])
    assert counts["cases_for_token"] == 1 and counts["messages"] == 1, counts
    assert counts["timeline"].count("opened") == 1 and counts["timeline"].count("routed") == 1, counts
    assert counts["case_outbox"] == ["case.opened", "case.routed"], counts
    assert counts["router_decisions"] == 1 and counts["router_outbox"] == ["routing.decided"], counts
    assert counts["dedup_projection"] == 1 and counts["dedup_outbox"] == [], counts
    assert counts["deliveries"] == [("acknowledgement", "sent")], counts
    assert counts["notifier_outbox"] == [("notification.recorded", "sent")], counts
    assert len(await inbox(email)) == 1, "exactly one acknowledgement in the reporter's mailbox"
    claims = await rows(stack, "case", "SELECT event_id FROM inbox WHERE event_id = ANY($1::uuid[])",
                        [uuid.UUID(env["event_id"]), uuid.UUID(retry["event_id"])])
    assert len(claims) == 2, "each event id claimed once (the retry claimed as a handled duplicate)"
    dead = [m for m in await read_topic(stack.topic_prefix, "intake.messages.dlq")
            if env["data"]["channel_message_id"].encode() in m["value"]]
    assert not dead, dead


# --- 2. every event of a flow delivered again, twice ----------------------------------------------------


async def test_every_event_of_a_flow_redelivered_twice_changes_nothing(stack) -> None:
    async with Kafka(stack.topic_prefix) as kafka:
        case, env, email = await _open_case(stack, kafka, "redeliver", lat=45.4302, long=-75.6602)
        await _wait_settled(stack)
        token = env["data"]["channel_message_id"]
        before = await _flow_counts(stack, case["case_id"], token)
        cid = str(case["case_id"])
        replays: list[tuple[str, dict[str, Any]]] = [("intake.messages", env)]
        for schema, topic in (("case", "cases.lifecycle"), ("router", "routing.decisions"),
                              ("dedup", "dedup.decisions"), ("notifier", "notifications.outcomes")):
            replays += [(topic, e) for e in await outbox_events(stack, schema) if e["data"].get("case_id") == cid]
        assert {t for t, _ in replays} >= {"intake.messages", "cases.lifecycle", "routing.decisions",
                                            "notifications.outcomes"}, replays
        for _ in range(2):
            for topic, e in replays:
                await kafka.send(topic, to_bytes(e), e["subject"])
        await _wait_settled(stack)
    after = await _flow_counts(stack, case["case_id"], token)
    assert after == before, {"before": before, "after": after}
    assert len(await inbox(email)) == 1
    for t in ("intake.messages", "cases.lifecycle", "routing.decisions", "notifications.outcomes"):
        dlq = [m for m in await read_topic(stack.topic_prefix, t + ".dlq")
               if m["value"][:1] == b"{" and json.loads(m["value"]).get("data", {}).get("case_id") == cid]
        assert not dlq, (t, dlq)


# --- 3. poison messages --------------------------------------------------------------------------------


def _routing(case_id: str) -> dict[str, Any]:
    return {"case_id": case_id, "routing": {
        "service_code": "graffiti", "service_name": "Graffiti", "category_source": "service_code",
        "agency_responsible": "Public Works", "queue": "pw-graffiti", "priority": 3, "district": None,
        "sla_due_at": None, "rule_id": "adversary", "config_version": "x", "matched_keywords": [], "score": None}}


async def test_poison_messages_are_dead_lettered_with_headers_claim_nothing_and_consumption_goes_on(
        stack, insights_url: str) -> None:
    # insights_url: the insights service runs beside the stack (it consumes intake.messages and
    # cases.lifecycle too, so it dead-letters what it cannot read as every consumer does).
    poison_key = f"ck_poison_{uuid.uuid4().hex[:8]}"
    unknown_case = str(uuid.uuid4())
    ghost = uuid.uuid4()
    p: dict[str, dict[str, Any]] = {}
    p["corrupt"] = {"topic": "intake.messages", "raw": b"\xff\xfe{not json", "dlq_by": {"case", "notifier", "insights"}}
    p["invalid_intake"] = {"topic": "intake.messages", "env": envelope(
        "intake.message_received", {"channel": "open311"}, subject=poison_key), "dlq_by": {"case"}}
    p["future_version"] = {"topic": "intake.messages", "env": envelope(
        "intake.message_received", intake_message(token=f"adv-v9-{uuid.uuid4().hex}", contact_key=poison_key,
                                                  email="v9@resident.test", service_code="graffiti", lat=45.43,
                                                  long=-75.66, description="v9"),
        subject=poison_key, version=9), "dlq_by": {"case"}}
    p["unknown_type"] = {"topic": "intake.messages", "env": envelope(
        "intake.gossip_received", {"what": "nothing"}, subject=poison_key), "dlq_by": set()}
    p["opt_out_no_phone"] = {"topic": "intake.messages", "env": envelope(
        "intake.opt_out_received", {"channel": "sms", "channel_message_id": f"SM{uuid.uuid4().hex}",
                                    "contact_key": poison_key, "received_at": "2025-03-14T15:09:26Z",
                                    "keyword": "STOP", "source": "keyword", "pii": {}},
        subject=poison_key), "dlq_by": {"notifier"}}
    p["bounce_no_email"] = {"topic": "intake.messages", "env": envelope(
        "intake.bounce_received", {"channel": "email", "channel_message_id": f"<{uuid.uuid4().hex}@mx.test>",
                                   "contact_key": poison_key, "received_at": "2025-03-14T15:09:26Z",
                                   "reason": "bounce", "pii": {}}, subject=poison_key), "dlq_by": {"notifier"}}
    p["routing_unknown_case"] = {"topic": "routing.decisions", "env": envelope(
        "routing.decided", _routing(unknown_case), subject=unknown_case), "dlq_by": {"case"}}
    p["dedup_unknown_case"] = {"topic": "dedup.decisions", "env": envelope(
        "dedup.decided", {"case_id": unknown_case, "duplicate_of": str(ghost), "score": 0.9, "distance_m": 3.0,
                          "text_similarity": 0.8, "window_hours": 72, "radius_m": 50, "evidence": {}},
        subject=unknown_case), "dlq_by": {"case"}}
    p["notification_unknown_case"] = {"topic": "notifications.outcomes", "env": envelope(
        "notification.recorded", {"case_id": unknown_case, "cause_event_id": str(uuid.uuid4()),
                                  "kind": "acknowledgement", "channel": "email", "recipient_key": "rk:x",
                                  "outcome": "sent", "provider_message_id": f"<{uuid.uuid4().hex}@x>"},
        subject=unknown_case), "dlq_by": {"case"}}
    p["opened_invalid"] = {"topic": "cases.lifecycle", "env": envelope(
        "case.opened", {"case_id": unknown_case, "service_request_id": "DEMO-X"}, subject=unknown_case),
        "dlq_by": {"router", "notifier", "insights"}}
    p["opened_bad_priority_routing"] = {"topic": "routing.decisions", "env": envelope(
        "routing.decided", {**_routing(unknown_case), "routing": {**_routing(unknown_case)["routing"], "priority": 9}},
        subject=unknown_case), "dlq_by": {"case"}}

    async with Kafka(stack.topic_prefix) as kafka:
        for name, item in p.items():
            raw = item.get("raw") or to_bytes(item["env"])
            key = item["env"]["subject"] if "env" in item else poison_key
            await kafka.send(item["topic"], raw, key)
        # A NUL byte in the address (PostgreSQL refuses NUL in text) is no poison: the case service removes
        # control characters from every text of a message, so the report becomes a case, not a dead letter.
        nul_token, nul_ck = f"adv-nul-{uuid.uuid4().hex}", f"ck_nul_{uuid.uuid4().hex[:8]}"
        nul = envelope("intake.message_received", intake_message(
            token=nul_token, contact_key=nul_ck, email="nul@resident.test", service_code="graffiti",
            lat=45.4303, long=-75.6603, description="nul", address="12 rue\x00 Exemple"), subject=nul_ck)
        await kafka.send("intake.messages", to_bytes(nul), nul_ck)
        # Consumption goes on: a good message behind the poison, on the same key (same partition).
        token = f"adv-after-poison-{uuid.uuid4().hex[:8]}"
        good = envelope("intake.message_received", intake_message(
            token=token, contact_key=poison_key, email=f"{token}@resident.test", service_code="graffiti",
            lat=45.4304, long=-75.6604, description="after the poison"), subject=poison_key)
        await kafka.send("intake.messages", to_bytes(good), poison_key)
        await eventually(lambda: _case_of_token(stack, token), timeout=90, what="good message after poison handled")
        await _wait_settled(stack, timeout=120)

    dlq: dict[str, list[dict[str, Any]]] = {}
    for t in ("intake.messages", "routing.decisions", "dedup.decisions", "notifications.outcomes", "cases.lifecycle"):
        dlq[t] = await read_topic(stack.topic_prefix, t + ".dlq")
    problems = []
    for name, item in p.items():
        raw = item.get("raw") or to_bytes(item["env"])
        got = [m for m in dlq[item["topic"]] if m["value"] == raw]
        by = {m["headers"].get("x-omni311-consumer") for m in got}
        if by != item["dlq_by"] or len(got) != len(item["dlq_by"]):
            problems.append((name, "dead-lettered by", sorted(x or "?" for x in by), "expected",
                             sorted(item["dlq_by"]), [m["headers"].get("x-omni311-error") for m in got]))
        for m in got:
            h = m["headers"]
            for needed in ("x-omni311-error", "x-omni311-error-detail", "x-omni311-source-topic",
                           "x-omni311-source-partition", "x-omni311-source-offset", "x-omni311-consumer"):
                if needed not in h or (needed != "x-omni311-error-detail" and not h[needed]):
                    problems.append((name, "missing header", needed))
            if h.get("x-omni311-source-topic") != stack.topic_prefix + item["topic"]:
                problems.append((name, "source topic", h.get("x-omni311-source-topic")))
    ids = [uuid.UUID(item["env"]["event_id"]) for item in p.values() if "env" in item]
    for schema in ("case", "router", "dedup", "notifier"):
        claimed = await rows(stack, schema, "SELECT consumer, event_id FROM inbox WHERE event_id = ANY($1::uuid[])", ids)
        names = {item["env"]["event_id"]: n for n, item in p.items() if "env" in item}
        for c in claimed:
            n = names[str(c["event_id"])]
            if n != "unknown_type":
                problems.append((n, "inbox claim left in", schema))
    # The NUL message became one case, its address without the NUL, and reached no dead letter.
    nul_case = await eventually(lambda: _case_of_token(stack, nul_token), timeout=60, what="the NUL report's case")
    assert nul_case["address"] == "12 rue Exemple", nul_case
    assert await val(stack, "case", "SELECT count(*) FROM reporters WHERE contact_key = $1", nul_ck) == 1
    assert not [m for m in dlq["intake.messages"] if nul_token.encode() in (m["value"] or b"")]
    assert await val(stack, "case", "SELECT count(*) FROM timeline WHERE case_id = $1::uuid", unknown_case) == 0
    seen = {t: [(m["headers"].get("x-omni311-consumer"), m["headers"].get("x-omni311-error")) for m in ms]
            for t, ms in dlq.items()}
    assert not problems, (problems, seen)
    assert not any((await lag(stack.topic_prefix)).values())


# --- 4. staff close a survivor and unmerge its duplicate, each twice at once --------------------------------


async def test_concurrent_staff_status_changes_on_a_merged_case_emit_once_with_the_cases_correlation(
        stack, test_issuer) -> None:
    async with Kafka(stack.topic_prefix) as kafka:
        first, _env1, email1 = await _open_case(stack, kafka, "survivor", lat=45.4205, long=-75.7005,
                                                service_code="streetlight")
        second, _env2, email2 = await _open_case(stack, kafka, "merged", lat=45.42053, long=-75.7005,
                                                 service_code="streetlight")

        async def merged():  # noqa: ANN202
            c = await _case_of_token(stack, _env2["data"]["channel_message_id"])
            return c if c and c["merged_into"] == first["case_id"] else None

        second = await eventually(merged, timeout=60, what="second case merged into the first")
        await _wait_settled(stack)
    n1, n2 = first["service_request_id"], second["service_request_id"]
    before = {e["event_id"] for e in await outbox_events(stack, "case")}
    async with httpx.AsyncClient(base_url=stack.url("case"),
                                 headers=test_issuer.headers(Role.ADMINISTRATOR), timeout=30) as api:
        # Close the survivor twice at once; once that has reached the merged case's reporter, undo the merge
        # twice at once (the workflow's duplicate status is final: a merged case is reopened by unmerging).
        rs = await asyncio.gather(
            api.post(f"/cases/{n1}/status", json={"status": "closed", "status_notes": "Lamp replaced"}),
            api.post(f"/cases/{n1}/status", json={"status": "closed", "status_notes": "Lamp replaced"}),
        )
        assert [r.status_code for r in rs] == [200] * 2, [r.text for r in rs]
        assert [r.json()["status"] for r in rs] == ["closed", "closed"]
        await _wait_settled(stack)
        us = await asyncio.gather(*(api.post(f"/staff/cases/{n2}/unmerge", json={"reason": "Reopened by staff"})
                                    for _ in range(2)))
    assert sorted(r.status_code for r in us) == [200, 409], [r.text for r in us]
    assert next(r for r in us if r.status_code == 200).json()["status"] == "open"
    await _wait_settled(stack)
    new = [e for e in await outbox_events(stack, "case") if e["event_id"] not in before]
    changed = [e for e in new if e["event_type"] == "case.status_changed"]
    unmerged = [e for e in new if e["event_type"] == "case.unmerged"]
    assert [e["data"]["case_id"] for e in changed] == [str(first["case_id"])], changed
    assert [e["data"]["case_id"] for e in unmerged] == [str(second["case_id"])], unmerged
    for c, e in ((first, changed[0]), (second, unmerged[0])):
        assert e["correlation_id"] == str(c["correlation_id"]), (e["correlation_id"], c["correlation_id"])
        assert e["causation_id"] is None
    timeline1 = [t["kind"] for t in await rows(stack, "case", "SELECT kind FROM timeline WHERE case_id = $1",
                                                first["case_id"])]
    assert timeline1.count("status_changed") == 1, timeline1
    # The notifier: one closure to each reporter following the survivor, one unmerge notice to the merged one,
    # and one satisfaction survey invitation to each of the two reporters (the closure was a first one).
    d1 = await _sent_deliveries(stack, first["case_id"])
    d2 = await _sent_deliveries(stack, second["case_id"])
    surveys = [d for d in d1 + d2 if d["kind"] == "survey_invitation"]
    assert sorted(d["kind"] for d in d1 if d not in surveys) == ["acknowledgement", "closed"], d1
    assert sorted(d["kind"] for d in d2 if d not in surveys) == ["acknowledgement", "closed", "merged", "unmerged"], d2
    assert len(surveys) == 2 and len({d["recipient_key"] for d in surveys}) == 2, surveys
    assert all(d["status"] == "sent" for d in d1 + d2), d1 + d2
    mails1, mails2 = await inbox(email1), await inbox(email2)
    assert len(mails1) == 3 and len(mails2) == 5, ([m["Subject"] for m in mails1], [m["Subject"] for m in mails2])
    dedup = await rows(stack, "dedup", "SELECT case_id, open, duplicate_of FROM cases WHERE case_id = ANY($1::uuid[])",
                       [first["case_id"], second["case_id"]])
    state = {r["case_id"]: (r["open"], r["duplicate_of"]) for r in dedup}
    assert state[first["case_id"]] == (False, None), state
    assert state[second["case_id"]] == (True, None), "unmerged: its own open case again"


# --- 5. a NUL byte in a field other than the description, through the Open311 API ------------------------


async def test_a_nul_byte_in_any_open311_field_is_refused_or_becomes_a_case(stack) -> None:
    """A resident who got a 200 and a token must get a case (docs/architecture.md "nothing acknowledged is
    lost"): a NUL byte that PostgreSQL cannot store must be refused at the edge or cleaned, never
    dead-lettered after the 200."""
    fields = ("control", "description", "address_string", "first_name", "last_name", "email", "phone", "device_id",
              "account_id", "media_url")
    outcome: dict[str, str] = {}
    async with httpx.AsyncClient(base_url=stack.url("intake_web"), timeout=10) as web:
        tokens = {}
        for i, field in enumerate(fields):
            value = {"email": "nul\x00@resident.test", "phone": "+1613555\x000101",
                     "media_url": "https://example.org/a\x00.jpg"}.get(field, f"value with a NUL\x00 ({field})")
            form = {"api_key": "demo-key", "service_code": "graffiti", "lat": f"{45.4100 + i * 0.001:.4f}",
                    "long": "-75.6500", "description": "nul probe"}
            if field != "control":  # the same form without a NUL: must open a case
                form[field] = value
            r = await web.post("/requests.json", data=form)
            if r.status_code != 200:
                outcome[field] = f"refused {r.status_code}"
            else:
                tokens[field] = r.json()[0]["token"]
        for field, token in tokens.items():
            async def opened(t: str = token):  # noqa: ANN202
                return await _case_of_token(stack, t)
            try:
                await eventually(opened, timeout=20, what=f"case for NUL in {field}")
                outcome[field] = "case opened"
            except AssertionError:
                dlq = [m for m in await read_topic(stack.topic_prefix, "intake.messages.dlq")
                       if token.encode() in m["value"]]
                outcome[field] = ("200 then dead-lettered: " + dlq[0]["headers"].get("x-omni311-error-detail", "")[:120]
                                  if dlq else "200 then no case, not dead-lettered")
    print("NUL REPORT", json.dumps(outcome, indent=1))
    lost = {f: o for f, o in outcome.items() if o.startswith("200 then")}
    assert outcome["control"] == "case opened", outcome
    assert not lost, lost


# --- 6. a threaded message without a place, twice: the router changes nothing ----------------------------


async def test_a_message_without_a_place_delivered_twice_leaves_the_routing_as_it_was(stack) -> None:
    async with Kafka(stack.topic_prefix) as kafka:
        case, env, _email = await _open_case(stack, kafka, "noplace", lat=45.4306, long=-75.6406)
        await _wait_settled(stack)
        before = await _flow_counts(stack, case["case_id"], env["data"]["channel_message_id"])
        added = envelope("case.message_added", {
            "case_id": str(case["case_id"]), "service_request_id": case["service_request_id"],
            "jurisdiction_id": "demo", "message_id": str(uuid.uuid4()), "channel": "open311",
            "channel_message_id": f"adv-reply-{uuid.uuid4().hex}", "description": "any news?"},
            subject=str(case["case_id"]), producer="case")
        for _ in range(2):
            await kafka.send("cases.lifecycle", to_bytes(added), str(case["case_id"]))
        await _wait_settled(stack)
    after = await _flow_counts(stack, case["case_id"], env["data"]["channel_message_id"])
    assert after == before
    claims = {s: await val(stack, s, "SELECT count(*) FROM inbox WHERE event_id = $1::uuid", added["event_id"])
              for s in ("router", "dedup", "notifier")}
    print("NO-PLACE INBOX CLAIMS", json.dumps(claims))
    assert claims["dedup"] == 0 and claims["notifier"] == 1


# --- 7. a storm of staff status changes on one case --------------------------------------------------------


async def test_a_storm_of_concurrent_status_changes_keeps_every_projection_in_step(stack, test_issuer) -> None:
    async with Kafka(stack.topic_prefix) as kafka:
        case, _env, email = await _open_case(stack, kafka, "storm", lat=45.4357, long=-75.6357)
        await _wait_settled(stack)
    number = case["service_request_id"]
    before = {e["event_id"] for e in await outbox_events(stack, "case")}
    bodies = [{"status": "closed" if i % 2 == 0 else "open", "status_notes": f"step {i % 3}"} for i in range(12)]
    async with httpx.AsyncClient(base_url=stack.url("case"),
                                 headers=test_issuer.headers(Role.ADMINISTRATOR), timeout=30) as api:
        rs = await asyncio.gather(*(api.post(f"/cases/{number}/status", json=b) for b in bodies))
    assert [r.status_code for r in rs] == [200] * len(bodies), [r.text for r in rs]
    await _wait_settled(stack)
    changed = [e for e in await outbox_events(stack, "case")
               if e["event_id"] not in before and e["event_type"] == "case.status_changed"]
    final = (await _case_of_token(stack, _env["data"]["channel_message_id"]))
    timeline = [t for t in await rows(stack, "case", "SELECT kind, detail FROM timeline WHERE case_id = $1 ORDER BY id",
                                      case["case_id"]) if t["kind"] == "status_changed"]
    assert len(changed) == len(timeline), (len(changed), len(timeline))
    assert all(e["correlation_id"] == str(case["correlation_id"]) for e in changed)
    # The last event announced is the state the case is in, and every consumer ended there too.
    assert (changed[-1]["data"]["status"], changed[-1]["data"]["status_notes"]) == \
        (final["status"], final["status_notes"])
    dedup_open = await val(stack, "dedup", "SELECT open FROM cases WHERE case_id = $1", case["case_id"])
    notifier_status = await rows(stack, "notifier", "SELECT status, status_notes FROM case_status WHERE case_id = $1",
                                 case["case_id"])
    assert dedup_open == (final["status"] == "open")
    assert (notifier_status[0]["status"], notifier_status[0]["status_notes"]) == (final["status"], final["status_notes"])
    # The reporter hears of the statuses the workflow tells (resolved), not of every move (in_progress).
    told = [e for e in changed if e["data"]["notify"]]
    assert told and len(told) < len(changed)
    # ... once each, plus one satisfaction survey invitation however often the case was closed again.
    deliveries = await _sent_deliveries(stack, case["case_id"])
    assert [d["kind"] for d in deliveries].count("survey_invitation") == 1, deliveries
    assert len(deliveries) == 1 + len(told) + 1, deliveries
    assert all(d["status"] == "sent" for d in deliveries)
    assert len(await inbox(email)) == 1 + len(told) + 1
    print("STORM", json.dumps({"posts": len(bodies), "events": len(changed), "final": final["status"]}))
