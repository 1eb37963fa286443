"""The duplicate detector's candidate query at city scale: 3 million open cases in its projection (synthetic
points inside the NYC jurisdiction's districts, the real NYC category mix), then the service's own query
(`DedupRepository.candidates` on `search_for(...)`, in a transaction after `lock_category`, as
`on_case_routed` calls it) timed for random new cases.

The scratch database (``omni311_bench_dedup``) is kept between runs and rebuilt when the size or this
generator change; the dedup migrations are applied to it on every run. Loading 3 million rows costs
minutes, a query run seconds.
"""

from __future__ import annotations

import asyncio
import os
import random
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import numpy as np
import shapely

from benchmarks.report import latency_summary
from benchmarks.stack import dsn_with_db
from services.dedup.adapters.repository import DedupRepository
from services.dedup.config import jurisdiction_rules
from services.dedup.domain import Point, search_for
from shared.db.migrate import migrate
from shared.db.pool import connect
from shared.events import CaseRouted
from shared.events.declaration import declaration_of
from shared.jurisdiction import Jurisdiction

GENERATOR = "3"
"""Bump when the synthetic data changes shape: the kept scratch database is then rebuilt."""
DATABASE = "omni311_bench_dedup"
SCHEMA = "dedup"
CENTRE = datetime(2026, 1, 15, tzinfo=UTC)
SPREAD = timedelta(days=15)
"""Cases are requested uniformly within CENTRE ± SPREAD: at NYC's record day (276,827 contacts) 3 million
open cases are about eleven days of reports; a month keeps a realistic share in a 72-hour window."""


def log(text: str) -> None:
    """Progress on stderr (the table goes to stdout)."""
    print(text, file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Synthetic:
    """Points (lat, long degrees) inside the jurisdiction and category codes drawn from the real mix."""

    lats: np.ndarray
    longs: np.ndarray
    codes: list[str]
    descriptions: list[str] = field(default_factory=list)


def boundary(jurisdiction: Jurisdiction) -> Any:
    """The union of the polygons of the jurisdiction's areas (shapely, long/lat; lines and points of a
    collection left out). Raises `ValueError` when it has none."""
    index = jurisdiction.districts
    if index is None:
        raise ValueError(f"jurisdiction {jurisdiction.id} has no districts to draw points in")
    parts = shapely.get_parts([g for g in (index.geometry(a.id) for a in index.areas) if g is not None])
    polygons = [p for p in parts if p.geom_type in ("Polygon", "MultiPolygon")]
    if not polygons:
        raise ValueError(f"jurisdiction {jurisdiction.id} has no district polygons")
    return shapely.union_all(polygons)


CELL_DEG = 0.001
"""Points are drawn in grid cells of this size (about 110 m by 85 m in New York) whose centre is inside."""


class PointSampler:
    """Uniform points inside an area, fast enough for millions: the area is rasterised once into grid cells
    whose centre lies inside it, then a point is a random cell and a uniform offset within it (so a point
    may lie up to one cell outside the edge)."""

    def __init__(self, area: Any, cell_deg: float = CELL_DEG) -> None:
        west, south, east, north = area.bounds
        xs = np.arange(west + cell_deg / 2, east, cell_deg)
        ys = np.arange(south + cell_deg / 2, north, cell_deg)
        gx, gy = np.meshgrid(xs, ys)
        shapely.prepare(area)
        inside = shapely.contains_xy(area, gx.ravel(), gy.ravel())
        self.cx, self.cy = gx.ravel()[inside], gy.ravel()[inside]
        self.cell = cell_deg
        if not self.cx.size:
            raise ValueError("the area holds no grid cell centre")

    def sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """`n` points: (lats, longs) in degrees."""
        k = rng.integers(0, self.cx.size, size=n)
        half = self.cell / 2
        return self.cy[k] + rng.uniform(-half, half, n), self.cx[k] + rng.uniform(-half, half, n)


def category_mix(names: Sequence[str | None], codes: dict[str, str], fallback: str) -> list[str]:
    """Each record's category code (`codes`: case-folded name → code; `fallback` for a name not offered), in
    record order: drawing from this list keeps the real mix."""
    return [codes.get((n or "").strip().casefold(), fallback) for n in names]


def fingerprint(n: int) -> str:
    """What the kept database's rows were made by: `n` and `GENERATOR` (migrations are applied to it on every
    run, as to a production database, so a new index is built on the kept rows)."""
    return f"{GENERATOR}:{n}"


LOADERS = 2
"""Connections generating rows at once (one INSERT ... SELECT each): one per core of the machine measured."""
INSERT = """
INSERT INTO {schema}.cases (case_id, service_request_id, service_code, description, geog, location_known,
                            requested_datetime, open)
SELECT gen_random_uuid(), 'nyc-bench-' || r.g, m.code, m.description,
       ST_SetSRID(ST_MakePoint(p.x + (random() - 0.5) * $3, p.y + (random() - 0.5) * $3), 4326)::geography,
       true, $4::timestamptz + (random() * 2 - 1) * $5 * interval '1 second', true
FROM (SELECT g, floor(random() * $6)::int AS mk, floor(random() * $7)::int AS pk
      FROM generate_series($1::int, $2::int) AS g) AS r
JOIN public.bench_mix AS m ON m.k = r.mk
JOIN public.bench_points AS p ON p.k = r.pk
"""
"""Rows `$1`..`$2` drawn in the server: a record of the real mix (code with its description) and a grid cell
of `PointSampler` per row, a uniform offset within the cell (`$3` degrees) and a time within `$4` ± `$5` s.
The random picks sit in a subquery so that each row draws its own (a volatile subquery is not flattened)."""


async def _insert_share(dsn: str, lo: int, hi: int, seed: float, n_mix: int, n_points: int, cell: float) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("SELECT setseed($1)", seed)
        await conn.execute(INSERT.format(schema=SCHEMA), lo, hi, cell, CENTRE, SPREAD.total_seconds(),
                           n_mix, n_points)
    finally:
        await conn.close()


async def _build_indexes(dsn: str, definitions: Sequence[str]) -> None:
    """Run the CREATE INDEX `definitions` one after another on a connection of their own, with a 512 MB
    ``maintenance_work_mem`` and, for GiST, a small ``effective_cache_size``: it makes the build's automatic
    mode buffer its inserts (measured here: 50 s of CPU instead of 65 s for the 3-million-row GiST), with
    the index defined exactly as the migration defines it (no storage option)."""
    conn = await asyncpg.connect(dsn, server_settings={"maintenance_work_mem": "512MB", "effective_cache_size": "64MB",
                                                       "max_parallel_maintenance_workers": "0"})
    try:
        for sql in definitions:
            await conn.execute(sql)
    finally:
        await conn.close()


async def build(dsn: str, n: int, mix: Sequence[str], descriptions: Sequence[str], area: PointSampler, *,
                seed: int = 14) -> float:
    """Migrate the `dedup` schema in the (empty) database of `dsn` and load `n` cases, all open, located and
    without reporter, into its projection; returns the seconds it took.

    The rows are generated in the server (`INSERT`, `LOADERS` connections at once, each a share of `n`) from
    two small tables the benchmark uploads: the records' (code, description) in their real mix and the grid
    cells of `area`. Nothing is sent per row. The table is UNLOGGED (a scratch database needs no crash
    safety: no WAL for the load or the index builds) and its indexes are dropped during the load, then built
    again from the definitions the migrations gave them (`pg_indexes`, read before the drop), each on its own
    connection at once (`_build_indexes`); primary and unique keys are put back on their rebuilt indexes.
    A VACUUM before the index builds and an ANALYZE after them leave the planner and the visibility map as
    on a settled table. Raises `asyncpg.PostgresError` on a database error."""
    if len(mix) != len(descriptions):
        raise ValueError(f"{len(mix)} category codes for {len(descriptions)} descriptions")
    start = time.monotonic()
    await migrate(dsn, SCHEMA, "services.dedup")
    conn = await asyncpg.connect(dsn, server_settings={"search_path": f"{SCHEMA}, public"})
    try:
        await conn.execute("ALTER TABLE cases SET UNLOGGED")
        indexes = await conn.fetch("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = $1 AND "
                                   "tablename = 'cases'", SCHEMA)
        constraints = await conn.fetch("SELECT c.conname, c.contype = 'p' AS is_primary, i.relname AS index "
                                       "FROM pg_constraint c JOIN pg_class i ON i.oid = c.conindid "
                                       "WHERE c.conrelid = 'cases'::regclass AND c.contype IN ('p', 'u')")
        for c in constraints:
            await conn.execute(f'ALTER TABLE cases DROP CONSTRAINT "{c["conname"]}"')
        for ix in indexes:
            await conn.execute(f'DROP INDEX IF EXISTS {SCHEMA}."{ix["indexname"]}"')
        await conn.execute("CREATE UNLOGGED TABLE public.bench_mix (k int NOT NULL, code text NOT NULL, "
                           "description text NOT NULL)")
        await conn.copy_records_to_table("bench_mix", schema_name="public",
                                         records=[(k, c, d) for k, (c, d) in enumerate(zip(mix, descriptions))])
        await conn.execute("CREATE UNLOGGED TABLE public.bench_points (k int NOT NULL, x float8 NOT NULL, "
                           "y float8 NOT NULL)")
        await conn.copy_records_to_table("bench_points", schema_name="public",
                                         records=zip(range(area.cx.size), area.cx.tolist(), area.cy.tolist()))
        await conn.execute("ANALYZE public.bench_mix; ANALYZE public.bench_points")
        shares = np.linspace(0, n, LOADERS + 1).astype(int)
        await asyncio.gather(*(
            _insert_share(dsn, int(lo) + 1, int(hi), (seed + i) / 1000, len(mix), int(area.cx.size), area.cell)
            for i, (lo, hi) in enumerate(zip(shares[:-1], shares[1:])) if hi > lo))
        # Hint bits and the visibility map set once, before the index builds read the heap (each would set
        # them again otherwise, and a VACUUM after them would also scan every GiST index).
        await conn.execute("VACUUM cases")
        loaded = time.monotonic()
        # The GiST builds take longest: each has a connection (a core) of its own; the rest share one.
        gist = [ix["indexdef"] for ix in indexes if " USING gist " in ix["indexdef"]]
        rest = [ix["indexdef"] for ix in indexes if " USING gist " not in ix["indexdef"]]
        await asyncio.gather(*(_build_indexes(dsn, [sql]) for sql in gist), _build_indexes(dsn, rest))
        for c in constraints:
            kind = "PRIMARY KEY" if c["is_primary"] else "UNIQUE"
            await conn.execute(f'ALTER TABLE cases ADD CONSTRAINT "{c["conname"]}" {kind} USING INDEX "{c["index"]}"')
        indexed = time.monotonic()
        await conn.execute("DROP TABLE public.bench_mix, public.bench_points")
        await conn.execute("ANALYZE cases")
        log(f"dedup projection: {n:,} rows generated and vacuumed in {loaded - start:.1f} s, indexed in "
            f"{indexed - loaded:.1f} s, analysed in {time.monotonic() - indexed:.1f} s (load average "
            f"{os.getloadavg()[0]:.1f})")
    finally:
        await conn.close()
    return time.monotonic() - start


async def ensure_scratch(admin_dsn: str, database: str, n: int, mix: Sequence[str], descriptions: Sequence[str],
                         area: PointSampler) -> float | None:
    """The kept scratch `database` (on the server of `admin_dsn`), rebuilt when its fingerprint differs;
    returns the build's seconds or None when it was kept."""
    want = fingerprint(n)
    dsn = dsn_with_db(admin_dsn, database)
    try:
        conn = await asyncpg.connect(dsn)
        try:
            have = await conn.fetchval("SELECT fingerprint FROM public.bench_fingerprint")
        finally:
            await conn.close()
    except (asyncpg.InvalidCatalogNameError, asyncpg.UndefinedTableError):
        have = None
    if have == want:
        await migrate(dsn, SCHEMA, "services.dedup")  # a new migration (an index) applies to the kept rows
        return None
    admin = await asyncpg.connect(admin_dsn)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{database}"')
    finally:
        await admin.close()
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    finally:
        await conn.close()
    took = await build(dsn, n, mix, descriptions, area)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("CREATE TABLE public.bench_fingerprint (fingerprint text NOT NULL)")
        await conn.execute("INSERT INTO public.bench_fingerprint VALUES ($1)", want)
    finally:
        await conn.close()
    return took


def routed_case(code: str, lat: float, long: float, at: datetime) -> CaseRouted:
    """A `case.routed` of category `code` at the point and time, otherwise the registry's example."""
    example = dict(declaration_of(CaseRouted).example)
    example.update(case_id=str(uuid.uuid4()), lat=lat, long=long, requested_datetime=at.isoformat(),
                   routing={**example["routing"], "service_code": code}, jurisdiction_id="nyc")
    return CaseRouted.model_validate(example)


async def time_queries(dsn: str, jurisdiction: Jurisdiction, mix: Sequence[str], area: PointSampler, *, queries: int = 400,
                       warmup: int = 50, seed: int = 7) -> dict[str, Any]:
    """Time the service's candidate query for `queries` new cases (points inside `area`, categories from
    `mix`, times within the loaded span) after `warmup` untimed ones, each in its own transaction after the
    category lock as the handler runs it. Returns the latency summary (ms), the mean number of candidates and
    the slowest query's ``EXPLAIN (ANALYZE, BUFFERS)`` plan."""
    policy_for, is_fallback = jurisdiction_rules(jurisdiction)
    rng = np.random.default_rng(seed)
    pick = random.Random(seed)
    lats, longs = area.sample(queries + warmup, rng)
    conn = await connect(dsn, SCHEMA, application_name="omni311-bench-dedup")
    timings: list[float] = []
    found = 0
    slowest: tuple[float, Any] | None = None
    try:
        repo = DedupRepository(conn)
        for i in range(queries + warmup):
            at = CENTRE + timedelta(seconds=pick.uniform(-SPREAD.total_seconds(), SPREAD.total_seconds()))
            routed = routed_case(pick.choice(mix), float(lats[i]), float(longs[i]), at)
            point = Point(routed.lat, routed.long) if not is_fallback(routed.lat, routed.long) else None
            if point is None:
                continue
            search = search_for(routed, point, policy_for(routed.routing.service_code))
            async with conn.transaction():
                await repo.lock_category(search.service_code)
                t = time.perf_counter()
                candidates = await repo.candidates(search)
                took = time.perf_counter() - t
            if i < warmup:
                continue
            timings.append(took)
            found += len(candidates)
            if slowest is None or took > slowest[0]:
                slowest = (took, search)
        plan = await explain(conn, slowest[1]) if slowest is not None else ""
    finally:
        await conn.close()
    return {**latency_summary(timings), "mean_candidates": round(found / max(len(timings), 1), 2),
            "slowest_plan": plan}


async def explain(conn: asyncpg.Connection, search: Any) -> str:
    """``EXPLAIN (ANALYZE, BUFFERS)`` of the candidate query for `search`: the repository's own SQL, caught
    from a call on a recording connection."""
    recorder = _Recorder()
    await DedupRepository(recorder).candidates(search)  # type: ignore[arg-type]
    sql, args = recorder.calls[0]
    rows = await conn.fetch("EXPLAIN (ANALYZE, BUFFERS) " + sql, *args)
    return "\n".join(r[0] for r in rows)


class _Recorder:
    """Stands in for a connection and keeps the statement it is asked to run (no result)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    async def fetch(self, sql: str, *args: Any) -> list[Any]:
        self.calls.append((sql, args))
        return []


async def run(admin_dsn: str, *, cases: int = 3_000_000, queries: int = 400) -> dict[str, Any]:
    """Make sure the kept scratch projection holds `cases` NYC cases, then time `queries` candidate queries.
    Returns `time_queries`'s summary with ``cases`` and ``build_s`` (None: the kept database was used)."""
    from shared.jurisdiction import load_jurisdiction, shared_data_root
    from tools.loadgen import SAMPLE, read_sample, service_codes

    jur = load_jurisdiction("nyc")
    records = read_sample(shared_data_root().joinpath(*SAMPLE))
    mix = category_mix([r.service_name for r in records], service_codes(jur.services), jur.unclassified.service_code)
    sampler = PointSampler(boundary(jur))
    build_s = await ensure_scratch(admin_dsn, DATABASE, cases, mix, [r.description or "" for r in records], sampler)
    timed = await time_queries(dsn_with_db(admin_dsn, DATABASE), jur, mix, sampler, queries=queries)
    return {"cases": cases, "build_s": None if build_s is None else round(build_s, 1), **timed}


def main() -> None:
    """`python -m benchmarks.dedup_query [CASES]`: build (or keep) the projection and print the figures."""
    import json

    from benchmarks.stack import PG_DSN

    cases = int(sys.argv[1]) if len(sys.argv) > 1 else 3_000_000
    result = asyncio.run(run(PG_DSN, cases=cases))
    plan = result.pop("slowest_plan")
    print(json.dumps(result, indent=2))
    print(plan)


if __name__ == "__main__":
    main()
