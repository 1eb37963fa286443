"""The schema of `jurisdictions/<id>/jurisdiction.yaml`, as strict pydantic models (unknown keys are errors)."""

from __future__ import annotations

import re
from datetime import date, time
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from shared.jurisdiction.forwarding import ForwardingSpec
from shared.jurisdiction.workflow import CannedResponse, Escalation, Retention

__all__ = [
    "AttributeSpec",
    "AttributeValueSpec",
    "MAX_SLA_HOURS",
    "PRIORITY_NAMES",
    "BoundsSpec",
    "BusinessHoursSpec",
    "ClassificationSpec",
    "ClassifierModelSpec",
    "ExportColumnsSpec",
    "ExportLabelsSpec",
    "ExportLayoutSpec",
    "GazetteerSourceSpec",
    "GeocodingSpec",
    "TrainingSourceSpec",
    "DedupSpec",
    "DepartmentSpec",
    "DistrictsSpec",
    "FallbackLocationSpec",
    "HolidaySpec",
    "JurisdictionConfig",
    "KeywordSpec",
    "QueueSpec",
    "RuleMatchSpec",
    "RuleSetSpec",
    "RoutingRuleSpec",
    "ServiceDefaultsSpec",
    "ServiceSpec",
    "ServicesFromSpec",
    "SlaSpec",
    "StatusPatchSpec",
    "TeamSpec",
    "WorkflowSpec",
    "parse_priority",
]

#: Priority names accepted in YAML; the platform carries priorities as ints 1 (most urgent) … 5.
PRIORITY_NAMES: dict[str, int] = {"urgent": 1, "high": 2, "normal": 3, "low": 4, "planned": 5}
_WEEKDAYS = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}
_ID = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


def parse_priority(value: Any) -> Any:
    """``"high"`` → 2, ``3`` → 3; other values pass through for pydantic to reject."""
    if isinstance(value, str) and value.strip().lower() in PRIORITY_NAMES:
        return PRIORITY_NAMES[value.strip().lower()]
    return value


Priority = Annotated[int, BeforeValidator(parse_priority), Field(ge=1, le=5)]


#: The longest SLA a configuration may state, in hours (one year): longer is a typo, and a business
#: calendar cannot place a due time thousands of working days ahead.
MAX_SLA_HOURS = 8760


class _Strict(BaseModel):
    # allow_inf_nan=False: YAML reads .inf and .nan as floats; no radius, SLA or weight may be either.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class KeywordSpec(_Strict):
    """A keyword phrase; YAML may give a bare string (weight 1.0) or ``{text, weight}``."""

    text: str = Field(min_length=1)
    weight: float = Field(default=1.0, gt=0, le=1)
    override: bool = False
    """An explicit rule: when the phrase is in the text, the service is chosen before the learned model."""

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, value: Any) -> Any:
        return {"text": value} if isinstance(value, str) else value


class DedupSpec(_Strict):
    """Duplicate-detection window for a category: same kind within ``radius_m`` metres and ``window_hours``.

    ``merge_threshold`` (score in [0, 1]) and above: merged automatically; ``review_threshold`` up to it:
    suggested to staff for review (``review_threshold`` <= ``merge_threshold``).
    """

    radius_m: float | None = Field(default=None, gt=0)
    window_hours: float | None = Field(default=None, gt=0)
    merge_threshold: float | None = Field(default=None, ge=0, le=1)
    review_threshold: float | None = Field(default=None, ge=0, le=1)

    @model_validator(mode="after")
    def _ordered(self) -> DedupSpec:
        if (self.merge_threshold is not None and self.review_threshold is not None
                and self.review_threshold > self.merge_threshold):
            raise ValueError("review_threshold must not exceed merge_threshold")
        return self


class _NamedId(_Strict):
    """An ``id`` with an optional display ``name``; YAML may give a bare id (the name is then the id)."""

    id: str = Field(min_length=1)
    name: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, value: Any) -> Any:
        return {"id": value} if isinstance(value, str) else value


class QueueSpec(_NamedId):
    """A work queue of a department; ``id`` is unique across the jurisdiction."""


class TeamSpec(_NamedId):
    """A team of a department; YAML may give a bare id (the name is then the id)."""


class DepartmentSpec(_Strict):
    """A department: Open311 ``agency_responsible`` text (default ``id``), queues (default one, ``id``).

    ``sla_clock`` is the default clock of its services (``calendar`` for round-the-clock agencies).
    ``supervisor_email`` is told of escalations; ``supervisor_queue`` (one of its queues) receives
    escalated cases; ``teams`` are the groups staff are assigned in.
    """

    id: str = Field(min_length=1)
    name: str | None = None
    agency_responsible: str | None = None
    sla_clock: Literal["business", "calendar"] | None = None
    queues: list[QueueSpec] = Field(default_factory=list)
    supervisor_email: str | None = None
    supervisor_queue: str | None = None
    teams: list[TeamSpec] = Field(default_factory=list)

    @field_validator("supervisor_email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is not None and "@" not in value.strip("@"):
            raise ValueError(f"supervisor_email is not an email address: {value!r}")
        return value


_ATTRIBUTE_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class AttributeValueSpec(_Strict):
    """One choice of a list attribute: ``key`` (what a client sends back) and ``name`` (what it shows)."""

    key: str = Field(min_length=1)
    name: str = Field(min_length=1)

    @field_validator("key")
    @classmethod
    def _key(cls, value: str) -> str:
        if value != value.strip() or "," in value:
            raise ValueError(f"a value key may not have surrounding spaces or a comma, got {value!r}")
        return value


class AttributeSpec(_Strict):
    """One question of a service (Open311 GeoReport v2, GET Service Definition ``attribute``).

    ``code`` is what a POST names (``attribute[code]``): letters, digits, ``_``, ``-``, ``.``.
    ``datatype`` is one of GeoReport v2's; a ``singlevaluelist``/``multivaluelist`` needs ``values``
    (unique keys), the others take none. ``order`` sorts the questions (default: their YAML position);
    ``description`` is the question shown to residents and the label staff see.
    """

    code: str
    datatype: Literal["string", "number", "datetime", "text", "singlevaluelist", "multivaluelist"]
    required: bool = False
    variable: bool = True
    description: str = Field(min_length=1)
    datatype_description: str | None = None
    order: int | None = Field(default=None, ge=0)
    values: list[AttributeValueSpec] = Field(default_factory=list)

    @field_validator("code")
    @classmethod
    def _code(cls, value: str) -> str:
        if not _ATTRIBUTE_CODE.match(value):
            raise ValueError(f"attribute code must be letters, digits, '_', '-' or '.', got {value!r}")
        return value

    @model_validator(mode="after")
    def _values(self) -> AttributeSpec:
        listed = self.datatype in ("singlevaluelist", "multivaluelist")
        if listed and not self.values:
            raise ValueError(f"attribute {self.code!r} is a {self.datatype} without values")
        if not listed and self.values:
            raise ValueError(f"attribute {self.code!r} is a {self.datatype}; only list attributes take values")
        keys = [v.key for v in self.values]
        if len(keys) != len(set(keys)):
            raise ValueError(f"attribute {self.code!r} lists a value key twice")
        return self


class ServiceSpec(_Strict):
    """An Open311 service declared inline, or curated fields merged onto a derived service of the same code.

    ``service_code`` defaults to ``service_code_for(service_name)``. Either ``queue`` or
    ``department`` locates the work (a department means its first queue).
    """

    service_code: str | None = None
    service_name: str | None = None
    description: str | None = None
    group: str | None = None
    keywords: dict[str, list[KeywordSpec]] = Field(default_factory=dict)
    department: str | None = None
    queue: str | None = None
    agency_responsible: str | None = None
    priority: Priority | None = None
    sla_hours: float | None = Field(default=None, ge=0, le=MAX_SLA_HOURS)
    sla_clock: Literal["business", "calendar"] | None = None
    dedup: DedupSpec | None = None
    attributes: list[AttributeSpec] = Field(default_factory=list)
    labels: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _named(self) -> ServiceSpec:
        if not self.service_code and not self.service_name:
            raise ValueError("a service needs a service_code or a service_name")
        codes = [a.code for a in self.attributes]
        if len(codes) != len(set(codes)):
            raise ValueError(f"service {self.service_code or self.service_name!r} declares an attribute code twice")
        if blank := [lang for lang, text in self.labels.items() if not text.strip()]:
            raise ValueError(f"labels for {blank} are blank")
        return self


class ServiceDefaultsSpec(_Strict):
    """Values for services that do not set their own."""

    priority: Priority = 3
    sla_hours: float = Field(default=72, ge=0, le=MAX_SLA_HOURS)
    sla_clock: Literal["business", "calendar"] = "business"
    dedup: DedupSpec = DedupSpec(radius_m=50, window_hours=72)


class ServicesFromSpec(_Strict):
    """Derive one service per distinct value of ``name_column`` in a city's open-data CSV export.

    ``csv`` is relative to the shared-data root (``OMNI311_SHARED_DATA``) unless it starts with
    ``./`` (relative to the jurisdiction folder) or is absolute. The dominant value (most rows; ties
    by text order) of each column becomes the service's agency, queue and group.
    """

    csv: str
    name_column: str
    agency_column: str
    agency_name_column: str | None = None
    queue_column: str | None = None
    group_column: str | None = None
    keyword_columns: list[str] = Field(default_factory=list)
    opened_column: str | None = None
    due_column: str | None = None
    datetime_format: str | None = None
    max_keywords: int = Field(default=20, ge=0)
    encoding: str = "utf-8-sig"

    @model_validator(mode="after")
    def _sla_columns(self) -> ServicesFromSpec:
        if bool(self.opened_column) != bool(self.due_column):
            raise ValueError("opened_column and due_column go together")
        return self


class BusinessHoursSpec(_Strict):
    """Opening hours in local time: ``days`` (mon..sun), ``open``/``close`` as ``"HH:MM"`` (``"24:00"`` = midnight)."""

    days: list[str] = Field(default_factory=lambda: ["mon", "tue", "wed", "thu", "fri"])
    open: time = time(8, 0)
    close: time | None = time(17, 0)

    @field_validator("days")
    @classmethod
    def _days(cls, value: list[str]) -> list[str]:
        bad = [d for d in value if d.lower()[:3] not in _WEEKDAYS]
        if bad or not value:
            raise ValueError(f"days must be a non-empty list of mon..sun, got {value}")
        return [d.lower()[:3] for d in value]

    @field_validator("open", "close", mode="before")
    @classmethod
    def _clock(cls, value: Any) -> Any:
        # Unquoted YAML 1.1 reads 17:00 as the sexagesimal int 1020 (minutes): accept that too.
        if isinstance(value, int) and not isinstance(value, bool):
            value = f"{value // 60:02d}:{value % 60:02d}"
        return None if value in ("24:00", "24:00:00") else value

    @property
    def weekdays(self) -> list[int]:
        """Days as ints, 0 = Monday."""
        return [_WEEKDAYS[d] for d in self.days]


class HolidaySpec(_Strict):
    """Public holidays from the ``holidays`` library (``country``/``subdivision`` ISO codes), adjusted."""

    country: str
    subdivision: str | None = None
    ignore: list[str] = Field(default_factory=list)
    extra_closed_dates: list[date] = Field(default_factory=list)

    @field_validator("country", "subdivision", mode="before")
    @classmethod
    def _not_bool(cls, value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError('YAML 1.1 reads unquoted ON/NO/YES as booleans; quote the code, e.g. "ON"')
        return value


class DistrictsSpec(_Strict):
    """District polygons: a GeoJSON file, the property naming the district, optional declared CRS.

    ``aliases`` (district id → other spellings) name a district the way an export does when the
    spelling does not reduce to its name (``DistrictIndex.resolve`` folds accents, case, hyphens,
    ``St``/``Ste`` and a leading article or "Arrondissement de" by itself).
    """

    geojson: str
    id_property: str
    name_property: str | None = None
    name_template: str = "{id}"
    non_districts: list[str] = Field(default_factory=list)
    crs: str | None = None
    edge_tolerance_m: float = Field(default=0.0, ge=0, le=1000)
    aliases: dict[str, list[str]] = Field(default_factory=dict)

    @field_validator("non_districts", mode="before")
    @classmethod
    def _as_text(cls, value: Any) -> Any:
        return [str(v) for v in value] if isinstance(value, list) else value


class BoundsSpec(_Strict):
    """A WGS84 bounding box in degrees."""

    south: float = Field(ge=-90, le=90)
    west: float = Field(ge=-180, le=180)
    north: float = Field(ge=-90, le=90)
    east: float = Field(ge=-180, le=180)

    @model_validator(mode="after")
    def _ordered(self) -> BoundsSpec:
        if self.south >= self.north or self.west >= self.east:
            raise ValueError("bounds need south < north and west < east")
        return self


class FallbackLocationSpec(_Strict):
    """A point that a geocoder returns when it does not know where (e.g. City Hall); ``tolerance_m`` in metres."""

    name: str
    lat: float = Field(ge=-90, le=90)
    long: float = Field(ge=-180, le=180)
    tolerance_m: float = Field(default=25, gt=0)


class RuleMatchSpec(_Strict):
    """Conditions of a routing rule: every given list must match one of its items; empty lists match all."""

    service_codes: list[str] = Field(default_factory=list)
    groups: list[str] = Field(default_factory=list)
    keywords: list[str] = Field(default_factory=list)
    districts: list[str] = Field(default_factory=list)
    category_sources: list[Literal["service_code", "keywords", "fallback"]] = Field(default_factory=list)
    languages: list[str] = Field(default_factory=list)

    @field_validator("districts", mode="before")
    @classmethod
    def _as_text(cls, value: Any) -> Any:
        return [str(v) for v in value] if isinstance(value, list) else value


class RuleSetSpec(_Strict):
    """What a matching rule overrides."""

    queue: str | None = None
    priority: Priority | None = None
    agency_responsible: str | None = None
    sla_hours: float | None = Field(default=None, ge=0, le=MAX_SLA_HOURS)
    sla_clock: Literal["business", "calendar"] | None = None


class RoutingRuleSpec(_Strict):
    """An ordered routing rule; the first rule whose ``match`` holds decides the overrides in ``set``."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, allow_inf_nan=False)

    id: str = Field(min_length=1)
    description: str = ""
    match: RuleMatchSpec = RuleMatchSpec()
    set_: RuleSetSpec = Field(alias="set")


class TrainingSourceSpec(_Strict):
    """A file of the city's history to learn from: ``file`` (relative to ``$OMNI311_SHARED_DATA``, or ``./``
    relative to the jurisdiction folder) read with ``layout`` (a built-in layout name, a path to a layout
    YAML, or None: the jurisdiction's own ``export`` layout, else the layout detected from the file)."""

    file: str
    layout: str | None = None


class ClassifierModelSpec(_Strict):
    """The learned free-text classifier (``classification.model``).

    Trained from ``train_from`` (service label → the jurisdiction's ``service_code`` by name, rows whose
    label is no service are left out); a top-1 probability below ``min_probability`` sends the case to
    the unclassified service (triage) with the top 3 suggestions. ``min_examples``: a service with fewer
    training rows is not learned (its reports go by keywords or triage).
    """

    train_from: list[TrainingSourceSpec] = Field(min_length=1)
    min_probability: float = Field(default=0.5, ge=0, le=1)
    min_examples: int = Field(default=3, ge=1)


class ClassificationSpec(_Strict):
    """Free-text classification: ``min_score`` in [0, 1] to accept a keyword match (when no model is
    configured), and the learned ``model`` (optional)."""

    min_score: float = Field(default=0.45, ge=0, le=1)
    model: ClassifierModelSpec | None = None


class GazetteerSourceSpec(_Strict):
    """Records with both a written address and a point, read with ``layout`` (see `TrainingSourceSpec`)."""

    file: str
    layout: str | None = None


class GeocodingSpec(_Strict):
    """Places from words (``geocoding:``).

    ``provider``: ``gazetteer`` (embedded, built from ``gazetteer`` sources and the district boundary
    names), or a geocoding server at ``url`` (``nominatim`` or ``pelias`` HTTP API) with the gazetteer as
    its fallback. An answer with ``confidence`` >= ``accept_from`` places the case; from ``confirm_from``
    up to it the resident is asked to confirm; below, no place. ``timeout_s`` bounds a server call
    (seconds). ``country_codes`` (ISO 3166-1 alpha-2) and the jurisdiction's bounds limit a server's search.
    """

    provider: Literal["gazetteer", "nominatim", "pelias"] = "gazetteer"
    url: str | None = None
    gazetteer: list[GazetteerSourceSpec] = Field(default_factory=list)
    accept_from: float = Field(default=0.8, ge=0, le=1)
    confirm_from: float = Field(default=0.5, ge=0, le=1)
    timeout_s: float = Field(default=2.0, gt=0, le=30)
    country_codes: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _ordered(self) -> GeocodingSpec:
        if self.confirm_from > self.accept_from:
            raise ValueError("confirm_from must not exceed accept_from")
        if self.provider != "gazetteer" and not self.url:
            raise ValueError(f"provider {self.provider!r} needs a url")
        return self


class ExportColumnsSpec(_Strict):
    """Which column (CSV header, or a dotted path into a JSON record such as ``request_type.title``) holds
    each field of a city's export. A list joins several columns with a space (``description``, ``address``).
    ``point`` is one column holding both coordinates ("(42.36, -71.06)", "POINT (-71.06 42.36)" or a
    GeoJSON point) when there are no separate ``lat``/``long`` columns."""

    id: str | None = None
    service: str | None = None
    agency: str | None = None
    description: str | list[str] | None = None
    lat: str | None = None
    long: str | None = None
    point: str | None = None
    address: str | list[str] | None = None
    zipcode: str | None = None
    requested: str
    closed: str | None = None
    due: str | None = None
    status: str | None = None
    status_notes: str | None = None
    district: str | None = None
    intersection: list[str] | None = Field(default=None, min_length=2, max_length=2)
    """Two columns naming crossing streets, read as the address ``A & B`` when ``address`` is empty."""


class ExportLabelsSpec(_Strict):
    """Service labels kept in a second CSV file, joined to the export by id (``labels_from:``).

    ``file`` is relative to the export file's folder unless absolute. A row whose ``id_column`` equals a
    record's ``columns.id`` (and, when ``filter_column`` is given, whose ``filter_column`` equals
    ``filter_value`` after trimming) gives that record's service label from ``label_column``; a record
    with no such row keeps its ``columns.service``. Example: SeeClickFix Detroit's ``_questions.csv``
    holds the resident's own sub-label (question "What is the nature of the issue?").
    """

    file: str
    id_column: str
    label_column: str
    filter_column: str | None = None
    filter_value: str | None = None
    encoding: str = "utf-8-sig"
    delimiter: str = Field(default=",", min_length=1, max_length=1)

    @model_validator(mode="after")
    def _filter(self) -> ExportLabelsSpec:
        if (self.filter_column is None) != (self.filter_value is None):
            raise ValueError("filter_column and filter_value go together")
        return self


class ExportLayoutSpec(_Strict):
    """How to read a city's export without code (``export:``; also a layout YAML file on its own).

    ``format`` ``csv`` (``delimiter``, ``encoding``), ``json`` (an array, or the array at the dotted path
    ``records``) or ``jsonl`` (one object a line). ``datetime_format``: a ``strptime`` pattern, ``iso``
    (ISO 8601), ``unix`` (seconds) or ``unix_ms`` (milliseconds); naive times are in ``timezone`` (default:
    the jurisdiction's). ``closed_statuses``: status values (case-insensitive) that mean closed; others
    are open. ``null_values``: cells that mean nothing (case-insensitive, after trimming).
    """

    format: Literal["csv", "json", "jsonl"] = "csv"
    records: str | None = None
    encoding: str = "utf-8-sig"
    delimiter: str = Field(default=",", min_length=1, max_length=1)
    columns: ExportColumnsSpec
    datetime_format: str = "iso"
    timezone: str | None = None
    closed_statuses: list[str] = Field(default_factory=lambda: ["closed"])
    null_values: list[str] = Field(default_factory=lambda: ["", "unspecified", "n/a", "null", "none"])
    labels_from: ExportLabelsSpec | None = None


class StatusPatchSpec(_Strict):
    """A status in YAML: a new one, or fields laid over the default status with the same ``id``.

    Scalar fields replace the default's; ``labels``, ``texts``, ``aliases`` and ``closure_reasons``
    are merged key by key (a city may give only ``texts: {fr: ...}``).
    """

    id: str = Field(min_length=1)
    open311: Literal["open", "closed"] | None = None
    terminal: bool | None = None
    pauses_sla: bool | None = None
    resume_on_reply: bool | None = None
    notify: bool | None = None
    labels: dict[str, str] | None = None
    texts: dict[str, str] | None = None
    aliases: dict[str, list[str] | str] | None = None
    closure_reasons: dict[str, list[str] | str] | None = None


class WorkflowSpec(_Strict):
    """``workflow:``: statuses merged onto the defaults by id, transitions replacing the default's per status."""

    statuses: list[StatusPatchSpec] = Field(default_factory=list)
    transitions: dict[str, list[str]] = Field(default_factory=dict)
    initial: str | None = None
    on_routed: str | None = None
    on_assigned: str | None = None
    resume_to: str | None = None
    merged_status: str | None = None

    @field_validator("transitions", mode="before")
    @classmethod
    def _none_is_empty(cls, value: Any) -> Any:
        # ``closed:`` with nothing after it reads as None: no way out.
        return {k: (v if v is not None else []) for k, v in value.items()} if isinstance(value, dict) else value


class SlaSpec(_Strict):
    """``sla:``: the warning comes at ``warning_share`` (0 < x < 1) of the business time from opening to due."""

    warning_share: float = Field(default=0.75, gt=0, lt=1)


class JurisdictionConfig(_Strict):
    """The whole `jurisdiction.yaml`."""

    id: str
    name: str
    timezone: str
    locales: list[str] = Field(default_factory=lambda: ["en"])
    business_hours: BusinessHoursSpec = BusinessHoursSpec()
    holidays: HolidaySpec | None = None
    departments: list[DepartmentSpec] = Field(default_factory=list)
    service_defaults: ServiceDefaultsSpec = ServiceDefaultsSpec()
    services_from: ServicesFromSpec | None = None
    services: list[ServiceSpec] = Field(default_factory=list)
    unclassified: ServiceSpec
    districts: DistrictsSpec | None = None
    bounds: BoundsSpec | None = None
    fallback_locations: list[FallbackLocationSpec] = Field(default_factory=list)
    routing_rules: list[RoutingRuleSpec] = Field(default_factory=list)
    classification: ClassificationSpec = ClassificationSpec()
    geocoding: GeocodingSpec = GeocodingSpec()
    export: ExportLayoutSpec | None = None
    workflow: WorkflowSpec = WorkflowSpec()
    escalations: list[Escalation] = Field(default_factory=list)
    sla: SlaSpec = SlaSpec()
    retention: Retention = Retention()
    canned_responses: list[CannedResponse] = Field(default_factory=list)
    forwarding: ForwardingSpec = ForwardingSpec()

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not _ID.match(value):
            raise ValueError(f"id must be lower-case letters, digits, '-' or '_', got {value!r}")
        return value

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown IANA time zone {value!r}") from exc
        return value
