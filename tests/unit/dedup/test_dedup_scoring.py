"""Duplicate scoring: place, kind and words decide; ties go to the older case."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

from services.dedup.domain.scoring import (
    NEUTRAL_TEXT,
    Candidate,
    DedupPolicy,
    best_match,
    score,
    text_similarity,
    verdict,
)

T0 = datetime(2026, 3, 1, tzinfo=UTC)
POLICY = DedupPolicy(radius_m=50, window_hours=72, threshold=0.55)


def _cand(distance: float, text: str, age_h: float = 0) -> Candidate:
    return Candidate(case_id=uuid4(), service_request_id="X", description=text, distance_m=distance,
                     requested_datetime=T0 - timedelta(hours=age_h))


def test_text_similarity_ignores_case_accents_and_word_order() -> None:
    assert text_similarity("Nid-de-poule ÉNORME rue Principale", "rue principale nid de poule enorme") > 0.9
    assert text_similarity("", "anything") == NEUTRAL_TEXT
    assert text_similarity("streetlight out", "dog barking all night") < 0.5


def test_a_close_report_with_similar_words_is_a_duplicate_and_a_far_one_is_not() -> None:
    near = _cand(8, "deep pothole right lane")
    far = _cand(49, "graffiti on wall")
    match = best_match([far, near], "pothole in the right lane, deep", POLICY)
    assert match is not None and match.candidate is near
    assert best_match([far], "pothole in the right lane, deep", POLICY) is None
    assert best_match([_cand(51, "deep pothole right lane")], "deep pothole right lane", POLICY) is None


def test_equal_scores_go_to_the_older_case() -> None:
    older, newer = _cand(10, "same words", age_h=5), _cand(10, "same words", age_h=1)
    assert best_match([newer, older], "same words", POLICY).candidate is older


def test_below_the_merge_threshold_a_match_is_for_review_down_to_the_review_threshold() -> None:
    policy = DedupPolicy(radius_m=50, window_hours=72, threshold=0.55, review_threshold=0.35)
    sure, unsure, weak = _cand(5, "deep pothole right lane"), _cand(30, "pothole near the school"), _cand(48, "graffiti")
    text = "pothole in the right lane, deep"

    assert verdict(best_match([sure], text, policy, floor=policy.review_threshold), policy) == "merge"
    unsure_match = best_match([unsure], text, policy, floor=policy.review_threshold)
    assert unsure_match is not None and 0.35 <= unsure_match.score < 0.55
    assert verdict(unsure_match, policy) == "review"
    assert best_match([unsure], text, policy) is None  # the merge threshold is the default floor
    assert best_match([weak], text, policy, floor=policy.review_threshold) is None
    assert verdict(None, policy) is None
    assert verdict(score(weak, text, policy), policy) is None


def test_an_excluded_candidate_never_matches_and_the_next_best_does() -> None:
    first, second = _cand(5, "deep pothole right lane"), _cand(10, "deep pothole right lane")
    text = "deep pothole right lane"

    assert best_match([first, second], text, POLICY).candidate is first  # type: ignore[union-attr]
    assert best_match([first, second], text, POLICY, excluded={first.case_id}).candidate is second  # type: ignore[union-attr]
    assert best_match([first], text, POLICY, excluded={first.case_id}) is None
