"""Which events of a decision batch the case service may apply set-based first (`decision_batch.split`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

from services.case.service_layer.decision_batch import split
from shared.events import DedupSuggested, Envelope, RoutingDecided
from shared.events.routing import RoutingFields
from shared.kafka import Delivery

NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


def decided(case_id: UUID) -> RoutingDecided:
    return RoutingDecided(case_id=case_id, routing=RoutingFields(
        service_code="pothole", service_name="Pothole", category_source="keywords", agency_responsible="Roads",
        queue="roads", priority=3, rule_id="r1", config_version="v1"))


def suggested(case_id: UUID, duplicate_of: UUID) -> DedupSuggested:
    return DedupSuggested(case_id=case_id, duplicate_of=duplicate_of, score=0.7, distance_m=10,
                          text_similarity=0.8, window_hours=48, radius_m=100, review_threshold=0.6,
                          merge_threshold=0.9)


def batch(*payloads: Any) -> list[tuple[Envelope, Delivery]]:
    return [(Envelope.new_flow(p, subject=str(p.case_id), producer="x", now=NOW),
             Delivery(topic="t", partition=0, offset=i, consumer="case")) for i, p in enumerate(payloads)]


def test_the_decisions_of_a_batch_go_first_when_no_other_event_names_their_cases() -> None:
    a, b, c, d = (uuid4() for _ in range(4))
    assert split(batch(decided(a), suggested(c, d), decided(b))) == ([0, 2], [1])
    assert split(batch(decided(a), decided(b))) == ([0, 1], [])


def test_a_batch_keeps_its_order_when_another_event_names_a_decided_case_or_has_one_decision() -> None:
    a, b, c = (uuid4() for _ in range(3))
    assert split(batch(decided(a), suggested(c, b), decided(b))) is None, "duplicate_of names a decided case"
    assert split(batch(decided(a), suggested(a, c), decided(b))) is None, "case_id names a decided case"
    assert split(batch(decided(a), suggested(c, uuid4()))) is None, "one decision: nothing to gain"
    assert split(batch(suggested(a, b), suggested(b, c))) is None
