"""The case service's set-based routing decisions on real PostgreSQL: a batch of decisions writes what the
per-event path writes (cases, timeline, SLA clocks, claims, events) in a few statements per batch; a batch it
does not take (one case twice, another event type, a case not held) keeps nothing and goes to the per-event
path, where a poison decision is dead-lettered alone and the rest commit."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import pytest

from services.case.adapters.opening_batch import OpeningBatch
from services.case.adapters.repository import CaseRepository
from services.case.domain.threading import case_id_for
from services.case.entrypoints.kafka import decision_batches
from services.case.service_layer import decision_batch, handlers, timers
from shared.db.migrate import migrate
from shared.db.pool import create_pool
from shared.db.unit_of_work import PgBatchUnitOfWork
from shared.events import DedupSuggested, Envelope, MessageReceived, RoutingDecided
from shared.events.routing import RoutingFields
from shared.jurisdiction import Jurisdiction, load_jurisdiction
from shared.kafka import Consumed, Delivery
from shared.service import Runtime
from shared.service_layer import dispatch_batch
from support.statements import Counting
from shared.settings import Settings

NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
PLACED = {"status": "placed", "source": "gazetteer", "lat": 45.42, "long": -75.69, "confidence": 0.9,
          "matched": "1200 MAIN ST", "kind": "address", "query": "1200 Main St"}


@pytest.fixture
def migrated_package() -> str:
    return "services.case"


@pytest.fixture
def pool(service_pool: asyncpg.Pool) -> asyncpg.Pool:
    return service_pool


@pytest.fixture
def jurisdiction() -> Jurisdiction:
    return load_jurisdiction("demo")


@pytest.fixture
async def second_pool(database: str) -> AsyncIterator[asyncpg.Pool]:
    """A pool on a second case schema of the same database (the per-event path's, to compare with)."""
    name = f"it_{uuid4().hex[:10]}"
    await migrate(database, name, "services.case")
    p = await create_pool(database, name, application_name="it-case-decisions", max_size=2)
    yield p
    await p.close()


def report(n: int, **kw: Any) -> MessageReceived:
    return MessageReceived.model_validate({
        "channel": "sms", "channel_message_id": f"SM{n}", "contact_key": f"k{n % 3}", "received_at": NOW,
        "description": f"pothole number {n}", **kw})


def decided(n: int, jurisdiction: Jurisdiction, *, hours: int | None = 9, queue: str = "roads",
            location: dict[str, Any] | None = None, case_id: UUID | None = None) -> RoutingDecided:
    """A decision about the case of `report(n)`: due `hours` business hours after NOW (None: no SLA)."""
    return RoutingDecided(case_id=case_id or case_id_for("sms", f"SM{n}"), routing=RoutingFields(
        service_code="pothole", service_name="Pothole", category_source="keywords", agency_responsible="Roads",
        queue=queue, priority=3, district="centre", rule_id="r1", config_version="v1",
        sla_due_at=jurisdiction.due_at(NOW, hours) if hours is not None else None, location=location))


def events(*payloads: Any, first: int = 0, topic: str = "routing.decisions") -> list[tuple[Envelope, Delivery]]:
    return [(Envelope.new_flow(p, subject=str(getattr(p, "case_id", None) or p.contact_key), producer="router",
                               now=NOW),
             Delivery(topic=topic, partition=0, offset=first + i, consumer="case"))
            for i, p in enumerate(payloads)]


def per_event_batch(pool: asyncpg.Pool, schema: str) -> Any:
    return lambda: PgBatchUnitOfWork(pool, service=schema, repository=CaseRepository)


async def stored(pool: asyncpg.Pool) -> dict[str, Any]:
    """What the batches left in the schema, without the ids drawn from sequences of their own."""
    async with pool.acquire() as conn:
        return {
            "cases": [dict(r) for r in await conn.fetch("SELECT * FROM cases ORDER BY service_request_id")],
            "timeline": [dict(r) for r in await conn.fetch(
                "SELECT case_id, at, kind, event_id, detail, actor, role FROM timeline ORDER BY case_id, id")],
            "clocks": [dict(r) for r in await conn.fetch("SELECT * FROM sla_clocks ORDER BY case_id")],
            "inbox": sorted(str(r["event_id"]) for r in await conn.fetch("SELECT event_id FROM inbox")),
            "outbox": [(r["topic"], r["message_key"], Envelope.from_bytes(r["payload"]).model_dump(
                exclude={"event_id", "producer"})) for r in await conn.fetch("SELECT * FROM outbox ORDER BY id")],
        }


async def opened(jurisdiction: Jurisdiction, *pools: asyncpg.Pool, n: int) -> None:
    """Cases for report(0) .. report(n - 1) in each pool's schema, opened alike by the per-event path."""
    reports = events(*(report(i) for i in range(n)), topic="intake.messages")
    for p in pools:
        schema = await p.fetchval("SELECT current_schema()")
        outcomes = await dispatch_batch(handlers.handlers(jurisdiction, clocks=timers), reports,
                                        per_event_batch(p, schema), clock=lambda: NOW)
        assert [o.result for o in outcomes] == ["opened"] * n


async def test_a_batch_of_routing_decisions_is_applied_as_the_per_event_path_applies_it_in_a_few_statements(
        pool: asyncpg.Pool, second_pool: asyncpg.Pool, fresh_schema_name: str, jurisdiction: Jurisdiction) -> None:
    await opened(jurisdiction, pool, second_pool, n=30)
    second_schema = await second_pool.fetchval("SELECT current_schema()")
    table = handlers.handlers(jurisdiction, clocks=timers)
    counting = Counting(pool)
    fast_batch = lambda: OpeningBatch(counting, service=fresh_schema_name)  # type: ignore[arg-type]  # noqa: E731
    rounds = [
        # every case routed: a clock armed for most, none for two (no SLA), two placed by the router
        events(*(decided(i, jurisdiction, hours=None if i in (3, 4) else 9,
                         location=PLACED if i in (5, 6) else None) for i in range(30))),
        # some routed again later: a new due time (a new clock generation), the same one, and a first clock
        events(decided(0, jurisdiction, hours=12, queue="parks"), decided(1, jurisdiction),
               decided(3, jurisdiction, hours=6), decided(5, jurisdiction, location=PLACED), first=30),
    ]
    for later, batch in enumerate(rounds):
        counting.statements.clear()
        words = await decision_batch.apply_decisions(batch, fast_batch, jurisdiction=jurisdiction,
                                                     clocks=timers, now=NOW + timedelta(minutes=later))
        outcomes = await dispatch_batch(table, batch, per_event_batch(second_pool, second_schema),
                                        clock=lambda later=later: NOW + timedelta(minutes=later))
        assert words == ["routed"] * len(batch) == [o.result for o in outcomes]
        if later == 0:
            # BEGIN, search path, claims, cases and clocks, 3 change shapes, outbox, NOTIFY, COMMIT
            assert 5 <= len(counting.statements) <= 12, (
                f"a handful of statements for 30 decisions, not four each: {counting.statements}")
    fast, per_event = await stored(pool), await stored(second_pool)
    for part in fast:
        assert fast[part] == per_event[part], f"{part}: the same as the per-event path"
    assert len(fast["clocks"]) == 29 and sum(c["generation"] > 1 for c in fast["clocks"]) >= 1
    assert {(c["lat"], c["long"]) for c in fast["cases"] if c["location_source"] == "geocoded"} == {(45.42, -75.69)}
    routed = [e for e in fast["outbox"] if e[2]["event_type"] == "case.routed"]
    assert [e[2]["causation_id"] for e in routed] == [e.event_id for b in rounds for e, _ in b], "in offset order"

    again = await decision_batch.apply_decisions(rounds[1], fast_batch, jurisdiction=jurisdiction, clocks=timers,
                                                 now=NOW)
    assert again == ["duplicate"] * 4, "a redelivered batch is skipped by the inbox"
    assert await stored(pool) == fast


@pytest.mark.parametrize("odd", ["one_case_twice", "another_event_type", "a_case_not_held"])
async def test_a_batch_the_fast_path_does_not_take_keeps_nothing(
        pool: asyncpg.Pool, fresh_schema_name: str, jurisdiction: Jurisdiction, odd: str) -> None:
    await opened(jurisdiction, pool, n=3)
    before = await stored(pool)
    other = {
        "one_case_twice": decided(0, jurisdiction, queue="parks"),
        "another_event_type": report(9),
        "a_case_not_held": decided(9, jurisdiction, case_id=uuid4()),
    }[odd]
    raised = ValueError if odd == "a_case_not_held" else decision_batch.Declined
    with pytest.raises(raised):
        await decision_batch.apply_decisions(events(decided(0, jurisdiction), decided(1, jurisdiction), other),
                                             lambda: OpeningBatch(pool, service=fresh_schema_name),
                                             jurisdiction=jurisdiction, clocks=timers, now=NOW)
    assert await stored(pool) == before, "claims, changes and events rolled back"


async def test_the_decision_consumer_dead_letters_a_poison_decision_alone_and_keeps_each_case_in_order(
        pool: asyncpg.Pool, fresh_schema_name: str, jurisdiction: Jurisdiction) -> None:
    """Through the consume callback: a batch with a decision about a case not held goes to the per-event path
    (the poison dead-lettered alone, the rest routed); a batch naming one case twice applies both in order; a
    suggestion about other cases is handled after the batch's decisions, one naming a routed case keeps its
    place in a per-event batch."""
    await opened(jurisdiction, pool, n=12)
    rt = Runtime(Settings(), fresh_schema_name)
    rt.pool = pool
    rt.clock = lambda: NOW
    table = handlers.handlers(jurisdiction, clocks=timers)
    call = decision_batches(rt, rt.event_handler(lambda: table, CaseRepository), lambda: jurisdiction, timers)

    def items(batch: list[tuple[Envelope, Delivery]]) -> list[Consumed]:
        return [Consumed(e, d, None) for e, d in batch]  # type: ignore[arg-type]

    poisoned = events(*(decided(i, jurisdiction, case_id=uuid4() if i == 2 else None) for i in range(5)))
    result = await call(items(poisoned), True)
    assert {r.consumed.delivery.offset: r.reason for r in result.rejected} == {2: "ValueError"}
    assert result.handled == 4

    def suggestion(a: int, b: int) -> DedupSuggested:
        return DedupSuggested(case_id=case_id_for("sms", f"SM{a}"), duplicate_of=case_id_for("sms", f"SM{b}"),
                              score=0.7, distance_m=10, text_similarity=0.8, window_hours=48, radius_m=100,
                              review_threshold=0.6, merge_threshold=0.9)

    twice = events(decided(5, jurisdiction, queue="first"), decided(6, jurisdiction), suggestion(10, 11),
                   decided(5, jurisdiction, queue="second"), first=10)
    mixed = events(decided(7, jurisdiction), suggestion(8, 9), decided(8, jurisdiction), decided(9, jurisdiction),
                   first=20)
    apart = events(decided(10, jurisdiction), suggestion(0, 1), decided(11, jurisdiction), suggestion(0, 1), first=30)
    for batch, handled in ((twice, 4), (mixed, 4), (apart, 4)):
        result = await call(items(batch), True)
        assert (result.handled, result.rejected) == (handled, [])
    async with pool.acquire() as conn:
        queues = {r["case_id"]: r["queue"] for r in await conn.fetch("SELECT case_id, queue FROM cases")}
        kinds = [r["kind"] for r in await conn.fetch(
            "SELECT kind FROM timeline WHERE case_id = $1 ORDER BY id", case_id_for("sms", "SM8"))]
        suggested = await conn.fetchval("SELECT count(*) FROM merge_suggestions")
    assert queues[case_id_for("sms", "SM5")] == "second", "the later decision about a case wins"
    assert kinds == ["opened", "merge_suggested", "routed"], "a suggestion naming a routed case keeps its place"
    assert suggested == 3, "the repeated suggestion of a split batch is kept once"
    assert decision_batch.split(twice) is not None and decision_batch.split(mixed) is None
    assert decision_batch.split(apart) == ([0, 2], [1, 3])
