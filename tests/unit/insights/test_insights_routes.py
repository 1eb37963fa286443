"""Insights' HTTP routes in process, on fake reads: the dashboard answers supervisors and administrators
only (401, 403), bad dates and unknown categories get 400 naming them, the exports stream with their media
types, and a client over its read limit gets 429 with Retry-After while another client still reads."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from services.insights.domain import Window
from services.insights.domain.figures import Aggregates
from services.insights.entrypoints import http
from shared.abuse import Abuse, RefusalRecorder
from shared.auth import install_auth
from shared.jurisdiction import load_jurisdiction

NOW = datetime(2026, 3, 10, 15, tzinfo=UTC)


class FakeReads:
    def __init__(self) -> None:
        self.windows: list[Window] = []
        self.limits: list[int] = []

    async def aggregates(self, win: Window, *, now: datetime) -> Aggregates:
        self.windows.append(win)
        return Aggregates(per_day=[(win.start, "web", "pothole", 2)], service_names={"pothole": "Pothole"},
                          backlog=[("public-works", "0-2d", 2)])

    async def hotspots(self, win: Window, *, service_code: str | None, limit: int) -> dict[str, Any]:
        self.windows.append(win)
        self.limits.append(limit)
        return {"points": [(45.42, -75.69)][:limit], "total": 1, "unlocated": 0, "districts": [("D1", 1)],
                "digest": 3}

    async def stream(self, win: Window, *, service_code: str | None, prefetch: int) -> AsyncIterator[Mapping[str, Any]]:
        self.windows.append(win)
        yield {"service_request_id": "DEMO-26-000001", "service_code": service_code or "pothole",
               "service_name": "Pothole", "status": "open", "status_notes": None, "agency_responsible": "Public Works",
               "requested_at": NOW, "updated_at": NOW, "closed_at": None, "address": "1 Main St", "lat": 45.42,
               "long": -75.69, "description": "deep [phone]", "channel": "web"}


@pytest.fixture
def app(test_issuer) -> tuple[FastAPI, FakeReads]:
    reads = FakeReads()
    settings = test_issuer.settings(limit_reads_per_client="3/minute")
    a = FastAPI()
    install_auth(a, test_issuer.verifier())
    abuse = Abuse.from_settings(settings, RefusalRecorder(CollectorRegistry(), service="insights"), clock=lambda: NOW,
                                routes={})
    jur = load_jurisdiction("demo")
    http.mount(a, http.InsightsApi(reads=lambda: reads, export_reads=lambda: reads, jurisdiction=lambda: jur, now=lambda: NOW), abuse)
    return a, reads


def client(app: FastAPI, peer: str = "203.0.113.7") -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(peer, 5000)), base_url="http://insights")


async def test_the_dashboard_answers_supervisors_and_administrators_only(app, test_issuer) -> None:
    a, reads = app
    async with client(a) as c:
        assert (await c.get("/insights/summary")).status_code == 401
        assert (await c.get("/insights/summary", headers=test_issuer.headers("department_staff"))).status_code == 403
        assert (await c.get("/insights/hotspots", headers=test_issuer.headers("call_agent"))).status_code == 403
        ok = await c.get("/insights/summary", params={"from": "2026-03-01", "to": "2026-03-02"},
                         headers=test_issuer.headers("supervisor"))
        hot = await c.get("/insights/hotspots", params={"service_code": "pothole"},
                          headers=test_issuer.headers("administrator"))
    assert ok.status_code == 200 and hot.status_code == 200
    body = ok.json()
    assert (body["from"], body["to"], body["totals"]["opened"]) == ("2026-03-01", "2026-03-02", 2)
    assert body["backlog"][0]["department_name"] != "public-works"  # the jurisdiction's name for it
    assert hot.json()["points"] == [[45.42, -75.69]] and hot.json()["service_code"] == "pothole"
    assert reads.windows[-1].end == date(2026, 3, 10)  # today in the city by default


async def test_hotspots_without_points_read_none_and_carry_the_same_version(app, test_issuer) -> None:
    a, reads = app
    async with client(a) as c:
        full = await c.get("/insights/hotspots", headers=test_issuer.headers("supervisor"))
        light = await c.get("/insights/hotspots", params={"points": "false"}, headers=test_issuer.headers("supervisor"))
    assert full.status_code == light.status_code == 200
    assert full.json()["points"] == [[45.42, -75.69]] and "points" not in light.json()
    assert light.json()["version"] == full.json()["version"] and light.json()["point_count"] == 1
    assert reads.limits[-1] == 0  # not one point was read for the poll


@pytest.mark.parametrize(("path", "params", "named"), [
    ("/insights/summary", {"from": "2026-02-30"}, "from"),
    ("/insights/summary", {"from": "2026-03-05", "to": "2026-03-01"}, "to"),
    ("/insights/hotspots", {"service_code": "no-such-thing"}, "service_code"),
    ("/open-data/cases.csv", {"start_date": "March 1"}, "start_date"),
    ("/open-data/cases.geojson", {"end_date": "2026-13-01"}, "end_date"),
    ("/open-data/cases.csv", {"end_date": "9999-12-31"}, "end_date"),  # was an OverflowError: 500
    ("/open-data/cases.geojson", {"start_date": "0001-01-01"}, "start_date"),
    ("/insights/summary", {"to": "9999-12-31"}, "to"),
    ("/insights/summary", {"to": "0001-01-05"}, "to"),
    ("/insights/hotspots", {"to": "9999-12-31"}, "to"),
    ("/insights/hotspots", {"from": "2101-01-01", "to": "2101-01-02"}, "from"),
])
async def test_bad_parameters_get_400_naming_them(app, test_issuer, path: str, params: dict[str, str],
                                                  named: str) -> None:
    async with client(app[0]) as c:
        r = await c.get(path, params=params, headers=test_issuer.headers("supervisor"))
    assert r.status_code == 400 and named in r.json()["detail"]


async def test_the_exports_stream_csv_and_geojson(app) -> None:
    async with client(app[0]) as c:
        csv_r = await c.get("/open-data/cases.csv", params={"start_date": "2026-03-01", "service_code": "pothole"})
        geo = await c.get("/open-data/cases.geojson")
    assert csv_r.headers["content-type"].startswith("text/csv") and "attachment" in csv_r.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(csv_r.text, newline="")))
    assert [r["service_request_id"] for r in rows] == ["DEMO-26-000001"] and rows[0]["description"] == "deep [phone]"
    assert geo.headers["content-type"] == "application/geo+json"
    assert geo.json()["features"][0]["geometry"]["coordinates"] == [-75.69, 45.42]
    assert app[1].windows[0].start == date(2026, 3, 1) and app[1].windows[1].start.year == 1900


async def test_a_client_over_its_read_limit_gets_429_and_another_still_reads(app) -> None:
    async with client(app[0]) as greedy, client(app[0], "198.51.100.9") as other:
        codes = [(await greedy.get("/open-data/cases.csv")).status_code for _ in range(4)]
        refused = await greedy.get("/open-data/cases.geojson")
        assert (await other.get("/open-data/cases.geojson")).status_code == 200
    assert codes == [200, 200, 200, 429] and refused.status_code == 429
    assert int(refused.headers["Retry-After"]) >= 1


async def test_the_exports_take_a_read_slot_whatever_the_abuse_routes_table_says(test_issuer) -> None:
    """The routes name their limit (`limited(Limit.READS)`): a routes table that lists no limit for them
    (as one built for another service might) does not unthrottle the exports."""
    reads = FakeReads()
    a = FastAPI()
    install_auth(a, test_issuer.verifier())
    abuse = Abuse.from_settings(test_issuer.settings(limit_reads_per_client="2/minute"),
                                RefusalRecorder(CollectorRegistry(), service="insights"), clock=lambda: NOW,
                                routes={"GET /open-data/cases.csv": (), "GET /open-data/cases.geojson": ()})
    jur = load_jurisdiction("demo")
    http.mount(a, http.InsightsApi(reads=lambda: reads, export_reads=lambda: reads, jurisdiction=lambda: jur,
                                   now=lambda: NOW), abuse)
    async with client(a) as c:
        codes = [(await c.get("/open-data/cases.csv")).status_code for _ in range(3)]
    assert codes == [200, 200, 429]
