"""Points just outside a shoreline-clipped boundary file are still in the city; points offshore are not."""

from __future__ import annotations

from shared.jurisdiction import load_jurisdiction


def test_a_real_nyc_record_on_the_brooklyn_waterfront_is_inside_the_city() -> None:
    nyc = load_jurisdiction("nyc")
    # Record from nyc311_2011_sample_1000.csv, about 6 m outside the clipped community district polygons.
    assert nyc.districts.area_at(40.70471147654365, -73.9904638669343) is None
    assert nyc.contains(40.70471147654365, -73.9904638669343)
    assert nyc.locate(40.70471147654365, -73.9904638669343) is None  # no district is invented for it


def test_a_point_well_offshore_stays_outside() -> None:
    nyc = load_jurisdiction("nyc")
    assert not nyc.contains(40.60, -73.70)  # Atlantic, south of the Rockaways' east end
    assert not nyc.contains(40.70, -74.03)  # the Hudson off Jersey City, ~1 km from Manhattan
