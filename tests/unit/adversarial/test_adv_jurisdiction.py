"""Broken jurisdiction configurations: every mistake is a JurisdictionConfigError naming the file and key."""

from __future__ import annotations

import json
import textwrap
from datetime import UTC, datetime, time
from pathlib import Path

import pytest

from shared.jurisdiction import BusinessCalendar, JurisdictionConfigError, load_jurisdiction

MINIMAL = """
id: tiny
name: Tiny
timezone: America/New_York
departments: [{id: "311"}]
unclassified: {service_code: unclassified, service_name: Other, department: "311"}
"""
SQUARE = [[[-74.0, 40.7], [-73.9, 40.7], [-73.9, 40.8], [-74.0, 40.8], [-74.0, 40.7]]]
DISTRICTS = "districts: {geojson: ./d.geojson, id_property: cd}\n"


def _load(tmp_path: Path, extra: str = "", files: dict[str, str | bytes] | None = None):  # noqa: ANN202
    for name, content in (files or {}).items():
        target = tmp_path / name
        target.write_bytes(content if isinstance(content, bytes) else content.encode())
    (tmp_path / "jurisdiction.yaml").write_text(textwrap.dedent(MINIMAL) + textwrap.dedent(extra), encoding="utf-8")
    return load_jurisdiction(tmp_path, use_cache=False, data_root=tmp_path)


def _features(*features: object) -> str:
    return json.dumps({"type": "FeatureCollection", "features": list(features)})


def _feature(geometry: object, cd: object = 101) -> dict[str, object]:
    return {"type": "Feature", "properties": {"cd": cd}, "geometry": geometry}


# --------------------------------------------------------------------------- YAML


def test_an_impossible_date_in_the_yaml_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(JurisdictionConfigError, match="jurisdiction.yaml.*day is out of range"):
        _load(tmp_path, "holidays: {country: US, extra_closed_dates: [2024-02-30]}\n")


def test_a_key_given_twice_in_the_yaml_is_a_config_error_not_a_silent_override(tmp_path: Path) -> None:
    # The first `services:` block would otherwise vanish without a word.
    twice = """
    services: [{service_code: a, service_name: A, department: "311"}]
    services: [{service_code: b, service_name: B, department: "311"}]
    """
    with pytest.raises(JurisdictionConfigError, match="'services'.*more than once"):
        _load(tmp_path, twice)


def test_a_department_declared_twice_is_a_config_error(tmp_path: Path) -> None:
    # The second entry was silently merged into the first (its queues added, its name taking over).
    text = MINIMAL.replace('departments: [{id: "311"}]', 'departments: [{id: "311"}, {id: "311", name: Again}]')
    (tmp_path / "jurisdiction.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(JurisdictionConfigError, match="department '311' is declared twice"):
        load_jurisdiction(tmp_path, use_cache=False)


@pytest.mark.parametrize(
    "extra",
    [
        "service_defaults: {sla_hours: .inf}\n",
        "service_defaults: {dedup: {radius_m: .inf, window_hours: 72}}\n",
        "fallback_locations: [{name: x, lat: 40.7, long: -74.0, tolerance_m: .inf}]\n",
        "services: [{service_code: a, service_name: A, department: '311', sla_hours: .inf}]\n",
        "routing_rules: [{id: r, set: {sla_hours: .inf}}]\n",
    ],
)
def test_infinite_numbers_are_config_errors(tmp_path: Path, extra: str) -> None:
    with pytest.raises(JurisdictionConfigError, match="finite"):
        _load(tmp_path, extra)


@pytest.mark.parametrize("hours", ["1e300", "100000"])
def test_an_sla_longer_than_a_year_is_a_config_error_not_a_crash_at_routing_time(tmp_path: Path, hours: str) -> None:
    with pytest.raises(JurisdictionConfigError, match="sla_hours"):
        _load(tmp_path, f"service_defaults: {{sla_hours: {hours}}}\n")


@pytest.mark.parametrize("name", ["'!!!'", "'---'", "'\U0001f573'"])
def test_a_service_name_without_letters_or_digits_is_a_config_error(tmp_path: Path, name: str) -> None:
    with pytest.raises(JurisdictionConfigError, match="service_code"):
        _load(tmp_path, f"services: [{{service_name: {name}, department: '311'}}]\n")


# --------------------------------------------------------------------------- services_from


@pytest.mark.parametrize(
    ("extra", "csv_bytes", "expected"),
    [
        ("encoding: no-such-codec", b"type,dept\nPothole,PWD\n", "encoding"),
        ("", b"type,dept\n" + b"x" * 200_000 + b",PWD\n", "field larger"),
        ("", b"type,dept\n!!!,PWD\n", "service_code"),
    ],
)
def test_a_broken_services_csv_is_a_config_error(tmp_path: Path, extra: str, csv_bytes: bytes, expected: str) -> None:
    spec = f"services_from: {{csv: ./s.csv, name_column: type, agency_column: dept{', ' + extra if extra else ''}}}\n"
    with pytest.raises(JurisdictionConfigError, match=expected):
        _load(tmp_path, spec, {"s.csv": csv_bytes})


# --------------------------------------------------------------------------- GeoJSON


@pytest.mark.parametrize(
    "geojson",
    [
        "[]",
        "5",
        _features(5),
        _features({"type": "Feature", "properties": {"cd": 1}, "geometry": [1]}),
        _features({"type": "Feature", "properties": [1, 2], "geometry": {"type": "Polygon", "coordinates": SQUARE}}),
        _features(_feature({"type": "Polygon"})),
        _features(_feature({"type": "Polygon", "coordinates": [[1, 2]]})),
        _features(_feature({"type": "Polygon", "coordinates": "abc"})),
        _features(_feature({"type": "Polygon", "coordinates": [[[0, 0], [1, 1]]]})),
        _features(_feature({"type": "MultiPolygon", "coordinates": [[[["a", "b"]]]]})),
        _features(_feature({"type": "Polygon", "coordinates": [[[-74, 40.7], [-73.9, 40.7], [float("nan"), 40.8],
                                                                [-74, 40.7]]]})),
    ],
)
def test_a_malformed_district_file_is_a_config_error(tmp_path: Path, geojson: str) -> None:
    with pytest.raises(JurisdictionConfigError, match="d.geojson"):
        _load(tmp_path, DISTRICTS, {"d.geojson": geojson})


def test_a_name_template_naming_a_missing_attribute_is_a_config_error(tmp_path: Path) -> None:
    extra = "districts: {geojson: ./d.geojson, id_property: cd, name_template: '{id.nope}'}\n"
    with pytest.raises(JurisdictionConfigError, match="name_template"):
        _load(tmp_path, extra, {"d.geojson": _features(_feature({"type": "Polygon", "coordinates": SQUARE}))})


def test_a_well_formed_district_file_still_loads(tmp_path: Path) -> None:
    city = _load(tmp_path, DISTRICTS, {"d.geojson": _features(_feature({"type": "Polygon", "coordinates": SQUARE}))})
    assert city.locate(40.75, -73.95).id == "101"  # type: ignore[union-attr]


# --------------------------------------------------------------------------- calendar


def _calendar(**overrides: object) -> BusinessCalendar:
    options: dict[str, object] = dict(timezone="America/New_York", weekdays=range(5), opens=time(8), closes=time(17))
    options.update(overrides)
    return BusinessCalendar(**options)  # type: ignore[arg-type]


@pytest.mark.parametrize("start", [datetime(1, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, 12, tzinfo=UTC)])
def test_business_hours_at_the_ends_of_the_calendar_raise_value_error(start: datetime) -> None:
    with pytest.raises(ValueError, match="range"):
        _calendar().add_business_hours(start, 100)


def test_a_long_sla_on_a_sparse_calendar_is_not_mistaken_for_a_calendar_without_business_days() -> None:
    # One working hour a week: 600 hours are about eleven and a half years of Mondays.
    sparse = _calendar(weekdays=[0], opens=time(9), closes=time(10))
    due = sparse.add_business_hours(datetime(2024, 1, 1, 9, tzinfo=UTC), 600)
    assert due.year == 2035 and due.astimezone(sparse.tz).weekday() == 0
