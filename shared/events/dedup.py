"""Duplicate-detection events (topic `dedup.decisions`, keyed by `case_id`): likely duplicates, v1."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from pydantic import Field

from shared.events.declaration import event
from shared.events.envelope import EventData
from shared.events.topics import DEDUP_DECISIONS


class DedupMatch(EventData):
    """A match the duplicate detector found: `case_id` looks like a duplicate of `duplicate_of`.
    `distance_m` in metres; `text_similarity` and `score` in [0, 1]; the category's window (hours) and
    radius (metres) it was searched in."""

    case_id: UUID
    duplicate_of: UUID
    score: float = Field(ge=0, le=1)
    distance_m: float = Field(ge=0)
    text_similarity: float = Field(ge=0, le=1)
    window_hours: float
    radius_m: float
    evidence: dict[str, Any] = Field(default_factory=dict)


@event(
    topic=DEDUP_DECISIONS,
    producers=("dedup",),
    consumers=("case",),
    example={
        "case_id": "6f1c8f5e-2f7a-4c55-9b1e-0d1f2a3b4c5d", "duplicate_of": "0b7a1a2c-3d4e-4f50-8a6b-7c8d9e0f1a2b",
        "score": 0.87, "distance_m": 14.2, "text_similarity": 0.8, "window_hours": 72.0, "radius_m": 50.0,
        "evidence": {"same_service_code": True},
    },
)
class DedupDecided(DedupMatch):
    """`dedup.decided` v1, from the duplicate detector: `case_id` is a duplicate of `duplicate_of`, with a
    score at or above the category's auto-merge threshold; the case service merges them."""

    event_type = "dedup.decided"
    schema_version = 1


@event(
    topic=DEDUP_DECISIONS,
    producers=("dedup",),
    consumers=("case",),
    example={
        "case_id": "6f1c8f5e-2f7a-4c55-9b1e-0d1f2a3b4c5d", "duplicate_of": "0b7a1a2c-3d4e-4f50-8a6b-7c8d9e0f1a2b",
        "score": 0.48, "distance_m": 40.0, "text_similarity": 0.5, "window_hours": 72.0, "radius_m": 50.0,
        "evidence": {"same_service_code": True}, "review_threshold": 0.35, "merge_threshold": 0.55,
    },
)
class DedupSuggested(DedupMatch):
    """`dedup.suggested` v1, from the duplicate detector: `case_id` may be a duplicate of `duplicate_of`, with
    a score at or above the review threshold but below the auto-merge threshold; the case service puts it
    on the staff review list, where staff accept (merge) or reject it."""

    event_type = "dedup.suggested"
    schema_version = 1

    review_threshold: float = Field(ge=0, le=1)
    merge_threshold: float = Field(ge=0, le=1)
