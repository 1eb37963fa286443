"""Judgement measured on the real data: routing, location and dedup figures for every dataset, in one run.

`python -m benchmarks.judgement [--json FILE] [--only routing|location|dedup]` prints one table per
judgement and writes the whole report as JSON (default ``var/bench/judgement.json``). The figures come
from the evaluation commands' own functions (`tools.evaluate.routing.evaluate_routing`,
`tools.evaluate.location.evaluate_location`, `tools.evaluate.dedup.evaluate_dedup`), so
``python -m tools.evaluate <judgement> FILE`` gives the same numbers for one file. The datasets are read
from ``$OMNI311_SHARED_DATA``; the README's table "Judgement, measured" is this output.

- routing: time-ordered split (the newest 20 % held out, never trained on), the learned model's top-1
  and top-3 accuracy and triage share at a probability threshold of 0.5, its expected calibration error
  (10 bins), and the keyword baseline on the same held-out rows.
- location: records with both a written address and a point, each looked up in a gazetteer built
  without it (5 folds); shares placed, within 50 m and 200 m of the record's own point, asked to
  confirm, and placed in another district than the record's point.
- dedup: each documented label set, recall and precision of automatic merges, and with suggestions.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from shared.jurisdiction import load_jurisdiction, shared_data_root
from shared.records import records_for
from shared.settings import REPO_ROOT

#: (name, file under the data root, built-in layout or None for a detected one); no catalogue phrases join
#: the training rows (the README's table measures the files alone)
ROUTING_SETS: tuple[tuple[str, str, str | None], ...] = (
    ("Boston Open311 requests (EN)", "freetext/boston_bos311_requests_sample.jsonl", "boston_open311_jsonl"),
    ("Montpellier Vigilo (FR)", "freetext/vigilo_montpellier_fr_observations.json", "montpellier_vigilo"),
    ("Virginia Beach SeeClickFix", "freetext/seeclickfix_virginia_beach_2015_issues.jsonl", "seeclickfix_wwscf"),
    ("Detroit SeeClickFix", "freetext/seeclickfix_detroit_traffic_complaints_issues.csv", "seeclickfix_detroit"),
    ("NYC export", "311_records/nyc311_2011_sample_1000.csv", None),
    ("Boston export", "311_records/qsv_boston311-100.csv", None),
)

#: (name, file, layout, jurisdiction)
LOCATION_SETS: tuple[tuple[str, str, str | None, str], ...] = (
    ("NYC export", "311_records/nyc311_2011_sample_1000.csv", None, "nyc"),
    ("Montréal rats", "montreal/feldev-hackqc_rats_data.json", "montreal_311_json", "montreal"),
    ("Boston Open311 requests", "freetext/boston_bos311_requests_sample.jsonl", "boston_open311_jsonl", "boston"),
)


def routing_figures() -> list[dict[str, Any]]:
    """`evaluate_routing` on every routing set, in `ROUTING_SETS` order."""
    from tools.evaluate.routing import evaluate_routing  # noqa: PLC0415 - scikit-learn only when asked

    root = shared_data_root()
    out = []
    for name, file, layout in ROUTING_SETS:
        started = time.perf_counter()
        report = evaluate_routing(records_for(root / file, layout=layout), name=name)
        out.append({**report, "seconds": round(time.perf_counter() - started, 1)})
    return out


def location_figures() -> list[dict[str, Any]]:
    """`evaluate_location` on every location set, with its jurisdiction's districts and thresholds."""
    from tools.evaluate.location import evaluate_location  # noqa: PLC0415

    root = shared_data_root()
    out = []
    for name, file, layout, jid in LOCATION_SETS:
        jurisdiction = load_jurisdiction(jid)
        records = list(records_for(root / file, layout=layout, jurisdiction=jurisdiction))
        out.append({"name": name, **evaluate_location(records, jurisdiction)})
    return out


def dedup_figures() -> dict[str, Any]:
    """`evaluate_dedup` on the documented label sets (default thresholds)."""
    from tools.evaluate.dedup import evaluate_dedup  # noqa: PLC0415

    return evaluate_dedup()


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"


def render(report: dict[str, Any]) -> str:
    """The three tables, as printed by `make bench`."""
    lines: list[str] = []
    if "routing" in report:
        lines += ["routing (held-out newest 20 %): model vs keyword baseline",
                  f"{'dataset':<30} {'train':>6} {'test':>5} {'top-1':>7} {'top-3':>7} {'base-1':>7} "
                  f"{'base-3':>7} {'triage':>7} {'ECE':>6}"]
        for r in report["routing"]:
            m, b = r["model"], r["baseline"]
            lines.append(f"{r['name']:<30} {r['n_train']:>6} {r['n_test']:>5} {_pct(m['top1']):>7} "
                         f"{_pct(m['top3']):>7} {_pct(b['top1']):>7} {_pct(b['top3']):>7} "
                         f"{_pct(m['triage_share']):>7} {m['calibration']['ece']:>6.3f}")
        lines.append("")
    if "location" in report:
        lines += ["location (gazetteer built without the rows under test, 5 folds)",
                  f"{'dataset':<26} {'tested':>6} {'placed':>7} {'≤50 m':>7} {'≤200 m':>7} {'confirm':>8} "
                  f"{'wrong district':>15}"]
        for r in report["location"]:
            lines.append(f"{r['name']:<26} {r['n_tested']:>6} {_pct(r['placed']):>7} {_pct(r['within_50m']):>7} "
                         f"{_pct(r['within_200m']):>7} {_pct(r['confirm']):>8} {_pct(r['wrong_district']):>15}")
        lines.append("")
    if "dedup" in report:
        from tools.evaluate.dedup import render as render_dedup  # noqa: PLC0415

        lines.append(render_dedup(report["dedup"]))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, default=REPO_ROOT / "var/bench/judgement.json",
                        help="where the JSON report is written (default var/bench/judgement.json)")
    parser.add_argument("--only", choices=("routing", "location", "dedup"), action="append",
                        help="measure only this judgement (repeatable)")
    args = parser.parse_args(argv)
    wanted = args.only or ["routing", "location", "dedup"]
    measures = {"routing": routing_figures, "location": location_figures, "dedup": dedup_figures}
    report = {name: measures[name]() for name in wanted}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2, ensure_ascii=False, default=str), "utf-8")
    print(render(report))
    print(f"\nJSON: {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
