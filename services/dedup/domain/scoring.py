"""How alike two reports are: distance within a radius and text similarity, combined into one score.

Distances are metres, windows hours, scores in [0, 1]. The rule: a candidate must have the same
`service_code`, lie within the category's radius, have been requested within its window, and reach
`threshold` on the combined score to be merged automatically; a best candidate scoring from
`review_threshold` up to `threshold` is suggested to staff instead (`verdict`). Text similarity uses rapidfuzz's token-set ratio on case-folded,
accent- and punctuation-stripped text, so word order and repeated words do not matter.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from uuid import UUID

from rapidfuzz import fuzz, utils

DISTANCE_WEIGHT = 0.6
TEXT_WEIGHT = 0.4
NEUTRAL_TEXT = 0.5
"""Similarity assumed when either text is empty: place and kind alone then decide."""


@dataclass(frozen=True)
class DedupPolicy:
    """Per-category thresholds: `radius_m` (metres), `window_hours`, the combined score `threshold` at or
    above which a case is merged automatically, and `review_threshold` (<= `threshold`) at or above which
    it is suggested to staff.

    Raises:
        ValueError: `review_threshold` above `threshold`.
    """

    radius_m: float = 50.0
    window_hours: float = 72.0
    threshold: float = 0.55
    review_threshold: float = 0.35

    def __post_init__(self) -> None:
        if self.review_threshold > self.threshold:
            raise ValueError(f"review_threshold {self.review_threshold} is above threshold {self.threshold}")


@dataclass(frozen=True)
class Candidate:
    """An open case near the new one, as the projection found it."""

    case_id: UUID
    service_request_id: str
    description: str
    distance_m: float
    requested_datetime: datetime


@dataclass(frozen=True)
class Match:
    """A candidate scored against a new report: combined `score`, `text_similarity` and closeness
    (`distance_score`), each in [0, 1]."""

    candidate: Candidate
    score: float
    text_similarity: float
    distance_score: float


def _norm(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    # rapidfuzz's default_process drops punctuation, so "nid-de-poule" equals "nid de poule".
    return utils.default_process("".join(c for c in decomposed if not unicodedata.combining(c)))


def text_similarity(a: str, b: str) -> float:
    """Similarity of two report texts in [0, 1]; `NEUTRAL_TEXT` when either is empty."""
    na, nb = _norm(a or ""), _norm(b or "")
    if not na or not nb:
        return NEUTRAL_TEXT
    return fuzz.token_set_ratio(na, nb) / 100.0


def _closeness(distance_m: float, radius_m: float) -> float:
    """1.0 at the same point, falling linearly to 0.0 at `radius_m`; always in [0, 1] (NaN gives 0.0).

    With a radius of 0 only the very same point counts, and it counts fully.
    """
    if not distance_m <= radius_m:  # also NaN
        return 0.0
    if radius_m <= 0:
        return 1.0
    return min(1.0, max(0.0, 1.0 - distance_m / radius_m))


def score(candidate: Candidate, description: str, policy: DedupPolicy) -> Match:
    """Score one candidate against a new report's text under `policy`."""
    distance_score = _closeness(candidate.distance_m, policy.radius_m)
    sim = text_similarity(description, candidate.description)
    return Match(candidate, DISTANCE_WEIGHT * distance_score + TEXT_WEIGHT * sim, sim, distance_score)


def best_match(candidates: list[Candidate], description: str, policy: DedupPolicy, *, floor: float | None = None,
               excluded: Collection[UUID] = ()) -> Match | None:
    """The highest-scoring candidate at or above `floor` (default: the merge `threshold`); ties go to the
    older case, then the id. Candidates in `excluded` (cases staff unmerged from this one) never count."""
    floor = policy.threshold if floor is None else floor
    matches = [score(c, description, policy) for c in candidates
               if c.distance_m <= policy.radius_m and c.case_id not in excluded]
    matches = [m for m in matches if m.score >= floor]
    if not matches:
        return None
    matches.sort(key=lambda m: (-m.score, m.candidate.requested_datetime, str(m.candidate.case_id)))
    return matches[0]


Verdict = Literal["merge", "review"]


def verdict(match: Match | None, policy: DedupPolicy) -> Verdict | None:
    """``merge`` at or above the merge `threshold`, ``review`` from `review_threshold` up to it, else None."""
    if match is None or match.score < policy.review_threshold:
        return None
    return "merge" if match.score >= policy.threshold else "review"
