"""Load `jurisdictions/<name>/jurisdiction.yaml` and the files it references into a resolved `Jurisdiction`."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import threading
from pathlib import Path

import yaml
from pydantic import ValidationError

from shared.jurisdiction.calendar import BusinessCalendar
from shared.jurisdiction.config import (
    AttributeSpec,
    DedupSpec,
    DepartmentSpec,
    JurisdictionConfig,
    QueueSpec,
    ServiceSpec,
    WorkflowSpec,
)
from shared.jurisdiction.derive import DERIVATION_VERSION, DerivedCatalogue, DerivedService, derive_services
from shared.jurisdiction.errors import JurisdictionConfigError
from shared.jurisdiction.forwarding import ForwardingSpec, closed_status, reopened_status
from shared.jurisdiction.geo import DistrictIndex
from shared.jurisdiction.model import (
    DEFAULT_MERGE_THRESHOLD,
    DEFAULT_REVIEW_THRESHOLD,
    DedupPolicy,
    Department,
    Jurisdiction,
    Keyword,
    Queue,
    Service,
)
from shared.jurisdiction.text import normalize_text, service_code_for
from shared.jurisdiction.workflow import (
    DEFAULT_STATUSES,
    DEFAULT_TRANSITIONS,
    CannedResponse,
    Escalation,
    StatusSpec,
    Team,
    Workflow,
)

__all__ = [
    "SHARED_DATA_ENV",
    "JURISDICTIONS_ENV",
    "build_jurisdiction",
    "clear_cache",
    "jurisdiction_path",
    "load_jurisdiction",
    "repo_root",
    "shared_data_root",
]

SHARED_DATA_ENV = "OMNI311_SHARED_DATA"
JURISDICTIONS_ENV = "OMNI311_JURISDICTIONS"
CONFIG_FILE = "jurisdiction.yaml"

_cache: dict[tuple[str, str, int, int], Jurisdiction] = {}
_cache_lock = threading.Lock()


def repo_root() -> Path:
    """The repository root (the folder holding ``shared/`` and ``jurisdictions/``)."""
    return Path(__file__).resolve().parents[2]


def shared_data_root() -> Path:
    """Root of the shared data files: ``$OMNI311_SHARED_DATA``, default ``<repo root>/../shared/data``."""
    configured = os.environ.get(SHARED_DATA_ENV)
    return Path(configured).expanduser() if configured else repo_root().parent / "shared" / "data"


def jurisdiction_path(name_or_path: str | os.PathLike[str]) -> Path:
    """The YAML file for a jurisdiction name (``"nyc"``), a folder or a YAML path.

    Names are looked up in ``$OMNI311_JURISDICTIONS`` (default ``<repo root>/jurisdictions``).

    Raises:
        JurisdictionConfigError: nothing found there.
    """
    text = os.fspath(name_or_path)
    candidate = Path(text).expanduser()
    if candidate.suffix in (".yaml", ".yml") or os.sep in text or "/" in text or candidate.is_dir():
        path = candidate / CONFIG_FILE if candidate.is_dir() else candidate
    else:
        folder = Path(os.environ.get(JURISDICTIONS_ENV) or repo_root() / "jurisdictions")
        path = folder / text / CONFIG_FILE
    if not path.is_file():
        raise JurisdictionConfigError(f"no jurisdiction configuration at {path} (asked for {text!r})")
    return path.resolve()


def clear_cache() -> None:
    """Forget every jurisdiction loaded with ``use_cache=True``."""
    with _cache_lock:
        _cache.clear()


def load_jurisdiction(
    name_or_path: str | os.PathLike[str],
    *,
    data_root: str | os.PathLike[str] | None = None,
    use_cache: bool = True,
) -> Jurisdiction:
    """Load and resolve a jurisdiction by name (``"demo"``, ``"nyc"``, ``"boston"``) or YAML/folder path.

    File references in the YAML are relative to ``data_root`` (default :func:`shared_data_root`)
    unless they start with ``./`` or ``../`` (relative to the YAML's folder) or are absolute. With
    ``use_cache`` the result is reused while the YAML file is unchanged (same mtime and size).

    Raises:
        JurisdictionConfigError: missing or invalid YAML, a missing referenced file, a CSV without
            the configured columns, a GeoJSON that is not lon/lat without a declared CRS,
            inconsistent references (unknown queue, department, service_code or district).
    """
    path = jurisdiction_path(name_or_path)
    root = Path(data_root).expanduser() if data_root is not None else shared_data_root()
    stat = path.stat()
    key = (str(path), str(root.resolve()), stat.st_mtime_ns, stat.st_size)
    if use_cache:
        with _cache_lock:
            cached = _cache.get(key)
        if cached is not None:
            return cached
    raw = path.read_bytes()
    try:
        document = yaml.load(raw, Loader=UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise JurisdictionConfigError(f"{path}: not valid YAML: {exc}") from exc
    except ValueError as exc:  # PyYAML's date constructor: 2024-02-30
        raise JurisdictionConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(document, dict):
        raise JurisdictionConfigError(f"{path}: expected a mapping at the top level")
    try:
        config = JurisdictionConfig.model_validate(document)
    except ValidationError as exc:
        raise JurisdictionConfigError(f"{path}: invalid jurisdiction configuration:\n{exc}") from exc
    jurisdiction = build_jurisdiction(config, base_dir=path.parent, data_root=root, source=str(path), raw=raw)
    if use_cache:
        with _cache_lock:
            _cache[key] = jurisdiction
    return jurisdiction


def build_jurisdiction(
    config: JurisdictionConfig,
    *,
    base_dir: Path,
    data_root: Path,
    source: str = "<config>",
    raw: bytes | None = None,
    derived: DerivedCatalogue | None = None,
) -> Jurisdiction:
    """Resolve a validated config: read referenced files, derive services, index districts, hash a version.

    ``raw`` (the YAML bytes) feeds ``config_version``; without it the canonical JSON of ``config``
    does. ``derived`` replaces reading ``services_from`` (used to evaluate on held-out rows).

    Raises:
        JurisdictionConfigError: as :func:`load_jurisdiction`.
    """
    referenced: dict[str, Path] = {}

    def ref(key: str, reference: str) -> Path:
        target = _resolve_ref(reference, base_dir=base_dir, data_root=data_root)
        if not target.is_file():
            raise JurisdictionConfigError(
                f"{source}: {key} refers to {reference!r}, resolved to {target}, which does not exist "
                f"(shared data root {data_root}; set {SHARED_DATA_ENV} to change it)"
            )
        referenced[key] = target
        return target

    calendar = _calendar(config, source)
    given_catalogue = derived
    if derived is None and config.services_from is not None:
        csv_path = ref("services_from.csv", config.services_from.csv)
        try:
            with csv_path.open(newline="", encoding=config.services_from.encoding) as handle:
                derived = derive_services(csv.DictReader(handle), config.services_from, calendar=calendar, source=str(csv_path))
        except UnicodeDecodeError as exc:
            raise JurisdictionConfigError(f"{csv_path}: not {config.services_from.encoding}: {exc}") from exc
        except LookupError as exc:
            raise JurisdictionConfigError(f"{source}: services_from.encoding: {exc}") from exc
        except csv.Error as exc:
            raise JurisdictionConfigError(f"{csv_path}: not a readable CSV: {exc}") from exc
    departments = _departments(config, derived, source)
    services = _services(config, derived, departments, source)
    unclassified = _resolve_service(
        config.unclassified, None, config, departments, source, origin="unclassified"
    )
    if any(s.service_code == unclassified.service_code for s in services):
        raise JurisdictionConfigError(
            f"{source}: unclassified.service_code {unclassified.service_code!r} is also a listed service"
        )

    districts = None
    if config.districts is not None:
        geo_path = ref("districts.geojson", config.districts.geojson)
        try:
            data = json.loads(geo_path.read_bytes())
        except json.JSONDecodeError as exc:
            raise JurisdictionConfigError(f"{geo_path}: not valid JSON: {exc}") from exc
        districts = DistrictIndex.from_geojson(
            data,
            id_property=config.districts.id_property,
            name_property=config.districts.name_property,
            name_template=config.districts.name_template,
            non_districts=config.districts.non_districts,
            declared_crs=config.districts.crs,
            source=str(geo_path),
        )
        districts.edge_tolerance_m = config.districts.edge_tolerance_m
        try:
            districts.add_aliases(config.districts.aliases)
        except JurisdictionConfigError as exc:
            raise JurisdictionConfigError(f"{source}: {exc}") from exc
        _check_bounds(config, districts, source)
    for spot in config.fallback_locations:
        if config.bounds is not None and not (
            config.bounds.south <= spot.lat <= config.bounds.north and config.bounds.west <= spot.long <= config.bounds.east
        ):
            raise JurisdictionConfigError(f"{source}: fallback location {spot.name!r} lies outside bounds")

    workflow = _workflow(config.workflow, config.locales, source)
    escalations = _escalations(config, departments, [*services, unclassified], source)
    dept_models = tuple(
        Department(
            id=d.id,
            name=d.name or d.id,
            agency_responsible=d.agency_responsible or d.id,
            queues=tuple(Queue(id=q.id, name=q.name or q.id, department_id=d.id) for q in d.queues),
            supervisor_email=d.supervisor_email,
            supervisor_queue=d.supervisor_queue,
            teams=tuple(Team(id=t.id, name=t.name or t.id) for t in d.teams),
        )
        for d in departments.values()
    )
    _check_rules(config, services, unclassified, dept_models, districts, source)
    _check_teams(dept_models, source)
    canned = _canned_responses(config, source)
    forwarding = _forwarding(config, workflow, [*services, unclassified], source)
    version = _config_version(config, raw, referenced, given_catalogue)
    return Jurisdiction(
        id=config.id,
        name=config.name,
        timezone=config.timezone,
        locales=tuple(config.locales),
        services=tuple(services),
        unclassified=unclassified,
        departments=dept_models,
        business_hours=config.business_hours,
        holidays=config.holidays,
        bounds=config.bounds,
        fallback_locations=tuple(config.fallback_locations),
        routing_rules=tuple(config.routing_rules),
        classification=config.classification,
        geocoding=config.geocoding,
        export=config.export,
        folder=str(base_dir.resolve()),
        data_root=str(data_root),
        config_version=version,
        source=source,
        districts=districts,
        calendar=calendar,
        workflow=workflow,
        escalations=escalations,
        sla_warning_share=config.sla.warning_share,
        retention=config.retention,
        canned_responses=canned,
        forwarding=forwarding,
    )


# -- helpers ------------------------------------------------------------------------------------


class UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a mapping key given twice.

    PyYAML keeps the last value silently, so a second ``services:`` block would make the first vanish.
    Keys brought in by a ``<<`` merge may still be overridden, as YAML intends.
    """

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:  # type: ignore[override]
        seen: set[object] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)  # type: ignore[no-untyped-call]
            try:
                duplicate = key in seen
                seen.add(key)
            except TypeError:  # an unhashable key: SafeLoader reports it below
                continue
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping", node.start_mark, f"found {key!r} more than once", key_node.start_mark
                )
        return super().construct_mapping(node, deep=deep)


def _resolve_ref(reference: str, *, base_dir: Path, data_root: Path) -> Path:
    path = Path(reference).expanduser()
    if path.is_absolute():
        return path
    if reference.startswith(("./", "../")):
        return (base_dir / path).resolve()
    return data_root / path


def _code_for(service_name: str, source: str) -> str:
    try:
        return service_code_for(service_name)
    except ValueError as exc:
        raise JurisdictionConfigError(f"{source}: {exc}; give the service a service_code") from exc


def _calendar(config: JurisdictionConfig, source: str) -> BusinessCalendar:
    hours, hol = config.business_hours, config.holidays
    try:
        return BusinessCalendar(
            timezone=config.timezone,
            weekdays=hours.weekdays,
            opens=hours.open,
            closes=hours.close,
            holiday_country=hol.country if hol else None,
            holiday_subdivision=hol.subdivision if hol else None,
            ignored_holidays=hol.ignore if hol else (),
            extra_closed_dates=hol.extra_closed_dates if hol else (),
        )
    except (ValueError, NotImplementedError, KeyError) as exc:
        raise JurisdictionConfigError(f"{source}: bad business_hours/holidays: {exc}") from exc


def _departments(config: JurisdictionConfig, derived: DerivedCatalogue | None, source: str) -> dict[str, DepartmentSpec]:
    """Derived departments, then inline ones merged by id (inline names win, queues are unioned)."""
    merged: dict[str, DepartmentSpec] = {}
    if derived is not None:
        for d in derived.departments.values():
            merged[d.id] = DepartmentSpec(id=d.id, name=d.name, queues=list(d.queues))
    inline_ids: set[str] = set()
    for d in config.departments:
        if d.id in inline_ids:
            raise JurisdictionConfigError(f"{source}: department {d.id!r} is declared twice")
        inline_ids.add(d.id)
        base = merged.get(d.id)
        if base is None:
            merged[d.id] = d
            continue
        declared = {q.id for q in d.queues}
        merged[d.id] = DepartmentSpec(
            id=d.id,
            name=d.name or base.name,
            agency_responsible=d.agency_responsible or base.agency_responsible,
            sla_clock=d.sla_clock or base.sla_clock,
            queues=[*d.queues, *(q for q in base.queues if q.id not in declared)],
            supervisor_email=d.supervisor_email,
            supervisor_queue=d.supervisor_queue,
            teams=d.teams,
        )
    owner: dict[str, str] = {}
    for d in list(merged.values()):
        if not d.queues:
            merged[d.id] = d = d.model_copy(update={"queues": [QueueSpec(id=d.id)]})
        for q in d.queues:
            if q.id in owner and owner[q.id] != d.id:
                raise JurisdictionConfigError(
                    f"{source}: queue {q.id!r} belongs to both departments {owner[q.id]!r} and {d.id!r}"
                )
            owner[q.id] = d.id
    return merged


def _services(
    config: JurisdictionConfig,
    derived: DerivedCatalogue | None,
    departments: dict[str, DepartmentSpec],
    source: str,
) -> list[Service]:
    inline: dict[str, ServiceSpec] = {}
    for spec in config.services:
        code = spec.service_code or _code_for(spec.service_name or "", source)
        if code in inline:
            raise JurisdictionConfigError(f"{source}: service_code {code!r} is declared twice")
        inline[code] = spec
    out: list[Service] = []
    derived_services = derived.services if derived is not None else {}
    for code in sorted(set(inline) | set(derived_services)):
        spec = inline.get(code) or ServiceSpec(service_code=code)
        base = derived_services.get(code)
        origin = "derived+curated" if base and code in inline else "derived" if base else "inline"
        out.append(_resolve_service(spec, base, config, departments, source, origin=origin, code=code))
    return out


def _resolve_service(
    spec: ServiceSpec,
    base: DerivedService | None,
    config: JurisdictionConfig,
    departments: dict[str, DepartmentSpec],
    source: str,
    *,
    origin: str,
    code: str | None = None,
) -> Service:
    defaults = config.service_defaults
    code = code or spec.service_code or _code_for(spec.service_name or "", source)
    name = spec.service_name or (base.service_name if base else None)
    if not name:
        raise JurisdictionConfigError(f"{source}: service {code!r} has no service_name and matches no derived service")
    queue_id = spec.queue
    department_id = spec.department
    if queue_id is None and department_id is None and base is not None:
        queue_id, department_id = base.queue, base.agency
    queue_owner = {q.id: d.id for d in departments.values() for q in d.queues}
    if queue_id is not None:
        if queue_id not in queue_owner:
            raise JurisdictionConfigError(f"{source}: service {code!r} uses unknown queue {queue_id!r}")
        if department_id is not None and queue_owner[queue_id] != department_id:
            raise JurisdictionConfigError(
                f"{source}: service {code!r}: queue {queue_id!r} belongs to {queue_owner[queue_id]!r}, not {department_id!r}"
            )
        department_id = queue_owner[queue_id]
    elif department_id is not None:
        if department_id not in departments:
            raise JurisdictionConfigError(f"{source}: service {code!r} uses unknown department {department_id!r}")
        queue_id = departments[department_id].queues[0].id
    else:
        raise JurisdictionConfigError(f"{source}: service {code!r} needs a queue or a department")
    department = departments[department_id]

    keywords: dict[str, list[Keyword]] = {"en": list(base.keywords)} if base else {}
    for lang, words in spec.keywords.items():
        bucket = keywords.setdefault(lang, [])
        curated = {normalize_text(w.text) for w in words}
        bucket[:] = [k for k in bucket if normalize_text(k.text) not in curated]
        bucket.extend(Keyword(text=w.text, weight=w.weight, origin="curated", override=w.override) for w in words)
    dedup = spec.dedup or defaults.dedup
    clock = spec.sla_clock or department.sla_clock or defaults.sla_clock
    if spec.sla_hours is not None:
        sla_hours = spec.sla_hours
    else:
        measured = (base.sla_calendar_hours if clock == "calendar" else base.sla_business_hours) if base else None
        sla_hours = measured if measured is not None else defaults.sla_hours
    return Service(
        service_code=code,
        service_name=name,
        description=spec.description if spec.description is not None else (base.description if base else ""),
        group=spec.group if spec.group is not None else ((base.group or department.name or department.id) if base else ""),
        keywords={lang: tuple(words) for lang, words in sorted(keywords.items()) if words},
        department_id=department_id,
        queue=queue_id,
        agency_responsible=spec.agency_responsible or department.agency_responsible or department.id,
        priority=spec.priority or defaults.priority,
        sla_hours=sla_hours,
        sla_clock=clock,
        dedup=_dedup_policy(dedup, defaults.dedup, code, source),
        origin=origin,  # type: ignore[arg-type]
        attributes=_ordered_attributes(spec),
        labels=dict(spec.labels),
    )


def _ordered_attributes(spec: ServiceSpec) -> tuple[AttributeSpec, ...]:
    """The service's attributes sorted by ``order``; one without an order takes its YAML position
    (counted from 1), so a definition always lists every question with a distinct, ascending order."""
    numbered = [a if a.order is not None else a.model_copy(update={"order": i})
                for i, a in enumerate(spec.attributes, start=1)]
    return tuple(sorted(numbered, key=lambda a: a.order or 0))


def _workflow(spec: WorkflowSpec, locales: list[str], source: str) -> Workflow:
    """The default workflow with the YAML's statuses merged on by id and its transitions replacing per status.

    Raises:
        JurisdictionConfigError: a status that does not validate, or a graph :meth:`Workflow.validate_graph`
            refuses (unknown or unreachable statuses, a terminal status with a way out, ...), a status
        that tells reporters without a text in each of the jurisdiction's ``locales``.
    """
    statuses: dict[str, dict[str, object]] = {s.id: s.model_dump() for s in DEFAULT_STATUSES}
    for patch in spec.statuses:
        given = patch.model_dump(exclude_unset=True)
        base = statuses.get(patch.id, {})
        merged = dict(base)
        for key, value in given.items():
            if isinstance(value, dict) and isinstance(base.get(key), dict):
                merged[key] = {**base[key], **value}  # type: ignore[dict-item]
            else:
                merged[key] = value
        statuses[patch.id] = merged
    built: list[StatusSpec] = []
    for status_id, fields in statuses.items():
        try:
            built.append(StatusSpec.model_validate(fields))
        except ValidationError as exc:
            raise JurisdictionConfigError(f"{source}: workflow.statuses.{status_id}: {exc}") from exc
        if built[-1].notify and (missing := [lang for lang in locales if not built[-1].texts.get(lang, "").strip()]):
            raise JurisdictionConfigError(
                f"{source}: workflow.statuses.{status_id}.texts: notify is on but there is no text for locales {missing}"
            )
    transitions = {k: tuple(v) for k, v in DEFAULT_TRANSITIONS.items() if k in statuses}
    transitions.update({k: tuple(v) for k, v in spec.transitions.items()})
    named = {k: v for k, v in spec.model_dump(include={"initial", "on_routed", "on_assigned", "resume_to", "merged_status"}).items() if v}
    workflow = Workflow(statuses=tuple(built), transitions=transitions, **named)
    if problems := workflow.validate_graph():
        raise JurisdictionConfigError(f"{source}: invalid workflow:\n  " + "\n  ".join(problems))
    return workflow


def _escalations(
    config: JurisdictionConfig,
    departments: dict[str, DepartmentSpec],
    services: list[Service],
    source: str,
) -> tuple[Escalation, ...]:
    """Check escalation rules against departments, services and queues; add missing supervisor queues.

    A department an escalation with ``move_to_supervisor_queue`` covers gets ``<id>-supervisors``
    ("<name> — supervisors") as its ``supervisor_queue`` when it names none. ``departments`` is updated.

    Raises:
        JurisdictionConfigError: an unknown department, service_code or queue, a ``supervisor_queue``
            outside its department, or a rule id given twice.
    """
    queue_owner = {q.id: d.id for d in departments.values() for q in d.queues}
    for d in departments.values():
        if d.supervisor_queue is not None and queue_owner.get(d.supervisor_queue) != d.id:
            raise JurisdictionConfigError(
                f"{source}: departments.{d.id}.supervisor_queue {d.supervisor_queue!r} is not a queue of {d.id!r}"
            )
    department_of = {s.service_code: s.department_id for s in services}
    seen: set[str] = set()
    for index, rule in enumerate(config.escalations):
        where = f"{source}: escalations[{index}] ({rule.id!r})"
        if rule.id in seen:
            raise JurisdictionConfigError(f"{where}: id given twice")
        seen.add(rule.id)
        if unknown := sorted(set(rule.department_ids) - set(departments)):
            raise JurisdictionConfigError(f"{where}.department_ids: unknown departments {unknown}")
        if unknown := sorted(set(rule.service_codes) - set(department_of)):
            raise JurisdictionConfigError(f"{where}.service_codes: unknown service_codes {unknown}")
        if rule.move_to_queue is not None and rule.move_to_queue not in queue_owner:
            raise JurisdictionConfigError(f"{where}.move_to_queue: unknown queue {rule.move_to_queue!r}")
        if not rule.move_to_supervisor_queue:
            continue
        covered = set(rule.department_ids or departments)
        if rule.service_codes:
            covered &= {department_of[code] for code in rule.service_codes}
        for dept_id in sorted(covered):
            dept = departments[dept_id]
            if dept.supervisor_queue is not None:
                continue
            queue_id = f"{dept_id}-supervisors"
            if queue_owner.get(queue_id, dept_id) != dept_id:
                raise JurisdictionConfigError(
                    f"{where}: the supervisor queue {queue_id!r} of {dept_id!r} is already a queue of {queue_owner[queue_id]!r}"
                )
            queues = list(dept.queues)
            if queue_id not in {q.id for q in queues}:
                queues.append(QueueSpec(id=queue_id, name=f"{dept.name or dept_id} — supervisors"))
            queue_owner[queue_id] = dept_id
            departments[dept_id] = dept.model_copy(update={"queues": queues, "supervisor_queue": queue_id})
    return tuple(config.escalations)


def _check_teams(departments: tuple[Department, ...], source: str) -> None:
    owner: dict[str, str] = {}
    for d in departments:
        for team in d.teams:
            if team.id in owner:
                raise JurisdictionConfigError(
                    f"{source}: departments.{d.id}.teams: team {team.id!r} is also a team of {owner[team.id]!r}"
                )
            owner[team.id] = d.id


def _forwarding(config: JurisdictionConfig, workflow: Workflow, services: list[Service],
                source: str) -> ForwardingSpec:
    """``forwarding:`` with its statuses resolved (docs/integrations.md, "Open311 forwarding") by
    `shared.jurisdiction.forwarding.closed_status` and `reopened_status`: the closed status defaults to the
    workflow's first Open311-closed status that notifies, the reopened one to its ``resume_to``. Raises
    `JurisdictionConfigError` for an undeclared status, a closed status that is Open311 ``open`` (or a
    reopened one that is ``closed``), or a mapped service_code we do not offer."""
    spec = config.forwarding
    where = f"{source}: forwarding"
    closed = closed_status(spec.closed_status, workflow)
    reopened = reopened_status(spec.reopened_status, workflow)
    for key, status, want in (("closed_status", closed, "closed"), ("reopened_status", reopened, "open")):
        if status is None or not workflow.has(status):
            raise JurisdictionConfigError(f"{where}.{key}: {status!r} is not a status of the workflow")
        if workflow.open311(status) != want:
            raise JurisdictionConfigError(f"{where}.{key}: {status!r} is Open311 {workflow.open311(status)!r}, "
                                          f"it must be {want!r}")
    codes = {s.service_code for s in services}
    for endpoint in spec.endpoints:
        unknown = sorted(set(endpoint.services) - codes)
        if unknown:
            raise JurisdictionConfigError(f"{where}.endpoints ({endpoint.name!r}): unknown service_code "
                                          + ", ".join(repr(c) for c in unknown))
    return spec.model_copy(update={"closed_status": closed, "reopened_status": reopened})


def _canned_responses(config: JurisdictionConfig, source: str) -> tuple[CannedResponse, ...]:
    """Canned responses with unique ids and a title and a text in every locale of the jurisdiction.

    Raises:
        JurisdictionConfigError: an id given twice or a locale missing.
    """
    seen: set[str] = set()
    for index, canned in enumerate(config.canned_responses):
        where = f"{source}: canned_responses[{index}] ({canned.id!r})"
        if canned.id in seen:
            raise JurisdictionConfigError(f"{where}: id given twice")
        seen.add(canned.id)
        for field in ("title", "text"):
            if missing := [lang for lang in config.locales if not getattr(canned, field).get(lang, "").strip()]:
                raise JurisdictionConfigError(f"{where}.{field}: missing for locales {missing}")
    return tuple(config.canned_responses)


def _dedup_policy(spec: DedupSpec, defaults: DedupSpec, code: str, source: str) -> DedupPolicy:
    """The category's duplicate policy: its own values, else the service defaults', else the platform's.

    Raises:
        JurisdictionConfigError: the resolved review threshold is above the merge threshold.
    """
    merge = next(v for v in (spec.merge_threshold, defaults.merge_threshold, DEFAULT_MERGE_THRESHOLD) if v is not None)
    review = next(v for v in (spec.review_threshold, defaults.review_threshold, DEFAULT_REVIEW_THRESHOLD)
                  if v is not None)
    if review > merge:
        raise JurisdictionConfigError(
            f"{source}: service {code!r}: dedup review_threshold {review} is above its merge_threshold {merge}"
        )
    return DedupPolicy(
        radius_m=spec.radius_m or defaults.radius_m or 50,
        window_hours=spec.window_hours or defaults.window_hours or 72,
        merge_threshold=merge,
        review_threshold=review,
    )


def _check_bounds(config: JurisdictionConfig, districts: DistrictIndex, source: str) -> None:
    if config.bounds is None:
        return
    west, south, east, north = districts.bounds
    b = config.bounds
    if east < b.west or west > b.east or north < b.south or south > b.north:
        raise JurisdictionConfigError(
            f"{source}: the district polygons ({south:.4f},{west:.4f})-({north:.4f},{east:.4f}) do not overlap "
            f"bounds ({b.south},{b.west})-({b.north},{b.east}); swapped lat/long or a wrong CRS?"
        )


def _check_rules(
    config: JurisdictionConfig,
    services: list[Service],
    unclassified: Service,
    departments: tuple[Department, ...],
    districts: DistrictIndex | None,
    source: str,
) -> None:
    codes = {s.service_code for s in services} | {unclassified.service_code}
    groups = {s.group for s in services} | {unclassified.group}
    queues = {q.id for d in departments for q in d.queues}
    seen: set[str] = set()
    for rule in config.routing_rules:
        where = f"{source}: routing rule {rule.id!r}"
        if rule.id in seen:
            raise JurisdictionConfigError(f"{where} is declared twice")
        seen.add(rule.id)
        if unknown := sorted(set(rule.match.service_codes) - codes):
            raise JurisdictionConfigError(f"{where} matches unknown service_codes {unknown}")
        if unknown := sorted(set(rule.match.groups) - groups):
            raise JurisdictionConfigError(f"{where} matches unknown groups {unknown}")
        if rule.set_.queue is not None and rule.set_.queue not in queues:
            raise JurisdictionConfigError(f"{where} sets unknown queue {rule.set_.queue!r}")
        if rule.match.districts:
            if districts is None:
                raise JurisdictionConfigError(f"{where} matches districts but no districts are configured")
            if unknown := sorted(d for d in rule.match.districts if districts.get(d) is None):
                raise JurisdictionConfigError(f"{where} matches unknown districts {unknown}")


def _config_version(
    config: JurisdictionConfig,
    raw: bytes | None,
    referenced: dict[str, Path],
    given_catalogue: DerivedCatalogue | None = None,
) -> str:
    """``<id>:<16 hex>``: SHA-256 of the YAML bytes and of each referenced file's name, size and content.

    A catalogue passed in instead of read from ``services_from`` is hashed through its ``repr``.
    """
    digest = hashlib.sha256()
    if given_catalogue is not None:
        digest.update(repr(given_catalogue).encode())
    digest.update(f"omni311-jurisdiction/derivation-{DERIVATION_VERSION}\0".encode())
    digest.update(raw if raw is not None else config.model_dump_json(by_alias=True).encode())
    for key in sorted(referenced):
        path = referenced[key]
        content = path.read_bytes()
        digest.update(f"\0{key}\0{path.name}\0{len(content)}\0".encode())
        digest.update(hashlib.sha256(content).digest())
    return f"{config.id}:{digest.hexdigest()[:16]}"
