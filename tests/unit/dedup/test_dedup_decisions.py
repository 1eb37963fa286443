"""Dedup decisions as pure rules: which point counts, the window and its clamping, where to search, what the
projection keeps, the decision's (or suggestion's) rounding and evidence, and what merges, unmerges and status
changes mean."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest

from services.dedup.config import jurisdiction_rules
from services.dedup.domain import (
    Candidate,
    DedupPolicy,
    Match,
    Point,
    after_merge,
    after_status_change,
    after_unmerge,
    decision,
    known_point,
    projected,
    search_for,
    suggestion,
    unmerged_pair,
    window,
)
from shared.events import CaseMerged, CaseRouted, CaseStatusChanged, CaseUnmerged, RoutingFields
from shared.jurisdiction import load_jurisdiction

T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)
EARLIEST, LATEST = datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC)


def routed(**kw: Any) -> CaseRouted:
    routing = RoutingFields(service_code="pothole", service_name="Pothole", category_source="keywords",
                            agency_responsible="Public Works", queue="roads", priority=3, rule_id="default",
                            config_version="v1")
    fields: dict[str, Any] = {"case_id": uuid4(), "service_request_id": "DEMO-26-000002", "jurisdiction_id": "demo",
                              "routing": routing, "description": "deep pothole", "lat": 45.415, "long": -75.7,
                              "requested_datetime": T0}
    return CaseRouted(**{**fields, **kw})


def never_fallback(_lat: float, _long: float) -> bool:
    return False


def test_a_point_is_known_when_both_coordinates_are_there_and_it_is_no_stand_in() -> None:
    assert known_point(45.4, -75.7, never_fallback) == Point(45.4, -75.7)
    assert known_point(None, -75.7, never_fallback) is None
    assert known_point(45.4, None, never_fallback) is None
    assert known_point(45.4, -75.7, lambda lat, long: True) is None


def test_a_missing_coordinate_is_not_even_asked_about() -> None:
    def must_not_be_called(_lat: float, _long: float) -> bool:
        raise AssertionError("asked whether a missing point is a stand-in")

    assert known_point(None, None, must_not_be_called) is None


def test_the_window_spans_the_hours_either_side() -> None:
    assert window(T0, 6) == (T0 - timedelta(hours=6), T0 + timedelta(hours=6))
    assert window(T0, 0) == (T0, T0)


@pytest.mark.parametrize(("at", "hours", "expected"), [
    (datetime(1, 1, 2, tzinfo=UTC), 72, (EARLIEST, datetime(1, 1, 5, tzinfo=UTC))),
    (datetime(9999, 12, 30, tzinfo=UTC), 72, (datetime(9999, 12, 27, tzinfo=UTC), LATEST)),
    (T0, float(10**9), (EARLIEST, LATEST)),
], ids=["year_1", "year_9999", "huge_window"])
def test_the_window_is_clamped_to_representable_times(at: datetime, hours: float,
                                                       expected: tuple[datetime, datetime]) -> None:
    assert window(at, hours) == expected


def test_the_search_is_the_categorys_radius_and_window_around_the_case() -> None:
    case = routed()
    search = search_for(case, Point(45.415, -75.7), DedupPolicy(radius_m=30, window_hours=336))

    assert search.case_id == case.case_id and search.service_code == "pothole"
    assert search.point == Point(45.415, -75.7) and search.radius_m == 30 and search.limit == 50
    assert (search.since, search.until) == (T0 - timedelta(hours=336), T0 + timedelta(hours=336))


def _match(distance: float = 12.345678, score: float = 0.876543, sim: float = 0.912345,
           closeness: float = 0.588888) -> Match:
    cand = Candidate(case_id=uuid4(), service_request_id="DEMO-26-000001", description="pothole",
                     distance_m=distance, requested_datetime=T0 - timedelta(hours=1))
    return Match(candidate=cand, score=score, text_similarity=sim, distance_score=closeness)


def test_the_projection_keeps_the_case_its_point_and_what_it_duplicates() -> None:
    case, match = routed(), _match()

    kept = projected(case, Point(45.415, -75.7), match)
    assert (kept.case_id, kept.service_request_id, kept.service_code, kept.description) == (
        case.case_id, case.service_request_id, "pothole", "deep pothole")
    assert kept.location_known and kept.requested_datetime == T0 and kept.duplicate_of == match.candidate.case_id

    unlocated = projected(case, None, None)
    assert not unlocated.location_known and unlocated.point is None and unlocated.duplicate_of is None


def test_a_decision_is_rounded_and_carries_its_policy_and_evidence() -> None:
    case, match = routed(), _match()

    decided = decision(case, match, DedupPolicy(radius_m=30, window_hours=336))

    assert (decided.case_id, decided.duplicate_of) == (case.case_id, match.candidate.case_id)
    assert (decided.score, decided.distance_m, decided.text_similarity) == (0.8765, 12.35, 0.9123)
    assert (decided.radius_m, decided.window_hours) == (30, 336)
    assert decided.evidence == {"service_code": "pothole", "duplicate_of_service_request_id": "DEMO-26-000001",
                                "distance_score": 0.5889}


def test_a_merge_closes_the_case_as_a_duplicate_of_its_survivor() -> None:
    survivor = uuid4()
    merged = CaseMerged(case_id=uuid4(), service_request_id="DEMO-26-000002", jurisdiction_id="demo",
                        merged_into=survivor, merged_into_service_request_id="DEMO-26-000001", status_notes="dup")

    change = after_merge(merged)
    assert (change.case_id, change.open, change.duplicate_of) == (merged.case_id, False, survivor)


@pytest.mark.parametrize(("status", "is_open"), [("closed", False), ("open", True)])
def test_a_status_change_opens_or_closes_the_case_and_keeps_what_it_duplicates(status: str,
                                                                                is_open: bool) -> None:
    changed = CaseStatusChanged(case_id=uuid4(), service_request_id="DEMO-26-000002", jurisdiction_id="demo",
                                status=status)

    change = after_status_change(changed)
    assert (change.case_id, change.open, change.duplicate_of) == (changed.case_id, is_open, None)


def test_the_jurisdiction_gives_each_category_its_policy_and_its_stand_in_points() -> None:
    policy_for, is_fallback = jurisdiction_rules(load_jurisdiction("demo"))

    assert policy_for("pothole") == DedupPolicy(radius_m=30, window_hours=336, threshold=0.6, review_threshold=0.45)
    assert policy_for("no-such-code") == DedupPolicy(radius_m=50, window_hours=72)
    assert is_fallback(45.4175, -75.68) and not is_fallback(45.415, -75.70)


def test_a_suggestion_carries_the_decisions_measures_and_both_thresholds() -> None:
    case, match = routed(), _match()
    policy = DedupPolicy(radius_m=30, window_hours=336, threshold=0.9, review_threshold=0.4)

    suggested = suggestion(case, match, policy)

    decided = decision(case, match, policy)
    assert suggested.model_dump(exclude={"review_threshold", "merge_threshold"}) == decided.model_dump()
    assert (suggested.review_threshold, suggested.merge_threshold) == (0.4, 0.9)


@pytest.mark.parametrize(("status", "is_open"), [("open", True), ("closed", False)])
def test_an_unmerge_forgets_what_the_case_duplicated_and_names_the_pair_either_way_round(status: str,
                                                                                         is_open: bool) -> None:
    a, b = uuid4(), uuid4()
    unmerged = CaseUnmerged(case_id=a, service_request_id="DEMO-26-000002", jurisdiction_id="demo", actor="u1",
                            actor_role="supervisor", unmerged_from=b, unmerged_from_service_request_id="DEMO-26-000001",
                            status=status)  # type: ignore[arg-type]

    change = after_unmerge(unmerged)
    assert (change.case_id, change.open, change.duplicate_of, change.clear_duplicate) == (a, is_open, None, True)
    reverse = unmerged.model_copy(update={"case_id": b, "unmerged_from": a})
    assert unmerged_pair(unmerged) == unmerged_pair(reverse) == tuple(sorted((a, b), key=str))


def test_a_review_threshold_above_the_merge_threshold_is_refused() -> None:
    with pytest.raises(ValueError, match="review_threshold 0.7 is above threshold 0.6"):
        DedupPolicy(review_threshold=0.7)


def test_the_jurisdiction_gives_each_category_its_review_threshold() -> None:
    policy_for, _ = jurisdiction_rules(load_jurisdiction("demo"))

    assert policy_for("pothole").review_threshold == 0.45 and policy_for("pothole").threshold == 0.6


def test_a_reporter_is_known_by_a_contact_key_and_unknown_without_one_or_by_an_anonymous_key() -> None:
    from services.dedup.domain import known_reporter
    from shared.contacts import anonymous_contact_key, contact_key

    key = contact_key("phone", "+16175550123")
    assert known_reporter(key) == key
    # Keys of one message (shared.contacts.anonymous_contact_key) name nobody: never "the same reporter".
    assert known_reporter(anonymous_contact_key("web", "token-1")) is None
    assert known_reporter(None) is None and known_reporter("") is None and known_reporter("  ") is None
