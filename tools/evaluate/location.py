"""`python -m tools.evaluate location FILE`: places from words measured on records that have both a written
address and a point.

What it measures (docs/judgement.md, "Evaluation commands"), on any export that `shared.records.records_for`
reads:

- the records with a written address (``address_string``) and a point, leaving out a city's fallback
  point (Boston's City Hall) and addresses that name no street (a bare landmark);
- ``folds``-fold cross-validation in time order: record *i* (sorted by ``requested_datetime``) is tested
  in fold *i* mod ``folds``, with a gazetteer built from the file **without the rows of that fold**
  (`Gazetteer.build(records, exclude=ids)`) plus the jurisdiction's district names. So no record is
  ever placed from its own row; an address reported twice is found from its other report, as in production;
- each tested record's address is looked up as an address-only report would be, and the answer is:
  **placed** (confidence >= ``accept_from``), **asked to confirm** (from ``confirm_from`` up to it) or
  **not found**;
- of all tested records: the share placed, the share placed within 50 m and within 200 m of the
  record's own point (great-circle metres), the share asked to confirm, the share not found;
- of the placed records whose two points both fall in a district: the share **routed to a wrong
  district** (the district of the geocoded point is not the district of the record's point);
- the same per kind of written place (address, intersection, street) and the median error in metres;
- ``from_text``: the same for the records with a point whose text (``free_text``, else ``description``)
  holds a place that `extract_place` finds (in the jurisdiction's first language): how often residents'
  own words are placed, and how well. The rows of both kinds in a fold are left out of its gazetteer.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from typing import Any

from shared.geocode import Gazetteer, extract_place
from shared.geocode.gazetteer import district_places
from shared.geocode.normalize import parse_place
from shared.jurisdiction import distance_m
from tools.evaluate import FAR_M, NEAR_M, add_input_arguments, read_input

__all__ = ["add_arguments", "evaluate_location", "render", "run"]


def _testable(records: Iterable[Any], jurisdiction: Any | None) -> tuple[list[Any], Counter[str]]:
    """Records with a written address that names a street and a point (not a fallback point), in time
    order, and why the others were left out."""
    kept, skipped = [], Counter()
    for record in records:
        if record.lat is None or record.long is None:
            skipped["no point"] += 1
        elif jurisdiction is not None and jurisdiction.fallback_location(record.lat, record.long) is not None:
            skipped["fallback point"] += 1
        elif not record.address_string:
            skipped["no written address"] += 1
        else:
            parsed = parse_place(record.address_string)
            if parsed is None or parsed.kind == "place":
                skipped["address names no street"] += 1
            else:
                kept.append((record, parsed.kind))
    kept.sort(key=lambda rk: rk[0].requested_datetime)
    return kept, skipped


def _with_text_place(records: Iterable[Any], jurisdiction: Any | None) -> list[tuple[Any, str]]:
    """Records with a point (not a fallback point) whose text holds a place, with that place, in time order."""
    language = jurisdiction.locales[0] if jurisdiction is not None and jurisdiction.locales else None
    kept = []
    for record in records:
        if record.lat is None or record.long is None:
            continue
        if jurisdiction is not None and jurisdiction.fallback_location(record.lat, record.long) is not None:
            continue
        text = getattr(record, "free_text", None) or getattr(record, "description", None)
        place = extract_place(text, language) if text else None
        if place is not None:
            kept.append((record, place))
    kept.sort(key=lambda rp: rp[0].requested_datetime)
    return kept


class _Tally:
    """Outcome counts of one kind of query (written addresses, or places in free text)."""

    def __init__(self) -> None:
        self.outcome: Counter[str] = Counter()
        self.near = self.far = self.confirm_far = 0
        self.errors: list[float] = []
        self.district_checked = self.district_wrong = 0

    def add(self, record: Any, answer: Any, accept: float, confirm: float, jurisdiction: Any | None) -> str:
        if answer is None or answer.confidence < confirm:
            self.outcome["not_found"] += 1
            return "not_found"
        error = distance_m(record.lat, record.long, answer.lat, answer.long)
        if answer.confidence < accept:
            self.outcome["confirm"] += 1
            self.confirm_far += error <= FAR_M
            return "confirm"
        self.outcome["placed"] += 1
        self.errors.append(error)
        self.near += error <= NEAR_M
        self.far += error <= FAR_M
        if jurisdiction is not None:
            own, found = jurisdiction.locate(record.lat, record.long), jurisdiction.locate(answer.lat, answer.long)
            if own is not None and found is not None:
                self.district_checked += 1
                self.district_wrong += own.id != found.id
        return "placed_near" if error <= FAR_M else "placed"

    def report(self, n: int) -> dict[str, Any]:
        placed = self.outcome["placed"]
        return {
            "n_tested": n,
            "placed": _share(placed, n),
            "within_50m": _share(self.near, n),
            "within_200m": _share(self.far, n),
            "confirm": _share(self.outcome["confirm"], n),
            "not_found": _share(self.outcome["not_found"], n),
            "wrong_district": _share(self.district_wrong, self.district_checked),
            "placed_within_50m": _share(self.near, placed),
            "placed_within_200m": _share(self.far, placed),
            "confirm_within_200m": _share(self.confirm_far, self.outcome["confirm"]),
            "median_error_m": round(statistics.median(self.errors), 1) if self.errors else None,
            "counts": {"placed": placed, "confirm": self.outcome["confirm"], "not_found": self.outcome["not_found"],
                       "within_50m": self.near, "within_200m": self.far, "district_checked": self.district_checked,
                       "wrong_district": self.district_wrong},
        }


def _share(count: float, total: int) -> float | None:
    return round(count / total, 4) if total else None


def evaluate_location(
    records: Iterable[Any],
    jurisdiction: Any | None = None,
    *,
    accept_from: float | None = None,
    confirm_from: float | None = None,
    folds: int = 5,
) -> dict[str, Any]:
    """The location report of ``records`` (`shared.records.ReplayRecord` or anything with ``source_id``,
    ``address_string``, ``lat``, ``long``, ``requested_datetime``).

    ``jurisdiction`` (optional) gives the district layer (wrong-district share, place names), the
    fallback points and, when ``accept_from``/``confirm_from`` are not given, the thresholds of its
    ``geocoding:`` block (else 0.8 and 0.5). Shares are fractions in [0, 1] (``None`` when nothing was
    tested); distances are metres.

    Raises:
        ValueError: ``folds`` < 2.
    """
    if folds < 2:
        raise ValueError("folds must be at least 2")
    spec = jurisdiction.geocoding if jurisdiction is not None else None
    accept = accept_from if accept_from is not None else (spec.accept_from if spec is not None else 0.8)
    confirm = confirm_from if confirm_from is not None else (spec.confirm_from if spec is not None else 0.5)
    started = time.monotonic()
    records = list(records)
    tested, skipped = _testable(records, jurisdiction)
    texts = _with_text_place(records, jurisdiction)
    places = district_places(jurisdiction) if jurisdiction is not None else []
    ignore = jurisdiction.fallback_location if jurisdiction is not None else None
    written, spoken = _Tally(), _Tally()
    per_kind: dict[str, Counter[str]] = defaultdict(Counter)
    for fold in range(folds):
        rows = [rk for i, rk in enumerate(tested) if i % folds == fold]
        text_rows = [rp for i, rp in enumerate(texts) if i % folds == fold]
        if not rows and not text_rows:
            continue
        left_out = {str(r.source_id) for r, _ in rows} | {str(r.source_id) for r, _ in text_rows}
        gazetteer = Gazetteer.build(records, exclude=left_out, places=places, ignore_point=ignore)
        for record, kind in rows:
            outcome = written.add(record, gazetteer.lookup(record.address_string), accept, confirm, jurisdiction)
            per_kind[kind]["tested"] += 1
            per_kind[kind][outcome] += 1
        for record, place in text_rows:
            spoken.add(record, gazetteer.lookup(place), accept, confirm, jurisdiction)
    report = written.report(len(tested))
    return {
        "n_records": len(records),
        **report,
        "skipped": dict(skipped),
        "folds": folds,
        "accept_from": accept,
        "confirm_from": confirm,
        "per_kind": {
            kind: {"tested": c["tested"], "placed": _share(c["placed"] + c["placed_near"], c["tested"]),
                   "within_200m": _share(c["placed_near"], c["tested"]), "confirm": _share(c["confirm"], c["tested"]),
                   "not_found": _share(c["not_found"], c["tested"])}
            for kind, c in sorted(per_kind.items())
        },
        "from_text": {"n_with_place": len(texts), **spoken.report(len(texts))},
        "seconds": round(time.monotonic() - started, 2),
    }


# -- command ---------------------------------------------------------------------------------------
def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``FILE [--layout NAME|PATH] [--jurisdiction ID|PATH] [--accept-from C] [--confirm-from C] [--folds K]``."""
    add_input_arguments(parser, jurisdiction_help="a jurisdiction id or folder: its export: mapping, its districts "
                        "(wrong-district share), fallback points and geocoding thresholds")
    parser.add_argument("--accept-from", type=float, default=None,
                        help="placed from this confidence (default: the jurisdiction's, else 0.8)")
    parser.add_argument("--confirm-from", type=float, default=None,
                        help="asked to confirm from this confidence (default: the jurisdiction's, else 0.5)")
    parser.add_argument("--folds", type=int, default=5, help="cross-validation folds in time order (5)")


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Read FILE and measure; the JSON report (see `evaluate_location`).

    Raises:
        ReplayFormatError: the file cannot be read in any layout.
        FileNotFoundError: no such file.
    """
    jurisdiction, records = read_input(args)
    report = evaluate_location(records, jurisdiction, accept_from=args.accept_from,
                               confirm_from=args.confirm_from, folds=args.folds)
    return {"file": str(args.file), "layout": args.layout, "jurisdiction": args.jurisdiction, **report}


def render(report: dict[str, Any]) -> str:
    """The report as a text table: what was tested, the outcome shares, per kind of written place."""
    c = report["counts"]
    lines = [
        f"location: {report.get('file') or ''}",
        f"  tested: {report['n_tested']} of {report['n_records']} records (written address and point); "
        f"left out: {', '.join(f'{k} {v}' for k, v in report['skipped'].items()) or 'none'}",
        f"  gazetteer built without the rows under test ({report['folds']}-fold, time order); "
        f"placed from confidence {report['accept_from']}, confirm from {report['confirm_from']}",
        "",
        f"  placed                 {_pct(report['placed'])}  ({c['placed']})",
        f"  within 50 m            {_pct(report['within_50m'])}  ({c['within_50m']})",
        f"  within 200 m           {_pct(report['within_200m'])}  ({c['within_200m']})",
        f"  asked to confirm       {_pct(report['confirm'])}  ({c['confirm']})",
        f"  not found              {_pct(report['not_found'])}  ({c['not_found']})",
        f"  wrong district         {_pct(report['wrong_district'])}  ({c['wrong_district']} of {c['district_checked']} "
        "placed with both points in a district)",
        f"  median error of placed {report['median_error_m'] if report['median_error_m'] is not None else '-'} m; "
        f"placed within 200 m {_pct(report['placed_within_200m'])}; confirmed answers within 200 m "
        f"{_pct(report['confirm_within_200m'])}",
        "",
        f"  {'kind':14} {'tested':>7} {'placed':>7} {'<=200m':>7} {'confirm':>7} {'none':>7}",
    ]
    for kind, row in report["per_kind"].items():
        lines.append(f"  {kind:14} {row['tested']:>7} {_pct(row['placed'])} {_pct(row['within_200m'])} "
                     f"{_pct(row['confirm'])} {_pct(row['not_found'])}")
    text = report["from_text"]
    lines.append(f"  {'place in text':14} {text['n_tested']:>7} {_pct(text['placed'])} {_pct(text['within_200m'])} "
                 f"{_pct(text['confirm'])} {_pct(text['not_found'])}   (records with a point whose own words "
                 f"name a place; wrong district {_pct(text['wrong_district'])})")
    return "\n".join(lines)


def _pct(value: float | None) -> str:
    return f"{'-':>7}" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value * 100:6.1f}%"
