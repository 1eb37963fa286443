"""Free-text classification: score a request text against every service's EN/FR keywords, typo-tolerant."""

from __future__ import annotations

import re
import threading
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from rapidfuzz import fuzz, process
from rapidfuzz.distance import Levenshtein

from shared.geocode.extract import extract_place
from shared.geocode.normalize import STREET_TYPES, fold
from shared.jurisdiction import Jurisdiction, Service, tokens

__all__ = ["Candidate", "KeywordClassifier", "classifier_for", "without_written_place"]

# A one-word keyword is less specific than a phrase ("light" vs "street light").
_SINGLE_WORD_FACTOR = 0.85
# Further matched keywords of the same service add a little evidence, never more than the best one.
_EXTRA_EVIDENCE = 0.15
# Keywords in another language than the hint count slightly less, so a hint breaks near-ties.
_OTHER_LANGUAGE_FACTOR = 0.95


def _max_edits(token: str) -> int:
    """Typos tolerated in a word: none below 5 letters (too many false friends), 1 up to 7, then 2."""
    if len(token) < 5:
        return 0
    return 1 if len(token) <= 7 else 2


def _pair_fits(first: str, second: str, word: str, edits: int) -> bool:
    """Whether ``word`` is two written words ``first`` + ``second`` run together with at most ``edits``
    typos, each part keeping its first letter (the rule for one word). "street ligth" may be
    "streetlight"; "street right" may not: "right" is no typo of "light"."""
    for cut in range(1, len(word)):
        head, tail = word[:cut], word[cut:]
        if head[0] != first[0] or tail[0] != second[0]:
            continue
        if Levenshtein.distance(first, head) + Levenshtein.distance(second, tail) <= edits:
            return True
    return False


# Street types written before the name (French); any other type is written after it.
_LEADING_TYPES = frozenset({
    "RUE", "AVENUE", "AV", "BOULEVARD", "BOUL", "BD", "CHEMIN", "CH", "PLACE", "COTE", "RANG", "MONTEE",
    "PROMENADE", "TERRASSE", "CROISSANT", "ALLEE", "ROUTE", "IMPASSE", "QUAI", "AUTOROUTE",
})


def _street_words(part: str) -> tuple[list[str], list[str]]:
    """A written place (``"40 Elm Street"``, ``"rue de l'Église"``) split into the words left to read
    and the street's own name and type, which are no description: ``(["40"], ["Elm", "Street"])``.
    An English street keeps only the word before its type as name (``"3 potholes on Main St"`` is read
    as ``(["3", "potholes", "on"], ["Main", "St"])``); a street written as a type alone keeps nothing."""
    words = part.split()
    keys = [fold(w).strip(".") for w in words]
    start = 1 if words and words[0][0].isdigit() else 0
    if len(words) - start >= 2 and keys[start] in _LEADING_TYPES:
        return words[:start], words[start:]
    types = [k for k in range(start + 1, len(words)) if keys[k] in STREET_TYPES]
    if not types:
        return words, []
    return words[:types[-1] - 1], words[types[-1] - 1:]


def _written(words: list[str]) -> str:
    """A regular expression for ``words`` as written in the text (any spacing, either apostrophe)."""
    return r"\s+".join(re.escape(w).replace("'", "['’]") for w in words)


def without_written_place(text: str, language: str | None = None) -> str:
    """``text`` with the street name and type of the place written in it blanked out (the address,
    the two streets of a corner, or a street alone, as `shared.geocode.extract_place` finds them), so
    that an address never completes a keyword phrase: in "pothole in front of 40 Elm Street" the word
    "street" is part of an address, not a street light's. The house number and every other word stay."""
    if not any(fold(word).strip(".,;:!?()") in STREET_TYPES for word in text.split()):
        return text  # no street type written: no address to find (most texts; extraction costs a millisecond)
    place = extract_place(text, language)
    if not place:
        return text
    out = text
    for part in place.split(" & "):
        keep, street = _street_words(part)
        if not street:
            continue
        lead = _written(keep) + r"\s*,?\s+" if keep else ""
        regex = re.compile(rf"(?<![\w'’-]){lead}({_written(street)})(?![\w'’-])")
        found = regex.search(out) or re.compile(regex.pattern, re.IGNORECASE).search(out)
        if found is not None:
            out = out[:found.start(1)] + " " + out[found.end(1):]
    return out


@dataclass(frozen=True)
class _Entry:
    service_code: str
    language: str
    text: str
    forms: tuple[tuple[str, ...], ...]
    weight: float


@dataclass(frozen=True)
class Candidate:
    """A service that the text matched: ``score`` in [0, 1]; ``raw`` (unbounded) orders candidates."""

    service_code: str
    score: float
    raw: float
    matched_keywords: tuple[str, ...]
    language: str | None


class KeywordClassifier:
    """An inverted index of the services' keyword phrases (normalised, stemmed, accent-free tokens).

    Matching is bag-of-words per phrase: a phrase matches when each of its words is in the text,
    exactly or within a small edit distance (first letter must agree). A match contributes
    ``similarity × weight`` (×0.85 for one-word phrases); a service scores its best contribution plus
    0.15 × the others. Ties are broken by more matched phrases, then by ``service_code``.
    """

    def __init__(self, services: Iterable[Service]) -> None:
        """Index the keywords of ``services`` (their ``keywords`` mapping, language → phrases)."""
        entries: list[_Entry] = []
        for service in services:
            for language, words in sorted(service.keywords.items()):
                for keyword in words:
                    base = tuple(tokens(keyword.text))
                    if not base:
                        continue
                    forms = [base]
                    if 1 < len(base) <= 3:
                        forms.append(("".join(base),))  # "street light" also matches "streetlight"
                    entries.append(_Entry(service.service_code, language, keyword.text, tuple(forms), keyword.weight))
        self._entries = tuple(entries)
        by_token: dict[str, set[int]] = defaultdict(set)
        for n, entry in enumerate(entries):
            for form in entry.forms:
                for token in form:
                    by_token[token].add(n)
        self._by_token = {t: tuple(sorted(ids)) for t, ids in by_token.items()}
        self._vocabulary = sorted(by_token)

    def _token_similarities(self, text_tokens: list[str]) -> dict[str, float]:
        found: dict[str, float] = {}
        # A word alone, or two neighbouring words run together ("street light" for "streetlight").
        probes: dict[str, tuple[str, str] | None] = dict.fromkeys(text_tokens)
        for a, b in zip(text_tokens, text_tokens[1:], strict=False):
            probes.setdefault(a + b, (a, b))
        for probe, pair in probes.items():
            if probe in self._by_token:
                found[probe] = 100.0
            edits = _max_edits(probe)
            if not edits:
                continue
            for word, _, _ in process.extract(
                probe, self._vocabulary, scorer=Levenshtein.distance, score_cutoff=edits, limit=None
            ):
                if word == probe or word[0] != probe[0] or len(word) < 5:
                    continue
                if pair is not None and not _pair_fits(*pair, word, edits):
                    continue
                similarity = fuzz.ratio(probe, word)
                if similarity > found.get(word, 0.0):
                    found[word] = similarity
        return found

    def classify(self, text: str, language: str | None = None) -> list[Candidate]:
        """Services matched by ``text``, best first (empty when nothing matched).

        ``language`` (``"en"``, ``"fr"``) only breaks near-ties: keywords of every language count.
        The street name and type of a written place are not read (`without_written_place`).
        """
        similarities = self._token_similarities(tokens(without_written_place(text, language)))
        if not similarities:
            return []
        touched = sorted({n for token in similarities for n in self._by_token.get(token, ())})
        per_service: dict[str, list[tuple[float, str, str]]] = defaultdict(list)
        for n in touched:
            entry = self._entries[n]
            best = 0.0
            best_len = 1
            for form in entry.forms:
                if all(t in similarities for t in form):
                    sim = sum(similarities[t] for t in form) / len(form) / 100.0
                    if sim > best:
                        best, best_len = sim, len(form)
            if not best:
                continue
            contribution = best * entry.weight * (_SINGLE_WORD_FACTOR if best_len == 1 else 1.0)
            if language and entry.language != language:
                contribution *= _OTHER_LANGUAGE_FACTOR
            per_service[entry.service_code].append((contribution, entry.text, entry.language))
        candidates: list[Candidate] = []
        for code, hits in per_service.items():
            hits.sort(key=lambda h: (-h[0], h[1]))
            keywords = tuple(dict.fromkeys(h[1] for h in hits))
            raw = hits[0][0] + _EXTRA_EVIDENCE * sum(h[0] for h in hits[1:])
            candidates.append(Candidate(code, round(min(1.0, raw), 4), raw, keywords, hits[0][2]))
        candidates.sort(key=lambda c: (-round(c.raw, 9), -len(c.matched_keywords), c.service_code))
        return candidates


_classifiers: dict[tuple[str, str, int], KeywordClassifier] = {}
_lock = threading.Lock()
_MAX_CACHED = 16


def classifier_for(jurisdiction: Jurisdiction) -> KeywordClassifier:
    """The classifier of a loaded jurisdiction, built on first use and kept per config version."""
    key = (jurisdiction.id, jurisdiction.config_version, id(jurisdiction))
    with _lock:
        found = _classifiers.get(key)
    if found is not None:
        return found
    built = KeywordClassifier(jurisdiction.services)
    with _lock:
        if len(_classifiers) >= _MAX_CACHED:
            _classifiers.pop(next(iter(_classifiers)))
        _classifiers[key] = built
    return built
