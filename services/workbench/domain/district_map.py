"""The jurisdiction's district polygons as GeoJSON for the workbench's Leaflet maps: `shared.web.maps`
(one implementation for every web service)."""

from __future__ import annotations

from shared.web.maps import districts_geojson

__all__ = ["districts_geojson"]
