"""The router on real PostgreSQL: a staff recategorisation replaces the case's logged decision, keeps the
previous one's category and queue, emits one `routing.decided` (source ``manual``) through the outbox, and a
second delivery of the same event changes nothing; a batch of new cases routed set-based
(`routing_batch.route_new_cases`) logs and emits what the per-event path does, and any other batch is
declined with nothing written."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import asyncpg
import pytest

from services.router.adapters.repository import RouterRepository
from services.router.adapters.routing_batch import RoutingBatch
from services.router.service_layer import handlers as h
from services.router.service_layer import routing_batch
from shared.db.unit_of_work import PgBatchUnitOfWork, PgUnitOfWork
from shared.events import CaseOpened, CaseRecategorised, CaseRouted, Envelope, RoutingDecided
from shared.jurisdiction import load_jurisdiction
from shared.kafka import Delivery
from shared.service_layer import dispatch, dispatch_batch
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
