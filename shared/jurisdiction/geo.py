"""District polygons and point tests: GeoJSON loading, CRS checks and reprojection, an STRtree index."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely
import shapely.ops
from shapely.geometry import Point, shape
from shapely.geometry.base import BaseGeometry
from shapely.strtree import STRtree

from shared.jurisdiction.errors import JurisdictionConfigError
from shared.jurisdiction.text import normalize_text

__all__ = [
    "District",
    "DistrictIndex",
    "distance_m",
    "district_key",
    "is_wgs84_name",
]

EARTH_RADIUS_M = 6_371_008.8  # mean Earth radius (IUGG), metres
_WGS84_NAMES = frozenset(
    {"epsg:4326", "urn:ogc:def:crs:ogc:1.3:crs84", "urn:ogc:def:crs:epsg::4326", "ogc:crs84", "crs84", "wgs84"}
)


def distance_m(lat1: float, long1: float, lat2: float, long2: float) -> float:
    """Great-circle (haversine) distance in metres between two WGS84 points given in degrees."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(long2 - long1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


# Abbreviations exports use in place names ("ST-LAURENT", "STE-GENEVIEVE", "N.-D.-DE-GRACE").
_ABBREVIATIONS = {"st": "saint", "ste": "sainte", "nd": "notre dame", "mtl": "montreal"}
# What an export may put before a district's own name: an article or the kind of area.
_PREFIX = re.compile(r"^(?:(?:arrondissement|arr|borough|ward)(?:\s+(?:de la|de|du|des|d|of))?\s+"
                     r"|(?:ville|municipalite|cite|city|town)\s+(?:de|d|du|of)\s+)?(?:(?:le|la|les|l|the)\s+)?")


def district_key(name: str) -> str:
    """The comparable form of a district name, so that an export's spellings of one area meet.

    Accents, case and punctuation (hyphens, apostrophes, `` - ``) are folded away, ``St``/``Ste`` read
    as ``Saint``/``Sainte``, and a leading article or "Arrondissement de" is dropped:
    ``"Le Plateau-Mont-Royal"``, ``"PLATEAU-MONT-ROYAL"``; ``"L'Île-Bizard-Sainte-Geneviève"``,
    ``"L ÎLE BIZARD - STE-GENEVIÈVE"``; ``"Verdun"``, ``"ARRONDISSEMENT DE VERDUN"`` → one key each.
    A name that is only an article keeps it. Pure; never raises on any ``str``.
    """
    words = [_ABBREVIATIONS.get(w, w) for w in normalize_text(name.replace(".", " ")).split()]
    folded = " ".join(words)
    stripped = _PREFIX.sub("", folded, count=1).strip()
    return stripped or folded


def is_wgs84_name(name: str) -> bool:
    """True when a CRS name (``"EPSG:4326"``, ``"urn:ogc:def:crs:OGC:1.3:CRS84"``…) means WGS84 lon/lat."""
    return name.strip().lower() in _WGS84_NAMES


@dataclass(frozen=True)
class District:
    """One area of a jurisdiction's district layer.

    ``id``: the configured property's value as text (``"307"``, ``"5"``, ``"0113"``).
    ``is_district``: ``False`` for areas that are inside the city but belong to no district (parks,
    airports, joint-interest areas); :meth:`DistrictIndex.locate` never returns those.
    """

    id: str
    name: str
    is_district: bool = True
    properties: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)


class DistrictIndex:
    """A spatial index over a jurisdiction's areas, built once, queried by WGS84 points.

    Areas are kept in a deterministic order (real districts first, then by id) so that a point on a
    shared edge always resolves to the same district.
    """

    def __init__(self, areas: Sequence[tuple[District, BaseGeometry]]) -> None:
        """Index ``areas`` (WGS84 lon/lat geometries). Invalid polygons are repaired with ``make_valid``.

        Raises:
            JurisdictionConfigError: no areas, or two areas with the same id.
        """
        if not areas:
            raise JurisdictionConfigError("a district layer needs at least one polygon")
        ordered = sorted(areas, key=lambda a: (not a[0].is_district, a[0].id))
        ids = [d.id for d, _ in ordered]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise JurisdictionConfigError(f"district ids must be unique; repeated: {dupes[:10]}")
        self._areas = tuple(d for d, _ in ordered)
        geoms = [g if g.is_valid else shapely.make_valid(g) for _, g in ordered]
        self._geoms = tuple(geoms)
        self._tree = STRtree(geoms)
        # Prepared (indexed) polygons and a bounds table: a point test reads the few areas whose box holds
        # the point, each in logarithmic time; `_last` keeps the last point's answer, since a decision asks
        # about one point twice (in the jurisdiction, then in which district).
        shapely.prepare(np.asarray(geoms, dtype=object))
        self._boxes = shapely.bounds(np.asarray(geoms, dtype=object))
        self._last: tuple[float, float, District | None] | None = None
        self._by_id = {d.id: d for d in self._areas}
        self._key_index: dict[str, District] | None = None  # district_key -> area, built on first use
        minx, miny, maxx, maxy = shapely.total_bounds(np.asarray(geoms, dtype=object))
        self.bounds: tuple[float, float, float, float] = (float(minx), float(miny), float(maxx), float(maxy))
        """(west, south, east, north) in degrees."""

    @property
    def districts(self) -> tuple[District, ...]:
        """Real districts (``is_district``), ordered by id."""
        return tuple(d for d in self._areas if d.is_district)

    @property
    def areas(self) -> tuple[District, ...]:
        """Every indexed area, districts first."""
        return self._areas

    def get(self, district_id: str) -> District | None:
        """The area with this id, or ``None``."""
        return self._by_id.get(district_id)

    def add_aliases(self, aliases: Mapping[str, Iterable[str]]) -> None:
        """Let :meth:`resolve` also find districts by other spellings (district id → names).

        Raises:
            JurisdictionConfigError: an unknown district id, or a spelling whose key already names
                another area (by its id, its name or another alias).
        """
        keys = self._keys()
        for district_id, names in aliases.items():
            area = self._by_id.get(str(district_id))
            if area is None:
                raise JurisdictionConfigError(f"districts.aliases: unknown district {district_id!r}")
            for name in names:
                key = district_key(str(name))
                owner = keys.get(key)
                if owner is not None and owner.id != area.id:
                    raise JurisdictionConfigError(
                        f"districts.aliases: {name!r} of {area.id!r} already names {owner.id!r} ({owner.name!r})"
                    )
                keys[key] = area

    def resolve(self, name: str | None) -> District | None:
        """The area an export's label names: its id, its name or an alias, compared by :func:`district_key`
        (``"ST-LAURENT"``, ``"Saint-Laurent"`` and ``"saint laurent"`` are one borough); ``None`` for a
        blank or unknown label."""
        if name is None or not str(name).strip():
            return None
        text = str(name).strip()
        return self._by_id.get(text) or self._keys().get(district_key(text))

    def _keys(self) -> dict[str, District]:
        if self._key_index is None:
            keys: dict[str, District] = {}
            for area in self._areas:  # districts first: a non-district of the same name never wins
                keys.setdefault(district_key(area.id), area)
                keys.setdefault(district_key(area.name), area)
            self._key_index = keys
        return self._key_index

    def geometry(self, district_id: str) -> BaseGeometry | None:
        """The WGS84 (lon, lat) shapely geometry of an area, or ``None``."""
        area = self._by_id.get(district_id)
        return self._geoms[self._areas.index(area)] if area is not None else None

    def area_at(self, lat: float, long: float) -> District | None:
        """The area (district or not) covering the WGS84 point (its boundary included), or ``None`` when outside
        every area; where areas overlap, the first in `areas` order."""
        last = self._last
        if last is not None and last[0] == lat and last[1] == long:
            return last[2]
        b = self._boxes
        found: District | None = None
        for i in np.flatnonzero((b[:, 0] <= long) & (b[:, 2] >= long) & (b[:, 1] <= lat) & (b[:, 3] >= lat)).tolist():
            if shapely.intersects_xy(self._geoms[i], long, lat):
                found = self._areas[i]
                break
        self._last = (lat, long, found)
        return found

    def locate(self, lat: float, long: float) -> District | None:
        """The real district covering the WGS84 point; ``None`` outside every district or in a non-district area."""
        area = self.area_at(lat, long)
        return area if area is not None and area.is_district else None

    edge_tolerance_m: float = 0.0
    """How far outside every polygon (metres) a point still counts as inside the jurisdiction:
    published boundary files are often clipped at the shoreline, so piers and waterfront parks fall
    just outside them."""

    def contains(self, lat: float, long: float) -> bool:
        """True when the WGS84 point is inside the jurisdiction (any area, districts or not), or within
        ``edge_tolerance_m`` metres of one."""
        if self.area_at(lat, long) is not None:
            return True
        if self.edge_tolerance_m <= 0:
            return False
        point = Point(long, lat)
        # A generous box in degrees first (a degree of longitude shrinks with latitude), then metres.
        deg = self.edge_tolerance_m / (111_320.0 * max(math.cos(math.radians(lat)), 0.01))
        for i in self._tree.query(point, predicate="dwithin", distance=deg):
            near, _ = shapely.ops.nearest_points(self._geoms[int(i)], point)
            if distance_m(lat, long, near.y, near.x) <= self.edge_tolerance_m:
                return True
        return False

    # -- construction ---------------------------------------------------------------------------
    @classmethod
    def from_geojson(
        cls,
        data: Mapping[str, Any],
        *,
        id_property: str,
        name_property: str | None = None,
        name_template: str = "{id}",
        non_districts: Iterable[str] = (),
        declared_crs: str | None = None,
        source: str = "<geojson>",
    ) -> DistrictIndex:
        """Build an index from a GeoJSON FeatureCollection.

        Coordinates must be WGS84 lon/lat (RFC 7946) unless a CRS is declared: ``declared_crs``
        (from the jurisdiction config, e.g. ``"EPSG:2249"``) wins, else a legacy ``crs`` member in
        the file is honoured; anything else is reprojected to WGS84 with pyproj. Features whose id
        is in ``non_districts`` are kept as areas inside the city but are not districts.

        Raises:
            JurisdictionConfigError: not a FeatureCollection; a feature lacks ``id_property`` or a
                polygon geometry; coordinates are not lon/lat and no CRS is declared; the declared
                CRS is unknown or reprojection gives values outside lon/lat ranges.
        """
        if (
            not isinstance(data, Mapping)
            or data.get("type") != "FeatureCollection"
            or not isinstance(data.get("features"), list)
        ):
            raise JurisdictionConfigError(f"{source}: expected a GeoJSON FeatureCollection")
        skip = {str(x) for x in non_districts}
        areas: list[tuple[District, BaseGeometry]] = []
        for n, feature in enumerate(data["features"]):
            if not isinstance(feature, Mapping):
                raise JurisdictionConfigError(f"{source}: feature #{n} is a {type(feature).__name__}, not an object")
            props = feature.get("properties") or {}
            if not isinstance(props, Mapping):
                raise JurisdictionConfigError(f"{source}: feature #{n} has properties that are not an object")
            if id_property not in props or props[id_property] in (None, ""):
                raise JurisdictionConfigError(
                    f"{source}: feature #{n} has no property {id_property!r} (has {sorted(props)[:8]})"
                )
            geometry = feature.get("geometry") or {}
            if not isinstance(geometry, Mapping) or geometry.get("type") not in ("Polygon", "MultiPolygon"):
                kind = geometry.get("type") if isinstance(geometry, Mapping) else type(geometry).__name__
                raise JurisdictionConfigError(
                    f"{source}: feature #{n} ({props[id_property]}) is a {kind}, not a polygon"
                )
            district_id = str(props[id_property]).strip()
            name = str(props[name_property]) if name_property and props.get(name_property) else None
            if name is None:
                try:
                    name = name_template.format(id=district_id, **{k: v for k, v in props.items() if k != "id"})
                except (KeyError, IndexError, ValueError, AttributeError) as exc:
                    raise JurisdictionConfigError(f"{source}: name_template {name_template!r} fails: {exc!r}") from exc
            district = District(
                id=district_id,
                name=name,
                is_district=district_id not in skip,
                properties=dict(props),
            )
            areas.append((district, _polygon(geometry, f"{source}: feature #{n} ({district_id})")))
        if not areas:
            raise JurisdictionConfigError(f"{source}: the FeatureCollection has no features")
        file_crs = _file_crs_name(data)
        crs = declared_crs or file_crs
        geoms = [g for _, g in areas]
        if crs is None or is_wgs84_name(crs):
            _check_lonlat(geoms, source, declared=crs)
        else:
            geoms = _reproject(geoms, crs, source)
            _check_lonlat(geoms, source, declared=crs, reprojected=True)
        return cls([(d, g) for (d, _), g in zip(areas, geoms, strict=True)])


def _polygon(geometry: Mapping[str, Any], where: str) -> BaseGeometry:
    """A shapely geometry from a GeoJSON (Multi)Polygon whose coordinates are finite numbers."""
    try:
        with np.errstate(invalid="ignore"):  # NaN coordinates are reported below, not warned about
            geom = shape(geometry)
        coords = shapely.get_coordinates(geom)
    except (KeyError, IndexError, TypeError, ValueError, AttributeError, shapely.errors.ShapelyError) as exc:
        raise JurisdictionConfigError(f"{where}: malformed {geometry.get('type')} coordinates: {exc}") from exc
    if geom.is_empty:
        raise JurisdictionConfigError(f"{where}: the {geometry.get('type')} has no coordinates")
    if not np.isfinite(coords).all():
        raise JurisdictionConfigError(f"{where}: coordinates must be finite numbers (found NaN or infinity)")
    return geom


def _file_crs_name(data: Mapping[str, Any]) -> str | None:
    crs = data.get("crs")
    if isinstance(crs, Mapping):
        name = (crs.get("properties") or {}).get("name")
        return str(name) if name else None
    return None


def _check_lonlat(geoms: Sequence[BaseGeometry], source: str, *, declared: str | None, reprojected: bool = False) -> None:
    minx, miny, maxx, maxy = shapely.total_bounds(np.asarray(geoms, dtype=object))
    if -180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90:
        return
    extent = f"x {minx:.6g}..{maxx:.6g}, y {miny:.6g}..{maxy:.6g}"
    if reprojected:
        raise JurisdictionConfigError(
            f"{source}: after reprojecting from {declared} the coordinates are still not lon/lat ({extent}); "
            "is the declared CRS right?"
        )
    raise JurisdictionConfigError(
        f"{source}: coordinates are not WGS84 longitude/latitude ({extent}) and the file declares no CRS. "
        "GeoJSON (RFC 7946) must be WGS84; this looks like a projected CRS (e.g. a State Plane in feet). "
        "Reproject the file, or declare its CRS in the jurisdiction config (districts.crs: \"EPSG:2249\")."
    )


def _reproject(geoms: Sequence[BaseGeometry], crs: str, source: str) -> list[BaseGeometry]:
    from pyproj import CRS, Transformer
    from pyproj.exceptions import CRSError

    try:
        transformer = Transformer.from_crs(CRS.from_user_input(crs), CRS.from_epsg(4326), always_xy=True)
    except CRSError as exc:
        raise JurisdictionConfigError(f"{source}: unknown CRS {crs!r}: {exc}") from exc

    def to_lonlat(coords: np.ndarray) -> np.ndarray:
        lon, lat = transformer.transform(coords[:, 0], coords[:, 1])
        return np.column_stack([lon, lat])

    return [shapely.transform(g, to_lonlat) for g in geoms]
