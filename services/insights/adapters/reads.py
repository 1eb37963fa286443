"""SQL reads of the `insights` projection on the service's pool: the dashboard's aggregates, the hotspot
points, the figures behind the Prometheus gauges and the open-data stream (a server-side cursor)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import asyncpg

from services.insights.domain import BAND_EDGES_S, Window
from services.insights.domain.figures import Aggregates
from shared.db.pool import create_pool

_BAND = """CASE WHEN extract(epoch FROM $1::timestamptz - requested_at) < $2 THEN '0-2d'
                WHEN extract(epoch FROM $1::timestamptz - requested_at) < $3 THEN '3-7d'
                WHEN extract(epoch FROM $1::timestamptz - requested_at) < $4 THEN '8-30d'
                ELSE '>30d' END"""
"""The age band of an open case at `$1`; the edges `$2..$4` are `BAND_EDGES_S` (the domain's `age_band`)."""

EXPORT_COLUMNS = ("service_request_id, service_code, service_name, status, status_notes, agency_responsible, "
                  "requested_at, updated_at, closed_at, address, lat, long, description, channel")


_CLOSED_IN = "closed_at >= $1 AND ($2::timestamptz IS NULL OR closed_at < $2)"


async def _closing_figures(conn: asyncpg.Connection, *, now: datetime, since: datetime, until: datetime | None
                           ) -> tuple[list[asyncpg.Record], asyncpg.Record, list[asyncpg.Record]]:
    """The figures both the summary and the gauges show, defined once: the backlog (department, band, n) of
    the cases open at `now`; of the cases closed in `[since, until)` (`until` None: up to now) the count `n`
    and the `median` seconds from request to close (merged duplicates left out, None when none); and per
    department `with_due` (closed with a due time, duplicates left out) and `within` (of those, no
    `case.sla_breached` seen: the case service's clock, which pauses, decides, not the routed due time)."""
    backlog = await conn.fetch(
        f"SELECT department, {_BAND} AS band, count(*) AS n FROM cases WHERE status = 'open' GROUP BY 1, 2",
        now, *BAND_EDGES_S)
    closed = await conn.fetchrow(
        "SELECT count(*) AS n, percentile_cont(0.5) WITHIN GROUP "
        "(ORDER BY extract(epoch FROM closed_at - requested_at)) FILTER (WHERE merged_into IS NULL) AS median "
        f"FROM cases WHERE {_CLOSED_IN}", since, until)
    sla = await conn.fetch(
        "SELECT department, count(*) AS with_due, count(*) FILTER (WHERE NOT breached) AS within "
        f"FROM cases WHERE {_CLOSED_IN} AND merged_into IS NULL AND sla_due_at IS NOT NULL GROUP BY 1",
        since, until)
    return backlog, closed, sla


class InsightsReads:
    """Reads on `pool` (the insights role). Each method raises `asyncpg.PostgresError`/`OSError` when the
    database fails. Windows are `[start_at, end_at)` in UTC; local days use the window's time zone."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def aggregates(self, win: Window, *, now: datetime) -> Aggregates:
        """Every figure of the summary for `win` (the backlog as it stands at `now`), read in one
        repeatable-read snapshot so the figures agree with each other."""
        async with self.pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
            span = (win.start_at, win.end_at)
            per_day = await conn.fetch(
                "SELECT (requested_at AT TIME ZONE $3)::date AS day, channel, service_code, count(*) AS n "
                "FROM cases WHERE requested_at >= $1 AND requested_at < $2 GROUP BY 1, 2, 3",
                *span, win.time_zone)
            names = await conn.fetch(
                "SELECT DISTINCT ON (service_code) service_code, service_name FROM cases "
                "WHERE requested_at >= $1 AND requested_at < $2 AND service_code IS NOT NULL "
                "AND service_name IS NOT NULL ORDER BY service_code, updated_at DESC", *span)
            backlog, closed, sla = await _closing_figures(conn, now=now, since=win.start_at, until=win.end_at)
            surveys = await conn.fetchrow(
                "SELECT count(*) AS n, avg(rating)::float8 AS mean FROM surveys "
                "WHERE answered_at >= $1 AND answered_at < $2", *span)
            deflections = await conn.fetch(
                "SELECT article_id, count(*) AS n FROM deflections WHERE deflected_at >= $1 AND deflected_at < $2 "
                "GROUP BY 1", *span)
        return Aggregates(
            per_day=[(r["day"], r["channel"], r["service_code"], r["n"]) for r in per_day],
            service_names={r["service_code"]: r["service_name"] for r in names},
            backlog=[(r["department"], r["band"], r["n"]) for r in backlog],
            closed=closed["n"], median_close_s=closed["median"],
            sla=[(r["department"], r["with_due"], r["within"]) for r in sla],
            surveys=(surveys["n"], surveys["mean"]),
            deflections=[(r["article_id"], r["n"]) for r in deflections],
        )

    async def hotspots(self, win: Window, *, service_code: str | None, limit: int) -> dict[str, Any]:
        """`points` [(lat, long)] of located cases requested in `win` (of `service_code` when given), newest
        first, at most `limit` (0: none are read, only the counts); `total` located; `districts` [(district,
        count)] of every case; `unlocated`; `digest` (int) a sum of a hash of each case's point and district,
        read on the same scan as the counts, which changes when a point or a district changes."""
        where = "requested_at >= $1 AND requested_at < $2 AND ($3::text IS NULL OR service_code = $3)"
        args = (win.start_at, win.end_at, service_code)
        async with self.pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
            points = await conn.fetch(
                f"SELECT lat, long FROM cases WHERE {where} AND lat IS NOT NULL AND long IS NOT NULL "
                "ORDER BY requested_at DESC, service_request_id DESC LIMIT $4", *args, limit) if limit > 0 else []
            counts = await conn.fetchrow(
                f"SELECT count(*) FILTER (WHERE lat IS NOT NULL AND long IS NOT NULL) AS located, "
                f"count(*) FILTER (WHERE lat IS NULL OR long IS NULL) AS unlocated, "
                f"coalesce(sum(hashtext(concat_ws(',', lat, long, district))), 0) AS digest "
                f"FROM cases WHERE {where}", *args)
            districts = await conn.fetch(f"SELECT district, count(*) AS n FROM cases WHERE {where} GROUP BY 1", *args)
        return {"points": [(r["lat"], r["long"]) for r in points], "total": counts["located"],
                "unlocated": counts["unlocated"], "districts": [(r["district"], r["n"]) for r in districts],
                "digest": int(counts["digest"])}

    async def stream(self, win: Window, *, service_code: str | None, prefetch: int) -> AsyncIterator[asyncpg.Record]:
        """Every case requested in `win` (of `service_code` when given), oldest first, read through a
        server-side cursor inside one read-only transaction: `prefetch` rows are held at a time, never the
        whole result. The connection goes back to the pool when the iteration ends or is abandoned."""
        async with self.pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
            cursor = conn.cursor(
                f"SELECT {EXPORT_COLUMNS} FROM cases WHERE requested_at >= $1 AND requested_at < $2 "
                "AND ($3::text IS NULL OR service_code = $3) ORDER BY requested_at, service_request_id, case_id",
                win.start_at, win.end_at, service_code, prefetch=prefetch)
            async for row in cursor:
                yield row

    async def gauges(self, *, now: datetime, since: datetime) -> dict[str, Any]:
        """The figures behind the gauges: `backlog` [(department, band, count)] at `now`; over cases closed
        since `since`: `sla` [(department, with due, within due)] and `median_close_s`; `survey_mean` of
        answers since `since` (None when none)."""
        async with self.pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
            backlog, closed, sla = await _closing_figures(conn, now=now, since=since, until=None)
            mean = await conn.fetchval("SELECT avg(rating)::float8 FROM surveys WHERE answered_at >= $1", since)
        return {"backlog": [(r["department"], r["band"], r["n"]) for r in backlog],
                "sla": [(r["department"], r["with_due"], r["within"]) for r in sla],
                "median_close_s": closed["median"], "survey_mean": mean}

    async def counter_seeds(self) -> dict[str, list[tuple[Any, ...]]]:
        """What the counters start from when the process starts (so a restart does not reset them): cases
        by (channel, service_code) and deflections by article, since the projection began."""
        async with self.pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
            opened = await conn.fetch("SELECT channel, service_code, count(*) AS n FROM cases GROUP BY 1, 2")
            deflected = await conn.fetch("SELECT article_id, count(*) AS n FROM deflections GROUP BY 1")
        return {"opened": [(r["channel"], r["service_code"], r["n"]) for r in opened],
                "deflected": [(r["article_id"], r["n"]) for r in deflected]}


class ExportPool:
    """A pool of its own for the open-data exports (`size` connections of the schema's role), so that slow
    downloads, each holding a connection for its whole stream, never take the connections the consumer and
    the dashboard need; more exports at once than `size` wait for a connection. Opened by `open` at start,
    closed by `close` at stop."""

    def __init__(self, dsn: str, schema: str, size: int) -> None:
        self.dsn, self.schema, self.size = dsn, schema, size
        self.pool: asyncpg.Pool | None = None

    async def open(self) -> None:
        """Raises `OSError`/`asyncpg.PostgresError` when PostgreSQL cannot be reached."""
        self.pool = await create_pool(self.dsn, self.schema, application_name=f"{self.schema}-export",
                                      max_size=self.size)

    async def close(self) -> None:
        """Close the pool, waiting for the exports still streaming to give their connections back; safe to
        call when never opened or already closed."""
        if self.pool is not None:
            await self.pool.close()
            self.pool = None

    def reads(self) -> InsightsReads:
        """Reads on the export pool; raises `RuntimeError` before `open`."""
        if self.pool is None:
            raise RuntimeError("the export pool is not open (the service has not started)")
        return InsightsReads(self.pool)
