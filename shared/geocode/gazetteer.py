"""The embedded geocoder: a gazetteer of the jurisdiction's own records (addresses, intersections and
streets with their points) and district names, matched exactly, then fuzzily with rapidfuzz."""

from __future__ import annotations

import statistics
import threading
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rapidfuzz import fuzz, process

from shared.geocode.answer import GeocodeAnswer
from shared.geocode.extract import extract_place
from shared.geocode.normalize import (
    FRENCH_TYPES,
    STREET_TYPES,
    ParsedPlace,
    house_number_value,
    leading_type,
    normalize_street,
    parse_place,
    street_base,
)
from shared.jurisdiction.geo import distance_m

if TYPE_CHECKING:
    from shared.jurisdiction import Jurisdiction

__all__ = ["CONFIDENCE", "Gazetteer", "gazetteer_for"]

#: The confidence of each way of finding a place, before the fuzzy-match factor (score/100)². Each is
#: close to the share of such answers found within 200 m of the record's own point when the rows under
#: test are left out of the gazetteer (Boston's Open311 requests sample and Montréal's records,
#: `python -m tools.evaluate location`): exact address 0.99, interpolated 0.85, interpolated over a
#: wide gap 0.71, nearest known number 0.55, estimated intersection 0.96 (gap <= 150 m) and 0.91.
#: An exact known address is surest; an address placed between known numbers of its street is
#: weaker, one beyond them weaker still; an intersection of two known streets that were never
#: recorded together is estimated from their closest points; a street alone is weak unless its
#: records are close together (6 or more, three quarters within 120 m of their median point), and a
#: long street (three quarters within 250 m fails) is no place; a district name is a place to confirm.
CONFIDENCE: dict[str, float] = {
    "address": 0.97,
    "address_interpolated": 0.86,
    "address_interpolated_wide": 0.76,
    "address_nearest": 0.62,
    "intersection": 0.95,
    "intersection_estimated": 0.85,
    "intersection_estimated_far": 0.7,
    "street_tight": 0.82,
    "street": 0.5,
    "street_long": 0.4,
    "place": 0.5,
}
_TYPES = frozenset(STREET_TYPES.values())
_DIRECTIONS = frozenset({"E", "W", "N", "S", "O"})
_FUZZY_CUTOFF = 84.0
_MAX_POINTS = 400  # points kept per street for the intersection estimate


Point = tuple[float, float]


def _median(points: list[Point]) -> Point:
    return statistics.median(p[0] for p in points), statistics.median(p[1] for p in points)


@dataclass(frozen=True)
class _Street:
    point: Point
    spread_m: float  # 75th percentile of the distances of the street's points from its median point, metres
    count: int
    numbers: tuple[tuple[float, str, Point], ...]  # (value, written number, point), sorted by value
    sample: tuple[Point, ...]
    name: str = ""  # the public form (a French street as the records write it), else the key


class Gazetteer:
    """Addresses, intersections, streets and district names with their points (WGS84 degrees).

    Build it with :meth:`build` (from records) or :func:`gazetteer_for` (from a jurisdiction's
    ``geocoding.gazetteer`` sources). :meth:`lookup` answers a written place; :meth:`geocode` (the
    `Geocoder` protocol) first picks the place out of free text with `extract_place`.
    """

    source = "gazetteer"

    def __init__(
        self,
        *,
        addresses: Mapping[tuple[str, str], Point],
        streets: Mapping[str, _Street],
        intersections: Mapping[frozenset[str], Point],
        places: Mapping[str, tuple[str, Point]],
    ) -> None:
        self._addresses = dict(addresses)
        self._streets = dict(streets)
        self._intersections = dict(intersections)
        self._places = dict(places)
        self._street_keys = list(self._streets)
        self._by_base: dict[str, list[str]] = defaultdict(list)
        for key in self._streets:
            self._by_base[street_base(key)].append(key)
        self._place_keys = list(self._places)

    # -- construction ---------------------------------------------------------------------------
    @classmethod
    def build(
        cls,
        records: Iterable[Any],
        *,
        exclude: Iterable[str] = (),
        places: Iterable[tuple[str, float, float]] = (),
        ignore_point: Callable[[float, float], object] | None = None,
    ) -> Gazetteer:
        """A gazetteer from records that have ``address_string``, ``lat``, ``long`` and ``source_id``
        (`shared.records.ReplayRecord`). Records whose ``source_id`` is in ``exclude`` are left out (the
        rows under test), as are records without an address or a point and points for which
        ``ignore_point(lat, long)`` is true (a city's fallback point). ``places``: ``(name, lat, long)``
        of named areas (district names), answered as kind ``place``.
        """
        excluded = {str(x) for x in exclude}
        addresses: dict[tuple[str, str], list[Point]] = defaultdict(list)
        street_points: dict[str, list[Point]] = defaultdict(list)
        numbers: dict[str, dict[str, list[Point]]] = defaultdict(lambda: defaultdict(list))
        corners: dict[frozenset[str], list[Point]] = defaultdict(list)
        writings: dict[str, Counter[str]] = defaultdict(Counter)
        for record in records:
            if str(record.source_id) in excluded or record.lat is None or record.long is None:
                continue
            if not record.address_string or (ignore_point is not None and ignore_point(record.lat, record.long)):
                continue
            parsed = parse_place(record.address_string)
            if parsed is None or parsed.kind == "place":
                continue
            point = (float(record.lat), float(record.long))
            for key, written in zip((parsed.street, parsed.cross), parsed.written, strict=False):
                if key and written:
                    writings[key][" ".join(written.upper().split())] += 1
            if parsed.kind == "address" and parsed.number:
                addresses[(parsed.number, parsed.street)].append(point)
                numbers[parsed.street][parsed.number].append(point)
                street_points[parsed.street].append(point)
            elif parsed.kind == "intersection" and parsed.cross and parsed.cross != parsed.street:
                corners[frozenset((parsed.street, parsed.cross))].append(point)
                street_points[parsed.street].append(point)
                street_points[parsed.cross].append(point)
            else:
                street_points[parsed.street].append(point)
        names = _public_names(writings)
        streets: dict[str, _Street] = {}
        for key, points in street_points.items():
            middle = _median(points)
            distances = sorted(distance_m(*middle, *p) for p in points)
            spread = distances[int(0.75 * (len(distances) - 1))]
            known = []
            for written, pts in numbers.get(key, {}).items():
                value = house_number_value(written)
                if value is not None:
                    known.append((value, written, _median(pts)))
            step = max(1, len(points) // _MAX_POINTS)
            streets[key] = _Street(middle, spread, len(points), tuple(sorted(known)), tuple(points[::step]),
                                   names.get(key, key))
        named = {}
        for name, lat, long in places:
            key = normalize_street(name)
            if key:
                named[key] = (name, (lat, long))
        return cls(
            addresses={k: _median(v) for k, v in addresses.items()},
            streets=streets,
            intersections={k: _median(v) for k, v in corners.items()},
            places=named,
        )

    def __len__(self) -> int:
        return len(self._addresses) + len(self._intersections) + len(self._streets) + len(self._places)

    @property
    def counts(self) -> dict[str, int]:
        """How many addresses, intersections, streets and places it knows."""
        return {"addresses": len(self._addresses), "intersections": len(self._intersections),
                "streets": len(self._streets), "places": len(self._places)}

    # -- answering ------------------------------------------------------------------------------
    async def geocode(self, text: str, *, language: str | None = None) -> GeocodeAnswer | None:
        """`Geocoder.geocode`: the place written in ``text`` (free text or an address), or ``None``."""
        return self.find(text, language=language)

    def find(self, text: str, *, language: str | None = None) -> GeocodeAnswer | None:
        """Synchronous :meth:`geocode`: extract the place from free text, then :meth:`lookup` it.
        Text with no recognisable place is looked up whole when it is short (a bare name)."""
        place = extract_place(text, language)
        if place is None:
            short = " ".join(text.split())
            if not short or len(short) > 80:
                return None
            place = short
        return self.lookup(place)

    def lookup(self, place: str) -> GeocodeAnswer | None:
        """A written place (``"1200 Main St"``, ``"Main St & 5th Ave"``, ``"rue Ontario"``, a district
        name) → the best answer, or ``None`` when nothing matches well enough."""
        parsed = parse_place(place)
        if parsed is None:
            return None
        query = " ".join(place.split())
        if parsed.kind == "address":
            return self._address(parsed, query)
        if parsed.kind == "intersection":
            return self._intersection(parsed, query)
        if parsed.kind == "street":
            return self._street(parsed.street, query)
        return self._place(parsed.street, query) or self._street(parsed.street, query)

    def _answer(self, point: Point, confidence: float, matched: str, kind: str, query: str) -> GeocodeAnswer:
        return GeocodeAnswer(lat=point[0], long=point[1], confidence=round(min(1.0, max(0.0, confidence)), 4),
                             matched=matched, kind=kind, source=self.source, query=query)  # type: ignore[arg-type]

    def _match_street(self, key: str) -> tuple[str, float] | None:
        """The known street meant by ``key`` and a score in [0, 100]: exact, the same name with another
        or no type, or a fuzzy match that keeps the same numbers and directions."""
        if key in self._streets:
            return key, 100.0
        base = street_base(key)
        same_name = self._by_base.get(base)
        if same_name:
            best = max(same_name, key=lambda k: self._streets[k].count)
            # No type written ("Main") fits any type; a different type ("Main Ave" for "Main St") less so.
            has_type = any(w in _TYPES for w in key.split())
            return best, (88.0 if has_type else 94.0)
        if not self._street_keys:
            return None
        found = process.extract(key, self._street_keys, scorer=fuzz.ratio, score_cutoff=_FUZZY_CUTOFF, limit=5)
        for candidate, score, _ in found:
            if _same_marks(key, candidate):
                return candidate, float(score)
        return None

    def _address(self, parsed: ParsedPlace, query: str) -> GeocodeAnswer | None:
        match = self._match_street(parsed.street)
        if match is None:
            return None
        key, score = match
        factor = (score / 100.0) ** 2
        number = parsed.number or ""
        street = self._streets[key]
        name = street.name or key
        if (number, key) in self._addresses:
            return self._answer(self._addresses[(number, key)], CONFIDENCE["address"] * factor,
                                f"{number} {name}", "address", query)
        value = house_number_value(number)
        if value is None or not street.numbers:
            return self._answer(street.point, self._street_confidence(street) * factor, name, "street", query)
        point, how = _interpolate(street.numbers, value)
        return self._answer(point, CONFIDENCE[how] * factor, f"{number} {name}", "address", query)

    def _intersection(self, parsed: ParsedPlace, query: str) -> GeocodeAnswer | None:
        first, second = self._match_street(parsed.street), self._match_street(parsed.cross or "")
        if first is None or second is None or first[0] == second[0]:
            return None
        factor = (first[1] / 100.0) ** 2 * (second[1] / 100.0) ** 2
        pair = frozenset((first[0], second[0]))
        matched = f"{self._streets[first[0]].name or first[0]} & {self._streets[second[0]].name or second[0]}"
        if pair in self._intersections:
            return self._answer(self._intersections[pair], CONFIDENCE["intersection"] * factor, matched,
                                "intersection", query)
        a, b = self._streets[first[0]], self._streets[second[0]]
        gap, p, q = min(((distance_m(*p, *q), p, q) for p in a.sample for q in b.sample), key=lambda t: t[0])
        # Where the two streets' records come closest; beyond 300 m they may not meet at all.
        if gap > 300:
            return None
        middle = ((p[0] + q[0]) / 2, (p[1] + q[1]) / 2)
        how = "intersection_estimated" if gap <= 150 else "intersection_estimated_far"
        return self._answer(middle, CONFIDENCE[how] * factor, matched, "intersection", query)

    def _street_confidence(self, street: _Street) -> float:
        # A street whose many records lie close together is a usable place (on Montréal's records 85 % of
        # such answers are within 200 m); a long one is not a place at all (about 10 % within 200 m).
        if street.count >= 6 and street.spread_m <= 120:
            return CONFIDENCE["street_tight"]
        if street.count >= 3 and street.spread_m > 250:
            return CONFIDENCE["street_long"]
        return CONFIDENCE["street"]

    def _street(self, key: str, query: str) -> GeocodeAnswer | None:
        match = self._match_street(key)
        if match is None:
            return None
        street = self._streets[match[0]]
        return self._answer(street.point, self._street_confidence(street) * (match[1] / 100.0) ** 2,
                            street.name or match[0], "street", query)

    def _place(self, key: str, query: str) -> GeocodeAnswer | None:
        if not self._place_keys:
            return None
        found = process.extractOne(key, self._place_keys, scorer=fuzz.token_sort_ratio, score_cutoff=88)
        if found is None:
            return None
        name, point = self._places[found[0]]
        return self._answer(point, CONFIDENCE["place"] * (found[1] / 100.0) ** 2, name, "place", query)


def _public_names(writings: Mapping[str, Counter[str]]) -> dict[str, str]:
    """The form a resident reads for each street key whose records write it in French: its most common
    French writing, upper case, accents kept (``PAS LOUP ST`` → ``RUE DU PAS DU LOUP``, ``GAUCHETIERE ST O``
    → ``RUE DE LA GAUCHETIÈRE OUEST``). A writing is French when it starts with a type only French writes
    (``RUE``, ``BOUL``, ``CHEMIN``…), or with ``AVENUE``/``PLACE``/… in a gazetteer where at least a quarter
    of the streets written type first are ``RUE``-like (Montréal, not New York's "AVENUE X"). A key written
    in English at least as often keeps its canonical form (``MAIN ST``), which is not in the result."""
    leading = [t for counts in writings.values() for w in counts if (t := leading_type(w)) is not None]
    french_city = bool(leading) and sum(t in FRENCH_TYPES for t in leading) >= 0.25 * len(leading)
    names = {}
    for key, counts in writings.items():
        french = Counter({w: n for w, n in counts.items() if (t := leading_type(w)) is not None
                          and (t in FRENCH_TYPES or french_city)})
        if french and sum(french.values()) * 2 >= sum(counts.values()):
            names[key] = min(french, key=lambda w: (-french[w], w))  # most common; ties alphabetical
    return names


def _same_marks(a: str, b: str) -> bool:
    """Two street keys may be a typo of each other only with the same numbers and directions
    (``W 5 ST`` is never ``E 5 ST`` or ``W 6 ST``); a direction
    written on one side only may be left out on the other."""
    def marks(key: str) -> tuple[set[str], set[str]]:
        words = key.split()
        return {w for w in words if w.isdigit()}, {w for w in words if w in _DIRECTIONS}
    (digits_a, dirs_a), (digits_b, dirs_b) = marks(a), marks(b)
    # A direction left out ("rue Ontario" for "rue Ontario Est") may still be the same street.
    return digits_a == digits_b and (dirs_a == dirs_b or not dirs_a or not dirs_b)


def _interpolate(numbers: tuple[tuple[float, str, Point], ...], value: float) -> tuple[Point, str]:
    """A point for house number ``value`` on a street whose known numbers are ``numbers``: linear
    between the nearest known numbers on each side (the same side of the street first: same parity)
    when they are no farther apart than 100 m + 10 m a number, else the nearest known number."""
    parity = int(value) % 2
    same_side = [n for n in numbers if int(n[0]) % 2 == parity] or list(numbers)
    below = [n for n in same_side if n[0] <= value]
    above = [n for n in same_side if n[0] >= value]
    if below and above:
        lo, hi = below[-1], above[0]
        if hi[0] == lo[0]:
            return lo[2], "address_interpolated"
        # Two stretches of one street name far apart (Boston's "Centre St" in several neighbourhoods,
        # each numbered on its own) are no line to interpolate along: take the nearer number, unsure.
        if distance_m(*lo[2], *hi[2]) > 100 + 10 * (hi[0] - lo[0]):
            return min((lo, hi), key=lambda n: abs(n[0] - value))[2], "address_nearest"
        t = (value - lo[0]) / (hi[0] - lo[0])
        point = (lo[2][0] + t * (hi[2][0] - lo[2][0]), lo[2][1] + t * (hi[2][1] - lo[2][1]))
        return point, ("address_interpolated" if hi[0] - lo[0] <= 200 else "address_interpolated_wide")
    nearest = min(same_side, key=lambda n: abs(n[0] - value))
    return nearest[2], "address_nearest"


# -- per jurisdiction ------------------------------------------------------------------------------
_cache: dict[tuple[str, str], Gazetteer] = {}
_lock = threading.Lock()


def district_places(jurisdiction: Jurisdiction) -> list[tuple[str, float, float]]:
    """``(name, lat, long)`` of each real district (a point inside it), for ``place`` answers."""
    if jurisdiction.districts is None:
        return []
    out = []
    for district in jurisdiction.districts.districts:
        geometry = jurisdiction.districts.geometry(district.id)
        if geometry is None:
            continue
        inside = geometry.representative_point()
        out.append((district.name, float(inside.y), float(inside.x)))
    return out


def gazetteer_for(jurisdiction: Jurisdiction, *, exclude: Iterable[str] = ()) -> Gazetteer:
    """The jurisdiction's gazetteer, built from its ``geocoding.gazetteer`` sources (each file resolved
    with ``jurisdiction.resolve()`` and read with `shared.records.records_for` and the source's
    ``layout``) and its district names. Cached per jurisdiction id and ``config_version`` (when
    ``exclude`` is empty). Records at a configured fallback point are left out.

    Raises:
        shared.records.ReplayFormatError: a source file cannot be read.
        FileNotFoundError: a source file is missing.
    """
    excluded = frozenset(str(x) for x in exclude)
    key = (jurisdiction.id, jurisdiction.config_version)
    if not excluded:
        with _lock:
            cached = _cache.get(key)
        if cached is not None:
            return cached
    from shared.records import records_for  # noqa: PLC0415 - only when a gazetteer is built

    def records() -> Iterable[Any]:
        for source in jurisdiction.geocoding.gazetteer:
            path = jurisdiction.resolve(source.file)
            if not path.is_file():
                raise FileNotFoundError(f"geocoding.gazetteer file {source.file!r} not found at {path}")
            layout = source.layout  # a ./ layout file is in the jurisdiction folder, like the source file
            if layout is not None and layout.startswith(("./", "../")):
                layout = str(jurisdiction.resolve(layout))
            yield from records_for(path, layout=layout, jurisdiction=jurisdiction)

    gazetteer = Gazetteer.build(
        records(), exclude=excluded, places=district_places(jurisdiction),
        ignore_point=jurisdiction.fallback_location,
    )
    if not excluded:
        with _lock:
            _cache[key] = gazetteer
    return gazetteer


def clear_cache() -> None:
    """Forget every gazetteer built by :func:`gazetteer_for`."""
    with _lock:
        _cache.clear()
