"""What the router is asked (`RoutingInput`) and what it decides (`RoutingDecision`): pure pydantic values."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

__all__ = ["CategorySource", "LocationStatus", "RoutingDecision", "RoutingInput"]

CategorySource = Literal["service_code", "keywords", "fallback"]
LocationStatus = Literal["district", "no_district", "fallback", "outside", "missing"]


class RoutingInput(BaseModel):
    """One request to route, in Open311 names (GeoReport v2, POST Service Request).

    ``lat``/``long`` in WGS84 degrees, both or neither. ``requested_datetime`` may be naive, in which
    case it is read as the jurisdiction's local wall time (311 exports carry no offset).
    ``title`` is extra text such as an e-mail subject; ``language`` a hint (``"en"``, ``"fr"``).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    service_code: str | None = None
    description: str = ""
    title: str | None = None
    lat: float | None = Field(default=None, ge=-90, le=90)
    long: float | None = Field(default=None, ge=-180, le=180)
    address: str | None = None
    requested_datetime: datetime | None = None
    language: str | None = None

    @model_validator(mode="after")
    def _both_coordinates(self) -> RoutingInput:
        if (self.lat is None) != (self.long is None):
            raise ValueError("lat and long go together")
        return self

    @property
    def text(self) -> str:
        """Title and description joined: the free text that keywords are matched against."""
        return " ".join(t for t in (self.title, self.description) if t)


class RoutingDecision(BaseModel):
    """The router's decision for one request; every field is derived from the input and one config version.

    ``score`` in [0, 1] (1.0 for a known ``service_code``); ``priority`` 1 (most urgent) … 5;
    ``sla_hours`` on ``sla_clock`` (business or calendar hours); datetimes are aware UTC.
    ``rule_id`` is the id of the routing rule that matched, or ``"default"`` when none did.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    jurisdiction_id: str
    config_version: str
    rule_id: str
    service_code: str
    service_name: str
    group: str
    category_source: CategorySource
    matched_keywords: list[str] = Field(default_factory=list)
    matched_language: str | None = None
    score: float = Field(ge=0, le=1)
    agency_responsible: str
    department: str
    queue: str
    priority: int = Field(ge=1, le=5)
    district_id: str | None = None
    district_name: str | None = None
    location_status: LocationStatus
    sla_hours: float = Field(ge=0)
    sla_clock: Literal["business", "calendar"]
    sla_started_at: AwareDatetime
    sla_due_at: AwareDatetime
    decided_at: AwareDatetime
    notes: list[str] = Field(default_factory=list)

    def event_fields(self) -> dict[str, object]:
        """The decision in the shape of the `routing.decided` v1 ``routing`` object (``shared.events.RoutingFields``)."""
        return {
            "service_code": self.service_code,
            "service_name": self.service_name,
            "category_source": self.category_source,
            "agency_responsible": self.agency_responsible,
            "queue": self.queue,
            "priority": self.priority,
            "district": self.district_id,
            "sla_due_at": self.sla_due_at,
            "rule_id": self.rule_id,
            "config_version": self.config_version,
            "matched_keywords": list(self.matched_keywords),
            "score": self.score,
        }
