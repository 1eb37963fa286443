"""The dashboard's and open data's reads: the date window of a request, the figures assembled from the
projection's aggregates, and the export as a stream of text chunks (CSV or GeoJSON)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from datetime import datetime
from typing import Any, Literal, Protocol

from services.insights.domain import Window, csv_header, csv_line, feature, hotspots, summary, window
from services.insights.domain.export import COLLECTION_END, COLLECTION_START
from services.insights.domain.figures import MAX_POINTS, Aggregates

ExportFormat = Literal["csv", "geojson"]


class Reads(Protocol):
    """What the queries read (`adapters.reads.InsightsReads`, or a fake in tests). Windows are `[start_at,
    end_at)` in UTC; each method may raise `asyncpg.PostgresError`/`OSError` when the database fails."""

    async def aggregates(self, win: Window, *, now: datetime) -> Aggregates:
        """Every figure of the summary for `win` (the backlog as it stands at `now`, aware UTC), from one
        snapshot."""
        ...

    async def hotspots(self, win: Window, *, service_code: str | None, limit: int) -> dict[str, Any]:
        """`points` [(lat, long)] (WGS84 degrees, newest first, at most `limit`; 0: none read), `total`
        located, `unlocated`, `districts` [(district or None, count)] and `digest` (int) of the cases requested
        in `win`, of `service_code` when given: the keywords of `domain.hotspots`."""
        ...

    def stream(self, win: Window, *, service_code: str | None, prefetch: int) -> AsyncIterator[Mapping[str, Any]]:
        """Every case requested in `win` (of `service_code` when given) as a row of the public columns, oldest
        first, `prefetch` rows held at a time."""
        ...


async def dashboard_summary(reads: Reads, *, start: str | None, end: str | None, time_zone: str, now: datetime,
                            department_names: Mapping[str, str]) -> dict[str, Any]:
    """`GET /insights/summary`: raises `InvalidWindow` for bad dates."""
    win = window(start, end, time_zone=time_zone, now=now)
    return summary(win, await reads.aggregates(win, now=now), generated_at=now, department_names=department_names)


async def dashboard_hotspots(reads: Reads, *, start: str | None, end: str | None, service_code: str | None,
                             time_zone: str, now: datetime, points: bool = True) -> dict[str, Any]:
    """`GET /insights/hotspots` (`domain.hotspots`; without `points`, only the counts and the version, for a
    client that polls): raises `InvalidWindow` for bad dates."""
    win = window(start, end, time_zone=time_zone, now=now)
    found = await reads.hotspots(win, service_code=service_code, limit=MAX_POINTS if points else 0)
    return hotspots(win, service_code=service_code, with_points=points, **found)


def export_window(start: str | None, end: str | None, *, time_zone: str, now: datetime) -> Window:
    """The window of an open-data request (`start_date`, `end_date`, local ISO dates; either may be missing
    for an open end). Raises `InvalidWindow`, naming the parameter; called before the response starts, so
    a bad request gets its 400."""
    return window(start, end, time_zone=time_zone, now=now, names=("start_date", "end_date"), open_ended=True)


async def export_chunks(reads: Reads, win: Window, *, fmt: ExportFormat, service_code: str | None,
                        prefetch: int = 500, rows_per_chunk: int = 200) -> AsyncIterator[str]:
    """The export as text chunks of about `rows_per_chunk` cases, read through the reads' cursor: a CSV with
    its header, or a GeoJSON FeatureCollection (RFC 7946). Memory holds one chunk and the cursor's
    `prefetch` rows, whatever the number of cases."""
    render: Callable[[Mapping[str, Any]], str] = csv_line if fmt == "csv" else feature
    separator = "" if fmt == "csv" else ","
    buffer: list[str] = [csv_header() if fmt == "csv" else COLLECTION_START]
    first = True
    async for row in reads.stream(win, service_code=service_code, prefetch=prefetch):
        buffer.append(render(row) if first else separator + render(row))
        first = False
        if len(buffer) >= rows_per_chunk:
            yield "".join(buffer)
            buffer = []
    if fmt == "geojson":
        buffer.append(COLLECTION_END)
    if buffer:
        yield "".join(buffer)
