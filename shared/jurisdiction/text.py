"""Text helpers shared by configuration loading and keyword routing: slugs, normalisation, tokens."""

from __future__ import annotations

import re
import unicodedata
from typing import Literal, TypeVar

__all__ = [
    "LIGATURES",
    "STOPWORDS",
    "fold_label",
    "guess_language",
    "normalize_text",
    "service_code_for",
    "stem",
    "tokens",
]

# Letters that NFKD does not decompose but that French and German writers use.
LIGATURES = str.maketrans({"œ": "oe", "Œ": "oe", "æ": "ae", "Æ": "ae", "ß": "ss", "ø": "o", "Ø": "o"})
"""Letters NFKD does not decompose, spelt out (``str.translate`` table): "cœur" is matched as "coeur"."""
_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)
_SLUG_NON_ALNUM = re.compile(r"[^a-z0-9]+")

#: Words that carry no category signal in English or French 311 texts. They are dropped from
#: keyword phrases and from request texts before matching.
STOPWORDS: frozenset[str] = frozenset(
    """
    a an the of for or and to in on at by with from is are was be been it its this that these those
    there here my our your his her their me we you they i he she them us as not no yes please pls
    thank thanks hi hello can could would should will just very also about into near next front
    de la le les des du un une et ou en au aux dans sur pour par avec est sont il elle ils elles y
    mon ma mes ton ta tes notre nos votre vos leur leurs ce cet cette ces qui que quoi dont ne pas
    plus tres svp merci bonjour je tu nous vous on se sa son ses chez devant depuis
    d l s n j c m t qu
    """.split()
)


_FRENCH_HINTS = frozenset("""
le la les des du un une est sont il elle y a au aux dans devant pres près coin rue trou nid poule
lampadaire eteint éteint ordures bruit fuite eau arbre merci bonjour svp sil s'il vous plait plaît
chaussee chaussée trottoir deneigement déneigement encore toujours pas ne depuis avec sur chez mon ma mes
""".split())
_ENGLISH_HINTS = frozenset("""
the a an is are there in on at of near front street road pothole light out trash garbage noise leak
tree please thanks hello still not since with my our this that it broken missed
""".split())
_HINT_WORD = re.compile(r"[a-zà-ÿ']+")
_Default = TypeVar("_Default", bound=str)


def guess_language(text: str, default: _Default) -> _Default | Literal["en", "fr"]:
    """``fr`` or ``en`` for a resident's short text (an SMS, a chat message, a mention) from common words
    and French accents; `default` (the conversation's language, else the jurisdiction's first locale)
    when the text says nothing or as much of either. Pure; never raises.

    ``"Nid-de-poule devant le 12 rue Elm"`` → ``fr``; ``"12"`` → `default`.
    """
    words = _HINT_WORD.findall(text.casefold())
    fr = sum(w in _FRENCH_HINTS for w in words) + sum(1 for c in text if c in "éèêàâçùûîôœ")
    en = sum(w in _ENGLISH_HINTS for w in words)
    if fr > en:
        return "fr"
    if en > fr:
        return "en"
    return default


def fold_label(label: str | None) -> str:
    """A category label compared across files: accents and ligatures folded, case-folded, whitespace
    collapsed; punctuation kept (``"Nid-de-poule "`` and ``"nid-de-poule"`` are one label). ``""`` for None."""
    folded = unicodedata.normalize("NFKD", (label or "").translate(LIGATURES))
    return " ".join("".join(ch for ch in folded if not unicodedata.combining(ch)).casefold().split())


def normalize_text(text: str) -> str:
    """Fold ``text`` for matching: accents removed, case-folded, punctuation turned into single spaces.

    ``"Nid-de-poule À l'angle"`` → ``"nid de poule a l angle"``. Non-Latin letters are kept (only
    their case is folded). Pure; never raises on any ``str``.
    """
    folded = unicodedata.normalize("NFKD", text.translate(LIGATURES))
    folded = "".join(ch for ch in folded if not unicodedata.combining(ch)).casefold()
    return _NON_WORD.sub(" ", folded).strip()


def stem(token: str) -> str:
    """Strip a plural ``s`` from a normalised token of four letters or more (``"nids"`` → ``"nid"``).

    Deliberately light (no language model): it only makes singular and plural keywords meet.
    Words ending in ``ss``, ``is`` or ``us`` (but not ``ous``) are kept (``"glass"``, ``"tapis"``,
    ``"campus"``); ``"trous"`` → ``"trou"``.
    """
    if len(token) < 4 or not token.endswith("s") or token.endswith(("ss", "is")):
        return token
    if token.endswith("us") and not token.endswith("ous"):
        return token
    return token[:-1]


def tokens(text: str, *, keep_stopwords: bool = False) -> list[str]:
    """Normalised, stemmed word tokens of ``text`` in order; digits-only and one-letter tokens dropped.

    Stop words (:data:`STOPWORDS`) are dropped unless ``keep_stopwords``.
    """
    out: list[str] = []
    for raw in normalize_text(text).split():
        if len(raw) < 2 or raw.isdigit():
            continue
        if not keep_stopwords and raw in STOPWORDS:
            continue
        out.append(stem(raw))
    return out


def service_code_for(name: str) -> str:
    """The stable Open311 ``service_code`` slug for a service (complaint type) name.

    Rule: accents removed, ``&`` read as ``and``, lower-cased, every run of characters other than
    ``a-z0-9`` replaced by one ``-``, leading and trailing ``-`` removed. Never truncated, so two
    different names only collide when they differ in punctuation or case alone.

    ``"Street Sign - Dangling"`` → ``"street-sign-dangling"``;
    ``"HEAT/HOT WATER"`` → ``"heat-hot-water"``;
    ``"Sidewalk Repair (Make Safe)"`` → ``"sidewalk-repair-make-safe"``.

    Raises:
        ValueError: the name has no letter or digit, so no code can be made from it.
    """
    folded = unicodedata.normalize("NFKD", name.translate(LIGATURES).replace("&", " and "))
    folded = "".join(ch for ch in folded if not unicodedata.combining(ch)).lower()
    slug = _SLUG_NON_ALNUM.sub("-", folded).strip("-")
    if not slug:
        raise ValueError(f"cannot make a service_code from {name!r}: no letters or digits")
    return slug
