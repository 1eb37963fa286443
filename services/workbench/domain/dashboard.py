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


def _with_shares(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    top = max((r["total"] for r in rows), default=0) or 0
    for r in rows:
        r["share"] = round(100 * r["total"] / top, 1) if top else 0.0
    return rows


def _pairs(raw: Any, key: str) -> Iterable[tuple[str, Mapping[str, Any]]]:
    """``(day, {<key value>: count})`` from either shape the summary may use for a per-day breakdown: a list
    of rows ``{"date", <key>, "count"}`` / ``{"date", "counts": {...}}``, or an object day → {value: count}."""
    if isinstance(raw, Mapping):
        for day, counts in raw.items():
            if isinstance(counts, Mapping):
                yield str(day), counts
        return
    for row in raw if isinstance(raw, list) else ():
        if not isinstance(row, Mapping):
            continue
        day = str(row.get("date") or row.get("day") or "")
        if isinstance(row.get("counts"), Mapping):
            yield day, row["counts"]
        elif row.get(key) is not None:
            yield day, {str(row[key]): row.get("count")}


def per_day(raw: Any, key: str, *, names: Mapping[str, str] | None = None, columns: int | None = None,
            other: str = "other") -> Bars:
    """Requests per day broken down by `key` (``channel`` or ``service_code``): one row per day (oldest
    first), one column per value (busiest first; beyond `columns`, the rest summed into `other`), the
    day's total as the bar. `names` labels the values (service code → name)."""
    days: dict[str, dict[str, int]] = {}
    for day, counts in _pairs(raw, key):
        cell = days.setdefault(day, {})
        for value, n in counts.items():
            cell[str(value)] = cell.get(str(value), 0) + _count(n)
    totals: dict[str, int] = {}
    for counts in days.values():
        for value, n in counts.items():
            totals[value] = totals.get(value, 0) + n
    ranked = sorted(totals, key=lambda v: (-totals[v], v))
    shown = ranked if columns is None or len(ranked) <= columns + 1 else ranked[:columns]
    rest = [v for v in ranked if v not in shown]
    heads = [(names or {}).get(v, v) for v in shown] + ([other] if rest else [])
    rows = []
    for day in sorted(days):
        counts = days[day]
        cells = [counts.get(v, 0) for v in shown] + ([sum(counts.get(v, 0) for v in rest)] if rest else [])
        rows.append({"key": day, "label": day, "cells": cells, "total": sum(counts.values())})
    return Bars(heads, _with_shares(rows))


def backlog(raw: Any, department_names: Mapping[str, str], band_label: Callable[[str], str]) -> Bars:
    """Open cases by department (rows, most first) and age band (columns, `AGE_BANDS` order, others
    after): a list of ``{"department", "age_band", "count"}`` or an object department → {band: count}."""
    table: dict[str, dict[str, int]] = {}
    if isinstance(raw, Mapping):
        for dep, bands in raw.items():
            if isinstance(bands, Mapping):
                table[str(dep)] = {str(b): _count(n) for b, n in bands.items()}
    elif isinstance(raw, list):
        for row in raw:
            if isinstance(row, Mapping) and row.get("department") is not None:
                bands = table.setdefault(str(row["department"]), {})
                band = str(row.get("age_band") or row.get("band") or "")
                bands[band] = bands.get(band, 0) + _count(row.get("count"))
    seen = {b for bands in table.values() for b in bands}
    known = [b for b in AGE_BANDS if b in seen]
    order = list(AGE_BANDS) + sorted(seen - set(AGE_BANDS)) if known or not seen else sorted(seen)
    rows = [{"key": dep, "label": department_names.get(dep, dep), "cells": [bands.get(b, 0) for b in order],
             "total": sum(bands.values())} for dep, bands in table.items()]
    rows.sort(key=lambda r: (-r["total"], r["label"]))
    return Bars([band_label(b) for b in order], _with_shares(rows))


def sla_compliance(raw: Any, department_names: Mapping[str, str]) -> list[dict[str, Any]]:
    """SLA compliance per department: ``{"key", "label", "within", "with_due", "percent"}`` (`percent`
    0–100, None when no case closed with a due time), worst first. Reads rows with ``closed_within_due``
    and ``closed_with_due`` (or ``ratio``), as a list of rows or an object department → row/ratio."""
    rows: list[dict[str, Any]] = []
    items: Iterable[tuple[str, Any]]
    if isinstance(raw, Mapping):
        items = ((str(k), v) for k, v in raw.items())
    else:
        items = ((str(r.get("department")), r) for r in raw or () if isinstance(r, Mapping) and r.get("department"))
    for dep, row in items:
        fields = row if isinstance(row, Mapping) else {"ratio": row}
        within = _number(fields.get("closed_within_due", fields.get("within_due")))
        with_due = _number(fields.get("closed_with_due", fields.get("with_due")))
        ratio = _number(fields.get("ratio", fields.get("compliance")))
        if ratio is None and within is not None and with_due:
            ratio = within / with_due
        rows.append({"key": dep, "label": department_names.get(dep, dep),
                     "within": int(within) if within is not None else None,
                     "with_due": int(with_due) if with_due is not None else None,
                     "percent": round(100 * ratio, 1) if ratio is not None else None})
    rows.sort(key=lambda r: (r["percent"] is None, r["percent"] if r["percent"] is not None else 0, r["label"]))
    return rows


def counted(raw: Any, key: str, names: Mapping[str, str] | None = None, *, label_key: str | None = None) -> Bars:
    """A ranking (most first) of ``{<key>, "count"}`` rows or an object value → count: top categories
    (`key` ``service_code``, labelled by `names` or the row's `label_key`), deflections (``article_id``)."""
    rows: list[dict[str, Any]] = []
    if isinstance(raw, Mapping):
        pairs = [(str(k), v, None) for k, v in raw.items()]
    else:
        pairs = [(str(r.get(key)), r.get("count"), r.get(label_key) if label_key else None)
                 for r in raw or () if isinstance(r, Mapping) and r.get(key) is not None]
    for value, n, label in pairs:
        rows.append({"key": value, "label": str(label or (names or {}).get(value, value)), "cells": [],
                     "total": _count(n)})
    rows.sort(key=lambda r: (-r["total"], r["label"]))
    return Bars([], _with_shares(rows))


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


def _first(raw: Mapping[str, Any], *keys: str) -> Any:
    for k in keys:
        if raw.get(k) is not None:
            return raw[k]
    return None


def figures(summary: Mapping[str, Any], *, service_names: Mapping[str, str], department_names: Mapping[str, str],
            band_label: Callable[[str], str], other: str, units: Mapping[str, str]) -> dict[str, Any]:
    """The summary's figures ready for the templates: ``by_channel``, ``by_service``, ``backlog``,
    ``top_categories``, ``deflections`` (`Bars`), ``sla`` (`sla_compliance`), ``median_close`` (text or
    None), ``surveys`` (``{"count", "mean"}``)."""
    per_day_raw = summary.get("requests_per_day")
    per_day_raw = per_day_raw if isinstance(per_day_raw, Mapping) else {}
    channel_raw = _first(per_day_raw, "by_channel") or summary.get("requests_per_day_by_channel")
    service_raw = _first(per_day_raw, "by_service") or summary.get("requests_per_day_by_service")
    surveys = summary.get("surveys") if isinstance(summary.get("surveys"), Mapping) else {}
    mean = _number(_first(surveys, "mean_rating", "mean") if surveys else summary.get("survey_mean_rating"))
    return {
        "by_channel": per_day(channel_raw, "channel"),
        "by_service": per_day(service_raw, "service_code", names=service_names, columns=SERVICE_COLUMNS, other=other),
        "backlog": backlog(summary.get("backlog"), department_names, band_label),
        "median_close": duration(_first(summary, "median_time_to_close_s", "median_time_to_close_seconds",
                                        "median_time_to_close"), units),
        "sla": sla_compliance(summary.get("sla_compliance"), department_names),
        "top_categories": counted(summary.get("top_categories"), "service_code", service_names,
                                  label_key="service_name"),
        "surveys": {"count": _count(_first(surveys, "count") if surveys else summary.get("survey_count")),
                    "mean": round(mean, 2) if mean is not None else None},
        "deflections": counted(summary.get("deflections"), "article_id", label_key="title"),
    }


# -- the hotspot map ------------------------------------------------------------------------------------------
def hotspots(raw: Mapping[str, Any], district_names: Mapping[str, str]) -> dict[str, Any]:
    """The map's data: ``points`` ([lat, long] in WGS84 degrees, malformed ones dropped), ``districts``
    (``{"id", "name", "count"}``, most first, from ``districts`` as a list of ``{"district", "count"}`` or
    an object id → count), and ``version`` (a short digest of both: the page redraws the map only when it
    changes)."""
    points = []
    for p in raw.get("points") or ():
        if isinstance(p, Mapping):
            p = (p.get("lat"), p.get("long"))
        if isinstance(p, (list, tuple)) and len(p) >= 2:
            lat, long = _number(p[0]), _number(p[1])
            if lat is not None and long is not None and -90 <= lat <= 90 and -180 <= long <= 180:
                points.append([round(lat, 6), round(long, 6)])
    counts_raw = raw.get("districts", raw.get("counts_by_district", raw.get("district_counts")))
    counts: dict[str, int] = {}
    if isinstance(counts_raw, Mapping):
        counts = {str(k): _count(v) for k, v in counts_raw.items()}
    elif isinstance(counts_raw, list):
        for row in counts_raw:
            if isinstance(row, Mapping):
                key = row.get("district", row.get("id"))
                counts[str(key) if key is not None else ""] = _count(row.get("count"))
    districts = [{"id": k, "name": district_names.get(k, k), "count": n} for k, n in counts.items()]
    districts.sort(key=lambda d: (-d["count"], d["name"]))
    digest = hashlib.sha1(json.dumps([points, sorted(counts.items())], separators=(",", ":")).encode(),
                          usedforsecurity=False).hexdigest()[:16]
    return {"points": points, "districts": districts, "version": digest}


# -- refusals -------------------------------------------------------------------------------------------------
def refusal_rows(raw: Any) -> list[dict[str, Any]]:
    """intake_web's refusal rows, newest first: a list of rows, or an object holding one under
    ``refusals`` (or ``rows``). Each row is kept as sent (``minute``, ``client``, ``api_key``, ``route``,
    ``reason``, ``count``), with ``at`` set to its minute (or ``at``/``last_at``) for sorting and showing."""
    rows = raw.get("refusals", raw.get("rows")) if isinstance(raw, Mapping) else raw
    kept = []
    for row in rows if isinstance(rows, list) else ():
        if isinstance(row, Mapping):
            kept.append({**row, "at": row.get("minute") or row.get("at") or row.get("last_at"),
                         "count": _count(row.get("count", 1))})
    kept.sort(key=lambda r: _instant(r["at"]), reverse=True)
    return kept


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
    """A case's Open311 attributes (``attributes``: code → value or list of values) as
    ``{"code", "label", "texts": [text, ...]}`` in the service definition's ``order``: each labelled with
    its attribute's ``description`` (Open311 GeoReport v2 ``GET services/{code}``), a list value shown by
    its ``name``; an attribute the definition no longer has comes last, labelled with its code."""
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
