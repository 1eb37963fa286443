"""The jurisdiction's districts as an SVG map a call agent clicks to place a report, and as GeoJSON for the
resident portal's Leaflet maps (pure geometry)."""

from __future__ import annotations

import math
from typing import Any

from shapely.geometry import mapping
from shapely.ops import unary_union

from shared.jurisdiction import Jurisdiction


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


GEOJSON_SIMPLIFY_SHARE = 1 / 500
"""Portal outlines are simplified to this share of the jurisdiction's extent (degrees)."""


def districts_geojson(jur: Jurisdiction) -> dict[str, Any] | None:
    """The districts as a GeoJSON FeatureCollection (WGS84 lon/lat) for the portal's Leaflet maps when no
    tile server is configured: each Feature with ``properties`` ``id`` and ``name``, polygonal parts only,
    coordinates rounded to 5 decimals (about a metre); ``bbox`` [west, south, east, north]. None without
    districts."""
    index = jur.districts
    if index is None or not index.areas:
        return None
    west, south, east, north = index.bounds
    tolerance = max(east - west, north - south) * GEOJSON_SIMPLIFY_SHARE
    features = []
    for district in index.areas:
        geom = index.geometry(district.id)
        if geom is None or geom.is_empty:
            continue
        simple = geom.simplify(tolerance, preserve_topology=True)
        if simple.geom_type not in ("Polygon", "MultiPolygon"):
            parts = [g for g in getattr(simple, "geoms", ()) if g.geom_type in ("Polygon", "MultiPolygon")]
            if not parts:
                continue
            simple = unary_union(parts)
        features.append({"type": "Feature", "properties": {"id": district.id, "name": district.name},
                         "geometry": _rounded(mapping(simple))})
    if not features:
        return None
    return {"type": "FeatureCollection", "bbox": [west, south, east, north], "features": features}


def _rounded(geometry: Any) -> Any:
    def walk(value: Any) -> Any:
        if isinstance(value, (list, tuple)):
            if value and isinstance(value[0], (int, float)):
                return [round(float(v), 5) for v in value]
            return [walk(v) for v in value]
        return value
    return {**geometry, "coordinates": walk(geometry["coordinates"])}
