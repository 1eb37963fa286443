"""`DistrictIndex.area_at` (prepared polygons, a bounds table, the last point remembered) answers as the plain
STRtree `intersects` query it replaced: the first area in `areas` order covering the point, boundary included."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import Point, Polygon, box

from shared.jurisdiction import District, DistrictIndex, load_jurisdiction


def reference_area_at(index: DistrictIndex, lat: float, long: float) -> District | None:
    """The former `area_at`: every area intersecting the point, the first in `areas` order."""
    hits = index._tree.query(Point(long, lat), predicate="intersects")
    return index.areas[int(min(hits))] if len(hits) else None


# Overlapping squares, a ring with a hole, a triangle and an area that is no district, on a grid of tenths so
# that drawn points land on vertices and edges as often as inside and outside.
RING = Polygon([(0, 0), (0, 4), (4, 4), (4, 0)], holes=[[(1, 1), (1, 3), (3, 3), (3, 1)]])
AREAS = [
    (District("b", "B"), box(2, 2, 6, 6)),
    (District("a", "A"), box(0, 0, 3, 3)),
    (District("ring", "Ring"), RING),
    (District("tri", "Triangle"), Polygon([(5, 0), (8, 0), (5, 3)])),
    (District("park", "Park", is_district=False), box(1.5, 1.5, 2.5, 2.5)),
]
grid = st.integers(min_value=-10, max_value=90).map(lambda n: n / 10)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(grid, grid), min_size=1, max_size=8))
def test_area_at_answers_as_the_plain_tree_query_for_any_points_in_any_order(points: list[tuple[float, float]]) -> None:
    index = DistrictIndex(AREAS)
    for x, y in [*points, *reversed(points)]:  # the same point twice in a row, and after another
        assert index.area_at(y, x) == reference_area_at(index, y, x)


def test_the_demo_city_answers_as_the_plain_tree_query_across_its_bounds() -> None:
    index = load_jurisdiction("demo").districts
    assert index is not None
    west, south, east, north = index.bounds
    steps = 40
    found = 0
    for i in range(steps + 1):
        for j in range(steps + 1):
            lat, long = south + (north - south) * i / steps, west + (east - west) * j / steps
            expected = reference_area_at(index, lat, long)
            found += expected is not None
            assert index.area_at(lat, long) == expected
    assert found > 0
