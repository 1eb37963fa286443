"""The replay report's `routing`, `location` and `dedup` sections: what the running pipeline did with the
replayed records (observed on Kafka), next to the offline evaluation of the same file (`tools.evaluate`).

Each section has two parts (docs/judgement.md, "Evaluation commands"; README "The replay report"):

- ``live``, per mode, from the ``case.routed`` and ``case.merged`` events on ``cases.lifecycle`` and the
  ``dedup.decided`` / ``dedup.suggested`` events on ``dedup.decisions`` that the replay watched. These are
  what the stack did, not held-out figures: a live model may have been trained on the replayed rows.
- ``held_out`` (routing, location) and ``labels`` (dedup): `evaluate_routing`, `evaluate_location` and
  `evaluate_dedup` on the replayed file with the jurisdiction's thresholds, the figures
  ``python -m tools.evaluate <judgement> FILE`` prints. Skipped with ``--no-evaluate`` (and by default when
  `tools.replay.cli.replay` is called from code, as the end-to-end tests do).

Shares are fractions in [0, 1] rounded to 4 places (``None`` when nothing was judged); distances metres.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from shared.jurisdiction.geo import distance_m
from shared.jurisdiction.text import fold_label
from tools.evaluate import FAR_M, NEAR_M  # the same thresholds as the offline evaluation

__all__ = [
    "NEAR_M",
    "FAR_M",
    "dedup_live",
    "evaluate_file",
    "headlines",
    "location_live",
    "routing_live",
]

LIVE_NOTE = ("what the running pipeline did with the replayed records (not a held-out figure: the live model "
             "and gazetteer may have been built from these very rows)")


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def routing_live(subs: Iterable[Any], codes: Mapping[str, str]) -> dict[str, Any]:
    """What the router did with the routed submissions of one mode (``routing`` of each ``case.routed``).

    ``codes``: the offered services, service name (stripped, casefolded) → service_code (`/services.json`).

    - ``category_source``: counts of ``service_code`` (given), ``keywords`` (from the text) and
      ``fallback`` (triage); ``triage_share`` = fallback / routed;
    - ``classifier_method``: counts of ``model``, ``keywords`` and ``none`` (no classifier fields: the
      report came with its category); ``model_versions`` seen;
    - ``service_judged`` (routed records whose category is an offered service), ``top1`` (routed service is
      the record's), ``top3`` (the record's service is among the classifier's suggestions, or is the
      routed service), on the records classified from their text only (``text_classified``);
    - ``calibration``: expected calibration error (10 bins) of the top suggestion's probability on the
      model-classified records whose category is offered.
    """
    from tools.evaluate.routing import calibration  # noqa: PLC0415

    routed = [s for s in subs if s.routing is not None]
    source: Counter[str] = Counter()
    method: Counter[str] = Counter()
    versions: Counter[str] = Counter()
    judged = top1 = top3 = 0
    confidences: list[float] = []
    correct: list[bool] = []
    for sub in routed:
        routing = sub.routing
        source[routing.get("category_source") or "unknown"] += 1
        classifier = routing.get("classifier") or {}
        method[classifier.get("method") or "none"] += 1
        if classifier.get("model_version"):
            versions[classifier["model_version"]] += 1
        expected = codes.get((sub.record.service_name or "").strip().casefold())
        if routing.get("category_source") == "service_code" or expected is None:
            continue
        judged += 1
        suggested = [s.get("service_code") for s in classifier.get("suggestions") or []]
        hit = routing.get("service_code") == expected
        top1 += hit
        top3 += hit or expected in suggested[:3]
        if classifier.get("method") == "model" and classifier.get("suggestions"):
            best = classifier["suggestions"][0]
            confidences.append(float(best.get("probability") or 0.0))
            correct.append(best.get("service_code") == expected)
    n = len(routed)
    return {
        "routed": n,
        "category_source": dict(source.most_common()),
        "triage_share": _share(source["fallback"], n),
        "classifier_method": dict(method.most_common()),
        "model_versions": dict(versions.most_common()),
        "text_classified": judged,
        "top1": _share(top1, judged),
        "top3": _share(top3, judged),
        "calibration": calibration(confidences, correct) if confidences else {"ece": None, "bins": []},
        "about": LIVE_NOTE,
    }


def location_live(subs: Iterable[Any], jurisdiction: Any | None) -> dict[str, Any]:
    """What the router's geocoder did with the routed submissions of one mode (``routing.location``).

    - ``status``: counts of ``point``, ``placed``, ``confirm``, ``not_found`` and ``absent`` (a decision
      without location fields);
    - ``address_only``: routed records sent with a written address and no point (they had none, or it was
      withheld: ``--address-only``, ``point_withheld``); ``address_only_placed`` and ``address_only_confirm``
      their shares placed and asked to confirm;
    - ``placed_with_own_point``: placed decisions whose record has its own point (0 unless points were
      withheld; a city fallback point such as Boston's City Hall is no point: ``own_point_fallback``), and of these the shares ``within_50m`` and ``within_200m`` (great-circle metres) and
      ``wrong_district`` (the jurisdiction's district of the record's point is not the routed district,
      among those where both are known).
    """
    routed = [s for s in subs if s.routing is not None]
    status: Counter[str] = Counter()
    address_only = address_placed = address_confirm = 0
    with_point = near = far = checked = wrong = fallback = 0
    for sub in routed:
        loc = sub.routing.get("location") or {}
        state = loc.get("status") or "absent"
        status[state] += 1
        record = sub.record
        has_point = record.lat is not None and record.long is not None
        if record.address_string and (not has_point or getattr(sub, "point_withheld", False)):
            address_only += 1
            address_placed += state == "placed"
            address_confirm += state == "confirm"
        if state == "placed" and has_point and loc.get("lat") is not None and loc.get("long") is not None:
            if jurisdiction is not None and jurisdiction.fallback_location(record.lat, record.long) is not None:
                fallback += 1
                continue
            with_point += 1
            error = distance_m(record.lat, record.long, loc["lat"], loc["long"])
            near += error <= NEAR_M
            far += error <= FAR_M
            own = jurisdiction.locate(record.lat, record.long) if jurisdiction is not None else None
            routed_district = sub.routing.get("district")
            if own is not None and routed_district is not None:
                checked += 1
                wrong += own.id != routed_district
    return {
        "routed": len(routed),
        "status": dict(status.most_common()),
        "address_only": address_only,
        "address_only_placed": _share(address_placed, address_only),
        "address_only_confirm": _share(address_confirm, address_only),
        "placed_with_own_point": with_point,
        "own_point_fallback": fallback,
        "within_50m": _share(near, with_point),
        "within_200m": _share(far, with_point),
        "district_checked": checked,
        "wrong_district": _share(wrong, checked),
        "about": LIVE_NOTE,
    }


def _street(address: str | None) -> str | None:
    from tools.evaluate.dedup import _street as street  # noqa: PLC0415 - the evaluation's own rule

    return street(address)


def _labels(subs: list[Any], timezone: str) -> dict[str, set[str]]:
    """Case id → the case ids the file labels as the same problem: the same source id, or one category on
    one street (address without its number) on one local day (as `tools.evaluate.dedup.derived_labels`)."""
    zone = ZoneInfo(timezone)
    groups: dict[tuple[str, ...], set[str]] = defaultdict(set)
    for sub in subs:
        record = sub.record
        if record.source_id:
            groups[("id", str(record.source_id))].add(sub.case_id)
        street = _street(record.address_string)
        if street and record.service_name:
            day = record.requested_datetime.astimezone(zone).date().isoformat()
            groups[("street", street, day, fold_label(record.service_name))].add(sub.case_id)
    same: dict[str, set[str]] = defaultdict(set)
    for members in groups.values():
        for case_id in members:
            same[case_id] |= members - {case_id}
    return same


def dedup_live(subs: Iterable[Any], *, merged: Mapping[str, str], decided: Mapping[str, str],
               suggested: Mapping[str, str], timezone: str = "UTC", labels: bool = True,
               replayed: Iterable[Any] | None = None) -> dict[str, Any]:
    """What the duplicate detector did with the replayed cases of one mode (``subs``).

    ``merged`` (``case.merged``: case id → the case it was merged into), ``decided`` (``dedup.decided``,
    the automatic band) and ``suggested`` (``dedup.suggested``, the review band): case id → the case it
    matched. A pair is judged against the file's labels (`_labels`) when its case is of this mode and the
    case it matched was opened by this replay in any mode (``replayed``, default ``subs``): with
    ``--mode both`` a record's free-text case merged into the structured case of the same record is a
    labelled duplicate (the same id). ``precision_merged`` / ``precision_suggested`` are the shares of
    judged pairs the labels call one problem, ``labelled_pairs`` how many labelled pairs have a case of
    this mode. The labels
    are read only with ``labels`` and when a pair of replayed cases was flagged (else those figures are
    ``None``): the street rule's module loads scikit-learn, a few seconds a replay without evaluation spares.
    """
    subs = [s for s in subs if s.case_id is not None]
    ours = {s.case_id for s in subs}
    everyone = [s for s in replayed if s.case_id is not None] if replayed is not None else subs
    known = {s.case_id for s in everyone}
    flagged = [(a, b) for pairs in (merged, suggested) for a, b in pairs.items() if a in ours and b in known]
    read = labels and bool(flagged)
    same = _labels(everyone, timezone) if read else {}

    def judged(pairs: Mapping[str, str]) -> tuple[int, int, int]:
        mine = {a: b for a, b in pairs.items() if a in ours}
        both = [(a, b) for a, b in mine.items() if b in known]
        return len(mine), len(both) if read else 0, sum(1 for a, b in both if b in same.get(a, set()))

    n_merged, merged_judged, merged_ok = judged(merged)
    n_suggested, suggested_judged, suggested_ok = judged(suggested)
    labelled = len({frozenset((a, b)) for a in ours for b in same.get(a, ())}) if read else None
    return {
        "cases": len(ours),
        "auto_merged": sum(1 for a in decided if a in ours),
        "merged": n_merged,
        "suggested": n_suggested,
        "labelled_pairs": labelled,
        "merged_judged": merged_judged,
        "precision_merged": _share(merged_ok, merged_judged),
        "suggested_judged": suggested_judged,
        "precision_suggested": _share(suggested_ok, suggested_judged),
        "about": LIVE_NOTE,
    }


def evaluate_file(path: Path, records: list[Any], *, layout: Any, jurisdiction: Any | None) -> dict[str, Any]:
    """The offline figures of the replayed file: ``{"routing": evaluate_routing_for, "location":
    evaluate_location, "dedup": evaluate_dedup}`` with the jurisdiction's thresholds (model
    ``min_probability`` and ``min_examples``, keyword ``min_score``, geocoding bands, dedup per category)
    and, for routing, its catalogue's phrases: the figures ``python -m tools.evaluate routing FILE
    --jurisdiction ID`` prints (the same function).
    A judgement that cannot be measured on this file (e.g. fewer than two labels with a text) is
    ``{"error": why}``; each part carries its ``seconds``."""
    from tools.evaluate.dedup import evaluate_dedup  # noqa: PLC0415 - scikit-learn only when asked
    from tools.evaluate.location import evaluate_location  # noqa: PLC0415
    from tools.evaluate.routing import evaluate_routing_for  # noqa: PLC0415

    def timed(measure: Any) -> dict[str, Any]:
        started = time.perf_counter()
        try:
            out = measure()
        except ValueError as exc:
            out = {"error": str(exc)}
        return {**out, "seconds": round(time.perf_counter() - started, 2)}

    routing = timed(lambda: evaluate_routing_for(records, jurisdiction, name=path.stem))
    if "per_class" in routing:
        routing["per_class"] = dict(list(routing["per_class"].items())[:25])
    return {
        "routing": routing,
        "location": timed(lambda: evaluate_location(records, jurisdiction)),
        "dedup": timed(lambda: evaluate_dedup(path, layout=layout, jurisdiction=jurisdiction)),
    }


def headlines(report: Mapping[str, Any]) -> dict[str, Any]:
    """The figures the replay prints at its end: per section, the held-out or labelled figures (when
    evaluated) and, per mode, the live ones."""
    out: dict[str, Any] = {}
    routing, location, dedup = report.get("routing") or {}, report.get("location") or {}, report.get("dedup") or {}
    held = routing.get("held_out") or {}
    if "model" in held:
        out["routing.held_out"] = {
            "test_rows": held["n_test"], "top1": held["model"]["top1"], "top3": held["model"]["top3"],
            "baseline_top1": held["baseline"]["top1"], "baseline_top3": held["baseline"]["top3"],
            "triage_share": held["model"]["triage_share"], "ece": held["model"]["calibration"]["ece"]}
    elif held:
        out["routing.held_out"] = held.get("error") or held.get("skipped")
    out["routing.live"] = {m: {k: v[k] for k in ("routed", "triage_share", "classifier_method", "top1", "top3")}
                           for m, v in (routing.get("live") or {}).items()}
    held = location.get("held_out") or {}
    if "n_tested" in held:
        out["location.held_out"] = {k: held[k] for k in ("n_tested", "placed", "within_50m", "within_200m",
                                                          "confirm", "wrong_district")}
    elif held:
        out["location.held_out"] = held.get("error") or held.get("skipped")
    out["location.live"] = {m: {k: v[k] for k in ("status", "address_only", "address_only_placed", "within_200m",
                                                  "wrong_district")}
                            for m, v in (location.get("live") or {}).items()}
    labels = dedup.get("labels") or {}
    if "sets" in labels:
        out["dedup.labels"] = [{k: s[k] for k in ("set", "positives", "negatives", "recall_merged",
                                                  "precision_merged", "recall_flagged", "precision_flagged")}
                               for s in labels["sets"]]
    elif labels:
        out["dedup.labels"] = labels.get("error") or labels.get("skipped")
    out["dedup.live"] = {m: {k: v[k] for k in ("auto_merged", "merged", "suggested", "precision_merged")}
                         for m, v in (dedup.get("live") or {}).items()}
    return out
