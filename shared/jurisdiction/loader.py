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
from shared.jurisdiction.config import DepartmentSpec, JurisdictionConfig, QueueSpec, ServiceSpec
from shared.jurisdiction.derive import DERIVATION_VERSION, DerivedCatalogue, DerivedService, derive_services
from shared.jurisdiction.errors import JurisdictionConfigError
from shared.jurisdiction.geo import DistrictIndex
from shared.jurisdiction.model import DedupPolicy, Department, Jurisdiction, Keyword, Queue, Service
from shared.jurisdiction.text import normalize_text, service_code_for

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
        document = yaml.load(raw, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
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
        _check_bounds(config, districts, source)
    for spot in config.fallback_locations:
        if config.bounds is not None and not (
            config.bounds.south <= spot.lat <= config.bounds.north and config.bounds.west <= spot.long <= config.bounds.east
        ):
            raise JurisdictionConfigError(f"{source}: fallback location {spot.name!r} lies outside bounds")

    dept_models = tuple(
        Department(
            id=d.id,
            name=d.name or d.id,
            agency_responsible=d.agency_responsible or d.id,
            queues=tuple(Queue(id=q.id, name=q.name or q.id, department_id=d.id) for q in d.queues),
        )
        for d in departments.values()
    )
    _check_rules(config, services, unclassified, dept_models, districts, source)
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
        config_version=version,
        source=source,
        districts=districts,
        calendar=calendar,
    )


# -- helpers ------------------------------------------------------------------------------------


class _UniqueKeyLoader(yaml.SafeLoader):
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
        bucket.extend(Keyword(text=w.text, weight=w.weight, origin="curated") for w in words)
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
        dedup=DedupPolicy(
            radius_m=dedup.radius_m or defaults.dedup.radius_m or 50,
            window_hours=dedup.window_hours or defaults.dedup.window_hours or 72,
        ),
        origin=origin,  # type: ignore[arg-type]
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
