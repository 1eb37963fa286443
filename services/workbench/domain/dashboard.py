"""What the managers' dashboard, the refusals page and the case page's attributes show (pure): the date
filter, the insights service's figures as tables with bars, the hotspots for the map, the refusal rows,
and a case's Open311 attributes labelled from the service definition.

Shapes read are those of docs/residents-and-insights.md ("Insights", "Abuse protection"); a figure the
answer leaves out is shown as missing, never guessed.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

DEFAULT_DAYS = 30
"""The date filter's default: the last 30 days, today included (as the insights service's default)."""
MAX_DAYS = 366
"""The longest range the filter takes (days): a year of daily rows is already a long table."""
SERVICE_COLUMNS = 5
"""Requests per day by service: the busiest services get a column each, the rest one "other" column."""
AGE_BANDS = ("0-2d", "3-7d", "8-30d", ">30d")
"""The backlog's age bands, youngest first (docs/residents-and-insights.md: 0–2 d, 3–7 d, 8–30 d, >30 d)."""
UNKNOWN = "unknown"
"""The insights service's name for a case with no district (or department) yet."""


class FilterError(ValueError):
    """A date filter that makes no range: not an ISO date, `from` after `to`, or longer than `MAX_DAYS`."""


def date_range(date_from: str | None, date_to: str | None, today: date) -> tuple[date, date]:
    """The dashboard's range (inclusive ISO dates in the jurisdiction's zone): `to` defaults to `today`,
    `from` to `DEFAULT_DAYS` days ending at `to`. Raises `FilterError` naming the bad field."""
    def parse(value: str | None, name: str) -> date | None:
        text = (value or "").strip()
        if not text:
            return None
        try:
            return date.fromisoformat(text)
        except ValueError as exc:
            raise FilterError(f"{name}: {text!r} is not a date (YYYY-MM-DD)") from exc

    end = parse(date_to, "to") or today
    start = parse(date_from, "from") or end - timedelta(days=DEFAULT_DAYS - 1)
    if start > end:
        raise FilterError(f"from ({start}) is after to ({end})")
    if (end - start).days + 1 > MAX_DAYS:
        raise FilterError(f"the range is longer than {MAX_DAYS} days")
    return start, end


# -- the figures ---------------------------------------------------------------------------------------------
@dataclass
class Bars:
    """A table whose last column is drawn as a bar: `columns` (headers after the first), `rows` of
    ``{"key", "label", "cells": [...], "total", "share"}`` where `share` is 0–100 (the row's total against
    the largest total, for the bar's width)."""

    columns: list[str] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)

    @property
    def total(self) -> int | float:
        """The sum of the rows' totals."""
        return sum(r["total"] for r in self.rows)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        n = float(value)
    except (TypeError, ValueError):
        return None
    return n if math.isfinite(n) else None


def _count(value: Any) -> int:
    n = _number(value)
    return int(n) if n is not None and n > 0 else 0


def _rows(value: Any) -> list[Mapping[str, Any]]:
    return [r for r in value if isinstance(r, Mapping)] if isinstance(value, list) else []


def _with_shares(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    top = max((r["total"] for r in rows), default=0) or 0
    for r in rows:
        r["share"] = round(100 * r["total"] / top, 1) if top else 0.0
    return rows


def per_day(days: Any, key: str, *, names: Mapping[str, str] | None = None, columns: int | None = None,
            other: str = "other") -> Bars:
    """Requests per day broken down by `key` (``by_channel`` or ``by_service``) from the summary's
    ``per_day`` (``[{"date", "total", "by_channel": {channel: n}, "by_service": {code: n}}]``): one row per
    day (oldest first), one column per value (busiest over the range first; beyond `columns`, the rest
    summed into `other`), the day's total as the bar. `names` labels the values (service code → name)."""
    table: dict[str, dict[str, int]] = {}
    for row in _rows(days):
        counts = row.get(key) if isinstance(row.get(key), Mapping) else {}
        cell = table.setdefault(str(row.get("date") or ""), {})
        for value, n in counts.items():
            cell[str(value)] = cell.get(str(value), 0) + _count(n)
    totals: dict[str, int] = {}
    for counts in table.values():
        for value, n in counts.items():
            totals[value] = totals.get(value, 0) + n
    ranked = sorted(totals, key=lambda v: (-totals[v], v))
    shown = ranked if columns is None or len(ranked) <= columns + 1 else ranked[:columns]
    rest = [v for v in ranked if v not in shown]
    heads = [(names or {}).get(v, v) for v in shown] + ([other] if rest else [])
    rows = []
    for day in sorted(table):
        counts = table[day]
        cells = [counts.get(v, 0) for v in shown] + ([sum(counts.get(v, 0) for v in rest)] if rest else [])
        rows.append({"key": day, "label": day, "cells": cells, "total": sum(counts.values())})
    return Bars(heads, _with_shares(rows))


def backlog(rows: Any, bands: Any, department_names: Mapping[str, str], band_label: Callable[[str], str]) -> Bars:
    """Open cases now by department (rows, most first) and age band (columns, in the summary's
    ``age_bands`` order, else `AGE_BANDS`) from the summary's ``backlog``
    (``[{"department", "department_name", "total", "bands": {band: n}}]``)."""
    order = [str(b) for b in bands] if isinstance(bands, list) and bands else list(AGE_BANDS)
    shown = []
    for row in _rows(rows):
        counts = row.get("bands") if isinstance(row.get("bands"), Mapping) else {}
        dep = str(row.get("department") or "")
        total = _number(row.get("total"))
        shown.append({"key": dep, "label": str(row.get("department_name") or department_names.get(dep, dep)),
                      "cells": [_count(counts.get(b)) for b in order],
                      "total": int(total) if total is not None else sum(_count(n) for n in counts.values())})
    shown.sort(key=lambda r: (-r["total"], r["label"]))
    return Bars([band_label(b) for b in order], _with_shares(shown))


def sla_compliance(rows: Any, department_names: Mapping[str, str]) -> list[dict[str, Any]]:
    """SLA compliance per department from the summary's ``sla_compliance`` (``[{"department",
    "department_name", "closed_with_due", "closed_within_due", "ratio"}]``): ``{"key", "label", "within",
    "with_due", "percent"}`` (`percent` 0–100, None when no case closed with a due time), worst first."""
    shown: list[dict[str, Any]] = []
    for row in _rows(rows):
        dep = str(row.get("department") or "")
        within, with_due = _number(row.get("closed_within_due")), _number(row.get("closed_with_due"))
        ratio = _number(row.get("ratio"))
        if ratio is None and within is not None and with_due:
            ratio = within / with_due
        shown.append({"key": dep, "label": str(row.get("department_name") or department_names.get(dep, dep)),
                      "within": int(within) if within is not None else None,
                      "with_due": int(with_due) if with_due is not None else None,
                      "percent": round(100 * ratio, 1) if ratio is not None else None})
    shown.sort(key=lambda r: (r["percent"] is None, r["percent"] if r["percent"] is not None else 0, r["label"]))
    return shown


def counted(rows: Any, key: str, names: Mapping[str, str] | None = None, *, label_key: str | None = None) -> Bars:
    """A ranking (most first) of ``{<key>, "count"}`` rows: top categories (`key` ``service_code``,
    labelled by the row's ``service_name`` or `names`), deflections (``article_id``)."""
    shown = [{"key": str(r[key]), "label": str((label_key and r.get(label_key)) or (names or {}).get(str(r[key]), r[key])),
              "cells": [], "total": _count(r.get("count"))} for r in _rows(rows) if r.get(key) is not None]
    shown.sort(key=lambda r: (-r["total"], r["label"]))
    return Bars([], _with_shares(shown))


def duration(seconds: Any, units: Mapping[str, str]) -> str | None:
    """A time to close (seconds) in the largest two units (`units` maps ``d``, ``h``, ``min`` to the
    page language's abbreviations): ``2 d 4 h``, ``3 h 12 min``, ``5 min``; None without a figure."""
    s = _number(seconds)
    if s is None or s < 0:
        return None
    minutes = int(round(s / 60))
    d, rem = divmod(minutes, 1440)
    h, m = divmod(rem, 60)
    if d:
        return f"{d} {units['d']} {h} {units['h']}" if h else f"{d} {units['d']}"
    if h:
        return f"{h} {units['h']} {m} {units['min']}" if m else f"{h} {units['h']}"
    return f"{m} {units['min']}"


def figures(summary: Mapping[str, Any], *, service_names: Mapping[str, str], department_names: Mapping[str, str],
            band_label: Callable[[str], str], other: str, units: Mapping[str, str]) -> dict[str, Any]:
    """``GET /insights/summary`` (docs/residents-and-insights.md, "Insights"; services/insights/README.md)
    ready for the templates: ``opened``, ``open_backlog`` (the ``totals``; None when absent),
    ``by_channel``, ``by_service``, ``backlog``, ``top_categories``, ``deflections`` (`Bars`), ``sla``
    (`sla_compliance`), ``median_close`` (text or None when nothing closed), ``surveys`` (``{"count",
    "mean"}``, mean None without answers)."""
    totals = summary.get("totals") if isinstance(summary.get("totals"), Mapping) else {}
    surveys = summary.get("surveys") if isinstance(summary.get("surveys"), Mapping) else {}
    mean = _number(surveys.get("mean_rating"))
    by_channel = per_day(summary.get("per_day"), "by_channel")
    board_backlog = backlog(summary.get("backlog"), summary.get("age_bands"), department_names, band_label)
    opened, open_backlog = _number(totals.get("opened")), _number(totals.get("open_backlog"))
    return {
        "opened": int(opened) if opened is not None else by_channel.total,
        "open_backlog": int(open_backlog) if open_backlog is not None else board_backlog.total,
        "by_channel": by_channel,
        "by_service": per_day(summary.get("per_day"), "by_service", names=service_names, columns=SERVICE_COLUMNS,
                              other=other),
        "backlog": board_backlog,
        "median_close": duration(summary.get("median_time_to_close_s"), units),
        "sla": sla_compliance(summary.get("sla_compliance"), department_names),
        "top_categories": counted(summary.get("top_categories"), "service_code", service_names,
                                  label_key="service_name"),
        "surveys": {"count": _count(surveys.get("count")), "mean": round(mean, 2) if mean is not None else None},
        "deflections": counted(summary.get("deflections"), "article_id", label_key="title"),
    }


# -- the hotspot map ------------------------------------------------------------------------------------------
def hotspots(raw: Mapping[str, Any], district_names: Mapping[str, str]) -> dict[str, Any]:
    """``GET /insights/hotspots`` for the map: ``points`` ([lat, long] in WGS84 degrees, malformed ones
    dropped), ``districts`` (``{"id", "name", "count"}``, most first; a case outside every district is under
    the id ``unknown``, named ``""`` for the page to say so), ``total`` (located cases in the range),
    ``truncated`` (more than the points sent), ``unlocated``, ``point_count`` (the points insights sends
    with them: insights' ``point_count``, else those given), and ``version``: insights' own (the same with
    or without points, so a poll asked with ``points=false`` can tell the page when to fetch the points),
    else a short digest of the points and counts. The page redraws the map only when it changes."""
    points = []
    for p in raw.get("points") or ():
        if isinstance(p, (list, tuple)) and len(p) >= 2:
            lat, long = _number(p[0]), _number(p[1])
            if lat is not None and long is not None and -90 <= lat <= 90 and -180 <= long <= 180:
                points.append([round(lat, 6), round(long, 6)])
    counts: dict[str, int] = {}
    for row in _rows(raw.get("districts")):
        key = str(row.get("district") or UNKNOWN)
        counts[key] = counts.get(key, 0) + _count(row.get("count"))
    districts = [{"id": k, "name": "" if k == UNKNOWN else district_names.get(k, k), "count": n}
                 for k, n in counts.items()]
    districts.sort(key=lambda d: (-d["count"], d["name"]))
    version = raw.get("version")
    if not isinstance(version, str) or not version:
        version = hashlib.sha1(json.dumps([points, sorted(counts.items())], separators=(",", ":")).encode(),
                               usedforsecurity=False).hexdigest()[:16]
    total = _number(raw.get("total"))
    sent = _number(raw.get("point_count"))
    return {"points": points, "districts": districts, "version": version,
            "total": int(total) if total is not None else len(points), "truncated": raw.get("truncated") is True,
            "unlocated": _count(raw.get("unlocated")), "point_count": int(sent) if sent is not None else len(points)}


# -- refusals -------------------------------------------------------------------------------------------------
def refusal_rows(raw: Any) -> tuple[list[dict[str, Any]], bool]:
    """intake_web's ``GET /staff/refusals`` answer (``{"since", "refusals": [{"minute", "client", "api_key",
    "route", "reason", "count", "last_at"}], "truncated"}``) as its rows, newest minute first, and whether
    it was truncated. Each row is kept as sent, with ``at`` set to its minute for showing."""
    rows = raw.get("refusals") if isinstance(raw, Mapping) else raw
    kept = [{**row, "at": row.get("minute") or row.get("last_at"), "count": _count(row.get("count", 1))}
            for row in _rows(rows)]
    kept.sort(key=lambda r: (_instant(r["at"]), _instant(r.get("last_at"))), reverse=True)
    return kept, isinstance(raw, Mapping) and raw.get("truncated") is True


def _instant(value: Any) -> float:
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return 0.0
    return value.timestamp() if isinstance(value, datetime) else 0.0


# -- the case page's attributes ------------------------------------------------------------------------------
def _get(obj: Any, name: str, default: Any = None) -> Any:
    return obj.get(name, default) if isinstance(obj, Mapping) else getattr(obj, name, default)


def case_attributes(values: Any, definitions: Iterable[Any]) -> list[dict[str, Any]]:
    """A case's Open311 attributes as ``{"code", "label", "texts": [text, ...]}``.

    The case service's staff read labels them already (``[{"code", "label", "value", "display"}]``,
    services/case/domain/staff.py `attribute_view`): kept in its order, `display` as the text. The answers
    alone (code → value or list of values, as on ``case.opened``) are labelled here from `definitions` (the
    service's ``attributes``): each with its attribute's ``description`` (Open311 GeoReport v2
    ``GET services/{code}``), a list value shown by its ``name``, in the definition's ``order``; an answer
    the definition no longer has comes last, labelled with its code."""
    if isinstance(values, list):
        return [{"code": str(a.get("code")), "label": str(a.get("label") or a.get("code")),
                 "texts": [str(a["display"])] if a.get("display") not in (None, "") else
                 [str(v) for v in (a.get("value") if isinstance(a.get("value"), list) else [a.get("value")])
                  if v not in (None, "")]}
                for a in _rows(values) if a.get("code") is not None]
    if not isinstance(values, Mapping) or not values:
        return []
    defs = {str(_get(a, "code")): a for a in definitions or () if _get(a, "code") is not None}
    shown = []
    for code, value in values.items():
        spec = defs.get(str(code))
        names = {str(_get(v, "key")): str(_get(v, "name")) for v in (_get(spec, "values") or ())} if spec else {}
        items = value if isinstance(value, (list, tuple)) else [value]
        texts = [names.get(str(v), str(v)) for v in items if v is not None and str(v) != ""]
        order = _number(_get(spec, "order")) if spec is not None else None
        shown.append({"code": str(code), "label": str(_get(spec, "description") or code) if spec else str(code),
                      "texts": texts, "_order": (spec is None, order if order is not None else math.inf)})
    shown.sort(key=lambda a: a.pop("_order"))
    return shown


def photo_urls(case: Mapping[str, Any]) -> list[str]:
    """The case's photos: its ``media_url`` (one text or a list) then its messages' ones, each once, web
    addresses (http, https) only: a ``media_url`` is the resident's own text and may be ``javascript:``."""
    found: list[str] = []

    def add(value: Any) -> None:
        for url in value if isinstance(value, (list, tuple)) else [value]:
            if isinstance(url, str) and url.lower().startswith(("https://", "http://")) and url not in found:
                found.append(url)

    add(case.get("media_url"))
    for m in case.get("messages") or ():
        if isinstance(m, Mapping):
            add(m.get("media_url"))
    return found
