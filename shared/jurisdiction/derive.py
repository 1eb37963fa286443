"""Derive Open311 services, departments and EN keywords from a city's 311 open-data export (rows of a CSV)."""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from shared.jurisdiction.calendar import BusinessCalendar
from shared.jurisdiction.config import ServicesFromSpec
from shared.jurisdiction.errors import JurisdictionConfigError
from shared.jurisdiction.model import Keyword
from shared.jurisdiction.text import service_code_for, tokens

__all__ = ["DerivedCatalogue", "DerivedDepartment", "DerivedService", "derive_services", "dominant"]

#: Bumped whenever the derivation below changes its output, so that ``config_version`` changes too.
DERIVATION_VERSION = 1

# Words in type names that say nothing about the category ("Request for Pothole Repair").
_GENERIC = frozenset(
    "request requests complaint issue condition other general new misc unknown problem report "
    "service printed scheduled dispatched non".split()
)
_NAME_TOKEN_WEIGHT = 0.7


@dataclass
class DerivedService:
    """A service read from data: the dominant agency/queue/group of its rows and weighted EN keywords."""

    service_code: str
    service_name: str
    agency: str
    queue: str
    group: str
    description: str
    rows: int
    keywords: list[Keyword] = field(default_factory=list)
    sla_business_hours: float | None = None
    sla_calendar_hours: float | None = None


@dataclass
class DerivedDepartment:
    """A department seen in data: ``id`` is the agency code, ``name`` its dominant long name."""

    id: str
    name: str
    queues: list[str]


@dataclass
class DerivedCatalogue:
    """Everything derived from one CSV: services by code and departments by id."""

    services: dict[str, DerivedService]
    departments: dict[str, DerivedDepartment]


def dominant(counter: Counter[str]) -> str:
    """The most frequent value; ties go to the smallest text so the result never depends on row order."""
    return min(counter.items(), key=lambda kv: (-kv[1], kv[0]))[0]


def _clean(value: str | None) -> str:
    return " ".join((value or "").replace("\xa0", " ").split())


def derive_services(
    rows: Iterable[Mapping[str, str | None]],
    spec: ServicesFromSpec,
    *,
    calendar: BusinessCalendar | None = None,
    source: str = "<rows>",
) -> DerivedCatalogue:
    """One service per distinct ``spec.name_column`` value of ``rows`` (CSV dicts).

    - ``service_code`` = :func:`shared.jurisdiction.text.service_code_for` of the name;
    - agency = dominant ``agency_column``; queue = dominant ``queue_column`` among rows of that
      agency (else the agency);
    - EN keywords: the name itself (weight 1), its words (0.7 / number of services using the word in
      their name or data phrases), and each distinct ``keyword_columns`` phrase with weight = share of that phrase's rows
      that belong to this service × n/(n+1) (n = its rows here), keeping the ``max_keywords`` most
      frequent phrases;
    - group = dominant ``group_column``, else ``""`` (the loader then uses the department name);
    - SLA: median business hours and median calendar hours from ``opened_column`` to
      ``due_column`` (local wall times, rounded to 0.5 h) when both columns, ``datetime_format``
      and a ``calendar`` are given; the loader keeps the one matching the service's ``sla_clock``.

    Raises:
        JurisdictionConfigError: a configured column is missing, no row has a name, or two
            different names give the same ``service_code``.
    """
    name_rows: dict[str, int] = Counter()
    agencies: dict[str, Counter[str]] = defaultdict(Counter)
    agency_names: dict[str, Counter[str]] = defaultdict(Counter)
    queues: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    groups: dict[str, Counter[str]] = defaultdict(Counter)
    phrase_counts: dict[str, Counter[str]] = defaultdict(Counter)
    phrase_forms: dict[str, Counter[str]] = defaultdict(Counter)
    phrase_totals: Counter[str] = Counter()
    sla_samples: dict[str, list[tuple[float, float]]] = defaultdict(list)

    wanted = [spec.name_column, spec.agency_column, spec.agency_name_column, spec.queue_column, spec.group_column,
              *spec.keyword_columns, spec.opened_column, spec.due_column]
    checked = False
    for row in rows:
        if not checked:
            missing = [c for c in wanted if c and c not in row]
            if missing:
                raise JurisdictionConfigError(
                    f"{source}: services_from names columns {missing} that the CSV lacks (has {sorted(row)[:40]})"
                )
            checked = True
        name = _clean(row[spec.name_column])
        if not name:
            continue
        agency = _clean(row[spec.agency_column]) or "unknown"
        name_rows[name] += 1
        agencies[name][agency] += 1
        if spec.agency_name_column:
            long_name = _clean(row[spec.agency_name_column])
            if long_name:
                agency_names[agency][long_name] += 1
        if spec.queue_column:
            queue = _clean(row[spec.queue_column])
            if queue:
                queues[(name, agency)][queue] += 1
        if spec.group_column:
            group = _clean(row[spec.group_column])
            if group:
                groups[name][group] += 1
        for column in spec.keyword_columns:
            raw = _clean(row[column])
            key = " ".join(tokens(raw))
            if key:
                phrase_counts[name][key] += 1
                phrase_forms[key][raw] += 1
                phrase_totals[key] += 1
        if calendar is not None and spec.opened_column and spec.due_column and spec.datetime_format:
            sample = _sla_sample(row[spec.opened_column], row[spec.due_column], spec.datetime_format, calendar)
            if sample is not None:
                sla_samples[name].append(sample)
    if not name_rows:
        raise JurisdictionConfigError(f"{source}: no row has a value in column {spec.name_column!r}")

    codes: dict[str, str] = {}
    for name in sorted(name_rows):
        try:
            code = service_code_for(name)
        except ValueError as exc:
            raise JurisdictionConfigError(f"{source}: {exc} (column {spec.name_column!r})") from exc
        if code in codes:
            raise JurisdictionConfigError(
                f"{source}: {codes[code]!r} and {name!r} give the same service_code {code!r}; "
                "declare one of them inline with its own service_code"
            )
        codes[code] = name

    # How many services use a word anywhere (name or data phrases): a word shared by several says little.
    name_token_df: Counter[str] = Counter()
    for name in name_rows:
        words = set(tokens(name))
        for key in phrase_counts[name]:
            words.update(key.split())
        name_token_df.update(words)

    services: dict[str, DerivedService] = {}
    departments: dict[str, DerivedDepartment] = {}
    for code, name in sorted(codes.items()):
        agency = dominant(agencies[name])
        queue = dominant(queues[(name, agency)]) if queues.get((name, agency)) else agency
        keywords = [Keyword(text=name, weight=1.0, origin="name")]
        for word in dict.fromkeys(tokens(name)):
            if word not in _GENERIC and len(word) >= 3:
                keywords.append(Keyword(text=word, weight=round(_NAME_TOKEN_WEIGHT / name_token_df[word], 4), origin="name"))
        name_key = " ".join(tokens(name))
        top = sorted(phrase_counts[name].items(), key=lambda kv: (-kv[1], kv[0]))[: spec.max_keywords]
        for key, n in top:
            if key == name_key:
                continue
            weight = (n / phrase_totals[key]) * (n / (n + 1))
            keywords.append(Keyword(text=dominant(phrase_forms[key]), weight=round(weight, 4), origin="data"))
        examples = [dominant(phrase_forms[k]) for k, _ in top[:3]]
        samples = sla_samples.get(name) or []
        business = statistics.median(b for b, _ in samples) if samples else None
        clock = statistics.median(c for _, c in samples) if samples else None
        services[code] = DerivedService(
            service_code=code,
            service_name=name,
            agency=agency,
            queue=queue,
            group=dominant(groups[name]) if groups.get(name) else "",  # loader falls back to the department name
            description=f"{name} (e.g. {'; '.join(examples)})" if examples else name,
            rows=name_rows[name],
            keywords=keywords,
            sla_business_hours=_half_hours(business),
            sla_calendar_hours=_half_hours(clock),
        )
        department = departments.setdefault(
            agency,
            DerivedDepartment(
                id=agency,
                name=dominant(agency_names[agency]) if agency_names.get(agency) else agency,
                queues=[],
            ),
        )
        if queue not in department.queues:
            department.queues.append(queue)
    for department in departments.values():
        department.queues.sort()
    return DerivedCatalogue(services=services, departments=departments)


def _half_hours(hours: float | None) -> float | None:
    return max(0.5, round(hours * 2) / 2) if hours is not None and hours > 0 else None


def _sla_sample(
    opened: str | None, due: str | None, fmt: str, calendar: BusinessCalendar
) -> tuple[float, float] | None:
    """(business hours, calendar hours) from ``opened`` to ``due``, both local wall times; None if unusable."""
    try:
        start = datetime.strptime(_clean(opened), fmt).replace(tzinfo=calendar.tz)
        end = datetime.strptime(_clean(due), fmt).replace(tzinfo=calendar.tz)
    except ValueError:
        return None
    if end <= start:
        return None
    return calendar.business_hours_between(start, end), (end - start).total_seconds() / 3600.0
