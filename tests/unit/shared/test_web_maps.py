"""The district polygons as GeoJSON every web service draws (`shared.web.maps`): one implementation, used by
the portal and the workbench."""

from __future__ import annotations

import services.intake_web.domain.district_map as portal_map
import services.workbench.domain.district_map as workbench_map
from shared.jurisdiction import load_jurisdiction
from shared.web import maps


def test_both_services_draw_districts_with_the_one_shared_function() -> None:
    assert portal_map.districts_geojson is maps.districts_geojson is workbench_map.districts_geojson
    found = maps.districts_geojson(load_jurisdiction("demo"))
    assert found is not None and found["type"] == "FeatureCollection"
    for feature in found["features"]:
        assert feature["geometry"]["type"] in ("Polygon", "MultiPolygon")
        ring = feature["geometry"]["coordinates"][0]
        ring = ring[0] if feature["geometry"]["type"] == "MultiPolygon" else ring
        assert all(round(v, 5) == v for point in ring for v in point)


def test_rounded_keeps_the_shape_and_rounds_every_coordinate() -> None:
    geometry = {"type": "Polygon", "coordinates": [[(1.123456789, 2.0), (3.0, 4.987654321), (1.123456789, 2.0)]]}
    assert maps.rounded(geometry) == {"type": "Polygon", "coordinates": [[[1.12346, 2.0], [3.0, 4.98765],
                                                                          [1.12346, 2.0]]]}
