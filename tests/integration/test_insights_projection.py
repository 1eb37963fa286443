"""The insights projection's SQL on real PostgreSQL: events applied through `InsightsRepository` give the
figures the dashboard shows (local days, backlog bands, median time to close without duplicates, SLA
compliance, surveys, deflections), hotspots, the gauges' figures, and an export read through a server-side
cursor in order and filtered."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from services.insights.adapters.reads import InsightsReads
from services.insights.adapters.repository import InsightsRepository
from services.insights.domain import (
    CaseRow,
    Deflection,
    Erasure,
    MergeChange,
    RoutingChange,
    StatusChange,
    SurveyAnswer,
    UnmergeChange,
    summary,
    window,
)

NY = "America/New_York"
NOW = datetime(2026, 3, 20, 16, 0, tzinfo=UTC)


@pytest.fixture
def migrated_package() -> str:
    return "services.insights"


@contextlib.asynccontextmanager
async def repo(pool: asyncpg.Pool) -> AsyncIterator[InsightsRepository]:
    async with pool.acquire() as conn, conn.transaction():
        yield InsightsRepository(conn)


_n = iter(range(1, 100_000))


async def open_case(pool: asyncpg.Pool, at: datetime, *, channel: str = "web", code: str | None = "pothole",
                    point: tuple[float, float] | None = (40.75, -73.99), description: str = "pothole") -> UUID:
    case_id = uuid4()
    async with repo(pool) as r:
        assert await r.open_case(CaseRow(case_id=case_id, service_request_id=f"NYC-26-{next(_n):06d}",
                                         service_code=code, channel=channel, status="open", requested_at=at,
                                         updated_at=at, closed_at=None, lat=point[0] if point else None,
                                         long=point[1] if point else None, address="12 Main St",
                                         description=description))
    return case_id


async def route(pool: asyncpg.Pool, case_id: UUID, at: datetime, *, department: str = "dot",
                due: datetime | None = None, district: str | None = "MN05", code: str = "pothole") -> None:
    async with pool.acquire() as conn:
        sid, requested = await conn.fetchrow("SELECT service_request_id, requested_at FROM cases WHERE case_id = $1",
                                             case_id)
    async with repo(pool) as r:
        await r.route(RoutingChange(case_id=case_id, service_request_id=sid, requested_at=requested,
                                    service_code=code, service_name=code.title(), department=department,
                                    agency_responsible=department.upper(), district=district, sla_due_at=due,
                                    lat=None, long=None, description="", at=at))


async def close(pool: asyncpg.Pool, case_id: UUID, at: datetime, workflow: str = "resolved") -> None:
    async with repo(pool) as r:
        assert await r.change_status(StatusChange(case_id=case_id, status="closed", workflow_status=workflow,
                                                  status_notes="done", at=at))


async def test_the_summary_figures_of_a_small_projection(service_pool: asyncpg.Pool) -> None:
    pool = service_pool
    day1 = datetime(2026, 3, 2, 3, 30, tzinfo=UTC)   # 1 March, 22:30 in New York
    day2 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)   # 2 March
    a = await open_case(pool, day1, channel="web")
    b = await open_case(pool, day2, channel="email")
    c = await open_case(pool, day2 + timedelta(hours=1), channel="sms", code=None)
    d = await open_case(pool, NOW - timedelta(days=1), channel="web")           # backlog 0-2d
    await route(pool, a, day1, due=day1 + timedelta(hours=10))
    await route(pool, b, day2, due=day2 + timedelta(hours=1), department="dep")
    await close(pool, a, day1 + timedelta(hours=2))            # within due, 7200 s
    async with repo(pool) as r:                                 # the case service saw b's due time pass
        assert await r.mark_breached(b, day2 + timedelta(hours=1))
    await close(pool, b, day2 + timedelta(hours=4))            # late, 14400 s
    await close(pool, b, day2 + timedelta(hours=9), "closed")  # resolved → closed keeps the first close
    async with repo(pool) as r:                                 # a duplicate closes at once: not in the median
        assert await r.merge(MergeChange(case_id=c, merged_into=a, status_notes="Duplicate", at=day2 + timedelta(
            hours=1, seconds=5)))
        await r.add_survey(SurveyAnswer(event_id=uuid4(), case_id=a, rating=5, answered_at=day2))
        await r.add_survey(SurveyAnswer(event_id=uuid4(), case_id=b, rating=2, answered_at=day2))
        await r.add_deflection(Deflection(event_id=uuid4(), article_id="bulky", service_code=None, language="en",
                                          deflected_at=day2))
    reads = InsightsReads(pool)
    win = window("2026-03-01", "2026-03-02", time_zone=NY, now=NOW)
    s = summary(win, await reads.aggregates(win, now=NOW), generated_at=NOW, department_names={"dot": "DOT"})
    assert [(x["date"], x["total"], x["by_channel"]) for x in s["per_day"]] == [
        ("2026-03-01", 1, {"web": 1}), ("2026-03-02", 2, {"email": 1, "sms": 1})]
    assert s["per_day"][1]["by_service"] == {"pothole": 1, "unclassified": 1}
    assert s["totals"] == {"opened": 3, "closed": 3, "open_backlog": 1}
    assert s["backlog"] == [{"department": "unknown", "department_name": "unknown", "total": 1,
                             "bands": {"0-2d": 1, "3-7d": 0, "8-30d": 0, ">30d": 0}}]
    assert s["median_time_to_close_s"] == pytest.approx(10800.0)   # median of 7200 and 14400
    assert {r["department"]: (r["closed_with_due"], r["closed_within_due"], r["ratio"])
            for r in s["sla_compliance"]} == {"dot": (1, 1, 1.0), "dep": (1, 0, 0.0)}
    assert s["surveys"] == {"count": 2, "mean_rating": 3.5}
    assert s["deflections"] == [{"article_id": "bulky", "count": 1}]
    assert s["top_categories"][0] == {"service_code": "pothole", "service_name": "Pothole", "count": 2}
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT closed_at FROM cases WHERE case_id = $1", b) == day2 + timedelta(hours=4)
    del d


async def test_backlog_bands_reopen_unmerge_and_erasure(service_pool: asyncpg.Pool) -> None:
    pool = service_pool
    ages = [1, 5, 20, 45]
    ids = [await open_case(pool, NOW - timedelta(days=n, minutes=1)) for n in ages]
    for case_id in ids:
        await route(pool, case_id, NOW - timedelta(days=50))
    reads = InsightsReads(pool)
    g = await reads.gauges(now=NOW, since=NOW - timedelta(days=30))
    assert sorted(g["backlog"]) == [("dot", "0-2d", 1), ("dot", "3-7d", 1), ("dot", "8-30d", 1), ("dot", ">30d", 1)]
    await close(pool, ids[0], NOW - timedelta(hours=1))
    async with repo(pool) as r:
        assert await r.change_status(StatusChange(case_id=ids[0], status="open", workflow_status="in_progress",
                                                  status_notes=None, at=NOW))
        assert await r.merge(MergeChange(case_id=ids[1], merged_into=ids[2], status_notes="dup", at=NOW))
        assert await r.unmerge(UnmergeChange(case_id=ids[1], status="open", workflow_status="acknowledged", at=NOW))
        assert await r.erase(Erasure(case_id=ids[2], at=NOW))
        # a later routing does not bring the erased text back
        await r.route(RoutingChange(case_id=ids[2], service_request_id="x", requested_at=NOW, service_code="pothole",
                                    service_name="Pothole", department="dot", agency_responsible="DOT",
                                    district=None, sla_due_at=None, lat=None, long=None, description="again",
                                    at=NOW))
        assert not await r.change_status(StatusChange(case_id=uuid4(), status="closed", workflow_status=None,
                                                      status_notes=None, at=NOW))
    async with pool.acquire() as conn:
        rows = {r["case_id"]: r for r in await conn.fetch("SELECT * FROM cases")}
    assert rows[ids[0]]["status"] == "open" and rows[ids[0]]["closed_at"] is None
    assert rows[ids[1]]["merged_into"] is None and rows[ids[1]]["workflow_status"] == "acknowledged"
    assert rows[ids[2]]["description"] == "" and rows[ids[2]]["address"] is None
    assert rows[ids[2]]["service_request_id"] != "x"
    g = await reads.gauges(now=NOW, since=NOW - timedelta(days=30))
    assert sum(n for _, _, n in g["backlog"]) == 4 and g["median_close_s"] is None


async def test_hotspots_newest_first_and_per_district(service_pool: asyncpg.Pool) -> None:
    pool = service_pool
    base = datetime(2026, 3, 5, 15, tzinfo=UTC)
    a = await open_case(pool, base, point=(40.1, -73.1))
    b = await open_case(pool, base + timedelta(hours=1), point=(40.2, -73.2))
    c = await open_case(pool, base + timedelta(hours=2), point=None)
    e = await open_case(pool, base + timedelta(hours=3), point=(40.3, -73.3), code="noise")
    for case_id, district in ((a, "MN01"), (b, "MN01"), (c, None)):
        await route(pool, case_id, base, district=district)
    await route(pool, e, base, district="BK02", code="noise")
    reads = InsightsReads(pool)
    win = window("2026-03-05", "2026-03-05", time_zone=NY, now=NOW)
    everything = await reads.hotspots(win, service_code=None, limit=2)
    assert everything["points"] == [(40.3, -73.3), (40.2, -73.2)]
    assert (everything["total"], everything["unlocated"]) == (3, 1)
    assert sorted(everything["districts"], key=str) == sorted([("MN01", 2), (None, 1), ("BK02", 1)], key=str)
    potholes = await reads.hotspots(win, service_code="pothole", limit=100)
    assert potholes["points"] == [(40.2, -73.2), (40.1, -73.1)] and potholes["total"] == 2
    # the dashboard's poll reads no point, and its digest moves when a district (or a point) does
    light = await reads.hotspots(win, service_code=None, limit=0)
    assert light["points"] == [] and light["digest"] == everything["digest"] and light["total"] == 3
    await route(pool, a, base, district="BK02")
    assert (await reads.hotspots(win, service_code=None, limit=0))["digest"] != light["digest"]


async def test_the_export_cursor_reads_in_order_within_the_window_and_service(service_pool: asyncpg.Pool) -> None:
    pool = service_pool
    base = datetime(2011, 1, 1, 17, tzinfo=UTC)
    for i in range(30):
        await open_case(pool, base + timedelta(hours=i * 5), code="noise" if i % 3 == 0 else "pothole")
    reads = InsightsReads(pool)
    everything = window(None, None, time_zone=NY, now=NOW, open_ended=True)
    rows = [r async for r in reads.stream(everything, service_code=None, prefetch=7)]
    assert len(rows) == 30 and [r["requested_at"] for r in rows] == sorted(r["requested_at"] for r in rows)
    assert "case_id" not in rows[0].keys() and "followers" not in rows[0].keys()
    noise = [r async for r in reads.stream(everything, service_code="noise", prefetch=3)]
    assert len(noise) == 10 and {r["service_code"] for r in noise} == {"noise"}
    jan2 = window("2011-01-02", "2011-01-02", time_zone=NY, now=NOW, open_ended=True)
    day = [r async for r in reads.stream(jan2, service_code=None, prefetch=5)]
    # 12:00 on 1 January in New York plus 5 h steps: steps 3 to 7 fall on 2 January, local time
    assert [r["requested_at"].astimezone(ZoneInfo(NY)).hour for r in day] == [3, 8, 13, 18, 23]
    # an abandoned stream gives its connection back (the pool has two)
    for _ in range(3):
        stream = reads.stream(everything, service_code=None, prefetch=2)
        await stream.__anext__()
        await stream.aclose()
    async with asyncio.timeout(5):   # a connection leaked by each abandoned stream would make this wait
        assert await pool.fetchval("SELECT count(*) FROM cases") == 30


async def test_counter_seeds_count_the_whole_projection(service_pool: asyncpg.Pool) -> None:
    pool = service_pool
    await open_case(pool, NOW, channel="web")
    await open_case(pool, NOW, channel="web")
    await open_case(pool, NOW, channel="sms", code=None)
    async with repo(pool) as r:
        await r.add_deflection(Deflection(event_id=uuid4(), article_id="a", service_code=None, language=None,
                                          deflected_at=NOW))
    seeds = await InsightsReads(pool).counter_seeds()
    assert sorted(seeds["opened"], key=str) == sorted([("web", "pothole", 2), ("sms", None, 1)], key=str)
    assert seeds["deflected"] == [("a", 1)]


async def test_sla_compliance_follows_the_case_services_clock_not_the_routed_due_time(
        service_pool: asyncpg.Pool) -> None:
    """The case service pauses the SLA clock (waiting on the resident, on hold) without a new `case.routed`:
    a case closed after its routed due time is still within its SLA when no `case.sla_breached` came, and a
    breached case counts as late whenever it closes."""
    pool = service_pool
    opened = datetime(2026, 3, 10, 15, tzinfo=UTC)
    paused = await open_case(pool, opened)
    breached = await open_case(pool, opened)
    for case_id in (paused, breached):
        await route(pool, case_id, opened, due=opened + timedelta(hours=4))
    async with repo(pool) as r:
        assert await r.mark_breached(breached, opened + timedelta(hours=4))
    await close(pool, paused, opened + timedelta(hours=30))      # after the routed due time, clock paused
    await close(pool, breached, opened + timedelta(hours=5))
    reads = InsightsReads(pool)
    win = window("2026-03-10", "2026-03-11", time_zone=NY, now=NOW)
    s = summary(win, await reads.aggregates(win, now=NOW), generated_at=NOW, department_names={})
    assert [(r["closed_with_due"], r["closed_within_due"]) for r in s["sla_compliance"]] == [(2, 1)]
    g = await reads.gauges(now=NOW, since=opened)
    assert g["sla"] == [("dot", 2, 1)]
