"""Free-text classification: score a request text against every service's EN/FR keywords, typo-tolerant."""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from rapidfuzz import fuzz, process
from rapidfuzz.distance import Levenshtein

from shared.jurisdiction import Jurisdiction, Service, tokens

__all__ = ["Candidate", "KeywordClassifier", "classifier_for"]

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
        probes = set(text_tokens)
        probes.update(a + b for a, b in zip(text_tokens, text_tokens[1:], strict=False))
        for probe in probes:
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
                similarity = fuzz.ratio(probe, word)
                if similarity > found.get(word, 0.0):
                    found[word] = similarity
        return found

    def classify(self, text: str, language: str | None = None) -> list[Candidate]:
        """Services matched by ``text``, best first (empty when nothing matched).

        ``language`` (``"en"``, ``"fr"``) only breaks near-ties: keywords of every language count.
        """
        similarities = self._token_similarities(tokens(text))
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
