"""Is there a usable location in a text? Coordinates, a shared map link, a street address or an
intersection, in English or French. A bare street name ("on Main St") is not enough to send a crew:
it gets the one question back.

Twilio's ``FromCity``/``FromZip`` describe where the *number* was registered, not the problem, and are
never used as a location.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from shared.jurisdiction.point_check import check_point

Contains = Callable[[float, float], bool]
"""The jurisdiction's `contains(lat, long)` (`Jurisdiction.contains`), for the one location check."""

Source = Literal["shared", "coordinates", "map_link", "address", "intersection", "answer", "geocoded", "confirmed"]
"""How a report's location was found: shared from a WhatsApp client, coordinates or a map link in the text,
an address or intersection written in it, the answer to our question; ``geocoded`` the written place found
by the jurisdiction's geocoder with enough confidence, ``confirmed`` the place the resident said YES to."""


@dataclass(frozen=True)
class Location:
    """A location found for a report: `address` as written, or `lat`/`long` (WGS84 degrees), or both.
    `check` is the one location check's verdict on a point that was not ``ok`` (`PointCheck.as_attribute`,
    published as ``attributes.location_check``); a location with neither address nor point (`usable`
    False) only carries the verdict on a point that could not be used (0,0, out of range)."""

    source: Source
    address: str | None = None
    lat: float | None = None
    long: float | None = None
    check: dict[str, Any] | None = None

    @property
    def usable(self) -> bool:
        """True when there is an address or a point to send a crew to."""
        return bool(self.address) or (self.lat is not None and self.long is not None)


_NUM = r"-?\d{1,3}\.\d{3,}"
_COORD_PATTERNS = (
    ("map_link", re.compile(rf"\bgeo:({_NUM}),\s*({_NUM})")),
    ("map_link", re.compile(rf"[?&](?:q|ll|sll|query|daddr|center|destination)=(?:loc:)?({_NUM})(?:,|%2C)\s*({_NUM})",
                            re.IGNORECASE)),
    ("map_link", re.compile(rf"/@({_NUM}),({_NUM})")),
    ("coordinates", re.compile(rf"(?<![\d.])({_NUM})\s*[,;/ ]\s*({_NUM})(?![\d.])")),
)

_DEC = r"\d{1,3}(?:[.,]\d+)?"
_DEGREE = (r"(?<![\w.,])(?:(?P<h1@>[NSEWO])\s*)?(?P<d@>" + _DEC + r")\s*°?\s*"
           r"(?:(?P<m@>\d{1,2}(?:[.,]\d+)?)\s*['′’]\s*(?:(?P<s@>\d{1,2}(?:[.,]\d+)?)\s*(?:\"|″|”|'')\s*)?)?"
           r"(?(h1@)|(?P<h2@>[NSEWO]))(?!\w)")
"""One coordinate with its hemisphere letter before or after it (`@` stands for the coordinate's number)."""
_LENIENT_PATTERNS = (
    re.compile(r"(?<![\d.,])(-?\d{1,3},\d{3,})\s*[;/ ]\s*(-?\d{1,3},\d{3,})(?![\d,])"),
    re.compile(_DEGREE.replace("@", "1") + r"\s*[,;/]?\s*" + _DEGREE.replace("@", "2"), re.IGNORECASE),
)
"""Points written as people write them rather than as apps do: decimal commas ("45,4215 -75,6972"), and
hemisphere letters with degrees, minutes and seconds ("45.4215N 75.6972W", "45°25'17.4\"N 75°41'49.9\"W",
"N45.4215 W75.6972"; O for the French ouest). Such numbers also occur in other sentences ("2,500 3,000"):
a point read this way is used only when the location check finds it inside (``ok`` or ``swapped``)."""

_SUFFIXES_EN = (r"street|st|avenue|ave|av|road|rd|boulevard|blvd|drive|dr|lane|ln|place|pl|court|ct|crescent|"
                r"cres|way|terrace|ter|parkway|pkwy|highway|hwy|square|sq|circle|cir|trail|trl|row|alley|"
                r"broadway|plaza|expressway|expy")
_TYPES_FR = (r"rue|avenue|av|boulevard|boul|bd|chemin|ch|place|route|rang|all[ée]e|impasse|promenade|"
             r"mont[ée]e|c[ôo]te|croissant|carr[ée]|terrasse|sentier|quai|cours|ruelle|voie")
_WORD = r"[0-9A-Za-zÀ-ÖØ-öø-ÿ'’.-]+"
_STOP = r"(?:on|in|at|of|near|by|and|or|the|a|an|to|from|for|with|is|are|was|my|our|his|her|their)"
_NAME_WORD = rf"(?<![0-9A-Za-zÀ-ÖØ-öø-ÿ'’.-])(?!{_STOP}\b){_WORD}"
"""A word of a street's name: whole (never the tail of a word: "Pothole at 5th Ave" is not "t 5th Ave"),
and no small word such as "at" or "and"."""
_NUMBER = r"(?<![\d/.,:])\b\d{1,6}[A-Za-z]?(?:-\d{1,6})?"

_ADDRESS_EN = re.compile(
    rf"{_NUMBER}\s+(?:{_NAME_WORD}\s+){{0,4}}?(?:{_SUFFIXES_EN})\b\.?", re.IGNORECASE)
_ADDRESS_FR = re.compile(
    rf"{_NUMBER}\s*,?\s+(?:{_TYPES_FR})\.?\s+(?:(?:de|du|des|de la|d['’])\s*)?{_WORD}"
    rf"(?:\s+{_WORD}){{0,3}}", re.IGNORECASE)
_STREET = (rf"(?:(?:{_NAME_WORD}\s+)?{_NAME_WORD}\s+(?:{_SUFFIXES_EN})\b\.?|(?:{_TYPES_FR})\.?\s+{_WORD}"
           rf"|(?<!\d)\d+(?:st|nd|rd|th|e|re)\b)")
_URL = re.compile(r"\S+://\S+|\bwww\.\S+", re.IGNORECASE)
_INTERSECTION_WORDS = re.compile(
    r"\b(?:corner of|intersection of|at the corner|coin (?:de |des |du )?|angle (?:de |des |du )?|"
    r"intersection (?:de |des |du )?)\s*[^.,;!?\n]{2,80}", re.IGNORECASE)
_LETTERED = r"(?<![0-9A-Za-zÀ-ÖØ-öø-ÿ'’.-])(?=[0-9'’.-]*[A-Za-zÀ-ÖØ-öø-ÿ])[0-9A-Za-zÀ-ÖØ-öø-ÿ'’.-]++"
"""A whole word holding a letter ("2nd", "Main"), taken whole (possessive, from a word's start): written as
``X*[letter]X*`` it backtracked over every split of a long word, cubic in its length (800 letters: 13 s)."""
_INTERSECTION_SYMBOL = re.compile(
    rf"(?:{_NAME_WORD}\s+)?(?!{_STOP}\b){_LETTERED}\s*(?:&|/|@)\s*(?!{_STOP}\b){_LETTERED}(?:\s+(?:{_SUFFIXES_EN})\b\.?)?", re.IGNORECASE)
_SECOND_STREET = rf"(?:{_NAME_WORD}\s+){{0,3}}?{_NAME_WORD}\s+(?:{_SUFFIXES_EN})\b\.?|{_NAME_WORD}"
"""The street after "and": up to four name words and a type ("W 42nd St"), else one word ("Main")."""
_INTERSECTION_AND = re.compile(
    rf"(?:{_STREET})\s+(?:and|et)\s+(?:{_SECOND_STREET})"
    rf"|{_NAME_WORD}\s+(?:and|et)\s+(?:{_STREET})", re.IGNORECASE)


def _coordinates(lat: float, long: float) -> bool:
    return math.isfinite(lat) and math.isfinite(long) and -90 <= lat <= 90 and -180 <= long <= 180 \
        and not (lat == 0 and long == 0)


def find_location(text: str | None, *, contains: Contains | None = None) -> Location | None:
    """The first usable location written in `text`, or None.

    Tried in order: a map link or ``geo:`` URI, a decimal "lat, long" pair (at least 3 decimals, so
    "2, 3" is not a place), a numbered street address (EN or FR word order), then an intersection
    ("Main St & 2nd Ave", "corner of ...", "coin de ...", "5th and Main").

    With `contains` (the jurisdiction's), every point goes through the one location check
    (`shared.jurisdiction.point_check.check_point`, docs/channels.md): a swapped pair ("-75.6972, 45.4215"
    in Ottawa) is read the right way round, a point outside is kept as given, both with `Location.check`;
    0,0 and out-of-range values are no point: the search goes on to a written address, and when there is
    none the answer is a `Location` that is not `usable` and only carries the check (the resident is
    asked where it is). With `contains`, a point written as people write it (decimal commas, hemisphere
    letters, degrees and minutes: `_LENIENT_PATTERNS`) is also read, when it lands inside. Without
    `contains`, coordinates outside [-90, 90] × [-180, 180] and (0, 0) are ignored.
    """
    if not text or not text.strip():
        return None
    refused: dict[str, Any] | None = None
    for source, pattern in _COORD_PATTERNS:
        for m in pattern.finditer(text):
            lat, long = float(m.group(1)), float(m.group(2))
            if contains is not None:
                checked = check_point(lat, long, contains=contains)
                if checked.usable:
                    return Location(source=source, lat=checked.lat, long=checked.long,  # type: ignore[arg-type]
                                    check=checked.as_attribute())
                refused = refused or checked.as_attribute()
            elif _coordinates(lat, long):
                return Location(source=source, lat=lat, long=long)  # type: ignore[arg-type]
    if contains is not None and refused is None:
        lenient = _lenient_point(text, contains)
        if lenient is not None:
            return lenient
    written = _written(text)
    if written is not None:
        return Location(source=written.source, address=written.address, check=refused)
    return Location(source="coordinates", check=refused) if refused else None


def _lenient_point(text: str, contains: Contains) -> Location | None:
    """The first point written with decimal commas or hemisphere letters (`_LENIENT_PATTERNS`) that the
    location check finds inside the jurisdiction (or swapped into it), else None."""
    for m in _LENIENT_PATTERNS[0].finditer(text):
        checked = check_point(_decimal(m.group(1)), _decimal(m.group(2)), contains=contains)
        if checked.verdict in ("ok", "swapped"):
            return Location(source="coordinates", lat=checked.lat, long=checked.long, check=checked.as_attribute())
    for m in _LENIENT_PATTERNS[1].finditer(text):
        first, second = _signed_degrees(m, 1), _signed_degrees(m, 2)
        if first is None or second is None or first[1] == second[1]:
            continue
        lat, long = (first[0], second[0]) if first[1] == "lat" else (second[0], first[0])
        checked = check_point(lat, long, contains=contains)
        if checked.verdict in ("ok", "swapped"):
            return Location(source="coordinates", lat=checked.lat, long=checked.long, check=checked.as_attribute())
    return None


def _decimal(text: str) -> float:
    return float(text.replace(",", "."))


def _signed_degrees(m: re.Match[str], n: int) -> tuple[float, str] | None:
    """Degrees (minutes and seconds added) of the `n`-th coordinate of a `_DEGREE` match, negative to the
    south and west, and its axis (``lat`` for N/S, ``long`` for E/W/O); None when minutes or seconds are 60
    or more."""
    hemisphere = (m.group(f"h1{n}") or m.group(f"h2{n}") or "").upper()
    minutes, seconds = (_decimal(m.group(f"{k}{n}")) if m.group(f"{k}{n}") else 0.0 for k in ("m", "s"))
    if minutes >= 60 or seconds >= 60:
        return None
    value = _decimal(m.group(f"d{n}")) + minutes / 60 + seconds / 3600
    return (-value if hemisphere in ("S", "W", "O") else value), ("lat" if hemisphere in ("N", "S") else "long")


def _written(text: str) -> Location | None:
    text = _URL.sub(" ", text)
    for pattern in (_ADDRESS_EN, _ADDRESS_FR):
        m = pattern.search(text)
        if m:
            return Location(source="address", address=_clean(m.group(0)))
    for pattern in (_INTERSECTION_WORDS, _INTERSECTION_AND):
        m = pattern.search(text)
        if m:
            return Location(source="intersection", address=_clean(m.group(0)))
    m = _INTERSECTION_SYMBOL.search(text)
    if m:
        return Location(source="intersection", address=_clean(m.group(0)))
    return None


def shared_location(params: Mapping[str, str], *, contains: Contains | None = None) -> Location | None:
    """A location shared from a WhatsApp client (Twilio ``Latitude``/``Longitude``, ``Address``, ``Label``).

    With `contains`, the point goes through the one location check (as in `find_location`): 0,0 or out
    of range is no point (a `Location` with only the shared address, or not `usable` without one, carrying
    the check); a swap is corrected; a value that cannot be read ("", "x") counts as not a number, so a
    location share is never dropped: the resident is asked. Without it, (0, 0), out-of-range and unreadable
    values are no location. None when the form carries no ``Latitude`` nor ``Longitude``."""
    if "Latitude" not in params and "Longitude" not in params:
        return None
    lat, long = _degrees(params.get("Latitude")), _degrees(params.get("Longitude"))
    address = (params.get("Address") or params.get("Label") or "").strip() or None
    if contains is not None:
        checked = check_point(lat, long, contains=contains)
        return Location(source="shared", address=address, lat=checked.lat, long=checked.long,
                        check=checked.as_attribute())
    if not _coordinates(lat, long):
        return None
    return Location(source="shared", address=address, lat=lat, long=long)


def _degrees(value: str | None) -> float:
    try:
        return float(value or "")
    except ValueError:
        return math.nan


def _clean(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip(" ,.;")
