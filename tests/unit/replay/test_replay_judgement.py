"""The replay report's `routing`, `location` and `dedup` sections, built from synthetic observed events and a
small synthetic export."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

from shared.events import Envelope
from shared.events.case import CaseMerged, CaseRouted
from shared.events.declaration import declaration_of
from shared.events.dedup import DedupDecided, DedupSuggested
from shared.records import records_for
from tools.replay.cli import Observed, Submission, form_for
from tools.replay.judgement import dedup_live, evaluate_file, headlines, location_live, routing_live
from tools.replay.sources import ReplayRecord

NOW = datetime(2025, 3, 14, 12, 0, tzinfo=UTC)
CODES = {"pothole": "pothole", "streetlight": "streetlight", "graffiti": "graffiti"}
# ~111 m per 0.001 degree of latitude
LAT, LONG = 42.3500, -71.0700


def record(n: int, service: str = "Pothole", *, lat: float | None = LAT, long: float | None = LONG,
           address: str | None = None, source_id: str | None = None, at: datetime = NOW) -> ReplayRecord:
    return ReplayRecord(
        source_format="open311_json", position=n, source_id=source_id or str(n), service_name=service,
        description=f"{service} report", lat=lat, long=long, address_string=address, zipcode=None,
        expected_agency="Public Works", requested_datetime=at, status="open", status_notes=None,
        free_text=f"{service} report",
    )


def sub(rec: ReplayRecord, routing: dict[str, Any] | None, case_id: str | None = None) -> Submission:
    s = Submission(rec, "free-text", f"tok-{rec.position}", submitted_at=0.0)
    s.case_id = case_id or f"case-{rec.position}"
    s.routing = routing
    return s


def routing(service_code: str, source: str = "keywords", *, method: str | None = "model",
            suggestions: list[tuple[str, float]] = (), district: str | None = "D1",
            location: dict[str, Any] | None = None) -> dict[str, Any]:
    classifier = None if method is None else {
        "method": method, "model_version": "boston-abc" if method == "model" else None,
        "suggestions": [{"service_code": c, "probability": p} for c, p in suggestions]}
    return {"service_code": service_code, "category_source": source, "classifier": classifier,
            "district": district, "location": location or {"status": "point"}}


def test_routing_live_counts_triage_and_methods_and_scores_top1_top3_on_text_classified_records():
    subs = [
        sub(record(1, "Pothole"), routing("pothole", suggestions=[("pothole", 0.9), ("graffiti", 0.05)])),
        sub(record(2, "Streetlight"), routing("pothole", suggestions=[("pothole", 0.6), ("streetlight", 0.3)])),
        sub(record(3, "Graffiti"), routing("unclassified", "fallback", suggestions=[("pothole", 0.3)])),
        sub(record(4, "Graffiti"), routing("graffiti", method="keywords")),
        sub(record(5, "Pothole"), routing("pothole", "service_code", method=None)),  # came with its category
        sub(record(6, "Not offered"), routing("pothole", suggestions=[("pothole", 0.8)])),  # cannot be judged
        sub(record(7, "Pothole"), None),  # never routed
    ]

    section = routing_live(subs, CODES)

    assert section["routed"] == 6
    assert section["category_source"] == {"keywords": 4, "fallback": 1, "service_code": 1}
    assert section["triage_share"] == round(1 / 6, 4)
    assert section["classifier_method"] == {"model": 4, "keywords": 1, "none": 1}
    assert section["model_versions"] == {"boston-abc": 4}
    assert section["text_classified"] == 4  # 1, 2, 3, 4
    assert section["top1"] == 0.5  # 1 and 4
    assert section["top3"] == 0.75  # and 2 (second suggestion); 3 was triaged without its service suggested
    calibration = section["calibration"]
    assert sum(b["n"] for b in calibration["bins"]) == 3  # the model's records 1, 2, 3
    assert calibration["ece"] == round((abs(0.9 - 1) + abs(0.6 - 0) + abs(0.3 - 0)) / 3, 4)


class District:
    def __init__(self, id_: str) -> None:
        self.id = id_


@dataclass
class Halves:
    """Two districts split at latitude `LAT` + 0.005: D1 south, D2 north."""

    def locate(self, lat: float, long: float) -> District | None:
        return District("D1" if lat < LAT + 0.005 else "D2")

    def fallback_location(self, lat: float, long: float) -> object | None:
        """City Hall: 1 degree south of everything else."""
        return object() if lat < LAT - 0.5 else None


def test_location_live_counts_statuses_and_measures_placed_points_against_the_records_own():
    placed = {"status": "placed", "confidence": 0.9, "matched": "1 MAIN ST"}
    subs = [
        sub(record(1), routing("pothole", location={**placed, "lat": LAT + 0.0003, "long": LONG})),  # ~33 m
        sub(record(2), routing("pothole", location={**placed, "lat": LAT + 0.0015, "long": LONG})),  # ~167 m
        sub(record(3), routing("pothole", district="D2", location={**placed, "lat": LAT + 0.009, "long": LONG})),
        sub(record(4, lat=None, long=None, address="1 Main St"),
            routing("pothole", location={**placed, "lat": LAT, "long": LONG})),  # address-only: no point to compare
        sub(record(5, lat=None, long=None, address="2 Main St"), routing("pothole", location={"status": "confirm"})),
        sub(record(6, lat=None, long=None, address="Nowhere"), routing("pothole", location={"status": "not_found"})),
        sub(record(7), routing("pothole")),
        sub(record(8), {**routing("pothole"), "location": None}),
        sub(record(9, lat=LAT - 1, long=LONG), routing("pothole", location={**placed, "lat": LAT, "long": LONG})),
    ]

    section = location_live(subs, Halves())

    assert section["status"] == {"placed": 5, "confirm": 1, "not_found": 1, "point": 1, "absent": 1}
    assert section["address_only"] == 3
    assert section["address_only_placed"] == round(1 / 3, 4)
    assert section["address_only_confirm"] == round(1 / 3, 4)
    assert (section["placed_with_own_point"], section["own_point_fallback"]) == (3, 1)
    assert section["within_50m"] == round(1 / 3, 4)
    assert section["within_200m"] == round(2 / 3, 4)
    assert (section["district_checked"], section["wrong_district"]) == (3, round(1 / 3, 4))


def test_address_only_sends_a_record_with_a_written_address_without_its_point_and_the_section_measures_it():
    with_address, without = record(1, address="10 Main St"), record(2)
    assert {"lat", "long"} <= set(form_for(with_address, "structured", CODES, "k"))
    sent = form_for(with_address, "structured", CODES, "k", address_only=True)
    assert "lat" not in sent and "long" not in sent and sent["address_string"] == "10 Main St"
    assert {"lat", "long"} <= set(form_for(without, "structured", CODES, "k", address_only=True)), "no address: kept"

    placed = {"status": "placed", "confidence": 0.9, "lat": LAT + 0.0003, "long": LONG}
    withheld = sub(with_address, routing("pothole", location=placed))
    withheld.point_withheld = True
    section = location_live([withheld, sub(record(3, address="12 Main St"), routing("pothole"))], Halves())

    assert (section["address_only"], section["address_only_placed"]) == (1, 1.0)
    assert (section["placed_with_own_point"], section["within_50m"], section["wrong_district"]) == (1, 1.0, 0.0)


def test_location_live_with_nothing_placed_gives_no_shares():
    section = location_live([sub(record(1), routing("pothole"))], None)
    assert section["status"] == {"point": 1}
    assert section["within_50m"] is None and section["wrong_district"] is None
    assert section["address_only_placed"] is None


def test_dedup_live_counts_the_bands_and_judges_pairs_of_replayed_cases_against_the_files_labels():
    day = datetime(2025, 3, 14, 15, 0, tzinfo=UTC)
    subs = [
        sub(record(1, address="10 Main St", at=day), None, "a"),
        sub(record(2, address="12 Main St", at=day + timedelta(hours=2)), None, "b"),  # same street, day, category
        sub(record(3, address="5 Elm St", at=day), None, "c"),  # another street
        sub(record(4, "Graffiti", address="14 Main St", at=day), None, "d"),  # another category
        sub(record(5, address="99 Oak Ave", at=day), None, "e"),
    ]
    merged = {"b": "a", "c": "a", "x": "a"}  # x: not one of ours
    decided = {"b": "a", "c": "a", "x": "a"}
    suggested = {"d": "a", "e": "outside"}  # e's match was not replayed: not judged

    section = dedup_live(subs, merged=merged, decided=decided, suggested=suggested, timezone="America/New_York")

    assert section["cases"] == 5
    assert (section["auto_merged"], section["merged"], section["suggested"]) == (2, 2, 2)
    assert section["labelled_pairs"] == 1  # a-b
    assert (section["merged_judged"], section["precision_merged"]) == (2, 0.5)
    assert (section["suggested_judged"], section["precision_suggested"]) == (1, 0.0)


def test_the_local_day_decides_a_same_street_label():
    # 23:30 and 00:30 in Boston are two days, one UTC day apart by the same clock
    first = datetime(2025, 3, 15, 3, 30, tzinfo=UTC)  # 23:30 EDT on the 14th
    subs = [sub(record(1, address="10 Main St", at=first), None, "a"),
            sub(record(2, address="12 Main St", at=first + timedelta(hours=1)), None, "b")]
    local = dedup_live(subs, merged={"b": "a"}, decided={}, suggested={}, timezone="America/New_York")
    utc = dedup_live(subs, merged={"b": "a"}, decided={}, suggested={}, timezone="UTC")
    assert (local["labelled_pairs"], local["precision_merged"]) == (0, 0.0)
    assert (utc["labelled_pairs"], utc["precision_merged"]) == (1, 1.0)


def _env(model: type, data: dict[str, Any]) -> Envelope:
    return Envelope.new_flow(model.model_validate(data), subject=str(data["case_id"]), producer="test", now=NOW)


def test_the_observer_keeps_routing_merges_and_both_dedup_bands_for_the_sections():
    routed = declaration_of(CaseRouted).example
    case_id = routed["case_id"]
    other = str(UUID(int=7))
    observed = Observed()
    s = Submission(record(1), "free-text", "tok-1", submitted_at=0.0)
    observed.opened_by_token["tok-1"] = case_id
    observed.register(s)
    observed.apply(_env(CaseRouted, routed), now=1.0)
    observed.apply(_env(CaseMerged, {**declaration_of(CaseMerged).example, "case_id": case_id,
                                     "merged_into": other}), now=2.0)
    observed.apply(_env(DedupDecided, {**declaration_of(DedupDecided).example, "case_id": case_id,
                                       "duplicate_of": other}), now=2.0)
    observed.apply(_env(DedupSuggested, {**declaration_of(DedupSuggested).example, "case_id": other,
                                         "duplicate_of": case_id}), now=3.0)

    assert s.routing is not None and s.routing["classifier"]["model_version"] == "demo-3f2a9c81d0e4"
    assert s.routing["location"]["status"] == "placed"
    assert observed.merged_into == {case_id: other}
    assert observed.dedup_decided == {case_id: other}
    assert observed.dedup_suggested == {other: case_id}


def _export(tmp_path: Path) -> Path:
    """An Open311 JSON export: 3 services × 12 requests over 36 days, each with a text, a written address
    and the point of that address, two requests of each street and day."""
    words = {"Pothole": "deep hole in the road asphalt", "Streetlight": "street light lamp out dark",
             "Graffiti": "paint tag spray on wall"}
    rows = []
    for i in range(36):
        service = list(words)[(i // 2) % 3]  # the two requests of a day: one service
        rows.append({
            "service_request_id": f"r{i}", "status": "open", "service_name": service,
            "service_code": service.casefold(),
            "description": f"{words[service]} number {i % 5}", "lat": LAT + 0.001 * (i % 6), "long": LONG,
            "address": f"{10 + i % 6} Main St", "requested_datetime": (NOW + timedelta(days=i // 2)).isoformat(),
        })
    path = tmp_path / "requests.json"
    path.write_text(json.dumps(rows), "utf-8")
    return path


def test_the_offline_evaluation_of_the_replayed_file_gives_each_sections_held_out_figures(tmp_path: Path):
    path = _export(tmp_path)
    records = list(records_for(path))

    offline = evaluate_file(path, records, layout=None, jurisdiction=None)

    routing_ = offline["routing"]
    assert routing_["n_test"] == 7 and routing_["n_train"] == 29  # the newest 20 %, never trained on
    assert routing_["model"]["top1"] == 1.0 and routing_["baseline"]["top1"] is not None
    assert routing_["model"]["calibration"]["ece"] is not None and routing_["seconds"] >= 0
    location = offline["location"]
    assert location["n_tested"] == 36 and location["within_200m"] is not None
    [labels] = offline["dedup"]["sets"]
    assert labels["positives"] > 0 and "precision_merged" in labels

    report = {"routing": {"held_out": routing_, "live": {}}, "location": {"held_out": location, "live": {}},
              "dedup": {"labels": offline["dedup"], "live": {}}}
    printed = headlines(report)
    assert printed["routing.held_out"]["top1"] == 1.0
    assert printed["location.held_out"]["n_tested"] == 36
    assert printed["dedup.labels"][0]["positives"] == labels["positives"]
    json.dumps(report)  # the report file is JSON


def test_a_file_that_cannot_be_measured_says_why_instead_of_failing(tmp_path: Path):
    path = tmp_path / "one.json"
    path.write_text(json.dumps([{"service_request_id": "1", "status": "open", "service_name": "Pothole",
                                 "description": "hole", "requested_datetime": NOW.isoformat()}]), "utf-8")

    offline = evaluate_file(path, list(records_for(path)), layout=None, jurisdiction=None)

    assert "error" in offline["routing"]
    assert offline["location"]["n_tested"] == 0
    assert headlines({"routing": {"held_out": offline["routing"]}})["routing.held_out"] == offline["routing"]["error"]


def test_with_nothing_flagged_the_labels_are_not_read():
    subs = [sub(record(1, address="10 Main St"), None, "a"), sub(record(2, address="12 Main St"), None, "b")]
    section = dedup_live(subs, merged={}, decided={}, suggested={"x": "a"})
    assert (section["suggested"], section["labelled_pairs"], section["precision_suggested"]) == (0, None, None)


def test_without_labels_the_bands_are_counted_and_no_pair_is_judged():
    subs = [sub(record(1, address="10 Main St"), None, "a"), sub(record(2, address="12 Main St"), None, "b")]
    section = dedup_live(subs, merged={"b": "a"}, decided={"b": "a"}, suggested={}, labels=False)
    assert (section["auto_merged"], section["merged"]) == (1, 1)
    assert (section["merged_judged"], section["precision_merged"], section["labelled_pairs"]) == (0, None, None)


def test_with_both_modes_a_free_text_case_merged_into_the_structured_case_of_its_record_is_a_labelled_pair():
    structured = [sub(record(1, address="10 Main St"), None, "s1"), sub(record(2, address="5 Elm St"), None, "s2")]
    free_text = [sub(record(1, address="10 Main St"), None, "f1"), sub(record(3, address="9 Oak Ave"), None, "f3")]
    merged = {"f1": "s1", "f3": "s2"}

    section = dedup_live(free_text, merged=merged, decided=merged, suggested={}, replayed=structured + free_text)
    alone = dedup_live(free_text, merged=merged, decided=merged, suggested={})

    assert (section["merged_judged"], section["precision_merged"], section["labelled_pairs"]) == (2, 0.5, 1)
    assert (alone["merged_judged"], alone["precision_merged"]) == (0, None)


def test_the_replay_reports_the_routing_figures_the_evaluate_command_prints_for_the_jurisdiction(tmp_path: Path):
    import argparse

    from shared.jurisdiction import load_jurisdiction
    from tools.evaluate import routing

    path = _export(tmp_path)
    demo = load_jurisdiction("demo")
    parser = argparse.ArgumentParser()
    routing.add_arguments(parser)

    replayed = evaluate_file(path, list(records_for(path, jurisdiction=demo)), layout=None, jurisdiction=demo)
    printed = routing.run(parser.parse_args([str(path), "--jurisdiction", "demo"]))

    held_out = {k: v for k, v in replayed["routing"].items() if k != "seconds"}
    assert held_out["n_catalogue"] > 0, "the jurisdiction's catalogue is learned, as the command learns it"
    command = {k: v for k, v in printed.items() if k in held_out}
    command["per_class"] = dict(list(command["per_class"].items())[:25])
    for figures in (held_out, command):
        figures["model"] = {k: v for k, v in figures["model"].items() if k != "train_seconds"}
    assert held_out == command
