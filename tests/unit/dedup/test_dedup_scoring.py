"""Duplicate scoring: words (in English and French), place, time and reporter decide; two problems at one
point are at most suggested; another category or a city's stand-in point never merges; ties go to the
older case."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from services.dedup.domain import known_point, search_for
from services.dedup.domain.scoring import (
    NEUTRAL_TEXT,
    Candidate,
    DedupPolicy,
    TextSimilarity,
    best_match,
    form_labels,
    score,
    text_similarity,
    verdict,
)
from shared.events import CaseRouted, RoutingFields
from shared.events.routing import ROUTING_EXAMPLE
from tools.evaluate.dedup import Report, judge

T0 = datetime(2026, 3, 1, tzinfo=UTC)
POLICY = DedupPolicy(radius_m=50, window_hours=72)  # the defaults: merge at 0.6, suggest from 0.45

SAME_PROBLEM = [
    ("Deep pothole in the right lane", "pothole right lane, very deep"),
    ("Street light out on the corner", "street light is out at the corner"),
    ("Nid-de-poule ÉNORME rue Principale", "rue principale nid de poule enorme"),
    ("Lampadaire éteint au coin de la rue", "le lampadaire est éteint, coin de rue"),
    ("Voiture garée sur la piste cyclable", "voiture stationnée sur la piste cyclable"),
]
DIFFERENT_PROBLEMS = [
    ("Deep pothole in the right lane", "dog barking all night long next door"),
    ("Street light out on the corner", "graffiti sprayed on the school wall"),
    ("Nid-de-poule énorme rue Principale", "chien qui aboie toute la nuit"),
    ("Lampadaire éteint au coin de la rue", "ordures non ramassées depuis lundi"),
    ("Car parked on the sidewalk", "branches tombées sur le trottoir après la tempête"),
]


def _cand(distance: float, text: str, age_h: float = 0, reporter: str | None = None) -> Candidate:
    return Candidate(case_id=uuid4(), service_request_id="X", description=text, distance_m=distance,
                     requested_datetime=T0 - timedelta(hours=age_h), reporter=reporter)


@pytest.mark.parametrize(("a", "b"), SAME_PROBLEM)
def test_one_problem_in_other_words_is_alike_in_english_and_in_french(a: str, b: str) -> None:
    assert text_similarity(a, b) > 0.6


@pytest.mark.parametrize(("a", "b"), DIFFERENT_PROBLEMS)
def test_two_problems_share_few_character_ngrams_in_either_language(a: str, b: str) -> None:
    assert text_similarity(a, b) < 0.2


def test_case_accents_punctuation_and_word_order_do_not_matter_and_empty_text_is_neutral() -> None:
    assert text_similarity("Nid-de-poule ÉNORME", "énorme nid de poule") > 0.95
    assert text_similarity("", "anything") == NEUTRAL_TEXT
    assert text_similarity("!!!", "pothole") == NEUTRAL_TEXT
    assert text_similarity("Bouche d'égout ouverte, manœuvre dangereuse", "bouche d'egout ouverte manoeuvre dangereuse") > 0.95


@pytest.mark.parametrize(("a", "b"), DIFFERENT_PROBLEMS)
def test_two_problems_at_one_point_at_one_time_are_at_most_suggested(a: str, b: str) -> None:
    match = score(_cand(0.0, b), a, POLICY, at=T0)
    assert match.distance_score == 1.0 and match.time_score == 1.0
    assert POLICY.review_threshold <= match.score < POLICY.threshold
    assert verdict(match, POLICY) == "review"


@pytest.mark.parametrize(("a", "b"), SAME_PROBLEM)
def test_one_problem_reported_twice_nearby_the_same_day_is_merged(a: str, b: str) -> None:
    match = best_match([_cand(12.0, b, age_h=3)], a, POLICY, at=T0, floor=POLICY.review_threshold)
    assert match is not None and verdict(match, POLICY) == "merge"


def test_time_counts_down_to_the_edge_of_the_window() -> None:
    text = "deep pothole right lane"
    now, later = score(_cand(10, text), text, POLICY, at=T0), score(_cand(10, text, age_h=60), text, POLICY, at=T0)
    assert now.time_score == 1.0 and later.time_score == pytest.approx(1 - 60 / 72)
    assert later.score < now.score
    assert score(_cand(10, text, age_h=80), text, POLICY, at=T0).time_score == 0.0


def test_the_same_known_reporter_lifts_the_score_and_an_unknown_one_changes_nothing() -> None:
    a, b = "Deep pothole in the right lane", "branches down on the road"
    alone = score(_cand(20, b), a, POLICY, at=T0)
    same = score(_cand(20, b, reporter="ck:1"), a, POLICY, at=T0, reporter="ck:1")
    other = score(_cand(20, b, reporter="ck:2"), a, POLICY, at=T0, reporter="ck:1")
    unknown = score(_cand(20, b, reporter="ck:1"), a, POLICY, at=T0)
    assert same.same_reporter and same.score > alone.score
    assert other.score == unknown.score == alone.score


def test_words_every_form_carries_weigh_nothing_once_fitted_on_a_citys_texts() -> None:
    form = "Make of the abandoned car: {} | Color of the abandoned car: {} | Additional Details/Comments: {}"
    history = [form.format(make, colour, note) for make, colour, note in
               [("Honda", "red", "flat tyres"), ("Ford", "blue", "no plates"), ("Toyota", "white", "broken window"),
                ("Nissan", "black", "rusted"), ("Subaru", "green", "been here weeks")] * 12]
    fitted = TextSimilarity.fit(history)
    assert "make of the abandoned car" in fitted.labels and fitted.fitted_on == 60
    a, b = form.format("Honda", "red", "flat tyres"), form.format("Ford", "blue", "no plates")
    assert fitted(a, b) < 0.1 < text_similarity(a, b)
    assert fitted(a, form.format("honda", "RED", "flat tyres")) > 0.95
    assert form_labels(["Details: x"] * 3) == frozenset()  # fewer than 5 texts: no form


def test_fewer_texts_than_an_idf_needs_give_the_unfitted_measure() -> None:
    assert TextSimilarity.fit(["pothole"] * 10).fitted_on == 0


def test_equal_scores_go_to_the_older_case_and_an_excluded_candidate_never_matches() -> None:
    older, newer = _cand(10, "same words", age_h=5), _cand(10, "same words", age_h=5)
    older = Candidate(**{**older.__dict__, "requested_datetime": T0 - timedelta(hours=6)})
    assert best_match([newer, older], "same words", POLICY, at=T0 - timedelta(hours=5)) is not None
    first, second = _cand(5, "deep pothole right lane"), _cand(10, "deep pothole right lane")
    assert best_match([first, second], "deep pothole right lane", POLICY).candidate is first  # type: ignore[union-attr]
    assert best_match([first, second], "deep pothole right lane", POLICY,
                      excluded={first.case_id}).candidate is second  # type: ignore[union-attr]
    assert best_match([_cand(51, "deep pothole right lane")], "deep pothole right lane", POLICY) is None


def test_the_search_asks_only_for_the_cases_own_category() -> None:
    routed = CaseRouted(case_id=uuid4(), service_request_id="X-1", jurisdiction_id="demo", description="pothole",
                        lat=45.415, long=-75.70, requested_datetime=T0,
                        routing=RoutingFields.model_validate({**ROUTING_EXAMPLE, "service_code": "pothole"}))
    search = search_for(routed, known_point(45.415, -75.70, lambda _a, _b: False), POLICY)  # type: ignore[arg-type]
    assert search.service_code == "pothole"


def _report(key: str, category: str, text: str = "deep pothole in the right lane", *, fallback: bool = False) -> Report:
    return Report(key=key, category=category, text=text, lat=45.415, long=-75.70, at=T0, fallback=fallback)


def test_another_category_at_the_same_point_in_the_same_words_never_merges() -> None:
    judged = judge(_report("a", "pothole"), _report("b", "streetlight"), POLICY, similarity=1.0)
    assert judged.outcome is None and judged.why == "category"
    assert judge(_report("a", "pothole"), _report("b", "pothole"), POLICY, similarity=1.0).outcome == "merge"


def test_a_citys_stand_in_point_never_counts_as_a_place() -> None:
    assert known_point(45.4175, -75.68, lambda _a, _b: True) is None
    judged = judge(_report("a", "pothole", fallback=True), _report("b", "pothole"), POLICY, similarity=1.0)
    assert judged.outcome is None and judged.why == "place"


# -- the words of a written place are the distance's, not the text's ------------------------------------


@pytest.mark.parametrize(("a", "b"), [
    ("Dead tree at 4 Elm Street", "Dog at 1 Elm Street"),  # the pair that was auto-merged (text 0.66)
    ("Bench broken in front of 1200 Main St", "Ice on the sidewalk in front of 1210 Main St"),
    ("Nid-de-poule énorme au 1234 rue Ontario Est", "Graffitis sur le mur au 1236 rue Ontario Est"),
    ("Streetlight out at the corner of Elm Street and Oak Avenue", "Trash bags at Elm Street & Oak Avenue"),
])
def test_the_words_of_a_written_address_do_not_make_two_problems_alike(a: str, b: str) -> None:
    assert text_similarity(a, b) < 0.35
    assert text_similarity(a, b, TextSimilarity.fit([a, b] * 30)) < 0.35


def test_one_problem_written_at_one_address_is_still_alike() -> None:
    assert text_similarity("Deep pothole at 4 Elm Street", "deep pothole in front of 4 Elm St") > 0.6


def test_a_text_that_is_only_an_address_says_nothing_of_the_problem() -> None:
    assert text_similarity("4 Elm Street", "1 Elm Street") == NEUTRAL_TEXT


def test_two_problems_at_nearby_addresses_are_not_merged() -> None:
    match = score(_cand(12, "Dog at 1 Elm Street"), "Dead tree at 4 Elm Street", POLICY, at=T0)
    assert verdict(match, POLICY) != "merge"


def test_a_policy_that_never_auto_merges_only_suggests() -> None:
    policy = DedupPolicy(radius_m=50, window_hours=72, auto_merge=False)
    match = score(_cand(0, "deep pothole in the right lane"), "deep pothole in the right lane", policy, at=T0)
    assert match.score > policy.threshold and verdict(match, policy) == "review"
