"""Dedup settings: the common `shared.settings.Settings` (jurisdiction, Kafka, PostgreSQL) and the
per-category rules read from the jurisdiction's files; the duplicate detector has no setting of its own."""

from __future__ import annotations

from services.dedup.domain import DedupPolicy, IsFallback, PolicyFor
from shared.jurisdiction import Jurisdiction

SERVICE = "dedup"


def jurisdiction_rules(jurisdiction: Jurisdiction) -> tuple[PolicyFor, IsFallback]:
    """`policy_for(service_code)`: the category's `dedup` radius (metres), window (hours), merge and review
    score thresholds from the jurisdiction (its unclassified service's for an unknown code); a case in
    triage (the unclassified service itself) is never merged automatically, only suggested, since that one
    category holds every kind of problem. `is_fallback(lat, long)`: whether a point is one of its "unknown
    location" points (within tolerance)."""
    triage = jurisdiction.unclassified.service_code

    def policy_for(code: str) -> DedupPolicy:
        p = jurisdiction.dedup_policy(code)
        return DedupPolicy(radius_m=p.radius_m, window_hours=p.window_hours, threshold=p.merge_threshold,
                           review_threshold=p.review_threshold, auto_merge=code != triage)

    def is_fallback(lat: float, long: float) -> bool:
        return jurisdiction.fallback_location(lat, long) is not None

    return policy_for, is_fallback
