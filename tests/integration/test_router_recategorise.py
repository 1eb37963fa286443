"""The router on real PostgreSQL: a staff recategorisation replaces the case's logged decision, keeps the
previous one's category and queue, emits one `routing.decided` (source ``manual``) through the outbox, and a
second delivery of the same event changes nothing; a batch of new cases routed set-based
(`routing_batch.route_new_cases`) logs and emits what the per-event path does, and any other batch is
declined with nothing written; through the consume callback (`entrypoints.kafka.new_case_batches`), a batch
whose set-based write fails falls back to the per-event path (the poison dead-lettered alone, the rest routed
once) and a batch mixing `case.opened` and `case.message_added` is routed event by event."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import asyncpg
import pytest

from services.router.adapters.repository import RouterRepository
from services.router.adapters.routing_batch import RoutingBatch
from services.router.entrypoints.kafka import new_case_batches
from services.router.service_layer import handlers as h
from services.router.service_layer import routing_batch
from shared.db.unit_of_work import PgBatchUnitOfWork, PgUnitOfWork
from shared.events import CaseMessageAdded, CaseOpened, CaseRecategorised, CaseRouted, Envelope, RoutingDecided
from shared.jurisdiction import load_jurisdiction
from shared.kafka import BatchResult, Consumed, Delivery
from shared.service import Runtime
from shared.service_layer import dispatch, dispatch_batch
from shared.settings import Settings
from support.uow import event

T0 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
CENTRE = (45.415, -75.70)
_offsets = iter(range(1, 1_000_000))


@pytest.fixture
def migrated_package() -> str:
    return "services.router"


@pytest.fixture
async def pool(service_pool: asyncpg.Pool) -> AsyncIterator[asyncpg.Pool]:
    yield service_pool


async def consume(pool: asyncpg.Pool, schema: str, env: Envelope, *, now: datetime = T0) -> str | None:
    """Consume `env` as the router's subscriber does: dispatch in a PostgreSQL unit of work claiming it."""
    table = h.handlers(load_jurisdiction("demo"))
    delivery = Delivery(topic="cases.lifecycle", partition=0, offset=next(_offsets), consumer="router")
    return await dispatch(table, env, lambda: PgUnitOfWork(pool, service=schema, repository=RouterRepository,
                                                             now=now, envelope=env, delivery=delivery))


async def decisions_emitted(pool: asyncpg.Pool) -> list[Envelope]:
    rows = await pool.fetch("SELECT topic, payload FROM outbox ORDER BY id")
    assert {r["topic"] for r in rows} == {"routing.decisions"}
    return [Envelope.from_bytes(r["payload"]) for r in rows]


async def test_a_recategorisation_replaces_the_logged_decision_and_emits_a_manual_one_once(
    pool: asyncpg.Pool, fresh_schema_name: str
) -> None:
    opened = CaseOpened(case_id=uuid4(), service_request_id="DEMO-26-000001", jurisdiction_id="demo",
                        channel="sms", channel_message_id="SM1", contact_key="k", lat=CENTRE[0], long=CENTRE[1],
                        description="The street light is out", requested_datetime=T0)
    assert await consume(pool, fresh_schema_name, event(opened, subject=opened.case_id)) == "keywords"

    recat = CaseRecategorised(case_id=opened.case_id, service_request_id=opened.service_request_id,
                              jurisdiction_id="demo", actor="u-staff-1", actor_role="department_staff",
                              service_code="pothole", previous_service_code="streetlight", reason="photo",
                              description=opened.description, lat=CENTRE[0], long=CENTRE[1],
                              requested_datetime=T0)
    env = event(recat, subject=opened.case_id)
    later = T0 + timedelta(days=1)
    assert await consume(pool, fresh_schema_name, env, now=later) == "recategorised"
    assert await consume(pool, fresh_schema_name, env, now=later) == "duplicate"

    row = await pool.fetchrow("SELECT event_id, decided_at, service_code, category_source, queue, decision "
                              "FROM decisions WHERE case_id = $1", opened.case_id)
    assert (row["event_id"], row["decided_at"], row["service_code"], row["queue"]) == (
        env.event_id, later, "pothole", "roads")
    assert row["decision"]["previous"]["service_code"] == "streetlight"
    assert row["decision"]["recategorised"]["actor"] == "u-staff-1"
    async with pool.acquire() as conn, conn.transaction():
        logged = await RouterRepository(conn).decision_for_update(opened.case_id)
    assert logged is not None and logged.event_id == env.event_id and logged.service_code == "pothole"

    emitted = await decisions_emitted(pool)
    assert len(emitted) == 2 and emitted[1].causation_id == env.event_id
    manual = emitted[1].payload(RoutingDecided).routing
    demo = load_jurisdiction("demo")
    assert (manual.service_code, manual.source, manual.category_source) == ("pothole", "manual", "service_code")
    assert manual.sla_due_at == demo.due_at(T0, demo.service("pothole").sla_hours)  # type: ignore[union-attr]


def new_case(description: str, number: int) -> CaseOpened:
    return CaseOpened(case_id=uuid4(), service_request_id=f"DEMO-26-{number:06d}", jurisdiction_id="demo",
                      channel="sms", channel_message_id=f"SM{number}", contact_key="k", lat=CENTRE[0],
                      long=CENTRE[1], description=description, requested_datetime=T0)


def delivered(envs: list[Envelope]) -> list[tuple[Envelope, Delivery]]:
    return [(env, Delivery(topic="cases.lifecycle", partition=0, offset=next(_offsets), consumer="router"))
            for env in envs]


async def logged_rows(pool: asyncpg.Pool, case_id: object) -> dict[str, object]:
    row = await pool.fetchrow("SELECT event_id, decided_at, service_code, category_source, queue, district, "
                              "rule_id, config_version, decision FROM decisions WHERE case_id = $1", case_id)
    assert row is not None
    return dict(row)


async def test_a_batch_of_new_cases_routed_set_based_logs_and_emits_what_the_per_event_path_does(
    pool: asyncpg.Pool, fresh_schema_name: str
) -> None:
    demo = load_jurisdiction("demo")
    table = h.handlers(demo)
    light, hole = new_case("The street light is out", 1), new_case("A pothole on the road", 2)
    twin = light.model_copy(update={"case_id": uuid4()})
    earlier = new_case("Garbage was not picked up", 3)
    assert await consume(pool, fresh_schema_name, event(earlier, subject=earlier.case_id)) is not None
    per_event = await dispatch_batch(table, delivered([event(twin, subject=twin.case_id)]),
                                     lambda: PgBatchUnitOfWork(pool, service=fresh_schema_name,
                                                               repository=RouterRepository), clock=lambda: T0)
    assert [o.result for o in per_event] == ["keywords"]
    outbox_before = len(await decisions_emitted(pool))

    a, b = event(light, subject=light.case_id), event(hole, subject=hole.case_id)
    again = event(earlier, subject=earlier.case_id)  # a second case.opened of a case already in the log
    routing = (await h.first_decision(light, demo, h.Judges(), T0))[0]
    other = event(CaseRouted(case_id=light.case_id, service_request_id=light.service_request_id,
                             jurisdiction_id="demo", routing=routing, requested_datetime=T0),
                  subject=light.case_id)  # not the router's: left untouched
    words = await routing_batch.route_new_cases(
        delivered([a, a, other, b, again]), lambda: RoutingBatch(pool, service=fresh_schema_name),
        handled=table, jurisdiction=demo, judges=h.Judges(), now=T0)
    assert words == ["keywords", "duplicate", None, "keywords", "already_routed"]
    again_words = await routing_batch.route_new_cases(
        delivered([b]), lambda: RoutingBatch(pool, service=fresh_schema_name),
        handled=table, jurisdiction=demo, judges=h.Judges(), now=T0)
    assert again_words == ["duplicate"]

    fast, slow = await logged_rows(pool, light.case_id), await logged_rows(pool, twin.case_id)
    assert fast.pop("event_id") == a.event_id
    slow.pop("event_id")
    assert fast == slow  # same columns and logged record as the per-event path
    assert (await logged_rows(pool, hole.case_id))["service_code"] == "pothole"
    claimed = {r["event_id"] for r in await pool.fetch("SELECT event_id FROM inbox")}
    assert {a.event_id, b.event_id, again.event_id} <= claimed and other.event_id not in claimed

    emitted = (await decisions_emitted(pool))[outbox_before:]
    assert [(e.causation_id, e.correlation_id) for e in emitted] == [(a.event_id, a.correlation_id),
                                                                      (b.event_id, b.correlation_id)]
    twin_decided = (await decisions_emitted(pool))[outbox_before - 1].payload(RoutingDecided).routing
    assert emitted[0].payload(RoutingDecided).routing == twin_decided


async def test_a_batch_with_another_routed_event_or_a_bad_payload_is_declined_with_nothing_written(
    pool: asyncpg.Pool, fresh_schema_name: str
) -> None:
    demo = load_jurisdiction("demo")
    table = h.handlers(demo)
    light = new_case("The street light is out", 1)
    recat = CaseRecategorised(case_id=light.case_id, service_request_id=light.service_request_id,
                              jurisdiction_id="demo", actor="u-staff-1", actor_role="department_staff",
                              service_code="pothole", previous_service_code="streetlight", reason="photo",
                              description=light.description, lat=CENTRE[0], long=CENTRE[1], requested_datetime=T0)
    bad = event(light, subject=light.case_id)
    bad = bad.model_copy(update={"data": {**bad.data, "case_id": "not-a-uuid"}})
    for batch in ([event(light, subject=light.case_id), event(recat, subject=light.case_id)], [bad]):
        with pytest.raises(routing_batch.Declined):
            await routing_batch.route_new_cases(
                delivered(batch), lambda: RoutingBatch(pool, service=fresh_schema_name),
                handled=table, jurisdiction=demo, judges=h.Judges(), now=T0)
    assert await pool.fetchval("SELECT count(*) FROM inbox") == 0
    assert await pool.fetchval("SELECT count(*) FROM decisions") == 0
    assert await pool.fetchval("SELECT count(*) FROM outbox") == 0


async def test_a_batch_whose_write_fails_is_rolled_back_claims_included(
    pool: asyncpg.Pool, fresh_schema_name: str
) -> None:
    demo = load_jurisdiction("demo")
    good, poison = new_case("The street light is out", 1), new_case("The street light is out \x00", 2)
    consumed = delivered([event(good, subject=good.case_id), event(poison, subject=poison.case_id)])
    with pytest.raises(asyncpg.PostgresError):  # jsonb refuses \u0000
        await routing_batch.route_new_cases(consumed, lambda: RoutingBatch(pool, service=fresh_schema_name),
                                            handled=h.handlers(demo), jurisdiction=demo, judges=h.Judges(), now=T0)
    assert await pool.fetchval("SELECT count(*) FROM inbox") == 0
    assert await pool.fetchval("SELECT count(*) FROM decisions") == 0
    assert await pool.fetchval("SELECT count(*) FROM outbox") == 0

    # The batch then goes to the per-event path (entrypoints/kafka.py): the poison fails alone.
    outcomes = await dispatch_batch(h.handlers(demo), consumed,
                                    lambda: PgBatchUnitOfWork(pool, service=fresh_schema_name,
                                                              repository=RouterRepository), clock=lambda: T0)
    assert outcomes[0].result == "keywords" and outcomes[0].failure is None
    assert outcomes[1].result is None and outcomes[1].failure is not None
    assert await pool.fetchval("SELECT count(*) FROM decisions") == 1


# --- through the consume callback of `cases.lifecycle` (entrypoints/kafka.py `new_case_batches`) ---


class _Callback:
    """`new_case_batches` as `subscribe` wires it (the per-event path: `Runtime.event_handler`), with a note
    of what the set-based path did with each batch: ``taken``, ``declined`` or ``failed``."""

    def __init__(self, pool: asyncpg.Pool, schema: str, monkeypatch: pytest.MonkeyPatch) -> None:
        demo = load_jurisdiction("demo")
        rt = Runtime(Settings(), schema)
        rt.pool = pool
        rt.clock = lambda: T0
        table, judges = h.handlers(demo), h.Judges()
        self.consume = new_case_batches(rt, rt.event_handler(lambda: table, RouterRepository),
                                        lambda: (table, demo, judges))
        self.fast_path: list[str] = []
        set_based = routing_batch.route_new_cases

        async def watched(*args: Any, **kw: Any) -> list[str | None]:
            try:
                words = await set_based(*args, **kw)
            except routing_batch.Declined:
                self.fast_path.append("declined")
                raise
            except Exception:
                self.fast_path.append("failed")
                raise
            self.fast_path.append("taken")
            return words

        monkeypatch.setattr(routing_batch, "route_new_cases", watched)

    async def __call__(self, envs: list[Envelope]) -> tuple[list[tuple[Envelope, Delivery]], BatchResult]:
        consumed = delivered(envs)
        items = [Consumed(env, d, None) for env, d in consumed]  # type: ignore[arg-type]
        return consumed, await self.consume(items, True)


async def test_a_poison_case_opened_in_the_middle_of_a_batch_is_dead_lettered_alone_and_the_rest_routed_once(
    pool: asyncpg.Pool, fresh_schema_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Case 3 of 6 passes every check before the write and is refused by the store (jsonb refuses a NUL):
    the set-based write fails and is rolled back, the callback hands the batch to the per-event path, which
    dead-letters the poison alone and routes the other five once, in offset order; a redelivery changes
    nothing, and the next batch of new cases goes set-based again."""
    callback = _Callback(pool, fresh_schema_name, monkeypatch)
    cases = [new_case("The street light is out" + (" \x00" if n == 3 else ""), 100 + n) for n in range(6)]
    envs = [event(c, subject=c.case_id) for c in cases]

    consumed, result = await callback(envs)

    assert callback.fast_path == ["failed"], "the set-based path was tried first"
    assert [r.consumed.delivery.offset for r in result.rejected] == [consumed[3][1].offset], "the poison alone"
    assert result.handled == 5
    good = [e for i, e in enumerate(envs) if i != 3]
    assert {r["case_id"] for r in await pool.fetch("SELECT case_id FROM decisions")} == {
        c.case_id for i, c in enumerate(cases) if i != 3}
    assert {r["event_id"] for r in await pool.fetch("SELECT event_id FROM inbox")} == {e.event_id for e in good}, (
        "the poison's claim released")
    assert [e.causation_id for e in await decisions_emitted(pool)] == [e.event_id for e in good], "once, in order"

    again, redelivered = await callback(envs)
    assert (redelivered.handled, [r.consumed.delivery.offset for r in redelivered.rejected]) == (
        0, [again[3][1].offset]), "the rest are duplicates, the poison fails again alone"
    assert len(await decisions_emitted(pool)) == 5, "a redelivery routes nothing twice"

    more = [new_case("A pothole on the road", 200 + n) for n in range(2)]
    _, next_batch = await callback([event(c, subject=c.case_id) for c in more])
    assert callback.fast_path[-1] == "taken" and (next_batch.handled, next_batch.rejected) == (2, [])


async def test_a_batch_mixing_case_opened_and_case_message_added_is_routed_event_by_event_in_order(
    pool: asyncpg.Pool, fresh_schema_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A case opened without a point and, in the same batch, the message that gives it one: the set-based
    path declines with nothing written, the per-event path routes the case and then re-routes it."""
    callback = _Callback(pool, fresh_schema_name, monkeypatch)
    unplaced = new_case("The street light is out", 300).model_copy(update={"lat": None, "long": None})
    other = new_case("A pothole on the road", 301)
    placed = CaseMessageAdded(case_id=unplaced.case_id, service_request_id=unplaced.service_request_id,
                              jurisdiction_id="demo", message_id=uuid4(), channel="sms", channel_message_id="SM3001",
                              description="here", lat=CENTRE[0], long=CENTRE[1])
    envs = [event(unplaced, subject=unplaced.case_id), event(other, subject=other.case_id),
            event(placed, subject=unplaced.case_id)]

    _, result = await callback(envs)

    assert callback.fast_path == ["declined"]
    assert (result.handled, result.rejected) == (3, [])
    emitted = await decisions_emitted(pool)
    assert [e.causation_id for e in emitted] == [e.event_id for e in envs], "each routed once, in offset order"
    assert emitted[0].payload(RoutingDecided).case_id == emitted[2].payload(RoutingDecided).case_id == unplaced.case_id
    assert {r["event_id"] for r in await pool.fetch("SELECT event_id FROM inbox")} == {e.event_id for e in envs}


async def test_a_redelivered_batch_is_not_decided_again_and_a_claim_given_back_since_the_read_is_declined(
    pool: asyncpg.Pool, fresh_schema_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A decision may ask a geocoder server: the set-based path decides only the events the inbox does not
    hold yet (a batch it holds whole opens no transaction), and an event the read saw held but the claim
    takes now (its claim given back in between) declines the batch with nothing written."""
    demo = load_jurisdiction("demo")
    table = h.handlers(demo)
    asked: list[object] = []
    decide = routing_batch.first_decision

    async def counted(case: CaseOpened, *args: Any) -> Any:
        asked.append(case.case_id)
        return await decide(case, *args)

    monkeypatch.setattr(routing_batch, "first_decision", counted)
    old, new = [new_case("The street light is out", 400 + n) for n in range(3)], new_case("A pothole", 410)
    envs = [event(c, subject=c.case_id) for c in old]

    async def route(batch: list[Envelope]) -> list[str | None]:
        return await routing_batch.route_new_cases(
            delivered(batch), lambda: RoutingBatch(pool, service=fresh_schema_name),
            handled=table, jurisdiction=demo, judges=h.Judges(), now=T0)

    assert await route(envs) == ["keywords"] * 3 and len(asked) == 3
    asked.clear()
    assert await route(envs) == ["duplicate"] * 3 and asked == [], "a batch redelivered whole: no decision"
    assert await route([*envs, event(new, subject=new.case_id)]) == ["duplicate"] * 3 + ["keywords"]
    assert asked == [new.case_id], "only the new case decided"
    assert len(await decisions_emitted(pool)) == 4

    held, fresh = (event(new_case("Graffiti on the wall", 420 + n), subject=uuid4()) for n in range(2))

    async def stale(self: RoutingBatch, event_ids: Any) -> set[Any]:
        return {held.event_id}

    monkeypatch.setattr(RoutingBatch, "already_claimed", stale)
    with pytest.raises(routing_batch.Declined):
        await route([held, fresh])
    assert not {held.event_id, fresh.event_id} & {r["event_id"] for r in await pool.fetch("SELECT event_id FROM inbox")}
    assert len(await decisions_emitted(pool)) == 4
