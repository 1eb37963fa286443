"""The router on real PostgreSQL: a staff recategorisation replaces the case's logged decision, keeps the
previous one's category and queue, emits one `routing.decided` (source ``manual``) through the outbox, and a
second delivery of the same event changes nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import asyncpg
import pytest

from services.router.adapters.repository import RouterRepository
from services.router.service_layer import handlers as h
from shared.db.unit_of_work import PgUnitOfWork
from shared.events import CaseOpened, CaseRecategorised, Envelope, RoutingDecided
from shared.jurisdiction import load_jurisdiction
from shared.kafka import Delivery
from shared.service_layer import dispatch
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
