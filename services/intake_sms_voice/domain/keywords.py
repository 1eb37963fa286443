"""Texts that are commands, not reports: opt-out, opt-in and help keywords (EN/FR), and ``STATUS <case>``.

Keywords follow the carriers' rule as Twilio applies it: the whole message, trimmed and case-folded, is
the keyword ("stop", "Stop." and "ARRÊT" are; "stop the flooding" is a report). French forms are matched
with or without accents. ``YES`` is deliberately not an opt-in word here: residents answer questions.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

KeywordKind = Literal["opt_out", "opt_in", "help"]

KEYWORDS: dict[KeywordKind, dict[str, frozenset[str]]] = {
    "opt_out": {
        "en": frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"}),
        "fr": frozenset({"ARRET", "ARRETER", "ARRETE", "DESABONNER", "DESABONNEMENT", "DESINSCRIRE",
                         "DESINSCRIPTION", "ANNULER"}),
    },
    "opt_in": {
        "en": frozenset({"START", "UNSTOP"}),
        "fr": frozenset({"DEBUT", "COMMENCER", "REPRENDRE", "REABONNER"}),
    },
    "help": {
        "en": frozenset({"HELP", "INFO"}),
        "fr": frozenset({"AIDE"}),
    },
}
"""Per kind and language, the keywords in upper case without accents (``ARRÊT`` is read as ``ARRET``)."""

STATUS_WORDS = {"STATUS": "en", "STATUT": "fr", "ETAT": "fr", "SUIVI": "fr"}

CASE_NUMBER_RE = re.compile(r"\b[A-Z]{2,8}-[0-9]{2}-[0-9]{6,}\b")
"""The case service's human case number, ``<PREFIX>-<yy>-<nnnnnn>`` (e.g. ``DEMO-26-000042``)."""


@dataclass(frozen=True)
class KeywordMatch:
    """A keyword message: its kind, the keyword as normalised (``ARRET``) and the language it is in."""

    kind: KeywordKind
    keyword: str
    language: Literal["en", "fr"]


@dataclass(frozen=True)
class StatusQuery:
    """``STATUS <case number>``: `case_number` canonical ASCII, or None when none was given."""

    case_number: str | None
    language: Literal["en", "fr"]


def fold(text: str) -> str:
    """Upper case, compatibility forms (full width) read as ASCII, accents removed: ``Arrêt`` → ``ARRET``."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).upper()


def keyword_of(body: str) -> KeywordMatch | None:
    """The keyword that `body` is, or None. Surrounding spaces, quotes and ``.!?`` are ignored."""
    word = fold(body).strip().strip(" \t\r\n.!?¡¿\"'«»“”")
    if not word or len(word) > 20:
        return None
    for kind, by_language in KEYWORDS.items():
        for language, words in by_language.items():
            if word in words:
                return KeywordMatch(kind=kind, keyword=word, language=language)  # type: ignore[arg-type]
    return None


_STATUS_RE = re.compile(r"^\s*(STATUS|STATUT|ETAT|SUIVI)\b\s*[:#-]?\s*(.*)$", re.DOTALL)


def status_query_of(body: str) -> StatusQuery | None:
    """``STATUS DEMO-26-000042`` (or ``STATUT``/``ÉTAT``/``SUIVI``) as a query, else None."""
    m = _STATUS_RE.match(fold(body))
    if not m:
        return None
    number = CASE_NUMBER_RE.search(m.group(2))
    return StatusQuery(case_number=number.group(0) if number else None,
                       language=STATUS_WORDS[m.group(1)])  # type: ignore[arg-type]


def quotes_case_number(body: str) -> bool:
    """Whether the text quotes a case number (a reply about an existing case: the case service threads it)."""
    return CASE_NUMBER_RE.search(fold(body)) is not None


_YES = frozenset({"YES", "Y", "YEAH", "YEP", "YUP", "OK", "OKAY", "CORRECT", "RIGHT", "OUI", "OUAIS", "EXACT",
                  "EXACTEMENT", "DACCORD"})
_NO = frozenset({"NO", "N", "NOPE", "NON"})
_POLITE = frozenset({"PLEASE", "THANKS", "THANK", "YOU", "MERCI", "SVP", "BEAUCOUP", "THX", "C", "EST", "CA",
                     "CELA", "THAT", "IT", "IS", "ITS", "S"})


def confirmation_of(body: str) -> Literal["yes", "no"] | None:
    """The answer to "Did you mean ...? Reply YES, or send the address": ``yes`` for YES/OUI (and Y, OK,
    yeah, exact... with at most a polite word or two: "yes thanks", "oui merci", "c'est ça"), ``no`` for
    NO/NON, None for anything else (an address, a longer sentence: the resident's place, as written)."""
    words = re.findall(r"[A-Z]+", fold(body).replace("'", "").replace("’", ""))
    if not words or len(words) > 4:
        return None
    rest = [w for w in words if w not in _POLITE]
    if len(rest) == 1 and rest[0] in _YES:
        return "yes"
    if words in (["C", "EST", "CA"], ["CEST", "CA"], ["THATS", "IT"], ["THAT", "IS", "IT"]):
        return "yes"
    if len(rest) == 1 and rest[0] in _NO:
        return "no"
    return None
