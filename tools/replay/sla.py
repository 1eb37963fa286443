"""Compare the router's SLA due times and on-time verdicts with the city's own, for the replay report."""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

__all__ = ["VERDICT_BASIS", "SlaSample", "city_verdict", "sla_section"]

VERDICT_BASIS = (
    "closed records only: a record the city had not closed is left out (counted in open_excluded), "
    "since the replay shares no 'now' with the moment the city exported its file"
)
"""How the on-time verdicts are compared, stated in the report next to the figures."""

_LARGEST = 5


@dataclass(frozen=True, slots=True)
class SlaSample:
    """One replayed record: the city's times and our due time, every datetime timezone-aware.

    Attributes:
        source_id: the export's id of the record.
        service_name: the category label of the source, to explain a difference.
        opened_at: when the city opened it (the replay's ``requested_datetime``).
        our_due_at: ``routing.sla_due_at`` of the ``case.routed`` event, ``None`` when not seen.
        city_due_at: the city's due time (Boston ``target_dt``, NYC ``Due Date``), ``None`` if none.
        closed_at: the city's close time, ``None`` while open.
        city_on_time: the verdict the city states itself (Boston ``ontime``), ``None`` where it
            states none (NYC: the verdict is then ``closed_at <= city_due_at``).
    """

    source_id: str
    service_name: str | None
    opened_at: datetime
    our_due_at: datetime | None
    city_due_at: datetime | None
    closed_at: datetime | None
    city_on_time: bool | None = None


def _require_aware(sample: SlaSample) -> None:
    for name in ("opened_at", "our_due_at", "city_due_at", "closed_at"):
        value = getattr(sample, name)
        if value is not None and (value.tzinfo is None or value.utcoffset() is None):
            raise ValueError(f"record {sample.source_id}: {name} must be timezone-aware, got naive {value!r}")


def city_verdict(sample: SlaSample) -> bool | None:
    """The city's on-time verdict for a closed record with a city due time, else ``None``.

    The stated verdict (Boston ``ontime``) wins when there is one; otherwise ``closed_at <=
    city_due_at`` (NYC). A record without a city due time has no verdict: Boston marks such
    records ``ONTIME`` although no clock ran.
    """
    if sample.closed_at is None or sample.city_due_at is None:
        return None
    if sample.city_on_time is not None:
        return sample.city_on_time
    return sample.closed_at <= sample.city_due_at


def _hours(delta: timedelta) -> float:
    return delta.total_seconds() / 3600.0


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 2) if values else None


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def sla_section(samples: Iterable[SlaSample], *, tolerance: timedelta = timedelta(hours=1)) -> dict[str, Any]:
    """The report's ``sla`` section for one mode: our due times and verdicts against the city's.

    Due times: over records that have both a city and our due time, how many of ours lie within
    ``tolerance`` (inclusive) of the city's, the median absolute and signed (ours minus the city's)
    difference in hours, and the ``_LARGEST`` largest differences (to explain them).
    Verdicts: over closed records with a city verdict (``city_verdict``) and our due time, how often
    ``closed_at <= our_due_at`` equals it, with the four pairs counted; ``open_excluded`` counts
    the records left out for being open. ``city_verdict_inconsistent`` counts records whose stated
    verdict contradicts the city's own ``closed_at <= city_due_at``.

    Shares are fractions in [0, 1] rounded to 4 places, ``None`` over zero records; hours are
    rounded to 2 places.

    Raises:
        ValueError: a datetime of a sample is naive.
    """
    rows = list(samples)
    for sample in rows:
        _require_aware(sample)
    compared = [s for s in rows if s.city_due_at is not None and s.our_due_at is not None]
    diffs = [(s, _hours(s.our_due_at - s.city_due_at)) for s in compared]  # type: ignore[operator]
    within = sum(1 for _, d in diffs if abs(d) <= _hours(tolerance))
    pairs: Counter[str] = Counter()
    open_excluded = inconsistent = 0
    for s in rows:
        if s.city_due_at is not None and s.closed_at is not None and s.city_on_time is not None:
            inconsistent += (s.closed_at <= s.city_due_at) != s.city_on_time
        if s.our_due_at is None or s.city_due_at is None:
            continue
        if s.closed_at is None:
            open_excluded += 1
            continue
        theirs = city_verdict(s)
        if theirs is None:
            continue
        ours = s.closed_at <= s.our_due_at
        pairs[f"ours_{'on_time' if ours else 'late'}_city_{'on_time' if theirs else 'late'}"] += 1
    judged = sum(pairs.values())
    agree = pairs["ours_on_time_city_on_time"] + pairs["ours_late_city_late"]
    largest = sorted(diffs, key=lambda item: abs(item[1]), reverse=True)[:_LARGEST]
    return {
        "records": len(rows),
        "with_city_due": sum(1 for s in rows if s.city_due_at is not None),
        "with_our_due": sum(1 for s in rows if s.our_due_at is not None),
        "due_compared": len(compared),
        "tolerance_hours": _hours(tolerance),
        "due_within_tolerance": within,
        "due_within_tolerance_share": _share(within, len(compared)),
        "due_abs_diff_hours_median": _median([abs(d) for _, d in diffs]),
        "due_diff_hours_median": _median([d for _, d in diffs]),
        "ours_earlier": sum(1 for _, d in diffs if d < -_hours(tolerance)),
        "ours_later": sum(1 for _, d in diffs if d > _hours(tolerance)),
        "verdict_basis": VERDICT_BASIS,
        "verdict_judged": judged,
        "verdict_agree": agree,
        "verdict_agreement": _share(agree, judged),
        "verdict_pairs": {
            key: pairs[key]
            for key in ("ours_on_time_city_on_time", "ours_late_city_late",
                        "ours_late_city_on_time", "ours_on_time_city_late")
        },
        "open_excluded": open_excluded,
        "city_verdict_inconsistent": inconsistent,
        "largest_differences": [
            {"source_id": s.source_id, "service_name": s.service_name, "opened_at": _iso(s.opened_at),
             "city_due_at": _iso(s.city_due_at), "our_due_at": _iso(s.our_due_at), "diff_hours": round(d, 2)}
            for s, d in largest
        ],
    }
