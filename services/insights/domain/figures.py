"""The dashboard's figures (docs/residents-and-insights.md, "Insights"): the date window of a request, age
bands, and the JSON of `/insights/summary` and `/insights/hotspots` assembled from the projection's
aggregates. Dates are the jurisdiction's local dates; instants are aware UTC; durations are seconds."""

from __future__ import annotations

import hashlib

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

AGE_BANDS = ("0-2d", "3-7d", "8-30d", ">30d")
"""Backlog age bands, by whole days since the case was requested."""
BAND_EDGES_S = (3 * 86400, 8 * 86400, 31 * 86400)
"""Upper bounds (exclusive, seconds of age) of the first three bands: 0–2 d, 3–7 d, 8–30 d; the rest is >30 d."""
UNKNOWN = "unknown"
"""The label of a case with no department, district or channel (not routed yet, not located)."""
UNCLASSIFIED = "unclassified"
"""The label of a case with no category yet."""
DEFAULT_DAYS = 30
MAX_DAYS = 3700
"""The longest window asked for, in days (about ten years: `per_day` stays a readable size)."""
FIRST_YEAR, LAST_YEAR = 1990, 2100
"""The years a date parameter may name: outside them a date is a 400, not an `OverflowError` (500) when a
day is added to 9999-12-31 or thirty taken from 0001-01-05."""
TOP_CATEGORIES = 10
MAX_POINTS = 20_000


class InvalidWindow(ValueError):
    """A date parameter that is not an ISO date or not in `FIRST_YEAR`..`LAST_YEAR`, or a window that ends
    before it starts or is too long; the message names the parameter."""


@dataclass(frozen=True)
class Window:
    """Local dates `start`..`end` (inclusive) in `time_zone`, and the UTC instants `start_at` (inclusive) and
    `end_at` (exclusive) they cover."""

    start: date
    end: date
    time_zone: str
    start_at: datetime
    end_at: datetime

    def days(self) -> list[date]:
        """Every local date of the window, `start` to `end` inclusive, oldest first (one per day even on a
        day of 23 or 25 hours)."""
        return [self.start + timedelta(days=i) for i in range((self.end - self.start).days + 1)]


def _date(value: str | None, name: str) -> date | None:
    if value is None or not value.strip():
        return None
    try:
        parsed = date.fromisoformat(value.strip())
    except ValueError:
        raise InvalidWindow(f"{name} must be an ISO date (YYYY-MM-DD), got {value[:40]!r}") from None
    if not FIRST_YEAR <= parsed.year <= LAST_YEAR:
        raise InvalidWindow(f"{name} must be a date from {FIRST_YEAR} to {LAST_YEAR}, got {parsed.isoformat()}")
    return parsed


def window(start: str | None, end: str | None, *, time_zone: str, now: datetime, default_days: int = DEFAULT_DAYS,
           names: tuple[str, str] = ("from", "to"), open_ended: bool = False) -> Window:
    """The window of `start`..`end` (ISO dates, inclusive, local to `time_zone`). Missing `end`: today
    (local, at `now`); missing `start`: `default_days` days up to `end`. With `open_ended` (open data), a
    missing bound is unbounded instead (the first and last representable dates). Raises `InvalidWindow`
    (naming the parameter, `names`) for a malformed date, a year outside `FIRST_YEAR`..`LAST_YEAR`, an end
    before the start or, when both ends are bounded by the caller's defaults, more than `MAX_DAYS` days."""
    tz = ZoneInfo(time_zone)
    first, last = _date(start, names[0]), _date(end, names[1])
    if open_ended:
        first, last = first or date(1900, 1, 1), last or date(9998, 12, 31)
    else:
        last = last or now.astimezone(tz).date()
        first = first or last - timedelta(days=default_days - 1)
        if (last - first).days + 1 > MAX_DAYS:
            raise InvalidWindow(f"{names[0]}..{names[1]} spans more than {MAX_DAYS} days")
    if last < first:
        raise InvalidWindow(f"{names[1]} ({last}) is before {names[0]} ({first})")

    def instant(d: date) -> datetime:
        return datetime.combine(d, time(0), tz).astimezone(UTC)

    return Window(start=first, end=last, time_zone=time_zone, start_at=instant(first),
                  end_at=instant(last + timedelta(days=1)))


def age_band(age_s: float) -> str:
    """The backlog band of a case `age_s` seconds old (the SQL uses the same `BAND_EDGES_S`)."""
    for band, edge in zip(AGE_BANDS, BAND_EDGES_S, strict=False):
        if age_s < edge:
            return band
    return AGE_BANDS[-1]


@dataclass(frozen=True)
class Aggregates:
    """What the projection counted for a window.

    `per_day`: (local date, channel, service_code, count) of cases requested in the window; `service_names`:
    service_code → name; `backlog`: (department, age band, count) of the cases open now; `closed`: cases
    closed in the window; `median_close_s`: median seconds from request to close of those (merged duplicates
    left out), None when none; `sla`: (department, closed with a due time, closed
    without a `case.sla_breached`) of those;
    `surveys`: (count, mean rating or None) answered in the window; `deflections`: (article_id, count)."""

    per_day: Sequence[tuple[date, str | None, str | None, int]] = ()
    service_names: Mapping[str, str] = field(default_factory=dict)
    backlog: Sequence[tuple[str | None, str, int]] = ()
    closed: int = 0
    median_close_s: float | None = None
    sla: Sequence[tuple[str | None, int, int]] = ()
    surveys: tuple[int, float | None] = (0, None)
    deflections: Sequence[tuple[str, int]] = ()


def _desc(counts: Mapping[str, int]) -> list[tuple[str, int]]:
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))


def summary(win: Window, agg: Aggregates, *, generated_at: datetime,
            department_names: Mapping[str, str]) -> dict[str, Any]:
    """The JSON of `GET /insights/summary` (shape on docs/residents-and-insights.md): every day of the
    window (zero days included), counts by channel and service, the backlog by department and age band,
    median time to close, SLA compliance per department (ratio None when nothing closed had a due time),
    top categories, surveys and deflections."""
    days: dict[date, dict[str, Any]] = {d: {"total": 0, "by_channel": defaultdict(int), "by_service": defaultdict(int)}
                                        for d in win.days()}
    by_channel: dict[str, int] = defaultdict(int)
    by_service: dict[str, int] = defaultdict(int)
    for day, channel, code, n in agg.per_day:
        ch, sc = channel or UNKNOWN, code or UNCLASSIFIED
        slot = days.get(day)
        if slot is not None:
            slot["total"] += n
            slot["by_channel"][ch] += n
            slot["by_service"][sc] += n
        by_channel[ch] += n
        by_service[sc] += n
    services = [{"service_code": c, "service_name": agg.service_names.get(c, c), "count": n}
                for c, n in _desc(by_service)]
    backlog: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(AGE_BANDS, 0))
    for dept, band, n in agg.backlog:
        backlog[dept or UNKNOWN][band] += n
    backlog_rows = sorted(({"department": d, "department_name": department_names.get(d, d),
                            "total": sum(b.values()), "bands": b} for d, b in backlog.items()),
                          key=lambda r: (-r["total"], r["department"]))
    sla = sorted(({"department": d or UNKNOWN, "department_name": department_names.get(d or UNKNOWN, d or UNKNOWN),
                   "closed_with_due": with_due, "closed_within_due": within,
                   "ratio": round(within / with_due, 4) if with_due else None}
                  for d, with_due, within in agg.sla), key=lambda r: r["department"])
    count, mean = agg.surveys
    return {
        "from": win.start.isoformat(), "to": win.end.isoformat(), "time_zone": win.time_zone,
        "generated_at": generated_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "totals": {"opened": sum(by_channel.values()), "closed": agg.closed,
                   "open_backlog": sum(r["total"] for r in backlog_rows)},
        "per_day": [{"date": d.isoformat(), "total": s["total"], "by_channel": dict(s["by_channel"]),
                     "by_service": dict(s["by_service"])} for d, s in days.items()],
        "by_channel": [{"channel": c, "count": n} for c, n in _desc(by_channel)],
        "by_service": services,
        "top_categories": services[:TOP_CATEGORIES],
        "backlog": backlog_rows,
        "age_bands": list(AGE_BANDS),
        "median_time_to_close_s": agg.median_close_s,
        "sla_compliance": sla,
        "surveys": {"count": count, "mean_rating": round(mean, 2) if mean is not None and count else None},
        "deflections": [{"article_id": a, "count": n} for a, n in _desc(dict(agg.deflections))],
    }


def hotspots(win: Window, *, service_code: str | None, points: Sequence[tuple[float, float]], total: int,
             districts: Sequence[tuple[str | None, int]], unlocated: int, digest: int,
             with_points: bool = True) -> dict[str, Any]:
    """The JSON of `GET /insights/hotspots`: `points` [lat, long] newest first (at most `MAX_POINTS`; `total`
    is how many located cases the window holds; left out when not `with_points`), `point_count` (how many
    points the full answer holds), counts per district (None → ``unknown``), how many cases had no point,
    and `version`: 16 hex digits from the counts and `digest` (the reads' sum of a hash of every case's point
    and district), the same with or without points, which changes when the map's data does; a client polls
    without points and asks for them only when the version changes."""
    counts: dict[str, int] = defaultdict(int)
    for d, n in districts:
        counts[d or UNKNOWN] += n
    sent = min(len(points), MAX_POINTS) if with_points else min(total, MAX_POINTS)
    version = hashlib.sha1(f"{total}:{unlocated}:{digest}".encode(), usedforsecurity=False).hexdigest()[:16]
    found: dict[str, Any] = {
        "from": win.start.isoformat(), "to": win.end.isoformat(), "service_code": service_code,
        "time_zone": win.time_zone, "total": total, "point_count": sent, "truncated": total > sent,
        "districts": [{"district": d, "count": n} for d, n in _desc(counts)], "unlocated": unlocated,
        "version": version,
    }
    if with_points:
        found["points"] = [[lat, long] for lat, long in points[:MAX_POINTS]]
    return found
