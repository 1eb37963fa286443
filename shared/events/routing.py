"""Routing events (topic `routing.decisions`, keyed by `case_id`): what the router decided for a case, v1."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from shared.events.declaration import event
from shared.events.envelope import EventData
from shared.events.topics import ROUTING_DECISIONS

_CASE = "6f1c8f5e-2f7a-4c55-9b1e-0d1f2a3b4c5d"
ROUTING_EXAMPLE = {
    "service_code": "pothole", "service_name": "Pothole", "category_source": "keywords",
    "agency_responsible": "Public Works", "queue": "pw-streets", "priority": 3, "district": "D7",
    "sla_due_at": "2025-03-14T15:09:26Z", "rule_id": "r-12", "config_version": "2025-03-01",
    "matched_keywords": ["pothole"], "score": 0.92,
}
"""An example of `RoutingFields` on the wire, shared by the examples of `routing.decided` and `case.routed`."""


class RoutingFields(BaseModel):
    """What the router decided for a case (shared by `routing.decided` and `case.routed`).

    `category_source` says where the `service_code` came from (the report's own code, the router's keywords,
    the fallback); `source` says who asked: ``automatic`` for a new or re-located case, ``manual`` when
    staff recategorised it (`case.recategorised`, whose code arrives as `category_source` ``service_code``).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    service_code: str
    service_name: str
    category_source: Literal["service_code", "keywords", "fallback"]
    agency_responsible: str
    queue: str
    priority: int = Field(ge=1, le=5)
    district: str | None = None
    sla_due_at: AwareDatetime | None = None
    rule_id: str
    config_version: str
    matched_keywords: list[str] = Field(default_factory=list)
    score: float | None = None
    source: Literal["automatic", "manual"] = "automatic"


@event(
    topic=ROUTING_DECISIONS,
    producers=("router",),
    consumers=("case",),
    example={"case_id": _CASE, "routing": ROUTING_EXAMPLE},
)
class RoutingDecided(EventData):
    """`routing.decided` v1, from the router: category, district, queue, priority and SLA of one case."""

    event_type = "routing.decided"
    schema_version = 1

    case_id: UUID
    routing: RoutingFields
