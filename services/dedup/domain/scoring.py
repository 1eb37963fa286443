"""How alike two reports are: words, distance, time and reporter, combined into one score in [0, 1].

Distances are metres, windows hours, times UTC, scores in [0, 1]. The rule: a candidate must have the same
`service_code` (the search only offers those: a different category never merges), lie within the
category's radius, have been requested within its window, and reach `threshold` on the combined score to
be merged automatically; a best candidate scoring from `review_threshold` up to `threshold` is suggested
to staff instead (`verdict`).

The score (`score`) is the weighted mean of three closenesses, each in [0, 1]:

- text, `TEXT_WEIGHT` 0.5: the cosine of character 3–5-gram TF-IDF vectors (`TextSimilarity`) of the
  accent-folded, case-folded texts without punctuation, so "Nid-de-poule énorme" equals "nid de poule
  ENORME" and the measure works the same in English and French (no word lists, no stemming, nothing
  downloaded), each without the words of the place written in it (`without_place`: the address or
  corner `shared.geocode.extract_place` finds): where a report is is the distance's to judge, and two
  problems written "at 4 Elm Street" and "at 1 Elm Street" would otherwise look alike by their street;
  `NEUTRAL_TEXT` when either text has no letters or digits (a text that is only an address has none);
- distance, `DISTANCE_WEIGHT` 0.3: 1 at the same point, falling linearly to 0 at the radius;
- time, `TIME_WEIGHT` 0.2: 1 at the same instant, falling linearly to 0 at the window's edge (left out of
  the mean, the other weights renormalised, when the new report's time is not given);

and, when both reporters are known and are the same person, the score is lifted by `REPORTER_LIFT` of
the way to 1 (a resident sending the same report twice); a different or unknown reporter changes nothing,
since most duplicates come from different people.

Why these weights: place and time alone reach at most 0.5, so two unrelated problems at one point at the
same moment (text cosine near 0) score about 0.5, below the default merge threshold (0.6): at most a
suggestion. Measured on Boston's staff-labelled pairs by `python -m tools.evaluate dedup`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any, Literal
from uuid import UUID

import numpy as np
from sklearn.feature_extraction.text import HashingVectorizer, TfidfVectorizer
from sklearn.preprocessing import normalize

from shared.geocode.extract import extract_place
from shared.geocode.normalize import STREET_TYPES
from shared.jurisdiction.text import LIGATURES

TEXT_WEIGHT = 0.5
DISTANCE_WEIGHT = 0.3
TIME_WEIGHT = 0.2
REPORTER_LIFT = 0.5
"""Same known reporter: the score goes this share of the way from where it is to 1."""
NEUTRAL_TEXT = 0.5
"""Similarity assumed when either text is empty: place, time and kind alone then decide."""
NGRAM_RANGE = (3, 5)
"""Character n-grams within word boundaries (scikit-learn ``char_wb``)."""
HASH_FEATURES = 2**20
UNFITTED_CHANCE = 0.1
"""The cosine unrelated texts reach by chance in the unfitted form (measured: `tools.evaluate dedup` with it
auto-merged 7 of 160 unrelated pairs at one point; with this taken off, none)."""
MIN_FIT_TEXTS = 50
"""Fewer texts than this give no IDF worth having: the unfitted (hashing) form is used instead."""

_NOT_WORD = re.compile(r"[^0-9a-z]+")
_PLACE_WORDS = frozenset({t.lower() for t in STREET_TYPES} | {"broadway"})
"""Folded words without one of which no place is written (`extract_place` needs a street type)."""


def fold(text: str | None) -> str:
    """Case-folded, accents removed (NFKD), ligatures spelt out ("cœur" -> "coeur"), every run of
    non-letters/digits one space, trimmed."""
    decomposed = unicodedata.normalize("NFKD", (text or "").translate(LIGATURES).casefold())
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _NOT_WORD.sub(" ", plain).strip()


@lru_cache(maxsize=16_384)
def without_place(text: str) -> str:
    """`text` folded (`fold`) without the words of the place written in it: the house number, street
    name and type of an address, or both streets of a corner, as `shared.geocode.extract_place` finds
    them (English and French); a street alone stays ("pothole in the right lane" names no street, though
    "lane" is a street type). The words are removed as a run where
    the folded place is written so; else (a type written with a typo) each of its words once. A text
    naming no place is only folded. Cached: a case's text is compared with every new report near it."""
    folded = fold(text)
    words = folded.split()
    if not _PLACE_WORDS.intersection(words):
        return folded  # no street type: no place to find (most texts; extraction costs about a millisecond)
    place = extract_place(text)
    if not place or not (" & " in place or place[0].isdigit()):
        # A street alone is too often the text's own words ("in the right lane", "on the drive").
        return folded
    for part in place.split(" & "):
        words = _without_run(words, fold(part).split())
    return " ".join(words)


def _without_run(words: list[str], run: list[str]) -> list[str]:
    """`words` without the first occurrence of `run` as consecutive words, else without the first
    occurrence of each word of `run` that is there."""
    n = len(run)
    for i in range(len(words) - n + 1):
        if n and words[i:i + n] == run:
            return words[:i] + words[i + n:]
    out = list(words)
    for word in run:
        if word in out:
            out.remove(word)
    return out


@dataclass(frozen=True)
class TextSimilarity:
    """Character n-gram TF-IDF cosine between report texts, in [0, 1].

    Two forms:

    - `fit(texts)`: a `TfidfVectorizer` (char_wb 3–5-grams, sublinear tf, l2) whose IDF is fitted on the
      jurisdiction's own texts (its history, or the texts the duplicate detector's projection holds), so
      words every report carries (a form's template, "please", a street type) weigh little. The service
      fits it at start from its projection; `tools.evaluate dedup` fits it on the file under test.
    - `unfitted()`: a `HashingVectorizer` of the same n-grams with sublinear tf and no IDF, less the
      cosine unrelated texts reach by chance (`from_cosine`). Stateless, so it needs no history: used
      when fewer than `MIN_FIT_TEXTS` texts are known (a new deployment). It separates duplicates less
      well: on Boston's staff-labelled pairs, auto-merge precision 81.2 % at recall 36.5 %, against
      88.5 % at 33.8 % fitted.

    Nothing is downloaded; both forms treat English and French alike.
    """

    vectorizer: Any = field(repr=False)
    fitted_on: int = 0
    """How many texts the IDF was fitted on (0: the unfitted hashing form)."""
    labels: frozenset[str] = frozenset()
    """Form labels removed before comparing (folded), see `form_labels`."""

    @classmethod
    def unfitted(cls) -> TextSimilarity:
        """The hashing form (no IDF)."""
        return cls(HashingVectorizer(analyzer="char_wb", ngram_range=NGRAM_RANGE, alternate_sign=False, norm=None,
                                     n_features=HASH_FEATURES, preprocessor=_Prepare(frozenset()), dtype=np.float32))

    @classmethod
    def fit(cls, texts: Iterable[str]) -> TextSimilarity:
        """IDF fitted on `texts` (empty ones left out), and the form labels they share (`form_labels`)
        removed before comparing; the unfitted form below `MIN_FIT_TEXTS` texts."""
        raw = [t for t in texts if t and fold(t)]
        if len(raw) < MIN_FIT_TEXTS:
            return cls.unfitted()
        labels = form_labels(raw)
        prepare = _Prepare(labels)
        vec = TfidfVectorizer(analyzer="char_wb", ngram_range=NGRAM_RANGE, sublinear_tf=True, lowercase=False,
                              preprocessor=prepare, dtype=np.float32)
        vec.fit(raw)
        return cls(vec, fitted_on=len(raw), labels=labels)

    def vectors(self, texts: Sequence[str]) -> Any:
        """The l2-normalised sparse rows of `texts` (CSR, sorted indices; an empty text is a zero row)."""
        x = self.vectorizer.transform(list(texts))
        if self.fitted_on == 0:
            x.data = 1.0 + np.log(x.data)  # sublinear tf, as the fitted form
        x = normalize(x).tocsr()
        x.sum_duplicates()
        return x

    def against(self, text: str, others: Sequence[str]) -> list[float]:
        """Similarity of `text` with each of `others`, in order: cosine in [0, 1], `NEUTRAL_TEXT` when
        either has no letters or digits."""
        if not others:
            return []
        if not self.has_words(text):
            return [NEUTRAL_TEXT] * len(others)
        x = self.vectors([text, *others])
        sims = [self.from_cosine(row_dot(x, 0, i)) for i in range(1, x.shape[0])]
        return [s if self.has_words(o) else NEUTRAL_TEXT for s, o in zip(sims, others, strict=True)]

    def from_cosine(self, cosine: float) -> float:
        """The similarity for a cosine of two texts' vectors, in [0, 1] (6 places). The unfitted form has no
        IDF, so short n-grams every text shares ("the", "de la") give unrelated texts a cosine near
        `UNFITTED_CHANCE`: it is taken off and the rest rescaled, so an identical text still gives 1."""
        value = min(1.0, max(0.0, cosine))
        if self.fitted_on == 0:
            value = max(0.0, (value - UNFITTED_CHANCE) / (1.0 - UNFITTED_CHANCE))
        return round(value, 6)

    def has_words(self, text: str) -> bool:
        """Whether `text` has letters or digits once folded and without its form labels and its place."""
        return bool(_Prepare(self.labels)(text or ""))

    def __call__(self, a: str, b: str) -> float:
        return self.against(a, [b])[0]


_LABEL = re.compile(r"(?:^|(?<=[|\n;.]))\s*([^:|\n;.]{2,60}):")
FORM_LABEL_SHARE = 0.01
"""A "label:" is a form's label when at least this share of the texts (and at least 5) carry it."""


def form_labels(texts: Sequence[str]) -> frozenset[str]:
    """The labels of a form's template that many texts share ("Make of the abandoned car:", "Details:"),
    folded: a "label:" at the start of a text or after ``|``, ``;``, ``.`` or a new line, found in at
    least `FORM_LABEL_SHARE` of `texts` and in 5 of them. Their words say which form was used, not which
    problem: two reports of one form would look alike whatever their answers."""
    counts: dict[str, int] = {}
    for text in texts:
        for label in {fold(m) for m in _LABEL.findall(text)}:
            if label:
                counts[label] = counts.get(label, 0) + 1
    least = max(5, FORM_LABEL_SHARE * len(texts))
    return frozenset(label for label, n in counts.items() if n >= least)


@dataclass(frozen=True)
class _Prepare:
    """A text folded, without the given form labels and the place written in it (`without_place`): the
    preprocessor of both forms of `TextSimilarity`."""

    labels: frozenset[str]

    def __call__(self, text: str) -> str:
        if self.labels:
            text = _LABEL.sub(lambda m: " " if fold(m.group(1)) in self.labels else m.group(0), text)
        return without_place(text)


def row_dot(x: Any, i: int, j: int) -> float:
    """The dot product of rows `i` and `j` of a CSR matrix with sorted, unique indices (as `vectors`
    returns): the cosine of two l2-normalised rows. Computed on their few non-zeros, since the
    product of a row with a transposed one converts a matrix as wide as the hashing space."""
    a, b = slice(x.indptr[i], x.indptr[i + 1]), slice(x.indptr[j], x.indptr[j + 1])
    _, ia, ib = np.intersect1d(x.indices[a], x.indices[b], assume_unique=True, return_indices=True)
    return float(np.dot(x.data[a][ia], x.data[b][ib]))


_DEFAULT: list[TextSimilarity] = []


def default_similarity() -> TextSimilarity:
    """The shared unfitted form, built on first use (not at import)."""
    if not _DEFAULT:
        _DEFAULT.append(TextSimilarity.unfitted())
    return _DEFAULT[0]


@dataclass(frozen=True)
class DedupPolicy:
    """Per-category thresholds: `radius_m` (metres), `window_hours`, the combined score `threshold` at or
    above which a case is merged automatically, and `review_threshold` (<= `threshold`) at or above which
    it is suggested to staff. With `auto_merge` False nothing is merged automatically: a match at or above
    either threshold is only suggested (the jurisdiction's unclassified service, triage, whose one
    category holds every kind of problem).

    Raises:
        ValueError: `review_threshold` above `threshold`.
    """

    radius_m: float = 50.0
    window_hours: float = 72.0
    threshold: float = 0.6
    review_threshold: float = 0.45
    auto_merge: bool = True

    def __post_init__(self) -> None:
        if self.review_threshold > self.threshold:
            raise ValueError(f"review_threshold {self.review_threshold} is above threshold {self.threshold}")


@dataclass(frozen=True)
class Candidate:
    """A case near the new one, as the projection found it: an open case, or a case already merged into an
    incident whose surviving case (`incident_id`, numbered `incident_service_request_id`, the root of its
    chain of merges) is open. `reporter` is a pseudonymous key of who reported it (None: not known)."""

    case_id: UUID
    service_request_id: str
    description: str
    distance_m: float
    requested_datetime: datetime
    reporter: str | None = None
    incident_id: UUID | None = None
    incident_service_request_id: str | None = None

    @property
    def survivor(self) -> UUID:
        """The case a match joins: the incident's surviving case, else this case."""
        return self.incident_id or self.case_id

    @property
    def survivor_service_request_id(self) -> str:
        """The number of `survivor`."""
        return self.incident_service_request_id or self.service_request_id


@dataclass(frozen=True)
class Match:
    """A candidate scored against a new report: combined `score`, `text_similarity`, closeness in distance
    (`distance_score`) and in time (`time_score`, None when the new report's time was not given), and
    whether the reporter is the same known person; each score in [0, 1]."""

    candidate: Candidate
    score: float
    text_similarity: float
    distance_score: float
    time_score: float | None = None
    same_reporter: bool = False


def text_similarity(a: str, b: str, similarity: TextSimilarity | None = None) -> float:
    """Similarity of two report texts in [0, 1] (`TextSimilarity`, default the unfitted form);
    `NEUTRAL_TEXT` when either has no letters or digits."""
    return (similarity or default_similarity())(a or "", b or "")


def _closeness(distance: float, limit: float) -> float:
    """1.0 at 0, falling linearly to 0.0 at `limit`; always in [0, 1] (NaN gives 0.0, a negative distance
    counts as 0). With a limit of 0 only 0 itself counts, and it counts fully."""
    distance = abs(distance) if distance == distance else distance  # noqa: PLR0124 - NaN stays NaN
    if not distance <= limit:  # also NaN
        return 0.0
    if limit <= 0:
        return 1.0
    return min(1.0, max(0.0, 1.0 - distance / limit))


def combine(text: float, distance: float, time: float | None, *, same_reporter: bool = False) -> float:
    """The combined score in [0, 1] from the closenesses (see the module docstring)."""
    if time is None:
        base = (TEXT_WEIGHT * text + DISTANCE_WEIGHT * distance) / (TEXT_WEIGHT + DISTANCE_WEIGHT)
    else:
        base = TEXT_WEIGHT * text + DISTANCE_WEIGHT * distance + TIME_WEIGHT * time
    if same_reporter:
        base += REPORTER_LIFT * (1.0 - base)
    return min(1.0, max(0.0, base))


def score_pair(candidate: Candidate, similarity: float, policy: DedupPolicy, *, at: datetime | None = None,
               reporter: str | None = None) -> Match:
    """Score a candidate whose text similarity with the new report (opening time `at`, `reporter` key) is
    already known, under `policy`."""
    distance_score = _closeness(candidate.distance_m, policy.radius_m)
    time_score = None
    if at is not None:
        hours = (at - candidate.requested_datetime).total_seconds() / 3600.0
        time_score = _closeness(hours, policy.window_hours)
    same = reporter is not None and candidate.reporter is not None and reporter == candidate.reporter
    return Match(candidate, combine(similarity, distance_score, time_score, same_reporter=same), similarity, distance_score,
                 time_score, same)


def score(candidate: Candidate, description: str, policy: DedupPolicy, *, at: datetime | None = None,
          reporter: str | None = None, similarity: TextSimilarity | None = None) -> Match:
    """Score one candidate against a new report (its text, opening time `at`, `reporter` key) under
    `policy`; `similarity` defaults to the unfitted text measure."""
    sim = text_similarity(description, candidate.description, similarity)
    return score_pair(candidate, sim, policy, at=at, reporter=reporter)


def best_match(candidates: list[Candidate], description: str, policy: DedupPolicy, *, floor: float | None = None,
               excluded: Collection[UUID] = (), at: datetime | None = None, reporter: str | None = None,
               similarity: TextSimilarity | None = None) -> Match | None:
    """The highest-scoring candidate at or above `floor` (default: the merge `threshold`); ties go to the
    older case, then the id. Candidates beyond the radius, and those in `excluded` (cases staff unmerged
    from this one, or the incident such a case survives), never count. Texts are compared in one batch."""
    floor = policy.threshold if floor is None else floor
    kept = [c for c in candidates if c.distance_m <= policy.radius_m and c.case_id not in excluded
            and c.survivor not in excluded]
    sims = (similarity or default_similarity()).against(description or "", [c.description or "" for c in kept])
    matches = [score_pair(c, s, policy, at=at, reporter=reporter) for c, s in zip(kept, sims, strict=True)]
    matches = [m for m in matches if m.score >= floor]
    if not matches:
        return None
    matches.sort(key=lambda m: (-m.score, m.candidate.requested_datetime, str(m.candidate.case_id)))
    return matches[0]


Verdict = Literal["merge", "review"]


def verdict(match: Match | None, policy: DedupPolicy) -> Verdict | None:
    """``merge`` at or above the merge `threshold` (when the policy allows `auto_merge`), ``review`` from
    `review_threshold` up to it (and above it without `auto_merge`), else None."""
    if match is None or match.score < policy.review_threshold:
        return None
    return "merge" if match.score >= policy.threshold and policy.auto_merge else "review"
