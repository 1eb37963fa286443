"""Spatial filters of GET Service Requests, documented omni311 extensions of Open311 GeoReport v2: a bounding
box (``bbox=west,south,east,north``) and a point with a radius (``lat``, ``long``, ``radius`` in metres).
Parsed from the query's text here, by intake_web and the case service alike. Pure."""

from __future__ import annotations

import math
from dataclasses import dataclass

from shared.open311.models import DECIMAL_TEXT

__all__ = ["MAX_RADIUS_M", "MIN_RADIUS_M", "BoundingBox", "Circle", "SpatialFilterError", "parse_bbox", "parse_circle"]

MIN_RADIUS_M = 1.0
"""The smallest radius a query may ask, in metres."""
MAX_RADIUS_M = 50_000.0
"""The largest radius a query may ask, in metres (docs/residents-and-insights.md)."""


class SpatialFilterError(ValueError):
    """A spatial filter that cannot be read; the message names the parameter (``bbox``, ``lat``, ``long``,
    ``radius``), fit for an Open311 error description."""


@dataclass(frozen=True)
class BoundingBox:
    """WGS84 degrees, ``west < east`` and ``south < north`` (a box across the antimeridian is not taken).
    Inside means PostGIS ``ST_Intersects(point, ST_MakeEnvelope(west, south, east, north, 4326))``."""

    west: float
    south: float
    east: float
    north: float

    def as_param(self) -> str:
        """The ``bbox`` query parameter: ``west,south,east,north`` in shortest round-trip decimals."""
        return ",".join(repr(v) for v in (self.west, self.south, self.east, self.north))


@dataclass(frozen=True)
class Circle:
    """A centre (WGS84 degrees) and a radius in metres (1–50 000). Inside means PostGIS
    ``ST_DWithin(point::geography, centre::geography, radius_m)`` (geodesic metres on the spheroid)."""

    lat: float
    long: float
    radius_m: float


def _number(text: str, name: str) -> float:
    text = text.strip()
    if not DECIMAL_TEXT.match(text) or not math.isfinite(value := float(text)):
        raise SpatialFilterError(f"{name} must be a decimal number, got {text!r}")
    return value


def parse_bbox(raw: str | None) -> BoundingBox | None:
    """``west,south,east,north`` (WGS84 degrees) as a `BoundingBox`; None when `raw` is None or blank.

    Raises:
        SpatialFilterError: not four decimal numbers, a longitude outside [-180, 180] or a latitude outside
            [-90, 90], or ``west >= east`` or ``south >= north``.
    """
    if raw is None or not raw.strip():
        return None
    parts = raw.split(",")
    if len(parts) != 4:
        raise SpatialFilterError(f"bbox must be west,south,east,north (four numbers), got {raw[:80]!r}")
    west, south, east, north = (_number(p, "bbox") for p in parts)
    if not (-180 <= west <= 180 and -180 <= east <= 180 and -90 <= south <= 90 and -90 <= north <= 90):
        raise SpatialFilterError("bbox is outside WGS84: longitudes in [-180, 180], latitudes in [-90, 90]")
    if west >= east or south >= north:
        raise SpatialFilterError("bbox must have west < east and south < north (west,south,east,north)")
    return BoundingBox(west, south, east, north)


def parse_circle(lat: str | None, long: str | None, radius: str | None) -> Circle | None:
    """``lat``, ``long`` (WGS84 degrees) and ``radius`` (metres, 1–50 000) as a `Circle`; None when none of the
    three is given (blank counts as not given).

    Raises:
        SpatialFilterError: one or two of the three given without the others (naming those missing), a value
            that is not a decimal number, a coordinate out of range, a radius outside 1–50 000.
    """
    given = {name: value.strip() for name, value in (("lat", lat), ("long", long), ("radius", radius))
             if value is not None and value.strip()}
    if not given:
        return None
    if missing := [name for name in ("lat", "long", "radius") if name not in given]:
        raise SpatialFilterError(f"lat, long and radius go together; {' and '.join(missing)} missing")
    la, lo, r = (_number(given[name], name) for name in ("lat", "long", "radius"))
    if not -90 <= la <= 90:
        raise SpatialFilterError(f"lat must be between -90 and 90 degrees, got {given['lat']!r}")
    if not -180 <= lo <= 180:
        raise SpatialFilterError(f"long must be between -180 and 180 degrees, got {given['long']!r}")
    if not MIN_RADIUS_M <= r <= MAX_RADIUS_M:
        raise SpatialFilterError(f"radius must be between {MIN_RADIUS_M:g} and {MAX_RADIUS_M:g} metres, got {given['radius']!r}")
    return Circle(la, lo, r)
