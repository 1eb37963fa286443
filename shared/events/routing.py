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
    "classifier": {
        "method": "model", "model_version": "demo-3f2a9c81d0e4",
        "suggestions": [{"service_code": "pothole", "probability": 0.92},
                        {"service_code": "road-damage", "probability": 0.05},
                        {"service_code": "streetlight", "probability": 0.01}],
    },
    "location": {
        "status": "placed", "source": "gazetteer", "lat": 42.3601, "long": -71.0589, "confidence": 0.93,
        "matched": "1200 MAIN ST", "kind": "address", "query": "1200 Main St",
    },
}
"""An example of `RoutingFields` on the wire, shared by the examples of `routing.decided` and `case.routed`."""


class Suggestion(BaseModel):
    """One service the text classifier proposes, with its calibrated probability in [0, 1]."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    service_code: str
    probability: float = Field(ge=0, le=1)


class ClassifierFields(BaseModel):
    """How the text was classified (when it was: no ``service_code`` came with the report).

    ``method`` ``model`` is the jurisdiction's learned classifier (``model_version`` names the model file);
    ``keywords`` the keyword matcher (no model configured, or an override keyword matched). ``suggestions``
    are the top 3 services, best first (probabilities for ``model``; keyword scores for ``keywords``).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    method: Literal["model", "keywords"]
    model_version: str | None = None
    suggestions: list[Suggestion] = Field(default_factory=list, max_length=3)


class LocationFields(BaseModel):
    """Where the router placed a report that came with words but no point (or how it judged a point).

    ``status``: ``point`` the report had its own point (the rest is empty); ``placed`` the geocoder's
    answer was confident enough (``confidence`` >= the jurisdiction's ``geocoding.accept_from``) and
    ``lat``/``long`` are the case's point from now on; ``confirm`` an answer below that: ``matched`` is what
    the resident is asked to confirm ("Did you mean 1200 MAIN ST?"), and the case keeps no point;
    ``not_found`` nothing matched. ``source`` is the geocoder (``gazetteer``, ``nominatim``, ``pelias``);
    ``kind`` what matched (``address``, ``intersection``, ``street``, ``place``); ``query`` the text
    looked up. Degrees WGS84; ``confidence`` in [0, 1].
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    status: Literal["point", "placed", "confirm", "not_found"]
    source: str | None = None
    lat: float | None = Field(default=None, ge=-90, le=90)
    long: float | None = Field(default=None, ge=-180, le=180)
    confidence: float | None = Field(default=None, ge=0, le=1)
    matched: str | None = None
    kind: Literal["address", "intersection", "street", "place"] | None = None
    query: str | None = None


class RoutingFields(BaseModel):
    """What the router decided for a case (shared by `routing.decided` and `case.routed`).

    `category_source` says where the `service_code` came from (the report's own code, the router's keywords,
    the fallback; ``keywords`` means "from the report's text", and `classifier` says whether by the learned
    model or the keyword matcher, with the top 3 suggestions); `location` says how the place was found
    when the report had only words (optional: absent on decisions made before issue 11); `source` says who asked: ``automatic`` for a new or re-located case, ``manual`` when
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
    classifier: ClassifierFields | None = None
    location: LocationFields | None = None


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
