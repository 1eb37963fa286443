"""A jurisdiction's district polygons as GeoJSON for the Leaflet maps of every web service (the resident
portal's, the workbench's hotspot map): the base layer when no tile server is configured. Pure geometry."""

from __future__ import annotations

from typing import Any

from shapely.geometry import mapping
from shapely.geometry.base import BaseGeometry
from shapely.ops import unary_union

from shared.jurisdiction import Jurisdiction

SIMPLIFY_SHARE = 1 / 500
"""Outlines are simplified to this share of the jurisdiction's extent (degrees) so a large city's page stays
small."""
DECIMALS = 5
"""Coordinates are rounded to this many decimals (about a metre)."""


def districts_geojson(jur: Jurisdiction) -> dict[str, Any] | None:
    """A GeoJSON FeatureCollection (RFC 7946, WGS84 lon/lat) of the jurisdiction's districts, each Feature
    with ``properties`` ``id`` and ``name``, and ``bbox`` [west, south, east, north]; None without
    districts. Outlines simplified to `SIMPLIFY_SHARE` of the extent, coordinates `rounded`.

    Every geometry is a Polygon or MultiPolygon: a district stored as a GeometryCollection (NYC's
    community districts have some, with stray lines or points) keeps only its polygonal parts, and one
    with none is left out."""
    index = jur.districts
    if index is None or not index.areas:
        return None
    features = []
    west, south, east, north = index.bounds
    tolerance = max(east - west, north - south) * SIMPLIFY_SHARE
    for district in index.areas:
        geom = index.geometry(district.id)
        if geom is None or geom.is_empty:
            continue
        simple = polygonal(geom.simplify(tolerance, preserve_topology=True))
        if simple is None:
            continue
        features.append({"type": "Feature", "properties": {"id": district.id, "name": district.name},
                         "geometry": rounded(mapping(simple))})
    if not features:
        return None
    return {"type": "FeatureCollection", "bbox": [west, south, east, north], "features": features}


def polygonal(geom: BaseGeometry) -> BaseGeometry | None:
    """The polygonal part of `geom` (a Polygon or MultiPolygon), or None when it has none."""
    if geom.geom_type in ("Polygon", "MultiPolygon"):
        return geom
    parts = [g for g in getattr(geom, "geoms", ()) if g.geom_type in ("Polygon", "MultiPolygon") and not g.is_empty]
    return unary_union(parts) if parts else None


def rounded(geometry: dict[str, Any], decimals: int = DECIMALS) -> dict[str, Any]:
    """A GeoJSON geometry (``{"type", "coordinates"}``) with every coordinate rounded to `decimals`: enough
    for a district outline, a fraction of the bytes."""
    def walk(value: Any) -> Any:
        if isinstance(value, (list, tuple)):
            if value and isinstance(value[0], (int, float)):
                return [round(float(v), decimals) for v in value]
            return [walk(v) for v in value]
        return value
    return {**geometry, "coordinates": walk(geometry["coordinates"])}
