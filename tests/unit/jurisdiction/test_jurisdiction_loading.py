"""Loading jurisdiction YAML: the demo city needs no shared data, versions are stable, mistakes are named."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from shared.jurisdiction import (
    Jurisdiction,
    JurisdictionConfigError,
    load_jurisdiction,
    repo_root,
    shared_data_root,
)

DEMO_DIR = repo_root() / "jurisdictions" / "demo"
DATA = shared_data_root()
needs_data = pytest.mark.usefixtures("require_shared_data")

MINIMAL = """
id: tiny
name: Tiny
timezone: Europe/Paris
departments: [{id: "311"}]
unclassified: {service_code: unclassified, service_name: Other, department: "311"}
"""


def _write(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "jurisdiction.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_demo_city_loads_without_any_shared_data(tmp_path: Path) -> None:
    demo = load_jurisdiction("demo", data_root=tmp_path / "nowhere", use_cache=False)
    assert isinstance(demo, Jurisdiction)
    assert demo.id == "demo" and demo.timezone == "America/Toronto"
    assert {"en", "fr"} <= set(demo.locales)
    assert len(demo.services) >= 10
    assert demo.districts is not None and [d.id for d in demo.districts.districts] == ["centre", "nord", "sud"]
    pothole = demo.service("pothole")
    assert pothole is not None and pothole.queue == "roads" and pothole.department_id == "public-works"
    assert pothole.dedup.radius_m == 30 and pothole.dedup.window_hours == 336
    assert {k.text for k in pothole.keywords["fr"]} >= {"nid-de-poule"}


def test_demo_places_districts_park_and_fallback_point() -> None:
    demo = load_jurisdiction("demo")
    assert demo.locate(45.43, -75.70).id == "nord"  # type: ignore[union-attr]
    assert demo.locate(45.405, -75.68).id == "sud"  # type: ignore[union-attr]
    # The riverside park is inside the city but belongs to no district.
    assert demo.contains(45.42, -75.635) and demo.locate(45.42, -75.635) is None
    # City Hall is where the geocoder puts unknown addresses: never a district.
    assert demo.fallback_location(45.41752, -75.68001) is not None
    assert demo.locate(45.4175, -75.68) is None
    assert not demo.contains(45.50, -75.68) and not demo.in_bounds(45.50, -75.68)


def test_config_version_is_stable_and_follows_referenced_files(tmp_path: Path) -> None:
    first = load_jurisdiction("demo", use_cache=False).config_version
    assert first == load_jurisdiction("demo", use_cache=False).config_version
    assert first.startswith("demo:") and len(first) == len("demo:") + 16
    copy = tmp_path / "demo"
    shutil.copytree(DEMO_DIR, copy)
    assert load_jurisdiction(copy, use_cache=False).config_version == first  # same content, other place
    geojson = copy / "districts.geojson"
    geojson.write_text(geojson.read_text(encoding="utf-8").replace("Centre", "Centre-ville"), encoding="utf-8")
    assert load_jurisdiction(copy, use_cache=False).config_version != first


def test_loading_is_cached_until_the_yaml_changes(tmp_path: Path) -> None:
    path = _write(tmp_path / "tiny", MINIMAL)
    first = load_jurisdiction(path)
    assert load_jurisdiction(path) is first
    path.write_text(path.read_text() + "\nlocales: [en, fr]\n", encoding="utf-8")
    assert load_jurisdiction(path) is not first


def test_open311_service_list_entry() -> None:
    entry = load_jurisdiction("demo").service("streetlight").to_open311()  # type: ignore[union-attr]
    assert entry["service_code"] == "streetlight" and entry["group"] == "Streets"
    assert "lampadaire" in entry["keywords"] and entry["type"] == "realtime"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("colour: blue", "colour"),
        ("holidays: {country: CA, subdivision: ON}", 'quote the code, e.g. "ON"'),
        ("classification: {min_score: 2}", "min_score"),
        ("services: [{service_code: x, service_name: X, queue: nope}]", "unknown queue 'nope'"),
        ("services: [{service_code: x, service_name: X}]", "needs a queue or a department"),
        ("routing_rules: [{id: r1, match: {service_codes: [ghost]}, set: {priority: high}}]", "unknown service_codes"),
        ("routing_rules: [{id: r1, set: {queue: ghost}}]", "unknown queue 'ghost'"),
        ("business_hours: {days: [mon], open: '18:00', close: '09:00'}", "must be after opening time"),
        ("districts: {geojson: ./missing.geojson, id_property: x}", "does not exist"),
    ],
)
def test_configuration_mistakes_raise_a_named_error(tmp_path: Path, extra: str, message: str) -> None:
    path = _write(tmp_path / "bad", MINIMAL + extra + "\n")
    with pytest.raises(JurisdictionConfigError, match=message.replace("(", r"\(").replace(".", r"\.")):
        load_jurisdiction(path, use_cache=False)


def test_unknown_name_is_a_config_error() -> None:
    with pytest.raises(JurisdictionConfigError, match="no jurisdiction configuration"):
        load_jurisdiction("atlantis")


def test_missing_shared_data_names_the_environment_variable(tmp_path: Path) -> None:
    with pytest.raises(JurisdictionConfigError, match="OMNI311_SHARED_DATA"):
        load_jurisdiction("nyc", data_root=tmp_path, use_cache=False)


def test_unquoted_yaml_clock_times_are_read_as_times(tmp_path: Path) -> None:
    path = _write(tmp_path / "clock", MINIMAL + "business_hours: {open: 9:30, close: 17:00}\n")
    hours = load_jurisdiction(path, use_cache=False).business_hours
    assert (hours.open.hour, hours.open.minute, hours.close.hour) == (9, 30, 17)  # type: ignore[union-attr]


def test_importing_the_packages_reads_no_files() -> None:
    probe = textwrap.dedent(
        """
        import sys
        opened = []
        sys.addaudithook(lambda event, args: opened.append(str(args[0])) if event == "open" else None)
        import shared.jurisdiction, services.router.domain  # noqa: E401
        bad = [p for p in opened if p.endswith((".yaml", ".csv", ".geojson"))]
        assert not bad, bad
        """
    )
    subprocess.run([sys.executable, "-c", probe], check=True, cwd=repo_root())


@needs_data
def test_real_cities_load_with_services_districts_and_calendar() -> None:
    nyc, boston = load_jurisdiction("nyc"), load_jurisdiction("boston")
    assert nyc.districts is not None and len(nyc.districts.districts) == 59  # 71 areas - 12 joint-interest areas
    assert len(nyc.districts.areas) == 71
    assert boston.districts is not None and len(boston.districts.districts) == 22
    assert nyc.calendar.holiday_name(__import__("datetime").date(2024, 11, 11)) == "Veterans Day"
    assert boston.fallback_locations[0].lat == 42.3594
    assert nyc.config_version.startswith("nyc:") and boston.config_version.startswith("boston:")
