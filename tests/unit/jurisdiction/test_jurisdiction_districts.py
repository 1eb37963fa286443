"""District polygons from the real boundary files agree with the districts the 311 records state."""

from __future__ import annotations

import csv
import json
import textwrap
from functools import cache
from pathlib import Path

import pytest

from shared.jurisdiction import DistrictIndex, JurisdictionConfigError, load_jurisdiction, shared_data_root

DATA = shared_data_root()
pytestmark = pytest.mark.usefixtures("require_shared_data")
BOROUGH_CODE = {"MANHATTAN": 1, "BRONX": 2, "BROOKLYN": 3, "QUEENS": 4, "STATEN ISLAND": 5}
CITY_HALL = (42.3594, -71.0587)


@cache
def _rows(name: str) -> tuple[dict[str, str], ...]:
    with (DATA / "311_records" / name).open(newline="", encoding="utf-8-sig") as handle:
        return tuple(csv.DictReader(handle))


def _nyc_district(board: str) -> str | None:
    """'07 BROOKLYN' → '307'; '0 Unspecified' and 'Unspecified QUEENS' → None."""
    number, _, borough = board.partition(" ")
    if not number.isdigit() or int(number) == 0 or borough not in BOROUGH_CODE:
        return None
    return str(BOROUGH_CODE[borough] * 100 + int(number))


def _boston_ward(value: str) -> str | None:
    """'Ward 3', '3' and '03' → '3'; blank → None."""
    text = value.replace("Ward", "").strip()
    return str(int(text)) if text.isdigit() else None


def test_nyc_points_fall_in_the_community_district_they_state() -> None:
    nyc = load_jurisdiction("nyc")
    checked = agree = 0
    for row in _rows("nyc311_2011_sample_1000.csv"):
        stated = _nyc_district(row["Community Board"])
        if not row["Latitude"] or stated is None:
            continue
        checked += 1
        found = nyc.locate(float(row["Latitude"]), float(row["Longitude"]))
        agree += found is not None and found.id == stated
    print(f"NYC community districts: {agree}/{checked} = {agree / checked:.4f}")
    assert checked == 705  # INDEX.md: 705 records with coordinates and a real board
    assert agree / checked >= 0.98


def test_nyc_joint_interest_areas_are_inside_the_city_but_no_district() -> None:
    nyc = load_jurisdiction("nyc")
    assert nyc.districts is not None
    jfk = nyc.districts.get("483")  # an airport / park area with no community board
    assert jfk is not None and not jfk.is_district
    point = nyc.districts.geometry("483").representative_point()  # type: ignore[union-attr]
    assert nyc.contains(point.y, point.x)
    assert nyc.locate(point.y, point.x) is None
    assert nyc.districts.area_at(point.y, point.x) == jfk


def test_boston_points_fall_in_the_ward_they_state() -> None:
    boston = load_jurisdiction("boston")
    checked = agree = 0
    for row in _rows("qsv_boston311-100.csv"):
        stated = _boston_ward(row["ward"])
        lat, long = float(row["latitude"]), float(row["longitude"])
        if stated is None or boston.fallback_location(lat, long) is not None:
            continue
        checked += 1
        found = boston.locate(lat, long)
        agree += found is not None and found.id == stated
    print(f"Boston wards: {agree}/{checked} = {agree / checked:.4f}")
    assert checked == 81  # INDEX.md: 81 non-default points
    assert agree / checked >= 0.95  # INDEX.md: 79/81, two points near a ward edge


def test_boston_city_hall_fallback_point_is_never_a_district() -> None:
    boston = load_jurisdiction("boston")
    fallback_rows = [
        r for r in _rows("qsv_boston311-100.csv") if (float(r["latitude"]), float(r["longitude"])) == CITY_HALL
    ]
    assert len(fallback_rows) == 19  # INDEX.md
    for row in fallback_rows:
        assert boston.locate(float(row["latitude"]), float(row["longitude"])) is None
    assert boston.fallback_location(42.35945, -71.05875) is not None  # within the 30 m tolerance
    assert boston.fallback_location(42.3634, -71.0566) is None  # 42 Cross St, a real address nearby
    assert boston.contains(*CITY_HALL)  # the point is in Boston; it just says nothing about where


def _precinct_config(folder: Path, crs_line: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "jurisdiction.yaml"
    path.write_text(
        textwrap.dedent(
            f"""
            id: boston-precincts
            name: Boston by precinct
            timezone: America/New_York
            departments: [{{id: "311"}}]
            unclassified: {{service_code: unclassified, service_name: Other, department: "311"}}
            bounds: {{south: 42.22, west: -71.20, north: 42.40, east: -70.95}}
            districts:
              geojson: boundaries/boston_precincts_stateplane_ftUS.geojson
              id_property: WARD_PRECINCT
            {crs_line}
            """
        ),
        encoding="utf-8",
    )
    return path


def test_state_plane_precincts_are_refused_without_a_declared_crs(tmp_path: Path) -> None:
    path = _precinct_config(tmp_path / "undeclared", "")
    with pytest.raises(JurisdictionConfigError, match=r"not WGS84 longitude/latitude .*declare its CRS"):
        load_jurisdiction(path, use_cache=False)


def test_state_plane_precincts_are_reprojected_with_a_declared_crs(tmp_path: Path) -> None:
    path = _precinct_config(tmp_path / "declared", "  crs: EPSG:2249   # NAD83 / Massachusetts Mainland (ftUS)")
    precincts = load_jurisdiction(path, use_cache=False)
    assert precincts.districts is not None and len(precincts.districts.areas) == 255
    found = precincts.locate(42.3634, -71.0566)  # 42 Cross St, stated precinct 0303
    assert found is not None and found.id == "0303"
    checked = agree = 0
    for row in _rows("qsv_boston311-100.csv"):
        lat, long = float(row["latitude"]), float(row["longitude"])
        if not row["precinct"].strip() or (lat, long) == CITY_HALL:
            continue
        checked += 1
        hit = precincts.locate(lat, long)
        agree += hit is not None and hit.id == row["precinct"].strip()
    print(f"Boston precincts after reprojection: {agree}/{checked}")
    assert agree / checked >= 0.9


def test_a_wrong_declared_crs_is_caught_by_the_bounds_check(tmp_path: Path) -> None:
    # EPSG:26986 is Massachusetts Mainland in metres: the polygons land ~3x too far from the origin.
    path = _precinct_config(tmp_path / "wrong", "  crs: EPSG:26986")
    with pytest.raises(JurisdictionConfigError, match="wrong CRS"):
        load_jurisdiction(path, use_cache=False)


def test_a_legacy_crs_member_in_the_file_is_honoured() -> None:
    data = json.loads((DATA / "boundaries" / "boston_precincts_stateplane_ftUS.geojson").read_bytes())
    data["crs"] = {"type": "name", "properties": {"name": "EPSG:2249"}}
    index = DistrictIndex.from_geojson(data, id_property="WARD_PRECINCT")
    assert index.locate(42.3634, -71.0566).id == "0303"  # type: ignore[union-attr]
