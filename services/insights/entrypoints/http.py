"""Insights' HTTP routes (docs/residents-and-insights.md, "Insights"): the dashboard API for supervisors and
administrators (`/insights/summary`, `/insights/hotspots`, bearer token via `shared.auth`) and the public
open-data exports (`/open-data/cases.csv`, `/open-data/cases.geojson`), streamed and rate-limited per client
(`shared.abuse`, `OMNI311_LIMIT_READS_PER_CLIENT`: 429 with `Retry-After`). The routes find their reads,
jurisdiction and clock on `app.state.insights` (an `InsightsApi`, put there by `mount`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from services.insights.adapters.reads import InsightsReads
from services.insights.config import department_names
from services.insights.domain import InvalidWindow
from services.insights.service_layer import queries
from shared.abuse import Abuse, Limit, install, limited
from shared.auth import Principal, Role, require
from shared.jurisdiction import Jurisdiction

router = APIRouter()
open_data = APIRouter(dependencies=[Depends(limited(Limit.READS))])
"""The public exports, each request taking a `Limit.READS` slot per client, named here rather than left to
the `Abuse` routes table (which the service builds empty: the staff routes take no slot)."""

Managers = Annotated[Principal, Depends(require(Role.SUPERVISOR, Role.ADMINISTRATOR))]
ServiceCode = Annotated[str | None, Query(max_length=100, description="An Open311 service_code")]
LocalDate = Annotated[str | None, Query(max_length=40, description="ISO date (YYYY-MM-DD), local to the city")]


class _Window(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)

    start: str = Field(alias="from", description="ISO 8601, the window's first instant (local midnight)")
    end: str = Field(alias="to", description="ISO 8601, the window's end")
    time_zone: str


class DashboardSummary(_Window):
    """``GET /insights/summary`` (`domain.figures`): totals, per day, by channel and service, backlog by
    department and age band, median time to close (seconds), SLA compliance, survey ratings, deflections."""

    generated_at: str
    totals: dict[str, int]
    per_day: list[dict[str, Any]]
    by_channel: list[dict[str, Any]]
    by_service: list[dict[str, Any]]
    top_categories: list[dict[str, Any]]
    backlog: list[dict[str, Any]]
    age_bands: list[Any]
    median_time_to_close_s: float | None
    sla_compliance: list[dict[str, Any]]
    surveys: dict[str, Any]
    deflections: list[dict[str, Any]]


class Hotspots(_Window):
    """``GET /insights/hotspots``: per-district counts, a version to poll, and (``points=true``) the points as
    ``[lat, long]`` (WGS84 degrees), at most `domain.figures.MAX_POINTS`."""

    service_code: str | None
    total: int
    point_count: int
    truncated: bool
    districts: list[dict[str, Any]]
    unlocated: int
    version: str
    points: list[list[float]] | None = None


def _documented(model: Any, what: str) -> dict[str, Any]:
    """Route arguments documenting the 200 answer as `model` without filtering it: the route keeps its own
    return type (serialised as before), `model` adds the shape to the document (OpenAPI 3.1 applies both)."""
    return {"responses": {200: {"model": model, "description": what}}}


def _streamed(media_type: str, what: str) -> dict[str, Any]:
    return {"response_class": StreamingResponse,
            "responses": {200: {"description": what, "content": {media_type: {"schema": {"type": "string"}}}}}}


@dataclass(frozen=True)
class InsightsApi:
    """What the routes use: `reads()` the projection's reads (on the service's pool, opened at start),
    `export_reads()` those the exports stream from (on a pool of their own), `jurisdiction()` the loaded jurisdiction, `now()` the clock (aware UTC) and `prefetch` the open-data
    cursor's rows at a time. Each is called per request; before the service started they raise (500)."""

    reads: Callable[[], InsightsReads]
    export_reads: Callable[[], InsightsReads]
    jurisdiction: Callable[[], Jurisdiction]
    now: Callable[[], datetime]
    prefetch: int = 500


def mount(app: FastAPI, api: InsightsApi, abuse: Abuse) -> None:
    """Serve the routes on `app` with `api`, the open-data routes behind `abuse`'s limits (every GET takes
    a slot of `Limit.READS` per client; bodies over the limit get 413). The dashboard routes need a token
    verifier on the app (`shared.auth.install_auth`)."""
    app.state.insights = api
    install(app, abuse)
    app.include_router(router)
    app.include_router(open_data)


def _api(request: Request) -> InsightsApi:
    return request.app.state.insights


def _service_code(api: InsightsApi, code: str | None) -> str | None:
    """The code asked for, or 400 when the jurisdiction has no such service (nothing would ever match)."""
    if code is None or not code.strip():
        return None
    jur = api.jurisdiction()
    if jur.service(code) is None and jur.unclassified.service_code != code:
        raise HTTPException(400, f"service_code {code[:100]!r} is not a service of {jur.id}")
    return code


def _bad_window(exc: InvalidWindow) -> HTTPException:
    return HTTPException(400, str(exc))


@router.get("/insights/summary", **_documented(DashboardSummary, "The dashboard's figures"))
async def insights_summary(request: Request, _who: Managers, start: Annotated[LocalDate, Query(alias="from")] = None,
                           end: Annotated[LocalDate, Query(alias="to")] = None) -> dict[str, Any]:
    """The dashboard's figures for `from`..`to` (default the last 30 days); 400 for a bad date."""
    api = _api(request)
    jur = api.jurisdiction()
    try:
        return await queries.dashboard_summary(api.reads(), start=start, end=end, time_zone=jur.timezone,
                                               now=api.now(), department_names=department_names(jur))
    except InvalidWindow as exc:
        raise _bad_window(exc) from None


@router.get("/insights/hotspots", **_documented(Hotspots, "Points and per-district counts"))
async def insights_hotspots(request: Request, _who: Managers, start: Annotated[LocalDate, Query(alias="from")] = None,
                            end: Annotated[LocalDate, Query(alias="to")] = None,
                            service_code: ServiceCode = None, points: bool = True) -> dict[str, Any]:
    """Points, per-district counts and a version for `from`..`to` (and `service_code`); `points=false`: the
    counts and version only (cheap to poll); 400 for a bad date or code."""
    api = _api(request)
    code = _service_code(api, service_code)
    try:
        return await queries.dashboard_hotspots(api.reads(), start=start, end=end, service_code=code,
                                                time_zone=api.jurisdiction().timezone, now=api.now(), points=points)
    except InvalidWindow as exc:
        raise _bad_window(exc) from None


def _export(request: Request, fmt: queries.ExportFormat, start: str | None, end: str | None,
            service_code: str | None) -> StreamingResponse:
    api = _api(request)
    code = _service_code(api, service_code)
    try:
        win = queries.export_window(start, end, time_zone=api.jurisdiction().timezone, now=api.now())
    except InvalidWindow as exc:
        raise _bad_window(exc) from None
    chunks = queries.export_chunks(api.export_reads(), win, fmt=fmt, service_code=code, prefetch=api.prefetch)
    media = "text/csv; charset=utf-8" if fmt == "csv" else "application/geo+json"
    return StreamingResponse((c.encode("utf-8") async for c in chunks), media_type=media,
                             headers={"Content-Disposition": f'attachment; filename="cases.{fmt}"',
                                      "Cache-Control": "public, max-age=60"})


@open_data.get("/open-data/cases.csv", **_streamed("text/csv", "The cases as CSV (RFC 4180), public fields"))
async def open_data_csv(request: Request, start_date: LocalDate = None, end_date: LocalDate = None,
                        service_code: ServiceCode = None) -> StreamingResponse:
    """Every case requested from `start_date` to `end_date` (inclusive, local; either may be missing), public
    fields only, as CSV (RFC 4180), streamed; 400 for a bad date or code, 429 over the read limit."""
    return _export(request, "csv", start_date, end_date, service_code)


@open_data.get("/open-data/cases.geojson",
               **_streamed("application/geo+json", "The cases as a GeoJSON FeatureCollection (RFC 7946)"))
async def open_data_geojson(request: Request, start_date: LocalDate = None, end_date: LocalDate = None,
                            service_code: ServiceCode = None) -> StreamingResponse:
    """The same cases as a GeoJSON FeatureCollection (RFC 7946; a case without a point has `geometry`
    null), streamed; 400 for a bad date or code, 429 over the read limit."""
    return _export(request, "geojson", start_date, end_date, service_code)
