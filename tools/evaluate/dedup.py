"""`python -m tools.evaluate dedup [FILE]`: the duplicate detector's precision and recall against labels.

Every pair of reports is judged as the duplicate detector judges a new report against an open case
(`services.dedup.domain`): a different category, a missing or fallback point, a distance beyond the
category's radius or a time gap beyond its window is never a match; otherwise the combined score
(`services.dedup.domain.scoring`, text similarity fitted on the set's own texts) is auto-merged at or
above the merge threshold, suggested from the review threshold up to it, and kept apart below.

For each set: positives (pairs that are duplicates) and negatives (pairs that are not), how many of each
were **auto-merged** and **suggested**, and

- recall = auto-merged positives / positives (``recall_merged``); with suggestions ``recall_flagged``;
- precision = auto-merged positives / all auto-merged pairs (``precision_merged``); with suggestions
  ``precision_flagged``. Precision depends on how many negatives a set holds: each set says how they
  were drawn. None when nothing was flagged.

The documented label sets (run without FILE; read from ``$OMNI311_SHARED_DATA``; every draw seeded,
``--seed``, default 11):

``boston_staff_pairs``
    Positives: the 983 pairs where Boston's staff closed a request as "Duplicate of Existing Case" and the
    original is in the scrape (``freetext/boston_bos311_duplicate_pairs.jsonl``); about one in nine
    crosses categories and so can never be merged (counted as missed). The main measure is recall on them.
    Negatives, as many as positives, from ``freetext/boston_bos311_requests_sample.jsonl`` (no labelled
    pair among them): half **same category near in place, different problem**: two requests of one
    service whose points are within the category's radius (the nearest other request of its service for
    a request drawn at random, kept when within the radius), and, as the sample spans 12 years, the
    second is moved in time to a random point within the first half of the window after the first (so
    only the words can tell them apart); half **near in time, far in place**: two requests of one
    service within the window whose points are more than the radius apart (real times and points).
``boston_repeated_ids``
    Boston's 20 case ids that appear twice (``311_records/qsv_boston311-100-20dupes-random.csv``): exact
    duplicates, positives. Negatives: every other pair of records in the file (distinct ids). Rows on
    City Hall's fallback point never count as a place (Boston's ``fallback_locations``).
``montreal_repeats``
    Montréal rat reports (``montreal/feldev-hackqc_rats_data.json``) with an id: pairs in one group of
    the same street (``RUE``), the same day (local) and the same category are positives (repeat reports
    of one problem); every other pair of the same category within radius and window is a negative.
    ``LOC_ERREUR_GDT`` 1 (the point fell back to the borough office) is a fallback point. These records
    carry no text: the words are neutral and place and time decide.
``cross_channel``
    The same real record sent twice: once as an Open311 POST (its text, point and time) and once as an
    SMS (the first sentence, at most 80 characters cut at a word, lower-case, no category: the router
    is assumed to give it the record's category, which the ``routing`` evaluation measures; its point 0 to
    25 m away, as a geocoded written address; 0 to 6 hours later). 150 Boston requests (English) and 150
    Montpellier reports (French, ``freetext/vigilo_montpellier_fr_observations.json``) with a text of at
    least 20 characters and a point. Negatives: the SMS of one record against the POST of another record
    of the same category at the same point and time.
``negatives_one_point``
    Two negative-only sets at one point and one instant: **twenty categories** (20 records of 20 different
    Boston categories, from ``qsv_boston311-100.csv``; 190 pairs, none may merge: a different category
    never does) and **one category, unrelated texts** (20 requests of the Boston sample, 4 from each of
    its 5 services, all given one category; the 160 pairs whose texts come from different services are
    different problems: none may be auto-merged, a suggestion is allowed).

With FILE (any layout `shared.records.records_for` reads, ``--layout``/``--jurisdiction`` as for every
evaluation command; a file of ``{"duplicate": …, "original": …}`` Open311 pairs is read as labelled
pairs): the labels it can derive: records with the same id (exact duplicates) and records of the same
category on the same street (address without its number) on the same local day are positives; every
other pair of the same category within radius and window is a negative.

Thresholds, radius and window are the jurisdiction's per category (``--jurisdiction``), else the defaults
(`shared.jurisdiction.DedupPolicy`); ``--merge-threshold`` and ``--review-threshold`` override them.
``sweep`` gives the main set's precision and recall of auto-merge at other merge thresholds.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from itertools import combinations
from pathlib import Path
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import numpy as np

from services.dedup.domain.scoring import (
    Candidate,
    DedupPolicy,
    TextSimilarity,
    fold,
    row_dot,
    score_pair,
    verdict,
)
from shared.jurisdiction.geo import EARTH_RADIUS_M, distance_m

__all__ = ["Report", "add_arguments", "evaluate_dedup", "judge", "render", "run"]

SEED = 11
PAIRS_FILE = "freetext/boston_bos311_duplicate_pairs.jsonl"
SAMPLE_FILE = "freetext/boston_bos311_requests_sample.jsonl"
REPEATED_IDS_FILE = "311_records/qsv_boston311-100-20dupes-random.csv"
BOSTON_100_FILE = "311_records/qsv_boston311-100.csv"
MONTREAL_FILE = "montreal/feldev-hackqc_rats_data.json"
VIGILO_FILE = "freetext/vigilo_montpellier_fr_observations.json"
BOSTON_FALLBACK = (42.3594, -71.0587, 30.0)
"""Boston's City Hall point (lat, long, tolerance in metres), as jurisdictions/boston says."""
SWEEP = (0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8)
SMS_CHARS = 80
CROSS_PER_CITY = 150


@dataclass(frozen=True)
class Report:
    """One report as the duplicate detector sees it: `category` (None: never matched), `text`, point (WGS84
    degrees, None when unknown), `at` (aware), `reporter` key (None: unknown), `fallback` (its point is a
    city's stand-in for "unknown")."""

    key: str
    category: str | None
    text: str
    lat: float | None
    long: float | None
    at: datetime
    reporter: str | None = None
    fallback: bool = False


@dataclass(frozen=True)
class Judged:
    """A judged pair: `outcome` ``merge``, ``review`` or None; `why` a pair was not scored (``category``,
    ``place``, ``radius``, ``window``) or ``score``; `score` when scored."""

    outcome: str | None
    why: str
    score: float | None = None


PolicyFor = Callable[[str | None], DedupPolicy]

_NIL = UUID(int=0)
"""The case id a judged pair's candidate carries (pairs are judged alone, by key)."""


def judge(new: Report, old: Report, policy: DedupPolicy, similarity: float) -> Judged:
    """How the detector would judge `new` against the open case `old` (`similarity`: their text
    similarity): the same rules as `services.dedup` (category, known point, radius, window, score)."""
    if new.category is None or new.category != old.category:
        return Judged(None, "category")
    if None in (new.lat, new.long, old.lat, old.long) or new.fallback or old.fallback:
        return Judged(None, "place")
    d = distance_m(new.lat, new.long, old.lat, old.long)  # type: ignore[arg-type]
    if d > policy.radius_m:
        return Judged(None, "radius")
    if abs((new.at - old.at).total_seconds()) > policy.window_hours * 3600:
        return Judged(None, "window")
    cand = Candidate(case_id=_NIL, service_request_id=old.key, description=old.text, distance_m=d,
                     requested_datetime=old.at, reporter=old.reporter)
    match = score_pair(cand, similarity, policy, at=new.at, reporter=new.reporter)
    return Judged(verdict(match, policy), "score", match.score)


class _Texts:
    """Text similarity of reports by key, in batches: one `TextSimilarity` fitted on the set's texts."""

    def __init__(self, reports: Iterable[Report], history: Iterable[str] = ()) -> None:
        self.reports = {r.key: r for r in reports}
        keys = list(self.reports)
        self.sim = TextSimilarity.fit([*history, *(self.reports[k].text for k in keys)])
        self.row = {k: i for i, k in enumerate(keys)}
        self.x = self.sim.vectors([self.reports[k].text for k in keys]) if keys else None
        self.empty = {k for k in keys if not self.sim.has_words(self.reports[k].text)}

    def __call__(self, a: str, b: str) -> float:
        if a in self.empty or b in self.empty:
            return 0.5
        assert self.x is not None
        return self.sim.from_cosine(row_dot(self.x, self.row[a], self.row[b]))


@dataclass
class _Tally:
    name: str
    about: str
    positives: int = 0
    negatives: int = 0
    merged_pos: int = 0
    suggested_pos: int = 0
    merged_neg: int = 0
    suggested_neg: int = 0
    missed: dict[str, int] | None = None
    neg_scores: list[float] | None = None
    pos_scores: list[float] | None = None

    def add(self, judged: Judged, positive: bool) -> None:
        if positive:
            self.positives += 1
            self.merged_pos += judged.outcome == "merge"
            self.suggested_pos += judged.outcome == "review"
            if judged.outcome is None:
                self.missed = self.missed or {}
                self.missed[judged.why] = self.missed.get(judged.why, 0) + 1
            if judged.score is not None:
                self.pos_scores = [*(self.pos_scores or []), judged.score]
        else:
            self.negatives += 1
            self.merged_neg += judged.outcome == "merge"
            self.suggested_neg += judged.outcome == "review"
            if judged.score is not None:
                self.neg_scores = [*(self.neg_scores or []), judged.score]

    def report(self) -> dict[str, Any]:
        flagged_pos = self.merged_pos + self.suggested_pos
        flagged_neg = self.merged_neg + self.suggested_neg
        return {
            "set": self.name, "about": self.about, "positives": self.positives, "negatives": self.negatives,
            "auto_merged": {"positives": self.merged_pos, "negatives": self.merged_neg},
            "suggested": {"positives": self.suggested_pos, "negatives": self.suggested_neg},
            "recall_merged": _share(self.merged_pos, self.positives),
            "recall_flagged": _share(flagged_pos, self.positives),
            "precision_merged": _share(self.merged_pos, self.merged_pos + self.merged_neg),
            "precision_flagged": _share(flagged_pos, flagged_pos + flagged_neg),
            "missed_because": dict(sorted((self.missed or {}).items())),
        }


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


# -- reading ------------------------------------------------------------------------------------------


def _aware(value: str, zone: str = "UTC") -> datetime:
    at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return (at if at.tzinfo else at.replace(tzinfo=ZoneInfo(zone))).astimezone(UTC)


def _float(value: Any) -> float | None:
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if f == f and f != 0.0 else None


def _is_fallback_boston(lat: float | None, long: float | None) -> bool:
    return lat is not None and long is not None and distance_m(lat, long, *BOSTON_FALLBACK[:2]) <= BOSTON_FALLBACK[2]


def _open311(obj: dict[str, Any], key: str, fallback: Callable[[float | None, float | None], bool]) -> Report:
    lat, long = _float(obj.get("lat")), _float(obj.get("long"))
    return Report(key=key, category=obj.get("service_name") or obj.get("service_code"),
                  text=obj.get("description") or "", lat=lat, long=long, at=_aware(obj["requested_datetime"]),
                  fallback=fallback(lat, long))


def _record(rec: Any, key: str, fallback: Callable[[float | None, float | None], bool]) -> Report:
    return Report(key=key, category=rec.service_name, text=rec.description or "", lat=rec.lat, long=rec.long,
                  at=rec.requested_datetime, fallback=fallback(rec.lat, rec.long))


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _is_pairs_file(path: Path) -> bool:
    try:
        with path.open(encoding="utf-8") as handle:
            first = json.loads(handle.readline())
    except (OSError, ValueError, UnicodeDecodeError):
        return False
    return isinstance(first, dict) and {"duplicate", "original"} <= set(first)


# -- the sets -----------------------------------------------------------------------------------------


def boston_staff_pairs(root: Path, policy_for: PolicyFor, rng: random.Random, *,
                       keep_scores: bool = True) -> _Tally:
    """The main set (see the module docstring)."""
    pairs = _read_jsonl(root / PAIRS_FILE)
    sample = [_open311(o, f"s{i}", _is_fallback_boston) for i, o in enumerate(_read_jsonl(root / SAMPLE_FILE))]
    reports: list[Report] = []
    labelled: list[tuple[str, str]] = []
    for i, pair in enumerate(pairs):
        dup, orig = (_open311(pair["duplicate"], f"d{i}", _is_fallback_boston),
                     _open311(pair["original"], f"o{i}", _is_fallback_boston))
        reports += [dup, orig]
        labelled.append((dup.key, orig.key))
    negatives = _boston_negatives(sample, len(pairs), policy_for, rng)
    neg_reports = {r.key: r for pair in negatives for r in pair}
    texts = _Texts([*reports, *neg_reports.values()], history=[r.text for r in sample])
    tally = _Tally("boston_staff_pairs", "Boston staff-labelled duplicate pairs; negatives drawn from the "
                   "Boston requests sample (same category near in place, moved near in time; near in time, far "
                   "in place)", pos_scores=[] if keep_scores else None, neg_scores=[] if keep_scores else None)
    by_key = {r.key: r for r in reports}
    for new_key, old_key in labelled:
        new, old = by_key[new_key], by_key[old_key]
        tally.add(judge(new, old, policy_for(new.category), texts(new.key, old.key)), True)
    for new, old in negatives:
        tally.add(judge(new, old, policy_for(new.category), texts(new.key, old.key)), False)
    return tally


def _boston_negatives(sample: Sequence[Report], count: int, policy_for: PolicyFor,
                      rng: random.Random) -> list[tuple[Report, Report]]:
    """`count` negatives from the requests sample: half same category near in place (the second moved
    into the first half of the window after the first), half near in time far in place."""
    located = [r for r in sample if r.lat is not None and r.long is not None and not r.fallback and r.category]
    by_cat: dict[str, list[Report]] = defaultdict(list)
    for r in located:
        by_cat[r.category].append(r)  # type: ignore[index]
    arrays = {cat: np.radians(np.array([(r.lat, r.long) for r in rows])) for cat, rows in by_cat.items()}
    near: list[tuple[Report, Report]] = []
    far: list[tuple[Report, Report]] = []
    seen: set[frozenset[str]] = set()
    order = list(located)
    rng.shuffle(order)
    for a in order:
        if len(near) >= count // 2:
            break
        policy = policy_for(a.category)
        rows, points = by_cat[a.category], arrays[a.category]  # type: ignore[index]
        metres = _metres_from(a, points)
        metres[rows.index(a)] = np.inf
        b = rows[int(np.argmin(metres))]
        pair = frozenset((a.key, b.key))
        if pair in seen or distance_m(a.lat, a.long, b.lat, b.long) > policy.radius_m:  # type: ignore[arg-type]
            continue
        seen.add(pair)
        moved = replace(b, key=f"{b.key}@{a.key}",
                        at=a.at + timedelta(hours=rng.uniform(0, policy.window_hours / 2)))
        near.append((moved, a))
    for cat, rows in by_cat.items():
        rows.sort(key=lambda r: r.at)
        policy = policy_for(cat)
        span = timedelta(hours=policy.window_hours)
        for i, a in enumerate(rows):
            for b in rows[i + 1:]:
                if b.at - a.at > span:
                    break
                if distance_m(a.lat, a.long, b.lat, b.long) > policy.radius_m:  # type: ignore[arg-type]
                    far.append((b, a))
    rng.shuffle(far)
    return near + far[: count - len(near)]


def _metres_from(a: Report, points: Any) -> Any:
    """Great-circle distances (metres, haversine) from `a` to each row of `points` (radians: lat, long)."""
    lat, long = np.radians(a.lat), np.radians(a.long)  # type: ignore[arg-type]
    h = (np.sin((points[:, 0] - lat) / 2) ** 2
         + np.cos(lat) * np.cos(points[:, 0]) * np.sin((points[:, 1] - long) / 2) ** 2)
    return 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(h, 0, 1)))


def _grouped(reports: Sequence[Report], groups: Iterable[Iterable[str]], policy_for: PolicyFor, name: str,
             about: str) -> _Tally:
    """Positives: every pair inside a group; negatives: every other pair of one category within its
    radius and window (the only pairs the detector could flag)."""
    by_key = {r.key: r for r in reports}
    texts = _Texts(reports)
    tally = _Tally(name, about)
    positive: set[frozenset[str]] = set()
    for group in groups:
        members = sorted(set(group), key=lambda k: (by_key[k].at, k))
        for old, new in combinations(members, 2):
            positive.add(frozenset((old, new)))
            tally.add(judge(by_key[new], by_key[old], policy_for(by_key[new].category), texts(new, old)), True)
    by_cat: dict[str, list[Report]] = defaultdict(list)
    for r in reports:
        if r.category and r.lat is not None and r.long is not None and not r.fallback:
            by_cat[r.category].append(r)
    for cat, rows in by_cat.items():
        rows.sort(key=lambda r: (r.at, r.key))
        policy = policy_for(cat)
        span = timedelta(hours=policy.window_hours)
        for i, old in enumerate(rows):
            for new in rows[i + 1:]:
                if new.at - old.at > span:
                    break
                if frozenset((old.key, new.key)) in positive:
                    continue
                if distance_m(old.lat, old.long, new.lat, new.long) > policy.radius_m:  # type: ignore[arg-type]
                    continue
                tally.add(judge(new, old, policy, texts(new.key, old.key)), False)
    return tally


def boston_repeated_ids(root: Path, policy_for: PolicyFor) -> _Tally:
    """Boston's 20 repeated case ids (see the module docstring)."""
    from shared.records import records_for  # noqa: PLC0415

    records = list(records_for(root / REPEATED_IDS_FILE))
    reports = [_record(r, f"r{r.position}", _is_fallback_boston) for r in records]
    ids: dict[str, list[str]] = defaultdict(list)
    for r, rep in zip(records, reports, strict=True):
        ids[r.source_id].append(rep.key)
    groups = [keys for keys in ids.values() if len(keys) > 1]
    by_key = {r.key: r for r in reports}
    texts = _Texts(reports)
    tally = _Tally("boston_repeated_ids", "Boston's 20 case ids that appear twice (exact duplicates); negatives: "
                   "every pair of distinct ids in the file")
    in_group = {k for g in groups for k in g}
    for keys in groups:
        a, b = (by_key[k] for k in keys[:2])
        tally.add(judge(b, a, policy_for(b.category), texts(b.key, a.key)), True)
    distinct = [r for r in reports if r.key not in in_group] + [by_key[g[0]] for g in groups]
    for a, b in combinations(sorted(distinct, key=lambda r: (r.at, r.key)), 2):
        tally.add(judge(b, a, policy_for(b.category), texts(b.key, a.key)), False)
    return tally


def montreal_repeats(root: Path, policy_for: PolicyFor) -> _Tally:
    """Montréal repeat reports: same street, same local day, same category (see the module docstring)."""
    zone = ZoneInfo("America/Montreal")
    with (root / MONTREAL_FILE).open(encoding="utf-8") as handle:
        rows = json.load(handle)
    reports: list[Report] = []
    groups: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    for i, row in enumerate(rows):
        if not row.get("ID_UNIQUE"):
            continue  # "Information" records: no id, place or status
        at = datetime.fromisoformat(row["DDS_DATE_CREATION"]).replace(tzinfo=zone)
        lat, long = _float(row.get("LOC_LAT")), _float(row.get("LOC_LONG"))
        rep = Report(key=f"m{i}", category=row.get("ACTI_NOM") or None, text="", lat=lat, long=long,
                     at=at.astimezone(UTC), fallback=str(row.get("LOC_ERREUR_GDT", "")).strip() == "1")
        reports.append(rep)
        street = fold(row.get("RUE"))
        if street and rep.category:
            groups[(street, at.date().isoformat(), rep.category)].append(rep.key)
    return _grouped(reports, [g for g in groups.values() if len(g) > 1], policy_for, "montreal_repeats",
                    "Montréal rat reports of one street, one day and one category (repeat reports); negatives: "
                    "other pairs of one category within radius and window")


def _sms(text: str) -> str:
    first = re.split(r"(?<=[.!?])\s|\n", text.strip(), maxsplit=1)[0]
    if len(first) > SMS_CHARS:
        first = first[:SMS_CHARS].rsplit(" ", 1)[0]
    return first.lower()


def _offset(lat: float, long: float, metres: float, rng: random.Random) -> tuple[float, float]:
    """A point `metres` from (lat, long) in a random direction (degrees; flat-earth, for tens of metres)."""
    bearing = rng.uniform(0, 2 * math.pi)
    dlat = metres * math.cos(bearing) / 111_320
    dlong = metres * math.sin(bearing) / (111_320 * max(0.1, math.cos(math.radians(lat))))
    return lat + dlat, long + dlong


def cross_channel(root: Path, policy_for: PolicyFor, rng: random.Random) -> _Tally:
    """The same real record as an SMS and as an Open311 POST (see the module docstring)."""
    from shared.records import records_for  # noqa: PLC0415

    boston = [_record(r, f"b{r.position}", _is_fallback_boston)
              for r in records_for(root / SAMPLE_FILE, layout="boston_open311_jsonl")]
    vigilo = [_record(r, f"v{r.position}", lambda _a, _b: False)
              for r in records_for(root / VIGILO_FILE, layout="montpellier_vigilo")]
    posts: list[Report] = []
    for pool in (boston, vigilo):
        usable = [r for r in pool if len((r.text or "").strip()) >= 20 and r.lat is not None and not r.fallback
                  and r.category]
        posts += rng.sample(usable, min(CROSS_PER_CITY, len(usable)))
    pairs: list[tuple[Report, Report, bool]] = []
    sms: list[Report] = []
    for post in posts:
        lat, long = _offset(post.lat, post.long, rng.uniform(0, 25), rng)  # type: ignore[arg-type]
        text = _sms(post.text)
        sent = replace(post, key=f"sms-{post.key}", text=text, lat=lat, long=long,
                       at=post.at + timedelta(hours=rng.uniform(0, 6)))
        sms.append(sent)
        pairs.append((sent, post, True))
    by_cat: dict[str, list[Report]] = defaultdict(list)
    for post in posts:
        by_cat[post.category].append(post)  # type: ignore[index]
    for sent, post, _ in list(pairs):
        others = [o for o in by_cat[post.category] if o.key != post.key]  # type: ignore[index]
        if others:
            other = rng.choice(others)
            placed = replace(other, key=f"{other.key}@{post.key}", lat=post.lat, long=post.long, at=post.at)
            sms.append(placed)
            pairs.append((sent, placed, False))
    texts = _Texts([*posts, *sms], history=[r.text for r in (*boston, *vigilo)])
    tally = _Tally("cross_channel", "one real record sent as an SMS and as an Open311 POST (150 Boston, 150 "
                   "Montpellier); negatives: the SMS against another record of its category at the same point")
    for new, old, positive in pairs:
        tally.add(judge(new, old, policy_for(new.category), texts(new.key, old.key)), positive)
    return tally


def negatives_one_point(root: Path, policy_for: PolicyFor, rng: random.Random) -> list[_Tally]:
    """Twenty categories at one point; one category at one point with unrelated texts."""
    from shared.records import records_for  # noqa: PLC0415

    at = datetime(2024, 6, 1, 12, tzinfo=UTC)
    lat, long = 42.3500, -71.0700
    records = list(records_for(root / BOSTON_100_FILE))
    by_cat: dict[str, Any] = {}
    for r in records:
        if r.service_name and r.service_name not in by_cat:
            by_cat[r.service_name] = r
    twenty = [Report(key=f"c{i}", category=r.service_name, text=r.description or "", lat=lat, long=long, at=at)
              for i, r in enumerate(list(by_cat.values())[:20])]
    texts = _Texts(twenty)
    cats = _Tally("twenty_categories_one_point", f"{len(twenty)} records of {len(twenty)} different categories "
                  "at one point and one instant: none may merge")
    for a, b in combinations(twenty, 2):
        cats.add(judge(b, a, policy_for(b.category), texts(b.key, a.key)), False)
    sample = [r for r in records_for(root / SAMPLE_FILE, layout="boston_open311_jsonl") if r.description]
    by_service: dict[str, list[Any]] = defaultdict(list)
    for r in sample:
        by_service[r.service_name].append(r)
    chosen = [(service, r) for service in sorted(by_service) for r in rng.sample(by_service[service], 4)]
    one = [Report(key=f"u{i}", category="one-category", text=r.description, lat=lat, long=long, at=at)
           for i, (_, r) in enumerate(chosen)]
    texts = _Texts(one, history=[r.description for r in sample])
    unrelated = _Tally("one_category_unrelated_texts", f"{len(one)} requests of the Boston sample (4 of each of "
                       "its services) given one category, at one point and one instant; the pairs whose texts "
                       "come from different services: none may be auto-merged")
    for (sa, a), (sb, b) in combinations(zip([s for s, _ in chosen], one, strict=True), 2):
        if sa != sb:
            unrelated.add(judge(b, a, policy_for("one-category"), texts(b.key, a.key)), False)
    return [cats, unrelated]


def derived_labels(path: Path, policy_for: PolicyFor, *, layout: str | None, jurisdiction: Any) -> _Tally:
    """A file's own labels: repeated ids, and one category on one street on one local day."""
    from shared.records import records_for  # noqa: PLC0415

    zone = ZoneInfo(getattr(jurisdiction, "timezone", None) or "UTC")
    is_fallback = _fallback_for(jurisdiction)
    records = list(records_for(path, layout=layout, jurisdiction=jurisdiction))
    reports = [_record(r, f"r{r.position}", is_fallback) for r in records]
    groups: dict[tuple[str, ...], list[str]] = defaultdict(list)
    for r, rep in zip(records, reports, strict=True):
        if r.source_id:
            groups[("id", r.source_id)].append(rep.key)
        street = _street(r.address_string)
        if street and rep.category:
            groups[("street", street, rep.at.astimezone(zone).date().isoformat(), rep.category)].append(rep.key)
    return _grouped(reports, [g for g in groups.values() if len(g) > 1], policy_for, path.name,
                    "derived labels: records with the same id, and of one category on one street on one local "
                    "day, are positives; other pairs of one category within radius and window are negatives")


def labelled_pairs(path: Path, policy_for: PolicyFor, jurisdiction: Any) -> _Tally:
    """A file of ``{"duplicate": …, "original": …}`` Open311 pairs: positives only."""
    is_fallback = _fallback_for(jurisdiction)
    pairs = _read_jsonl(path)
    reports: list[tuple[Report, Report]] = [
        (_open311(p["duplicate"], f"d{i}", is_fallback), _open311(p["original"], f"o{i}", is_fallback))
        for i, p in enumerate(pairs)]
    texts = _Texts([r for pair in reports for r in pair])
    tally = _Tally(path.name, "labelled duplicate pairs (positives only)")
    for new, old in reports:
        tally.add(judge(new, old, policy_for(new.category), texts(new.key, old.key)), True)
    return tally


_STREET_NUMBER = re.compile(r"^\s*[\d\-–/ ]+[a-z]?\b\s*", re.IGNORECASE)


def _street(address: str | None) -> str | None:
    """The street of an address: folded, without its house number or a trailing ", city" part."""
    if not address:
        return None
    street = fold(_STREET_NUMBER.sub("", address.split(",")[0]))
    return street or None


def _fallback_for(jurisdiction: Any) -> Callable[[float | None, float | None], bool]:
    def is_fallback(lat: float | None, long: float | None) -> bool:
        if lat is None or long is None:
            return False
        if jurisdiction is None:
            return False
        return jurisdiction.fallback_location(lat, long) is not None

    return is_fallback


def _policies(jurisdiction: Any, merge: float | None, review: float | None) -> PolicyFor:
    """Policy per category name: the jurisdiction's service of that name (or code), else its defaults."""
    from shared.jurisdiction import DedupPolicy as Spec  # noqa: PLC0415

    codes: dict[str, str] = {}
    if jurisdiction is not None:
        for s in jurisdiction.services:
            codes[fold(s.service_name)] = s.service_code
            codes[fold(s.service_code)] = s.service_code

    def policy_for(category: str | None) -> DedupPolicy:
        if jurisdiction is not None:
            code = codes.get(fold(category)) if category else None
            spec = jurisdiction.dedup_policy(code) if code else jurisdiction.unclassified.dedup
        else:
            spec = Spec(radius_m=50, window_hours=72)
        m = spec.merge_threshold if merge is None else merge
        r = spec.review_threshold if review is None else review
        return DedupPolicy(radius_m=spec.radius_m, window_hours=spec.window_hours, threshold=m,
                           review_threshold=min(r, m))

    return policy_for


def _sweep(tally: _Tally) -> list[dict[str, Any]]:
    """Auto-merge precision and recall of the set at other merge thresholds (same scores)."""
    pos, neg = tally.pos_scores or [], tally.neg_scores or []
    rows = []
    for t in SWEEP:
        tp, fp = sum(s >= t for s in pos), sum(s >= t for s in neg)
        rows.append({"merge_threshold": t, "recall": _share(tp, tally.positives),
                     "precision": _share(tp, tp + fp)})
    return rows


def evaluate_dedup(path: str | Path | None = None, *, layout: str | None = None, jurisdiction: Any = None,
                   data_root: str | Path | None = None, seed: int = SEED, merge_threshold: float | None = None,
                   review_threshold: float | None = None) -> dict[str, Any]:
    """The dedup section of the replay report and of `make bench`.

    Without `path`: the documented label sets read under `data_root` (default ``$OMNI311_SHARED_DATA``);
    with it, the labels that file gives (labelled pairs, or derived labels). `jurisdiction`: a loaded
    `Jurisdiction`, its id or path (thresholds, radius and window per category; fallback points);
    `merge_threshold`/`review_threshold` override every category's. Returns ``{"sets": [...], "totals":
    {...}, "sweep": [...], "thresholds": {...}, "seed": seed}``; each set as `_Tally.report`.

    Raises:
        ReplayFormatError: FILE in no known layout. FileNotFoundError: a file is missing.
    """
    from shared.jurisdiction import load_jurisdiction, shared_data_root  # noqa: PLC0415

    if isinstance(jurisdiction, (str, Path)):
        jurisdiction = load_jurisdiction(jurisdiction)
    policy_for = _policies(jurisdiction, merge_threshold, review_threshold)
    rng = random.Random(seed)
    sweep: list[dict[str, Any]] = []
    if path is None:
        root = Path(data_root) if data_root is not None else shared_data_root()
        main = boston_staff_pairs(root, policy_for, rng)
        sweep = _sweep(main)
        tallies = [main, boston_repeated_ids(root, policy_for), montreal_repeats(root, policy_for),
                   cross_channel(root, policy_for, rng), *negatives_one_point(root, policy_for, rng)]
    else:
        file = Path(path)
        if not file.exists():
            raise FileNotFoundError(f"{file}: no such file")
        if _is_pairs_file(file):
            tallies = [labelled_pairs(file, policy_for, jurisdiction)]
        else:
            tallies = [derived_labels(file, policy_for, layout=layout, jurisdiction=jurisdiction)]
    sets = [t.report() for t in tallies]
    default = policy_for(None)
    return {
        "sets": sets,
        "totals": {"auto_merged": sum(t.merged_pos + t.merged_neg for t in tallies),
                   "suggested": sum(t.suggested_pos + t.suggested_neg for t in tallies)},
        "sweep": sweep,
        "thresholds": {"merge_threshold": default.threshold, "review_threshold": default.review_threshold,
                       "radius_m": default.radius_m, "window_hours": default.window_hours,
                       "per_category": jurisdiction is not None},
        "seed": seed,
    }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """FILE (optional), --layout, --jurisdiction, --seed, --merge-threshold, --review-threshold."""
    parser.add_argument("file", nargs="?", help="an export in a known layout, or a JSONL of labelled pairs; "
                        "without it, the documented label sets under $OMNI311_SHARED_DATA")
    parser.add_argument("--layout", help="a built-in layout name or a layout YAML file")
    parser.add_argument("--jurisdiction", help="jurisdiction id or path (thresholds per category, fallback points)")
    parser.add_argument("--seed", type=int, default=SEED, help=f"seed of every draw (default {SEED})")
    parser.add_argument("--merge-threshold", type=float, help="override every category's merge threshold")
    parser.add_argument("--review-threshold", type=float, help="override every category's review threshold")


def run(args: argparse.Namespace) -> dict[str, Any]:
    """The JSON report of `evaluate_dedup` for the parsed arguments."""
    return evaluate_dedup(args.file, layout=args.layout, jurisdiction=args.jurisdiction, seed=args.seed,
                          merge_threshold=args.merge_threshold, review_threshold=args.review_threshold)


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"


def render(report: dict[str, Any]) -> str:
    """The report as a plain-text table: one row per set, then the sweep."""
    t = report["thresholds"]
    lines = [f"dedup: merge at >= {t['merge_threshold']}, suggest at >= {t['review_threshold']}, radius "
             f"{t['radius_m']} m, window {t['window_hours']} h{' (per category)' if t['per_category'] else ''}; "
             f"seed {report['seed']}", "",
             f"{'set':<30} {'pos':>5} {'neg':>5} {'merged+/-':>10} {'sugg.+/-':>10} {'recall':>7} "
             f"{'rec.flag':>8} {'prec.':>7} {'prec.flag':>9}"]
    for s in report["sets"]:
        merged = f"{s['auto_merged']['positives']}/{s['auto_merged']['negatives']}"
        suggested = f"{s['suggested']['positives']}/{s['suggested']['negatives']}"
        lines.append(f"{s['set']:<30} {s['positives']:>5} {s['negatives']:>5} {merged:>10} {suggested:>10} "
                     f"{_pct(s['recall_merged']):>7} {_pct(s['recall_flagged']):>8} "
                     f"{_pct(s['precision_merged']):>7} {_pct(s['precision_flagged']):>9}")
    lines += ["", f"auto-merged {report['totals']['auto_merged']}, suggested {report['totals']['suggested']}"]
    for s in report["sets"]:
        if s["missed_because"]:
            lines.append(f"{s['set']}: positives missed because " + ", ".join(
                f"{why} {n}" for why, n in s["missed_because"].items()))
    if report["sweep"]:
        lines += ["", "boston_staff_pairs, auto-merge at other thresholds:"]
        lines += [f"  >= {r['merge_threshold']:.2f}: recall {_pct(r['recall'])}, precision {_pct(r['precision'])}"
                  for r in report["sweep"]]
    return "\n".join(lines)
