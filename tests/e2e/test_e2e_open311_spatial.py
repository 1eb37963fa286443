"""Open311 GET requests with the omni311 spatial filters on replayed real NYC records: a bounding box and a
point with a radius each return exactly the service_request_ids that PostGIS itself finds inside, asked by
this test of the case schema from the cases' own lat/long (not through the service's generated column)."""

from __future__ import annotations

import csv
import statistics
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from shared.open311 import parse_requests
from shared.settings import Settings
from support.data import shared_data
from support.infra import check_kafka, check_postgres
from support.stack import Stack
from tools.replay.cli import replay

RECORDS = 100


@pytest.fixture(scope="module")
async def spatial_stack(test_issuer) -> AsyncIterator[Stack]:
    """New York City with the services a structured replay settles on (intake_web, case, router), the replay's keys, and
    no per-client report limit in the way of a replay from one address."""
    await check_kafka()
    await check_postgres()
    stack = Stack(jurisdiction="nyc", services=("case", "router", "intake_web"),
                  extra_env={"OMNI311_OPEN311_API_KEYS": '["replay-a"]',
                             "OMNI311_LIMIT_REPORTS_PER_CLIENT": "100000/minute",
                             "OMNI311_LIMIT_REPORTS_PER_API_KEY": "100000/minute",
                             "OMNI311_LIMIT_READS_PER_CLIENT": "100000/minute"} | test_issuer.env())
    await stack.up()
    try:
        yield stack
    finally:
        await stack.down()


def with_points(source: Path, target: Path, n: int) -> Path:
    """The first `n` records of the NYC export that carry coordinates (many 2011 ones do not, and a case
    without a point is in no box), written as a CSV of the same columns at `target`."""
    with source.open(newline="", encoding="utf-8") as f, target.open("w", newline="", encoding="utf-8") as out:
        reader = csv.DictReader(f)
        writer = csv.DictWriter(out, fieldnames=reader.fieldnames or [])
        writer.writeheader()
        kept = 0
        for row in reader:
            if row["Latitude"].strip() and row["Longitude"].strip() and kept < n:
                writer.writerow(row)
                kept += 1
    assert kept == n, f"only {kept} records with coordinates"
    return target


async def test_a_box_and_a_radius_return_exactly_the_cases_postgis_finds_inside(spatial_stack: Stack,
                                                                                tmp_path: Path) -> None:
    path = with_points(shared_data() / "311_records" / "nyc311_2011_sample_1000.csv", tmp_path / "nyc.csv", RECORDS)
    report = await replay(path, base_url=spatial_stack.url("intake_web"), modes=["structured"], api_key="replay-a",
                          settings=Settings(topic_prefix=spatial_stack.topic_prefix), concurrency=8,
                          settle_timeout=60, quiet_s=2.0, limit=RECORDS, progress=False)
    assert report["per_mode"]["structured"]["cases_opened"] >= RECORDS * 0.8, report["per_mode"]

    conn = await spatial_stack.case_db()
    try:
        points = await conn.fetch("SELECT lat, long FROM cases WHERE lat IS NOT NULL AND long IS NOT NULL")
        assert len(points) >= RECORDS * 0.9
        # Centred on the replayed cases themselves, so both filters cut through the data.
        lat0 = statistics.median(p["lat"] for p in points)
        long0 = statistics.median(p["long"] for p in points)
        west, south, east, north = long0 - 0.06, lat0 - 0.05, long0 + 0.04, lat0 + 0.03
        radius = 5000.0
        in_box = {r[0] for r in await conn.fetch(
            "SELECT service_request_id FROM cases WHERE ST_Intersects(ST_SetSRID(ST_MakePoint(long, lat), 4326), "
            "ST_MakeEnvelope($1, $2, $3, $4, 4326))", west, south, east, north)}
        in_circle = {r[0] for r in await conn.fetch(
            "SELECT service_request_id FROM cases WHERE ST_DWithin("
            "ST_SetSRID(ST_MakePoint(long, lat), 4326)::geography, ST_SetSRID(ST_MakePoint($1, $2), 4326)::geography, $3)",
            long0, lat0, radius)}
    finally:
        await conn.close()
    assert 0 < len(in_box) < len(points) and 0 < len(in_circle) < len(points), (len(in_box), len(in_circle))

    async with httpx.AsyncClient(base_url=spatial_stack.url("intake_web"), timeout=30) as web:
        box = {"bbox": f"{west!r},{south!r},{east!r},{north!r}"}
        near = {"lat": repr(lat0), "long": repr(long0), "radius": repr(radius)}
        answers = {}
        for name, params in (("box", box), ("circle", near), ("both", box | near)):
            for fmt in ("json", "xml"):
                r = await web.get(f"/requests.{fmt}", params=params)
                assert r.status_code == 200, r.text
                answers[name, fmt] = {req.service_request_id for req in parse_requests(r.content, fmt)}
        refused = await web.get("/requests.json", params={"lat": repr(lat0), "long": repr(long0), "radius": "0"})

    for fmt in ("json", "xml"):
        assert answers["box", fmt] == in_box
        assert answers["circle", fmt] == in_circle
        assert answers["both", fmt] == in_box & in_circle
    assert refused.status_code == 400 and "radius" in refused.json()[0]["description"]
