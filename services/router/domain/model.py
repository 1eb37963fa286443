"""What the router is asked (`RoutingInput`, with what the text classifier and the geocoder said about it:
`ModelSuggestions`, `PlaceLookup`) and what it decides (`RoutingDecision`): pure pydantic values."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from shared.events import ClassifierFields, LocationFields, Suggestion

__all__ = ["CategorySource", "LocationStatus", "ModelSuggestions", "Place", "PlaceLookup", "RoutingDecision",
           "RoutingInput"]

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


class ModelSuggestions(BaseModel):
    """What the jurisdiction's learned text classifier said about a request's text: the model file's
    ``model_version`` and its top services (at most 3, best first, calibrated probabilities in [0, 1]).
    Empty ``suggestions``: the model was loaded but not asked (a known ``service_code``, or no text)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model_version: str
    suggestions: list[Suggestion] = Field(default_factory=list, max_length=3)


class Place(BaseModel):
    """A geocoder's answer (docs/judgement.md, `GeocodeAnswer`): ``lat``/``long`` WGS84 degrees,
    ``confidence`` in [0, 1], ``matched`` the matched form ("1200 MAIN ST"), ``kind`` what matched,
    ``source`` the geocoder, ``query`` the text looked up. Built from any object with those attributes."""

    model_config = ConfigDict(frozen=True, extra="ignore", from_attributes=True)

    lat: float = Field(ge=-90, le=90)
    long: float = Field(ge=-180, le=180)
    confidence: float = Field(ge=0, le=1)
    matched: str | None = None
    kind: Literal["address", "intersection", "street", "place"] | None = None
    source: str | None = None
    query: str | None = None


class PlaceLookup(BaseModel):
    """The geocoding of a request without a point: the ``query`` looked up (the address, else the place
    written in the text; None when the text names none), the ``answer`` (None: nothing matched), the
    ``error`` when the geocoder failed (the request is routed without a place), and ``confirmed`` when the
    resident said yes to "Did you mean ...?" (the answer then places the case whatever its confidence)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    query: str | None = None
    answer: Place | None = None
    error: str | None = None
    confirmed: bool = False


class RoutingDecision(BaseModel):
    """The router's decision for one request; every field is derived from the input and one config version.

    ``score`` in [0, 1] (1.0 for a known ``service_code``); ``priority`` 1 (most urgent) … 5;
    ``sla_hours`` on ``sla_clock`` (business or calendar hours); datetimes are aware UTC.
    ``rule_id`` is the id of the routing rule that matched, or ``"default"`` when none did.
    ``classifier`` says how the text was classified (None for a known ``service_code``); ``location`` how
    the place was found (``point``, ``placed``, ``confirm``, ``not_found``; None when the request had no
    point and was not geocoded); ``model_version`` the learned model loaded when it was decided (None
    without one), kept on every decision.
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
    classifier: ClassifierFields | None = None
    location: LocationFields | None = None
    model_version: str | None = None

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
            "classifier": self.classifier,
            "location": self.location,
        }
