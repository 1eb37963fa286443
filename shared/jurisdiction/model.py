"""A loaded, resolved jurisdiction: services, departments, districts, calendar and rules, ready to route."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from shared.jurisdiction.calendar import BusinessCalendar
from shared.jurisdiction.config import (
    ExportLayoutSpec,
    GeocodingSpec,
    AttributeSpec,
    BoundsSpec,
    BusinessHoursSpec,
    ClassificationSpec,
    FallbackLocationSpec,
    HolidaySpec,
    RoutingRuleSpec,
)
from shared.jurisdiction.forwarding import ForwardingSpec
from shared.jurisdiction.geo import District, DistrictIndex, distance_m
from shared.jurisdiction.workflow import CannedResponse, Escalation, Retention, Team, Workflow, default_workflow

__all__ = [
    "DEFAULT_MERGE_THRESHOLD",
    "DEFAULT_REVIEW_THRESHOLD",
    "DedupPolicy",
    "Department",
    "Jurisdiction",
    "Keyword",
    "Queue",
    "Service",
]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Keyword(_Frozen):
    """A keyword phrase of a service in one language; ``weight`` in (0, 1] says how specific it is."""

    text: str
    weight: float = 1.0
    origin: Literal["curated", "name", "data"] = "curated"
    override: bool = False


#: A duplicate score (in [0, 1]) at or above which a case is merged without asking staff.
DEFAULT_MERGE_THRESHOLD = 0.6
#: A duplicate score at or above which (and below the merge threshold) staff are asked to review the pair.
DEFAULT_REVIEW_THRESHOLD = 0.45


class DedupPolicy(_Frozen):
    """Duplicate window of a category: ``radius_m`` metres, ``window_hours`` hours; scores at or above
    ``merge_threshold`` merge, those from ``review_threshold`` up to it go to staff for review."""

    radius_m: float
    window_hours: float
    merge_threshold: float = DEFAULT_MERGE_THRESHOLD
    review_threshold: float = DEFAULT_REVIEW_THRESHOLD


class Queue(_Frozen):
    """A department work queue."""

    id: str
    name: str
    department_id: str


class Department(_Frozen):
    """A department: Open311 ``agency_responsible`` text and its queues (the first is the default).

    ``supervisor_email``: told of escalations; ``supervisor_queue``: the id of one of its queues that
    escalated cases move to; ``teams``: the groups its staff are assigned in.
    """

    id: str
    name: str
    agency_responsible: str
    queues: tuple[Queue, ...]
    supervisor_email: str | None = None
    supervisor_queue: str | None = None
    teams: tuple[Team, ...] = ()

    def team(self, team_id: str) -> Team | None:
        """The team with this id, or ``None``."""
        return next((t for t in self.teams if t.id == team_id), None)


class Service(_Frozen):
    """A resolved Open311 service (GeoReport v2 ``GET services``) plus routing defaults.

    ``sla_hours``: target in hours on ``sla_clock`` (``business`` hours of the jurisdiction's
    calendar, or ``calendar`` hours round the clock). ``keywords``: language code → phrases.
    """

    service_code: str
    service_name: str
    description: str = ""
    group: str = ""
    keywords: dict[str, tuple[Keyword, ...]] = Field(default_factory=dict)
    department_id: str
    queue: str
    agency_responsible: str
    priority: int = Field(ge=1, le=5)
    sla_hours: float = Field(ge=0)
    sla_clock: Literal["business", "calendar"] = "business"
    dedup: DedupPolicy
    origin: Literal["inline", "derived", "derived+curated", "unclassified"] = "inline"
    attributes: tuple[AttributeSpec, ...] = ()
    labels: dict[str, str] = Field(default_factory=dict)

    def name_in(self, language: str | None) -> str:
        """The service's name in `language` (``fr``, ``fr-CA`` → ``fr``), else `service_name`."""
        if language:
            base = language.split("-")[0].lower()
            return self.labels.get(language) or self.labels.get(base) or self.service_name
        return self.service_name

    def attribute(self, code: str) -> AttributeSpec | None:
        """The attribute with this code, or ``None``."""
        return next((a for a in self.attributes if a.code == code), None)

    def definition(self) -> dict[str, object]:
        """The service as a GeoReport v2 ``GET services/{code}`` definition: ``service_code`` and its
        ``attributes`` (each with ``variable``, ``code``, ``datatype``, ``required``,
        ``datatype_description``, ``order``, ``description``, ``values`` [{key, name}]) in ``order``."""
        return {"service_code": self.service_code,
                "attributes": [{"variable": a.variable, "code": a.code, "datatype": a.datatype, "required": a.required,
                                "datatype_description": a.datatype_description, "order": a.order,
                                "description": a.description,
                                "values": [{"key": v.key, "name": v.name} for v in a.values]}
                               for a in self.attributes]}

    def to_open311(self) -> dict[str, object]:
        """The service as a GeoReport v2 ``GET services`` entry (``keywords`` comma-separated, all languages;
        ``metadata`` true when it has attributes)."""
        words = [k.text for lang in sorted(self.keywords) for k in self.keywords[lang] if k.origin != "data"]
        return {
            "service_code": self.service_code,
            "service_name": self.service_name,
            "description": self.description,
            "metadata": bool(self.attributes),
            "type": "realtime",
            "keywords": ", ".join(dict.fromkeys(words)),
            "group": self.group,
        }


class Jurisdiction(BaseModel):
    """A city's configuration after loading: everything the router and the duplicate detector need.

    Built by :func:`shared.jurisdiction.load_jurisdiction`; immutable. ``districts`` and
    ``calendar`` are runtime objects and are left out of ``model_dump()``.
    """

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True, extra="forbid")

    id: str
    name: str
    timezone: str
    locales: tuple[str, ...]
    services: tuple[Service, ...]
    unclassified: Service
    departments: tuple[Department, ...]
    business_hours: BusinessHoursSpec
    holidays: HolidaySpec | None
    bounds: BoundsSpec | None
    fallback_locations: tuple[FallbackLocationSpec, ...]
    routing_rules: tuple[RoutingRuleSpec, ...]
    classification: ClassificationSpec
    geocoding: GeocodingSpec = GeocodingSpec()
    export: ExportLayoutSpec | None = None
    folder: str | None = None
    """The jurisdiction folder (absolute), where ``./`` paths of the config are read."""
    data_root: str | None = None
    """Where paths of the config without ``./`` are read (``$OMNI311_SHARED_DATA``)."""
    config_version: str
    source: str
    districts: DistrictIndex | None = Field(default=None, exclude=True, repr=False)
    calendar: BusinessCalendar = Field(exclude=True, repr=False)
    workflow: Workflow = Field(default_factory=default_workflow)
    escalations: tuple[Escalation, ...] = ()
    sla_warning_share: float = Field(default=0.75, gt=0, lt=1)
    retention: Retention = Retention()
    canned_responses: tuple[CannedResponse, ...] = ()
    forwarding: ForwardingSpec = ForwardingSpec()
    """Open311 forwarding (`shared.jurisdiction.forwarding`), its statuses resolved by the loader."""

    _services_by_code: dict[str, Service] = PrivateAttr(default_factory=dict)
    _queues: dict[str, Queue] = PrivateAttr(default_factory=dict)
    _departments: dict[str, Department] = PrivateAttr(default_factory=dict)

    def model_post_init(self, __context: object) -> None:
        self._services_by_code = {s.service_code: s for s in (*self.services, self.unclassified)}
        self._departments = {d.id: d for d in self.departments}
        self._queues = {q.id: q for d in self.departments for q in d.queues}

    # -- lookups --------------------------------------------------------------------------------
    @property
    def phone_region(self) -> str:
        """The region phone numbers without ``+`` are read in (ISO 3166 alpha-2): the country of the
        jurisdiction's holidays, else ``US``."""
        return self.holidays.country if self.holidays is not None else "US"

    def resolve(self, reference: str) -> Path:
        """A file named in the config: absolute as given, ``./`` or ``../`` from the jurisdiction folder,
        anything else under the data root (the loader's rule for every referenced file).

        Raises:
            ValueError: a relative reference and the jurisdiction has no folder or data root (built from text).
        """
        path = Path(reference).expanduser()
        if path.is_absolute():
            return path
        base = self.folder if reference.startswith(("./", "../")) else self.data_root
        if base is None:
            raise ValueError(f"cannot resolve {reference!r}: jurisdiction {self.id!r} has no folder or data root")
        return (Path(base) / path).resolve()

    def service(self, service_code: str) -> Service | None:
        """The service with this Open311 ``service_code`` (the unclassified one included), or ``None``."""
        return self._services_by_code.get(service_code)

    def department(self, department_id: str) -> Department | None:
        """The department with this id, or ``None``."""
        return self._departments.get(department_id)

    def queue(self, queue_id: str) -> Queue | None:
        """The queue with this id, or ``None``."""
        return self._queues.get(queue_id)

    def canned_response(self, response_id: str) -> CannedResponse | None:
        """The canned response with this id, or ``None``."""
        return next((c for c in self.canned_responses if c.id == response_id), None)

    # -- escalation -----------------------------------------------------------------------------
    def escalations_for(
        self, trigger: Literal["warning", "breach"], service_code: str | None, department_id: str | None
    ) -> tuple[Escalation, ...]:
        """The escalation rules that act on ``trigger`` for a case of this service and department, in YAML order."""
        return tuple(e for e in self.escalations if e.applies(trigger, service_code, department_id))

    def escalation_queue(self, escalation: Escalation, department_id: str | None) -> str | None:
        """The queue id an escalation moves a case of ``department_id`` to, or ``None`` to leave it."""
        if escalation.move_to_queue:
            return escalation.move_to_queue
        if escalation.move_to_supervisor_queue and department_id is not None:
            department = self.department(department_id)
            return department.supervisor_queue if department is not None else None
        return None

    def escalation_emails(self, escalation: Escalation, department_id: str | None) -> tuple[str, ...]:
        """Addresses an escalation tells: its ``email`` list, else the department's ``supervisor_email`` (maybe none)."""
        if escalation.email:
            return escalation.email
        department = self.department(department_id) if department_id is not None else None
        if escalation.notify_supervisor and department is not None and department.supervisor_email:
            return (department.supervisor_email,)
        return ()

    def dedup_policy(self, service_code: str) -> DedupPolicy:
        """Duplicate window (metres, hours) of a category; the unclassified one for unknown codes."""
        service = self.service(service_code) or self.unclassified
        return service.dedup

    # -- places ---------------------------------------------------------------------------------
    def fallback_location(self, lat: float, long: float) -> FallbackLocationSpec | None:
        """The configured "unknown location" point within its ``tolerance_m`` metres of (lat, long), if any."""
        for spot in self.fallback_locations:
            if distance_m(lat, long, spot.lat, spot.long) <= spot.tolerance_m:
                return spot
        return None

    def in_bounds(self, lat: float, long: float) -> bool:
        """Cheap box test: inside the configured ``bounds``, else the districts' extent; True when neither exists."""
        if self.bounds is not None:
            b = self.bounds
            return b.south <= lat <= b.north and b.west <= long <= b.east
        if self.districts is not None:
            west, south, east, north = self.districts.bounds
            return south <= lat <= north and west <= long <= east
        return True

    def contains(self, lat: float, long: float) -> bool:
        """True when (lat, long) is inside the jurisdiction: inside an area polygon, or in bounds if no polygons."""
        if not self.in_bounds(lat, long):
            return False
        return self.districts.contains(lat, long) if self.districts is not None else True

    def locate(self, lat: float, long: float) -> District | None:
        """The district at (lat, long); ``None`` without polygons, outside, in a non-district area or at a fallback point."""
        if self.districts is None or self.fallback_location(lat, long) is not None:
            return None
        return self.districts.locate(lat, long)

    # -- time -----------------------------------------------------------------------------------
    def due_at(self, start: datetime, hours: float, clock: Literal["business", "calendar"] = "business") -> datetime:
        """SLA due instant (aware UTC) ``hours`` after ``start`` on the given clock.

        Raises:
            ValueError: ``start`` is naive or ``hours`` negative.
        """
        if clock == "calendar":
            if start.tzinfo is None or start.utcoffset() is None:
                raise ValueError(f"start must be timezone-aware, got naive {start!r}")
            if hours < 0:
                raise ValueError(f"hours must be >= 0, got {hours}")
            return start.astimezone(UTC) + timedelta(hours=hours)
        return self.calendar.add_business_hours(start, hours)
