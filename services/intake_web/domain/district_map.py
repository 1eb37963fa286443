"""The jurisdiction's districts as an SVG map a call agent clicks to place a report (pure geometry); the
portal's GeoJSON districts are `shared.web.maps.districts_geojson`, re-exported here."""

from __future__ import annotations

import math
from typing import Any

from shared.jurisdiction import Jurisdiction
from shared.web.maps import districts_geojson

__all__ = ["district_map", "districts_geojson"]


def district_map(jur: Jurisdiction, width: float = 600.0) -> dict[str, Any] | None:
    """The jurisdiction's districts as SVG paths to click on, or None without districts.

    Equirectangular projection, x scaled by cos(mid latitude), `width` SVG units wide; the page turns a
    click back into lat/long with ``lat = north - y / k`` and ``long = west + x / (k * cos_lat)``.
    Outlines are simplified to about 1/400 of the extent so a large city's page stays small.
    """
    index = jur.districts
    if index is None or not index.areas:
        return None
    geoms = [(d, index.geometry(d.id)) for d in index.areas]
    geoms = [(d, g) for d, g in geoms if g is not None and not g.is_empty]
    if not geoms:
        return None
    west = min(g.bounds[0] for _, g in geoms)
    south = min(g.bounds[1] for _, g in geoms)
    east = max(g.bounds[2] for _, g in geoms)
    north = max(g.bounds[3] for _, g in geoms)
    cos_lat = math.cos(math.radians((north + south) / 2))
    span = max((east - west) * cos_lat, north - south) or 1.0
    k = width / ((east - west) * cos_lat or 1.0)
    height = (north - south) * k

    def ring(coords: Any) -> str:
        pts = [f"{(x - west) * cos_lat * k:.1f},{(north - y) * k:.1f}" for x, y, *_ in coords]
        return "M" + "L".join(pts) + "Z"

    paths = []
    for district, geom in geoms:
        simple = geom.simplify(span / 400, preserve_topology=True)
        polygons = list(getattr(simple, "geoms", [simple]))
        d = "".join(ring(p.exterior.coords) + "".join(ring(i.coords) for i in p.interiors)
                    for p in polygons if hasattr(p, "exterior"))
        if d:
            paths.append({"id": district.id, "name": district.name, "d": d})
    return {"width": round(width, 1), "height": round(height, 1), "north": north, "west": west, "k": k,
            "cos_lat": cos_lat, "paths": paths}
