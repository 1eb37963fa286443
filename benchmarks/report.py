"""The benchmark's figures: percentiles, the rows of `make bench`'s table with their goals, the table as text
and the JSON written to var/bench.json. Pure: no I/O."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

GOAL_CASES_PER_S = 1000.0
"""Issue 14: NYC's record day (276,827 contacts) in under 5 minutes, end to end."""
GOAL_ROUTED_P99_MS = 150.0
"""Issue 14: p99 from intake to `case.routed` at a steady 100 events/s."""
GOAL_DEDUP_P99_MS = 10.0
"""Issue 14: p99 of the dedup candidate query with 3 million open cases."""


def percentile(values: Sequence[float], q: float) -> float | None:
    """The `q`-th percentile (0-100) of `values` by linear interpolation between closest ranks (NumPy's
    default, "inclusive"); None for no values. Raises `ValueError` for `q` outside [0, 100]."""
    if not 0 <= q <= 100:
        raise ValueError(f"percentile must be within [0, 100], not {q}")
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def latency_summary(seconds: Sequence[float], of: int | None = None) -> dict[str, float | int | None]:
    """``{"n", "of", "p50_ms", "p95_ms", "p99_ms", "max_ms"}`` of latencies given in seconds (ms rounded to
    0.1). `of`: how many flows were started, when some never got there (`n` < `of`): they count as slower
    than every one measured, and a percentile that falls among them is None (beyond the wait), never a
    figure computed from the fast ones only."""
    total = max(of if of is not None else len(seconds), len(seconds))
    ordered = sorted(seconds)

    def ms(q: float) -> float | None:
        if not total or math.ceil((total - 1) * q / 100) >= len(ordered):
            return None
        v = percentile(ordered + [ordered[-1]] * (total - len(ordered)), q)
        return None if v is None else round(v * 1000, 1)
    return {"n": len(seconds), "of": total, "p50_ms": ms(50), "p95_ms": ms(95), "p99_ms": ms(99),
            "max_ms": ms(100)}


@dataclass(frozen=True)
class Row:
    """One line of the table: `value` in `unit` (None: not measured, `note` says why), and an optional
    goal: ``("min", x)`` means at least x, ``("max", x)`` at most x."""

    name: str
    value: float | None
    unit: str
    goal: tuple[Literal["min", "max"], float] | None = None
    note: str = ""

    @property
    def met(self) -> bool | None:
        """Whether the goal is met; None without a goal or a value."""
        if self.goal is None or self.value is None:
            return None
        kind, target = self.goal
        return self.value >= target if kind == "min" else self.value <= target


def _number(value: float | None) -> str:
    if value is None:
        return "-"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:,.1f}"
    return f"{value:,.2f}" if abs(value) >= 0.01 or value == 0 else f"{value:.2g}"


def _goal(row: Row) -> str:
    if row.goal is None:
        return ""
    kind, target = row.goal
    mark = {True: "met", False: "MISSED", None: "?"}[row.met]
    return f"{'>=' if kind == 'min' else '<='} {_number(target)} ({mark})"


def render_table(rows: Sequence[Row]) -> str:
    """The rows as an aligned text table: measure, value, unit, goal (with met/MISSED), note."""
    head = ("measure", "value", "unit", "goal", "note")
    cells = [head] + [(r.name, _number(r.value), r.unit, _goal(r), r.note) for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(head))]
    aligns = ("<", ">", "<", "<", "<")

    def line(c: Sequence[str]) -> str:
        return "  ".join(f"{v:{a}{w}}" for v, a, w in zip(c, aligns, widths, strict=True)).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(cells[0]), rule, *(line(c) for c in cells[1:])])


def rows_json(rows: Sequence[Row]) -> list[dict[str, Any]]:
    """The rows as JSON objects (goal as ``{"kind", "target"}``, with `met`)."""
    out = []
    for r in rows:
        d = asdict(r)
        d["goal"] = None if r.goal is None else {"kind": r.goal[0], "target": r.goal[1]}
        d["met"] = r.met
        out.append(d)
    return out


def table(results: dict[str, Any]) -> list[Row]:
    """The rows of the table from the parts' results (a part not run gives no row)."""
    rows: list[Row] = []
    floor = results.get("floor")
    if floor:
        rows.append(Row("floor: produce (acks=all, idempotent)", floor["produce_per_s"], "events/s",
                        note=f"{floor['events']:,} events"))
        rows.append(Row("floor: consume + COPY into PostgreSQL", floor["consume_write_per_s"], "events/s"))
    pipe = results.get("pipeline")
    if pipe:
        state = "" if pipe["complete"] else f"INCOMPLETE after {pipe['seconds']:.0f} s; "
        rows.append(Row("pipeline: intake -> routed + dedup-decided", pipe["cases_per_s"], "cases/s",
                        ("min", GOAL_CASES_PER_S),
                        f"{state}{min(pipe['routed'], pipe['dedup_decided']):,}/{pipe['events']:,} in "
                        f"{pipe['seconds']:.1f} s"))
        if pipe.get("opened_per_s") is not None:
            rows.append(Row("pipeline: intake -> case.opened", pipe["opened_per_s"], "cases/s",
                            note=f"{pipe['opened']:,}/{pipe['events']:,} opened (the case service's own rate)"))
        if floor and pipe["cases_per_s"]:
            rows.append(Row("pipeline / floor (consume + write)", pipe["cases_per_s"] / floor["consume_write_per_s"],
                            "ratio"))
    http = results.get("http")
    if http:
        rows.append(Row("Open311 POST /requests.json", http["accepted_per_s"], "requests/s",
                        note=f"{http['concurrency']} clients, {http['accepted']:,} accepted, "
                             f"answers by status {http['statuses']}"))
        rows.append(Row("Open311 POST p99", http["latency"]["p99_ms"], "ms"))
    steady = results.get("steady")
    if steady:
        note = f"{steady['rate']}/s for {steady['seconds']} s"
        for key, label in (("to_routed", "intake -> case.routed"), ("to_acknowledged", "intake -> acknowledgement")):
            s = steady[key]
            for q in ("p50", "p95", "p99"):
                goal = ("max", GOAL_ROUTED_P99_MS) if key == "to_routed" and q == "p99" else None
                text = f"{note}; {s['n']:,}/{steady['events']:,} reached" if q == "p50" else ""
                if s[f"{q}_ms"] is None:
                    text = f"{text}; " * bool(text) + "beyond the wait: too few got there"
                rows.append(Row(f"steady {label} {q}", s[f"{q}_ms"], "ms", goal, text))
    dedup = results.get("dedup")
    if dedup:
        note = f"{dedup['cases']:,} open cases, {dedup['n']} queries, {dedup['mean_candidates']} candidates avg"
        rows.append(Row("dedup candidate query p50", dedup["p50_ms"], "ms", note=note))
        rows.append(Row("dedup candidate query p99", dedup["p99_ms"], "ms", ("max", GOAL_DEDUP_P99_MS)))
    for service, mib in (results.get("memory") or {}).items():
        rows.append(Row(f"RSS {service}", mib, "MiB", note="after the burst"))
    return rows
