"""The written place in a resident's free text: an address, a corner of two streets, or a street alone."""

from __future__ import annotations

import re
from functools import lru_cache

from rapidfuzz import process
from rapidfuzz.distance import OSA

__all__ = ["extract_place"]

# Written street types, English (after the name) and French (before it); accents optional.
_EN_TYPES = (
    r"street|st|avenue|ave|av|boulevard|blvd|road|rd|place|pl|drive|dr|lane|ln|court|ct|terrace|ter|"
    r"parkway|pkwy|highway|hwy|expressway|expy|square|sq|circle|cir|crescent|way|alley|plaza|broadway|"
    r"loop|walk|row"
)
_FR_TYPES = (
    r"rue|avenue|av|boulevard|boul|bd|chemin|ch|place|c[oô]te|rang|mont[ée]e|promenade|terrasse|"
    r"croissant|all[ée]e|route|impasse|quai|autoroute|square"
)
_DIR = r"(?:\s+(?:east|west|north|south|e|w|n|s|est|ouest|nord|sud)\b\.?)?"
# Words and names are bounded (a word of at most 40 characters, a French name of at most 6 words) and the
# two-street patterns start only at a word's start: unbounded, a 10 kB message without a place took
# seconds and 100 kB minutes (the search retried the whole rest of the text from every character).
_WORD_REST = r"[\w'’.-]{0,39}"
_NAME_WORD = rf"[A-Za-zÀ-ÿ0-9]{_WORD_REST}"
# An English street: up to four name words (the first may be a direction or an ordinal), then a type.
_EN_STREET = rf"(?:{_NAME_WORD}\s+){{1,4}}?(?:{_EN_TYPES})\b\.?{_DIR}|broadway"
# A French street: a type, particles, then up to four name words that start with a capital or a digit.
_FR_PARTICLE = r"(?:de\s+la\s+|de\s+l['’]\s*|du\s+|des\s+|de\s+|d['’]\s*|l['’]\s*)?"
_FR_STREET = (
    rf"(?:{_FR_TYPES})\.?\s+{_FR_PARTICLE}(?:[A-ZÀ-Ý0-9]{_WORD_REST})"
    rf"(?:\s+(?:{_FR_PARTICLE}[A-ZÀ-Ý0-9]{_WORD_REST})){{0,5}}{_DIR}"
)
_NUMBER = r"\d{1,5}(?:-?[A-Za-z](?![\w'’]))?(?:-\d{1,4})?"  # 1200, 1200B, 1200-B (a unit letter), 1200-1202
_FLAGS = re.IGNORECASE

_EN_CORNER = re.compile(
    rf"(?:corner\s+of|intersection\s+of|junction\s+of|corner)\s+(?:the\s+)?({_EN_STREET})\s+(?:and|&|at|/)\s+"
    rf"({_EN_STREET})", _FLAGS)
# The first street of a corner holds no preposition: "Pothole at 5th Ave and W 42nd St" is the corner of
# "5th Ave" and "W 42nd St", not of "Pothole at 5th Ave" (the search starts at the text's first word).
_EN_NAME_NOT_PREP = rf"(?!(?:at|on|in|near|by|of|outside|from|to)\b){_NAME_WORD}"
_EN_FIRST_STREET = rf"(?:{_EN_NAME_NOT_PREP}\s+){{1,4}}?(?:{_EN_TYPES})\b\.?{_DIR}|broadway"
_EN_AMP = re.compile(rf"(?<![\w'’.-])({_EN_FIRST_STREET})\s*(?:&|/|\bat\b|\band\b)\s*({_EN_STREET})", _FLAGS)
_EN_ADDRESS = re.compile(rf"\b({_NUMBER})\s+({_EN_STREET})", _FLAGS)
_EN_ON = re.compile(rf"\b(?:on|along|in|at)\s+(?:the\s+)?({_EN_STREET})", _FLAGS)
# French street names are written with capitals ("rue Saint-Denis"), so the name part is case-sensitive.
_FR_CORNER = re.compile(
    rf"(?i:coin|angle|intersection|croisement)\s+(?i:de\s+la\s+|de\s+l['’]\s*|du\s+|des\s+|de\s+)?"
    rf"((?i:{_FR_TYPES})\.?\s+{_FR_PARTICLE}[A-ZÀ-Ý0-9]{_WORD_REST}(?:\s+{_FR_PARTICLE}[A-ZÀ-Ý0-9]{_WORD_REST}){{0,5}}{_DIR})"
    rf"\s+(?i:et)\s+(?i:de\s+la\s+|de\s+l['’]\s*|du\s+|des\s+|de\s+)?"
    rf"((?i:{_FR_TYPES})\.?\s+{_FR_PARTICLE}[A-ZÀ-Ý0-9]{_WORD_REST}(?:\s+{_FR_PARTICLE}[A-ZÀ-Ý0-9]{_WORD_REST}){{0,5}}{_DIR})"
)
_FR_STREET_RE = rf"(?i:{_FR_TYPES})\.?\s+{_FR_PARTICLE}[A-ZÀ-Ý0-9]{_WORD_REST}(?:\s+{_FR_PARTICLE}[A-ZÀ-Ý0-9]{_WORD_REST}){{0,5}}(?i:{_DIR})"
_FR_ADDRESS = re.compile(rf"\b({_NUMBER})\s*,?\s+({_FR_STREET_RE})")
_FR_STREET_ONLY = re.compile(rf"(?<![\w])({_FR_STREET_RE})")
_FR_AMP = re.compile(rf"(?<![\w'’.-])({_FR_STREET_RE})\s*(?:&|/|\bet\b)\s*(?:{_FR_PARTICLE})?({_FR_STREET_RE})")
# Words that end a French name even when capitalised at the start of a sentence.
_STOP = re.compile(r"\s+(?:Il|Elle|Je|On|Nous|Merci|Depuis|Devant|Près|Pres|Et|Mais|Le|La|Les|Un|Une|Ce|Cette)\b.*$")


# Street types spelled out in six letters or more, English and French, that a misspelt word may stand for.
# A typo of a shorter one is too often another word or a name: "Allen" for ALLEY, "dive" for DRIVE, "read"
# for ROAD, "line" for LANE; MONTÉE and CROISSANT are left out for French verbs ("monte", "se croisent").
_SPELLED_TYPES = (
    "street", "avenue", "boulevard", "terrace", "parkway", "highway", "expressway", "square", "circle",
    "crescent", "chemin", "promenade", "terrasse", "impasse", "autoroute",
)
# Real words within the edit budget of a type (plurals and other endings are refused by rule, below).
_NOT_TYPOS = frozenset({
    "chemise", "cheminee", "strewn", "streak", "stream", "streep", "squire", "circus", "cercle", "circe",
    "circule", "terrance", "expressly", "avenir",
})
_WORD = re.compile(r"(?<![\w'’-])[A-Za-zÀ-ÿ]{4,12}(?![\w'’-])")


@lru_cache(maxsize=4096)
def _type_meant(word: str) -> str | None:
    """The street type a misspelt word stands for (``"Stret"`` → ``"street"``, ``"boulevrd"`` →
    ``"boulevard"``), or ``None``: one edit (a transposition counts as one) for a type of up to eight
    letters, two for a longer one (BOULEVARD); the same first letter; never a real word near a type (``streets``,
    ``stream``, ``croissance``)."""
    lower = word.lower()
    if lower in _NOT_TYPOS or lower in _SPELLED_TYPES:
        return None
    found = process.extractOne(lower, _SPELLED_TYPES, scorer=OSA.distance, score_cutoff=2)
    if found is None:
        return None
    kind, distance = found[0], found[1]
    if distance > (1 if len(kind) <= 8 else 2) or lower[0] != kind[0]:
        return None
    # "streets", "placed", "driver", "driven", "routes": a type with an ending is another word.
    if lower.startswith(kind) or (lower[:-1] == kind[:-1] and lower[-1] in "sdrn" and len(lower) > len(kind)):
        return None
    return kind


def _with_types_spelt(text: str) -> str:
    """``text`` with each misspelt street type written right, in the case it was written in."""
    def fix(m: re.Match[str]) -> str:
        word = m.group(0)
        kind = _type_meant(word)
        # A word before a correctly written English type is the street's name ("Circe Ave"), not its type.
        if kind is None or _TYPE_NEXT.match(m.string, m.end()):
            return word
        return kind.upper() if word.isupper() else kind.capitalize() if word[0].isupper() else kind
    return _WORD.sub(fix, text)


_TYPE_NEXT = re.compile(rf"\s+(?:{_EN_TYPES})\b", re.IGNORECASE)

_FILLER = re.compile(r"^(?:(?:at|on|in|the|corner|of|intersection|front|near|by|outside)\s+)+", re.IGNORECASE)


def _clean(text: str) -> str:
    text = _FILLER.sub("", _STOP.sub("", text))
    return " ".join(text.replace("’", "'").split()).strip(" .,;:")


def extract_place(text: str, language: str | None = None) -> str | None:
    """The place written in ``text``, as written, or ``None`` when it holds none.

    - an intersection → ``"A & B"`` ("corner of Main St and 5th Ave", "Main St & 5th Ave",
      "coin de la rue Saint-Denis et de l'avenue du Mont-Royal");
    - an address → ``"1200 Main St"`` ("pothole in front of 1200 Main St", "devant le 1234 rue Ontario Est");
    - a street alone → ``"Main St"`` ("on Main Street"), ``"rue Ontario"`` ("sur la rue Ontario").

    ``language`` (``en``/``fr``) tries that language's patterns first; both are tried. A French street
    name must start with a capital letter or a digit (as residents and the city write it). A street type
    with a typo is read as the type, and given spelt right ("40 Elm Stret" → ``"40 Elm Street"``).
    """
    if not text or not text.strip():
        return None
    text = _with_types_spelt(" ".join(text.split()))
    french = (language or "").lower().startswith("fr")
    order = (_french, _english) if french else (_english, _french)
    # Corners and addresses are more precise than a street alone: look for them in both languages first.
    for finder in order:
        found = finder(text, precise=True)
        if found:
            return found
    for finder in order:
        found = finder(text, precise=False)
        if found:
            return found
    return None


def _english(text: str, *, precise: bool) -> str | None:
    if precise:
        for pattern in (_EN_CORNER, _EN_AMP):
            m = pattern.search(text)
            if m and not _has_number_start(m.group(1)):
                return f"{_clean(m.group(1))} & {_clean(m.group(2))}"
        m = _EN_ADDRESS.search(text)
        if m:
            return f"{m.group(1)} {_clean(m.group(2))}"
        return None
    for m in _EN_ON.finditer(text):
        place = _clean(m.group(1))
        # "in the street" names no street: a place needs a name besides its type and direction.
        if re.sub(rf"\b(?:{_EN_TYPES}|east|west|north|south|e|w|n|s)\b\.?", "", place, flags=_FLAGS).strip():
            return place
    return None


def _french(text: str, *, precise: bool) -> str | None:
    if precise:
        for pattern in (_FR_CORNER, _FR_AMP):
            m = pattern.search(text)
            if m:
                return f"{_clean(m.group(1))} & {_clean(m.group(2))}"
        m = _FR_ADDRESS.search(text)
        if m:
            return f"{m.group(1)} {_clean(m.group(2))}"
        return None
    m = _FR_STREET_ONLY.search(text)
    return _clean(m.group(1)) if m else None


def _has_number_start(street: str) -> bool:
    # "1200 Main St and ..." is an address followed by more text, not a corner.
    return bool(re.match(r"\d{2,5}\s+\S+\s+\S+", street)) and not re.match(r"\d+(?:st|nd|rd|th)\b", street, _FLAGS)
