"""`intake_web.refusals` on real PostgreSQL: a flood of refusals becomes one row per minute, client, api_key,
route and reason whose count adds up across flushes, and staff read the rows since a time, newest first,
through GET /staff/refusals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import pytest
from prometheus_client import CollectorRegistry

from services.intake_web.adapters.refusals import PgRefusals
from services.intake_web.app import create_app
from shared.abuse import Refusal, RefusalRecorder, api_key_id
from shared.auth import Role
from shared.jurisdiction import load_jurisdiction

T0 = datetime(2026, 3, 2, 14, 30, 5, tzinfo=UTC)
ROUTE = "POST /requests.{fmt}"


@pytest.fixture
def migrated_package() -> str:
    return "services.intake_web"


def refusal(at: datetime, client: str = "203.0.113.5", reason: str = "reports_per_client",
            api_key: str | None = None) -> Refusal:
    return Refusal(at=at, client=client, api_key=api_key, route=ROUTE, reason=reason)


async def test_a_flood_is_one_row_a_minute_and_counts_add_up_across_flushes(service_pool: asyncpg.Pool) -> None:
    store = PgRefusals(lambda: service_pool)
    rec = RefusalRecorder(CollectorRegistry(), store=store)
    for i in range(300):
        rec.refused(refusal(T0 + timedelta(milliseconds=100 * i)))  # 14:30:05 → 14:30:34.9
    rec.refused(refusal(T0, api_key=api_key_id("key-a"), reason="reports_per_api_key"))
    assert await rec.flush() == 2
    for i in range(50):
        rec.refused(refusal(T0 + timedelta(seconds=40, milliseconds=i)))  # the same minute, a later flush
    rec.refused(refusal(T0 + timedelta(minutes=1)))
    assert await rec.flush() == 2
    rows = await service_pool.fetch("SELECT * FROM refusals ORDER BY minute, reason")
    assert [(r["minute"], r["api_key"], r["reason"], r["count"]) for r in rows] == [
        (datetime(2026, 3, 2, 14, 30, tzinfo=UTC), api_key_id("key-a"), "reports_per_api_key", 1),
        (datetime(2026, 3, 2, 14, 30, tzinfo=UTC), "", "reports_per_client", 350),
        (datetime(2026, 3, 2, 14, 31, tzinfo=UTC), "", "reports_per_client", 1),
    ]
    assert rows[1]["last_at"] == T0 + timedelta(seconds=40, milliseconds=49)


async def test_rows_since_a_time_newest_first(service_pool: asyncpg.Pool) -> None:
    store = PgRefusals(lambda: service_pool)
    rec = RefusalRecorder(CollectorRegistry(), store=store)
    for minutes, n in ((0, 3), (10, 1), (20, 7)):
        for _ in range(n):
            rec.refused(refusal(T0 + timedelta(minutes=minutes), client=f"198.51.100.{minutes}"))
    await rec.flush()
    found = await store.since(T0 + timedelta(minutes=5), 10)
    assert [(r.client, r.count) for r in found] == [("198.51.100.20", 7), ("198.51.100.10", 1)]
    assert [r.count for r in await store.since(T0 - timedelta(hours=1), 1)] == [7]
    assert await store.since(T0 + timedelta(minutes=20, seconds=1), 10) == [], "last_at is before that"


async def test_staff_read_what_a_throttled_client_was_refused(service_pool: asyncpg.Pool, test_issuer) -> None:
    store = PgRefusals(lambda: service_pool)
    s = test_issuer.settings(jurisdiction="demo", limit_reads_per_client="1/minute")
    app = create_app(s, jurisdiction=load_jurisdiction("demo"), publisher=object(), case_api=object(),
                     clock=lambda: datetime.now(UTC), refusals=store)  # type: ignore[arg-type]
    transport = httpx.ASGITransport(app=app, client=("192.0.2.44", 1234))
    async with httpx.AsyncClient(transport=transport, base_url="http://web") as web:
        assert [(await web.get("/services.json")).status_code for _ in range(4)] == [200, 429, 429, 429]
        assert await app.state.abuse.recorder.flush() == 1
        r = await web.get("/staff/refusals", headers=test_issuer.headers(Role.SUPERVISOR))
    assert r.status_code == 200, r.text
    [row] = r.json()["refusals"]
    assert (row["client"], row["route"], row["reason"], row["count"], row["api_key"]) == (
        "192.0.2.44", "GET /services.{fmt}", "reads", 3, None)


async def test_rows_past_the_retention_are_deleted_and_the_newer_ones_kept(service_pool: asyncpg.Pool) -> None:
    store = PgRefusals(lambda: service_pool)
    rec = RefusalRecorder(CollectorRegistry(), store=store)
    for age in (timedelta(days=40), timedelta(days=30, minutes=1), timedelta(days=29, hours=23), timedelta(0)):
        rec.refused(refusal(T0 - age, client=f"198.51.100.{age.days}"))
    await rec.flush()
    assert await store.delete_before(T0 - timedelta(days=30)) == 2
    left = await service_pool.fetch("SELECT client FROM refusals ORDER BY minute")
    assert [r["client"] for r in left] == ["198.51.100.29", "198.51.100.0"]
    assert await store.delete_before(T0 - timedelta(days=30)) == 0


async def test_the_running_service_deletes_what_is_older_than_its_retention_setting(
        service_pool: asyncpg.Pool, test_issuer) -> None:
    store = PgRefusals(lambda: service_pool)
    old = RefusalRecorder(CollectorRegistry(), store=store)
    old.refused(refusal(T0 - timedelta(days=8), client="192.0.2.8"))
    old.refused(refusal(T0 - timedelta(days=6), client="192.0.2.6"))
    await old.flush()
    s = test_issuer.settings(jurisdiction="demo", refusals_retention_days=7)
    app = create_app(s, jurisdiction=load_jurisdiction("demo"), publisher=object(), case_api=object(),
                     clock=lambda: T0, refusals=store)  # type: ignore[arg-type]
    assert await app.state.abuse.recorder.flush() == 0
    assert [r["client"] for r in await service_pool.fetch("SELECT client FROM refusals")] == ["192.0.2.6"]
