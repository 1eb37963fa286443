"""Dedup domain: pure duplicate scoring and decisions (where to look, what to keep, what to announce); no I/O."""

from services.dedup.domain.decisions import (
    CANDIDATE_LIMIT,
    IsFallback,
    Point,
    PolicyFor,
    ProjectedCase,
    Search,
    TargetChange,
    after_merge,
    after_status_change,
    decision,
    known_point,
    projected,
    search_for,
    window,
)
from services.dedup.domain.scoring import Candidate, DedupPolicy, Match, best_match, score, text_similarity

__all__ = [
    "CANDIDATE_LIMIT",
    "Candidate",
    "DedupPolicy",
    "IsFallback",
    "Match",
    "Point",
    "PolicyFor",
    "ProjectedCase",
    "Search",
    "TargetChange",
    "after_merge",
    "after_status_change",
    "best_match",
    "decision",
    "known_point",
    "projected",
    "score",
    "search_for",
    "text_similarity",
    "window",
]
