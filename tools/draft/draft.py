"""Draft a `jurisdiction.yaml` from a city's export and a boundary file: services, departments, districts,
SLA hours observed from the city's own due times, and the column mapping (`export:`) it read with."""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from shared.jurisdiction import JurisdictionConfig, load_jurisdiction, shared_data_root
from shared.jurisdiction.calendar import BusinessCalendar
from shared.jurisdiction.config import BusinessHoursSpec, ExportLayoutSpec, ServicesFromSpec
from shared.jurisdiction.derive import derive_services
from shared.jurisdiction.text import service_code_for
from shared.records import ReplayFormatError, ReplayRecord, load_layout, read_layout
from tools.draft.guess import guess_district_properties, guess_layout

__all__ = ["Draft", "draft_jurisdiction", "summary", "write_draft"]

_LOCAL = "%Y-%m-%dT%H:%M:%S"
_SLUG = re.compile(r"[^a-z0-9]+")


@dataclass
class Draft:
    """A drafted configuration (``config``: the YAML document) and what it was drafted from."""

    config: dict[str, Any]
    layout: ExportLayoutSpec
    layout_guessed: bool
    records: int
    services: int
    departments: int
    districts: int
    sla_observed: int
    notes: list[str] = field(default_factory=list)


def _slug(text: str) -> str:
    try:
        return service_code_for(text)
    except ValueError:
        return _SLUG.sub("-", text.lower()).strip("-") or "department"


def _reference(target: Path, folder: Path) -> str:
    """How the YAML in ``folder`` names ``target`` (the loader's rule, `Jurisdiction.resolve`): ``./x`` when
    it is inside the folder, a path under the shared-data root when it is there, else the absolute path."""
    target = target.resolve()
    if target.is_relative_to(folder.resolve()):
        return f"./{target.relative_to(folder.resolve()).as_posix()}"
    root = shared_data_root().resolve()
    if target.is_relative_to(root):
        return target.relative_to(root).as_posix()
    return str(target)


def _boundary(path: Path) -> list[dict[str, Any]]:
    try:
        document = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, ValueError) as exc:
        raise ReplayFormatError(f"{path}: not a readable GeoJSON file: {exc}") from exc
    features = document.get("features") if isinstance(document, dict) else None
    if not isinstance(features, list) or not features:
        raise ReplayFormatError(f"{path}: a GeoJSON FeatureCollection with features is needed")
    for number, feature in enumerate(features):
        if not isinstance(feature, dict) or not isinstance(feature.get("properties") or {}, dict):
            raise ReplayFormatError(f"{path}: feature #{number} is not a GeoJSON Feature with properties")
    return features


def _first_point_not_lonlat(features: list[dict[str, Any]]) -> tuple[float, float] | None:
    """The first (x, y) of the features' geometries that is no longitude/latitude, else ``None``."""
    for feature in features:
        coordinates: Any = ((feature or {}).get("geometry") or {}).get("coordinates")
        while isinstance(coordinates, list) and coordinates and isinstance(coordinates[0], list):
            coordinates = coordinates[0]
        if isinstance(coordinates, list) and len(coordinates) >= 2 and all(
                isinstance(c, int | float) for c in coordinates[:2]):
            x, y = coordinates[0], coordinates[1]
            if not (-180 <= x <= 180 and -90 <= y <= 90):
                return float(x), float(y)
    return None


def _layout_document(layout: ExportLayoutSpec) -> dict[str, Any]:
    """The mapping as YAML data: ``format`` and ``columns`` always, the rest where it is not the default."""
    document = {"format": layout.format} | layout.model_dump(mode="json", exclude_defaults=True, exclude_none=True)
    document["columns"] = layout.columns.model_dump(mode="json", exclude_none=True)
    return document


def draft_jurisdiction(
    export: str | Path,
    *,
    boundary: str | Path,
    jurisdiction_id: str,
    output: str | Path,
    layout: str | Path | ExportLayoutSpec | None = None,
    district_property: str | None = None,
    name_property: str | None = None,
    name: str | None = None,
    timezone: str | None = None,
    locales: list[str] | None = None,
    country: str | None = None,
    subdivision: str | None = None,
    boundary_crs: str | None = None,
) -> Draft:
    """Draft the configuration of a new jurisdiction.

    - ``export:`` the given layout (a built-in name, a layout YAML or an `ExportLayoutSpec`), else one
      guessed from the file (`guess_layout`); it is written into the draft as the jurisdiction's mapping.
    - services: one per distinct service label, ``service_code`` = `service_code_for` of it; its
      department is the dominant agency of its records; records without a label are not a service.
    - departments: one per agency (id = a slug of it, ``agency_responsible`` = the agency as written, so
      the replay's agency accuracy compares like with like); a city without an agency column gets one.
    - SLA: per service, the median business hours from creation to the city's due time over its records
      that have both (``shared.jurisdiction.derive``, as ``services_from`` does), rounded to 0.5 h;
      without due times the default (72 business hours) applies.
    - districts: the boundary file, ``district_property`` (else guessed: distinct on every feature,
      matching the export's own district labels best) and ``name_property`` (else guessed).
    - ``unclassified``: a triage service in a "311" department.

    The boundary file is named as the loader reads it: ``./name`` inside the output's folder, relative to
    the shared-data root (``$OMNI311_SHARED_DATA``) when it is there, else by its absolute path; nothing is copied.

    Raises:
        ReplayFormatError: the export cannot be read with the layout, the layout cannot be guessed, no
            record has a service label, or the boundary file is not GeoJSON with a usable property.
        ValueError: no time zone (neither ``timezone`` nor the layout's).
    """
    export, boundary, output = Path(export), Path(boundary), Path(output)
    folder = output.parent
    guessed = layout is None
    spec = (guess_layout(export, prefer_day_first=bool(locales) and locales[0] != "en") if layout is None
            else layout if isinstance(layout, ExportLayoutSpec) else load_layout(layout))
    zone = timezone or spec.timezone
    if not zone:
        raise ValueError("give --timezone (an IANA name such as Europe/Paris): the layout names none")
    records: list[ReplayRecord] = list(read_layout(export, spec, timezone=zone))
    labelled = [r for r in records if r.service_name]
    if not labelled:
        raise ReplayFormatError(f"{export}: no record has a service label (columns.service: {spec.columns.service!r})")
    notes: list[str] = []
    if unlabelled := len(records) - len(labelled):
        notes.append(f"{unlabelled} records have no service label: they make no service (replayed, they go to triage)")

    hours = BusinessHoursSpec()
    calendar = BusinessCalendar(timezone=zone, weekdays=hours.weekdays, opens=hours.open, closes=hours.close,
                                holiday_country=country, holiday_subdivision=subdivision)
    fallback_agency = name or jurisdiction_id
    rows = [{"service": r.service_name, "agency": r.expected_agency or fallback_agency,
             "opened": r.requested_datetime.astimezone(calendar.tz).strftime(_LOCAL),
             "due": r.city_due_at.astimezone(calendar.tz).strftime(_LOCAL) if r.city_due_at else ""}
            for r in labelled]
    catalogue = derive_services(rows, ServicesFromSpec(csv=str(export), name_column="service", agency_column="agency",
                                                       opened_column="opened", due_column="due",
                                                       datetime_format=_LOCAL, max_keywords=0),
                                calendar=calendar, source=str(export))
    agencies = Counter(r.expected_agency or fallback_agency for r in labelled)
    department_ids = {agency: _slug(agency) for agency in agencies}
    if len(set(department_ids.values())) != len(department_ids):
        department_ids = {agency: f"{_slug(agency)}-{i}" for i, agency in enumerate(sorted(agencies), 1)}
    triage_id = "311" if "311" not in department_ids.values() else "311-triage"
    departments = [{"id": department_ids[agency], "name": agency, "agency_responsible": agency}
                   for agency in sorted(agencies, key=lambda a: (-agencies[a], a))]
    departments.append({"id": triage_id, "name": f"{name or jurisdiction_id} 311 (triage)"})
    services: list[dict[str, Any]] = []
    sla_observed = 0
    for code, derived in sorted(catalogue.services.items(), key=lambda kv: (-kv[1].rows, kv[0])):
        service: dict[str, Any] = {"service_code": code, "service_name": derived.service_name,
                                   "department": department_ids[derived.agency]}
        if derived.sla_business_hours is not None:
            service["sla_hours"] = derived.sla_business_hours
            sla_observed += 1
        services.append(service)
    if sla_observed == 0:
        notes.append("no record has a due time: every service has the default SLA (service_defaults.sla_hours)")

    features = _boundary(boundary)
    if boundary_crs is None and (outside := _first_point_not_lonlat(features)) is not None:
        # Checked before anything is written: the loader refuses such a file, and the draft could not load.
        raise ReplayFormatError(
            f"{boundary}: coordinates are not WGS84 longitude/latitude (a point at {outside[0]:.6g}, {outside[1]:.6g}); "
            "pass --boundary-crs with the file's CRS (e.g. EPSG:2249, Massachusetts State Plane in US feet) "
            "or reproject the file")
    labels = {r.district for r in records if r.district}
    if district_property is None:
        district_property, guessed_name = guess_district_properties(features, labels)
        name_property = name_property or guessed_name
        notes.append(f"districts: id_property {district_property!r} guessed from the boundary file; check it")
    elif not any(district_property in (f.get("properties") or {}) for f in features):
        raise ReplayFormatError(f"{boundary}: no feature has the property {district_property!r}")
    districts: dict[str, Any] = {"geojson": _reference(boundary, folder), "id_property": district_property}
    if name_property:
        districts["name_property"] = name_property
    if boundary_crs is not None:
        districts["crs"] = boundary_crs

    config: dict[str, Any] = {
        "id": jurisdiction_id,
        "name": name or jurisdiction_id,
        "timezone": zone,
        "locales": locales or ["en"],
    }
    if country:
        config["holidays"] = {"country": country, **({"subdivision": subdivision} if subdivision else {})}
    config |= {
        "departments": departments,
        "services": services,
        "unclassified": {"service_code": "unclassified", "service_name": "General request (to be triaged)",
                         "department": triage_id, "sla_hours": 8},
        "districts": districts,
        "export": _layout_document(spec),
    }
    if spec.labels_from and not Path(spec.labels_from.file).is_absolute():
        notes.append("export.labels_from.file is read relative to the export file's folder")
    JurisdictionConfig.model_validate(config)
    return Draft(config=config, layout=spec, layout_guessed=guessed, records=len(records), services=len(services),
                 departments=len(departments), districts=len(features), sla_observed=sla_observed, notes=notes)


def write_draft(draft: Draft, output: str | Path, *, export: str | Path) -> Path:
    """Write the draft as YAML (with a header saying what to check) and load it back with `load_jurisdiction`.

    Raises:
        JurisdictionConfigError: the written file does not load (it is left in place to be read).
    """
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    guessed = "guessed from its header and first records: check every column" if draft.layout_guessed else "as given"
    header = (
        f"# Drafted by `python -m tools.draft` from {Path(export).name}: {draft.records} records, "
        f"{draft.services} services, {draft.departments} departments, {draft.districts} boundary features.\n"
        "# Edit freely: the schema is shared/jurisdiction/config.py, every key is in jurisdictions/README.md.\n"
        f"# export: is the column mapping the replay and the evaluation commands read the export with ({guessed}).\n"
        "# sla_hours: the median business hours from creation to the city's due time, where the export has due times.\n"
    )
    body = yaml.safe_dump(draft.config, sort_keys=False, allow_unicode=True, width=110)
    output.write_text(header + body, encoding="utf-8")
    load_jurisdiction(output, use_cache=False)
    return output


def summary(draft: Draft, output: Path) -> dict[str, Any]:
    """What the command prints: counts, the mapping used and the notes."""
    return {"written": str(output), "records": draft.records, "services": draft.services,
            "departments": draft.departments, "districts": draft.districts,
            "services_with_observed_sla": draft.sla_observed, "layout_guessed": draft.layout_guessed,
            "export": _layout_document(draft.layout), "notes": draft.notes}
