"""Street names in one canonical form, and a written place parsed into house number and street(s).

The canonical form is upper case, accents folded, punctuation removed, with the abbreviations of the
USPS Publication 28 (Appendix C1: STREET → ST, AVENUE → AVE, …; directionals EAST → E) and ordinals as
digits (FIFTH, 5TH, 5E → 5). French street types (rue, avenue, boulevard, chemin, place, côte, rang…)
map to the same abbreviations and move after the name, French particles (de, de la, du, des, d', l')
are dropped, and Saint/Sainte/St/Ste become SAINT. So "rue Saint-Denis", "RUE ST-DENIS" and
"St Denis Street" all read ``SAINT DENIS ST``.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal

__all__ = [
    "FRENCH_TYPES",
    "ParsedPlace",
    "STREET_TYPES",
    "fold",
    "house_number_value",
    "leading_type",
    "normalize_street",
    "parse_place",
    "street_base",
]

#: Written street types (English and French, upper case, accents folded) → canonical abbreviation.
STREET_TYPES: dict[str, str] = {
    "STREET": "ST", "STR": "ST", "ST": "ST", "RUE": "ST",
    "AVENUE": "AVE", "AVE": "AVE", "AV": "AVE", "AVN": "AVE",
    "BOULEVARD": "BLVD", "BLVD": "BLVD", "BOUL": "BLVD", "BD": "BLVD", "BL": "BLVD",
    "ROAD": "RD", "RD": "RD", "CHEMIN": "CH", "CH": "CH",
    "PLACE": "PL", "PL": "PL", "DRIVE": "DR", "DR": "DR", "LANE": "LN", "LN": "LN",
    "COURT": "CT", "CT": "CT", "TERRACE": "TER", "TER": "TER", "TERRASSE": "TER",
    "PARKWAY": "PKWY", "PKWY": "PKWY", "HIGHWAY": "HWY", "HWY": "HWY", "EXPRESSWAY": "EXPY", "EXPY": "EXPY",
    "SQUARE": "SQ", "SQ": "SQ", "CIRCLE": "CIR", "CIR": "CIR", "CRESCENT": "CRES", "CROISSANT": "CRES",
    "CRES": "CRES", "WAY": "WAY", "ALLEY": "ALY", "ALLEE": "ALY", "ROUTE": "RTE", "RTE": "RTE",
    "COTE": "COTE", "RANG": "RANG", "MONTEE": "MONTEE", "PROMENADE": "PROM", "PROM": "PROM",
    "IMPASSE": "IMP", "QUAI": "QUAI", "AUTOROUTE": "AUT", "PLAZA": "PLZ", "PLZ": "PLZ",
    "BROADWAY": "BROADWAY", "LOOP": "LOOP", "WALK": "WALK", "PATH": "PATH", "ROW": "ROW",
}
#: Types that are written before the name (French): moved after it in the canonical form.
_LEADING_TYPES = frozenset({
    "RUE", "AVENUE", "AV", "BOULEVARD", "BOUL", "BD", "CHEMIN", "CH", "PLACE", "COTE", "RANG",
    "MONTEE", "PROMENADE", "TERRASSE", "CROISSANT", "ALLEE", "ROUTE", "IMPASSE", "QUAI", "AUTOROUTE",
    "SQUARE",
})
#: Leading types that only French writes (``RUE``, not ``AVENUE`` or ``PLACE``, which lead English names too:
#: New York's "AVENUE X"): a street written with one of them is a French street.
FRENCH_TYPES = frozenset({
    "RUE", "BOUL", "BD", "CHEMIN", "CH", "COTE", "RANG", "MONTEE", "ALLEE", "IMPASSE", "QUAI", "AUTOROUTE",
    "CROISSANT", "TERRASSE",
})
#: Types unambiguous enough to end an English street phrase in free text.
_DIRECTIONS = {
    "EAST": "E", "E": "E", "EST": "E", "WEST": "W", "W": "W", "OUEST": "O", "O": "O",
    "NORTH": "N", "N": "N", "NORD": "N", "SOUTH": "S", "S": "S", "SUD": "S",
}
_PARTICLES = frozenset({"DE", "DU", "DES", "D", "L", "LA", "LE", "LES", "THE"})
_SAINTS = frozenset({"SAINT", "SAINTE", "STE", "SNT"})
_ORDINAL_WORDS = {
    "FIRST": 1, "SECOND": 2, "THIRD": 3, "FOURTH": 4, "FIFTH": 5, "SIXTH": 6, "SEVENTH": 7, "EIGHTH": 8,
    "NINTH": 9, "TENTH": 10, "ELEVENTH": 11, "TWELFTH": 12, "THIRTEENTH": 13, "FOURTEENTH": 14,
    "FIFTEENTH": 15, "SIXTEENTH": 16, "SEVENTEENTH": 17, "EIGHTEENTH": 18, "NINETEENTH": 19,
    "TWENTIETH": 20, "PREMIERE": 1, "PREMIER": 1, "DEUXIEME": 2, "TROISIEME": 3, "QUATRIEME": 4,
    "CINQUIEME": 5, "SIXIEME": 6, "SEPTIEME": 7, "HUITIEME": 8, "NEUVIEME": 9, "DIXIEME": 10,
}
_ORDINAL = re.compile(r"^(\d+)(?:ST|ND|RD|TH|E|EME|IEME|ER|RE|ERE|EM)$")
_NUMBER = re.compile(r"^(\d+)([A-Z]?)(?:-(\d+))?$")


def fold(text: str) -> str:
    """Upper case, accents folded (É → E), ``’`` read as ``'``."""
    text = unicodedata.normalize("NFKD", text.replace("\u2019", "'"))
    return "".join(c for c in text if not unicodedata.combining(c)).upper()


def _tokens(text: str) -> list[str]:
    return re.sub(r"[^A-Z0-9]+", " ", fold(text)).split()


def normalize_street(name: str) -> str:
    """The canonical form of a street name: ``"rue de la Gauchetière Ouest"`` → ``"GAUCHETIERE ST O"``,
    ``"West 5th Street"`` → ``"W 5 ST"``, ``"avenue 13e"`` → ``"13 AVE"``. Empty for a name with no words."""
    raw = _tokens(name)
    if not raw:
        return ""
    leading = raw[0] in _LEADING_TYPES and len(raw) > 1
    # "ST" is a saint when a name follows it, a street at the end (or before a direction only).
    out: list[str] = []
    for i, token in enumerate(raw):
        rest = raw[i + 1:]
        if token == "ST" and rest and not all(t in _DIRECTIONS for t in rest):
            out.append("SAINT")
        elif token in _SAINTS:
            out.append("SAINT")
        elif token in _ORDINAL_WORDS:
            out.append(str(_ORDINAL_WORDS[token]))
        elif (m := _ORDINAL.match(token)) is not None:
            out.append(str(int(m.group(1))))
        elif token in _PARTICLES and 0 < i < len(raw) - 1:
            continue
        else:
            out.append(token)
    typ = None
    if leading:
        typ, out = STREET_TYPES[out[0]], out[1:]
    else:
        # The last type word before any trailing directions is the street's type.
        j = len(out) - 1
        while j > 0 and out[j] in _DIRECTIONS:
            j -= 1
        if j > 0 and out[j] in STREET_TYPES:
            typ, out = STREET_TYPES[out[j]], out[:j] + out[j + 1:]
    words = [_DIRECTIONS.get(t, t) if (k == 0 or k == len(out) - 1) and len(out) > 1 else t for k, t in enumerate(out)]
    # A direction written first ("West 5 St", "E 161 St") stays first; one written last stays last.
    if typ is None:
        return " ".join(words)
    tail = []
    while len(words) > 1 and words[-1] in _DIRECTIONS.values():
        tail.insert(0, words.pop())
    return " ".join([*words, typ, *tail])


def leading_type(written: str) -> str | None:
    """The street type a written street starts with, folded (``"rue de l'Église"`` → ``"RUE"``,
    ``"boul. Saint-Laurent"`` → ``"BOUL"``); ``None`` when it starts with none (``"Main St"``)."""
    raw = _tokens(written)
    return raw[0] if len(raw) > 1 and raw[0] in _LEADING_TYPES else None


def street_base(key: str) -> str:
    """A canonical street without its type: ``"SAINT DENIS ST"`` → ``"SAINT DENIS"``."""
    types = set(STREET_TYPES.values())
    words = [w for w in key.split() if w not in types]
    return " ".join(words) or key


def house_number_value(number: str) -> float | None:
    """An orderable value of a house number: ``"1200"`` → 1200, ``"12A"`` → 12.1, Queens ``"108-20"`` →
    108020 (block then lot); ``None`` when it is no number."""
    m = _NUMBER.match(fold(number).strip())
    if m is None:
        return None
    if m.group(3) is not None:
        return int(m.group(1)) * 1000 + int(m.group(3))
    return int(m.group(1)) + (0.1 * (ord(m.group(2)) - 64) if m.group(2) else 0)


@dataclass(frozen=True)
class ParsedPlace:
    """A written place split into its parts: an address (``number`` and ``street``), an intersection
    (``street`` and ``cross``), a street alone, or a name (``place``, anything else)."""

    kind: Literal["address", "intersection", "street", "place"]
    street: str
    number: str | None = None
    cross: str | None = None
    #: The street(s) as written (``street`` then ``cross``), spaces collapsed: ``("rue de l'Église",)``.
    written: tuple[str, ...] = field(default=(), compare=False)


_INTERSECTION = re.compile(r"\s*(?:&|/|\bAND\b|\bET\b|\bAT\b|\bAND\b|\bCORNER OF\b)\s*", re.IGNORECASE)
_BETWEEN = re.compile(r"^(.+?)\s+\bBETWEEN\b\s+(.+?)\s+\b(?:AND|&)\b\s+(.+)$", re.IGNORECASE)
_LEADING_NUMBER = re.compile(r"^\s*(\d+(?:-?[A-Za-z](?![\w']))?(?:-\d+)?)\s*,?\s+(.+)$")
_LOCALITY = re.compile(r",.*$")
_PREFIX = re.compile(r"^(?:intersection\s+(?:of\s+)?|corner\s+of\s+|coin\s+(?:de\s+la\s+|de\s+l'|du\s+|de\s+)?)", re.IGNORECASE)


def _split_french_streets(text: str) -> list[str]:
    """``"rue Basin rue Richmond"`` (columns joined by a space) → ``["rue Basin", "rue Richmond"]``."""
    words = text.split()
    parts: list[list[str]] = []
    for w in words:
        if fold(w).strip(".") in _LEADING_TYPES and parts and parts[-1]:
            parts.append([w])
        elif not parts:
            parts.append([w])
        else:
            parts[-1].append(w)
    return [" ".join(p) for p in parts]


@lru_cache(maxsize=65536)  # a gazetteer is rebuilt per fold from the same rows; usaddress is slow
def parse_place(text: str) -> ParsedPlace | None:
    """Split a written place: ``"1200 Main St, Brooklyn 11201"`` → address (1200, ``MAIN ST``);
    ``"Main St & 5th Ave"`` → intersection; ``"S between A and B"`` (NYC blockface) → street S;
    ``"rue Ontario"`` → street. ``None`` for text with no words.

    The locality after the first comma is dropped. House numbers are read with ``usaddress`` when the
    text is a US-style address it can tag, else with a leading-number rule.
    """
    # Boston's export separates the locality with two spaces ("42 Cross St  Boston  MA  02113").
    text = " ".join(re.sub(r"\s{2,}", ", ", text.strip()).split())
    if not text:
        return None
    head = _PREFIX.sub("", _LOCALITY.sub("", text).strip() or text).strip() or text
    between = _BETWEEN.match(head)
    if between is not None:
        street = normalize_street(between.group(1))
        return ParsedPlace("street", street, written=(_as_written(between.group(1)),)) if street else None
    parts = [p for p in _INTERSECTION.split(head) if p and p.strip()]
    if len(parts) < 2 and fold(head.split()[0]).strip(".") in _LEADING_TYPES:
        parts = _split_french_streets(head)
    if len(parts) >= 2:
        first, second = (normalize_street(p) for p in parts[:2])
        if first and second:
            return ParsedPlace("intersection", first, cross=second, written=tuple(_as_written(p) for p in parts[:2]))
    number, street, written = _number_and_street(head)
    if number is not None and street:
        return ParsedPlace("address", street, number=number, written=(written,))
    key = normalize_street(head)
    if not key:
        return None
    words = set(key.split())
    if words & set(STREET_TYPES.values()) or any(w.isdigit() for w in words):
        return ParsedPlace("street", key, written=(_as_written(head),))
    return ParsedPlace("place", key, written=(_as_written(head),))


def _as_written(text: str) -> str:
    return " ".join(text.replace("\u2019", "'").split()).strip(" ,;:")


def _number_and_street(text: str) -> tuple[str | None, str | None, str]:
    """(house number, street key, street as written); ``(None, None, "")`` when no number leads."""
    m = _LEADING_NUMBER.match(text)
    if m is None:
        return None, None, ""
    try:
        import usaddress  # noqa: PLC0415 - only for text that starts with a number

        tagged, kind = usaddress.tag(text)
    except Exception:  # noqa: BLE001 - usaddress raises RepeatedLabelError and others on odd input
        tagged, kind = {}, None
    if kind == "Street Address" and tagged.get("AddressNumber") and tagged.get("StreetName"):
        parts = [tagged.get(k, "") for k in (
            "StreetNamePreDirectional", "StreetNamePreType", "StreetName", "StreetNamePostType",
            "StreetNamePostDirectional")]
        written = " ".join(p for p in parts if p)
        street = normalize_street(written)
        if street:
            return _unit_letter(tagged["AddressNumber"].upper().replace(" ", "")), street, _as_written(written)
    return _unit_letter(m.group(1).upper()), normalize_street(m.group(2)), _as_written(m.group(2))


def _unit_letter(number: str) -> str:
    """``1200-B`` (a unit letter written after a hyphen) is ``1200B``, as exports write it."""
    return re.sub(r"^(\d+)-([A-Z])$", r"\1\2", number)
