"""Duplicate scoring at its edges: empty texts, radius 0, ties, odd distances; scores stay in [0, 1]."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from uuid import UUID

from hypothesis import given, settings
from hypothesis import strategies as st

from services.dedup.domain.scoring import NEUTRAL_TEXT, Candidate, DedupPolicy, best_match, score, text_similarity

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def _cand(distance: float, text: str = "deep pothole right lane", n: int = 1, age_h: float = 0) -> Candidate:
    return Candidate(case_id=UUID(int=n), service_request_id=f"X-{n}", description=text, distance_m=distance,
                     requested_datetime=T0 - timedelta(hours=age_h))


def test_with_radius_zero_a_report_at_the_very_same_point_is_as_close_as_can_be() -> None:
    exact = DedupPolicy(radius_m=0, window_hours=72, threshold=0.55)
    match = best_match([_cand(0.0)], "deep pothole right lane", exact)
    assert match is not None and match.distance_score == 1.0 and match.score == 1.0
    assert best_match([_cand(0.5)], "deep pothole right lane", exact) is None


def test_a_negative_distance_never_lifts_a_score_above_one() -> None:
    match = score(_cand(-100.0), "deep pothole right lane", DedupPolicy())
    assert 0.0 <= match.distance_score <= 1.0 and 0.0 <= match.score <= 1.0


def test_a_nan_distance_is_never_a_match() -> None:
    assert best_match([_cand(math.nan)], "deep pothole right lane", DedupPolicy()) is None
    assert score(_cand(math.nan), "x", DedupPolicy()).distance_score == 0.0


def test_texts_without_words_are_neutral_not_identical() -> None:
    for a, b in (("", ""), ("   ", "pothole"), ("!!!", "???"), ("🕳️🚗", "🕳️🚗")):
        assert text_similarity(a, b) == NEUTRAL_TEXT


WORDS = st.lists(st.sampled_from(["pothole", "deep", "lane", "light", "out", "graffiti", "nid", "de", "poule", "é", ""]),
                 max_size=6).map(" ".join)


@settings(max_examples=150, deadline=None)
@given(
    cands=st.lists(st.tuples(st.floats(0, 200) | st.sampled_from([math.nan, -1.0, math.inf]), WORDS,
                             st.integers(0, 3)), max_size=6),
    text=WORDS,
    radius=st.sampled_from([0.0, 0.001, 50.0, 1e9]),
)
def test_the_best_match_is_in_range_and_independent_of_candidate_order(cands, text, radius) -> None:  # noqa: ANN001
    policy = DedupPolicy(radius_m=radius, window_hours=72, threshold=0.55)
    candidates = [_cand(d, t, n=i, age_h=age) for i, (d, t, age) in enumerate(cands)]
    for c in candidates:
        m = score(c, text, policy)
        assert 0.0 <= m.score <= 1.0 and 0.0 <= m.distance_score <= 1.0 and 0.0 <= m.text_similarity <= 1.0
    forward = best_match(candidates, text, policy)
    backward = best_match(list(reversed(candidates)), text, policy)
    assert (forward and forward.candidate) == (backward and backward.candidate)
    if forward is not None:
        assert forward.score >= policy.threshold and forward.candidate.distance_m <= radius
