"""What the duplicate detector decides, as pure functions: which point counts, where and when to look for
a match, what the projection keeps of a case, the `dedup.decided` (merge) or `dedup.suggested` (staff
review) it announces, and what a merge, an unmerge or a status change means for whether a case can still
be matched."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

from services.dedup.domain.scoring import DedupPolicy, Match
from shared.events import CaseMerged, CaseRouted, CaseStatusChanged, CaseUnmerged, DedupDecided, DedupSuggested

CANDIDATE_LIMIT = 50
"""At most this many open cases, nearest first, are scored against a new one."""

PolicyFor = Callable[[str], DedupPolicy]
"""`policy_for(service_code)`: the category's radius (metres), window (hours) and threshold."""
IsFallback = Callable[[float, float], bool]
"""`is_fallback(lat, long)`: whether a point is a jurisdiction's stand-in for "location unknown"."""

ANONYMOUS_KEY_PREFIX = "ck_anon_"
"""The prefix of a contact key derived from one message rather than from a reporter's identifier
(`shared.contacts.anonymous_contact_key`): it names nobody, so it is an unknown reporter."""

_EARLIEST = datetime.min.replace(tzinfo=UTC)
_LATEST = datetime.max.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Point:
    """A WGS 84 point, degrees."""

    lat: float
    long: float


@dataclass(frozen=True)
class Search:
    """Where to look for a match of `case_id`: located cases of `service_code` within `radius_m` metres of
    `point`, requested in [`since`, `until`] (inclusive), other than the case itself, that are open and
    duplicate nothing, or were merged into an incident whose surviving case is open (and is not the case
    itself); the `limit` nearest."""

    case_id: UUID
    service_code: str
    point: Point
    radius_m: float
    since: datetime
    until: datetime
    limit: int = CANDIDATE_LIMIT


@dataclass(frozen=True)
class ProjectedCase:
    """A case as the projection keeps it. `point` is None when its location is unknown (no point, or a
    jurisdiction's stand-in point); `duplicate_of` is the case it was found to duplicate, if any;
    `reporter` the contact key of the reporter who opened it (`known_reporter`; None: unknown)."""

    case_id: UUID
    service_request_id: str
    service_code: str
    description: str
    point: Point | None
    requested_datetime: datetime
    duplicate_of: UUID | None
    reporter: str | None = None

    @property
    def location_known(self) -> bool:
        """Whether the case has a point to be matched by (the projection's `location_known`)."""
        return self.point is not None


@dataclass(frozen=True)
class TargetChange:
    """What a lifecycle event changes in the projection: whether the case is `open` (an open case without
    `duplicate_of` can be matched) and, when not None, the case it now duplicates (None: unchanged);
    `clear_duplicate` forgets what it duplicated (an unmerge)."""

    case_id: UUID
    open: bool
    duplicate_of: UUID | None = None
    clear_duplicate: bool = False


def known_point(lat: float | None, long: float | None, is_fallback: IsFallback) -> Point | None:
    """The case's point when its location is known: both coordinates present and not a jurisdiction's
    "unknown location" stand-in (`is_fallback(lat, long)`, e.g. a city hall pin); else None."""
    if lat is None or long is None or is_fallback(lat, long):
        return None
    return Point(lat, long)


def known_reporter(contact_key: str | None) -> str | None:
    """The reporter a contact key names, for the "same reporter" lift: the key itself, or None (unknown)
    when there is none (a `case.routed` from before the key was added), it is blank, or it is anonymous
    (`ANONYMOUS_KEY_PREFIX`). Two unknown reporters are never the same one."""
    if contact_key is None or not contact_key.strip() or contact_key.startswith(ANONYMOUS_KEY_PREFIX):
        return None
    return contact_key


def window(at: datetime, hours: float) -> tuple[datetime, datetime]:
    """[at - hours, at + hours], clamped to the representable range (a year-1 or year-9999 time)."""
    span = timedelta(hours=hours)
    low = at - span if at - _EARLIEST > span else _EARLIEST
    high = at + span if _LATEST - at > span else _LATEST
    return low, high


def search_for(routed: CaseRouted, point: Point, policy: DedupPolicy) -> Search:
    """Where to look for a case that `routed` duplicates: its category, the category's radius around its
    point and its window (hours either side of its opening time)."""
    since, until = window(routed.requested_datetime, policy.window_hours)
    return Search(case_id=routed.case_id, service_code=routed.routing.service_code, point=point,
                  radius_m=policy.radius_m, since=since, until=until)


def projected(routed: CaseRouted, point: Point | None, match: Match | None) -> ProjectedCase:
    """What the projection keeps of a routed case (a stand-in point is not kept; an anonymous contact key is
    kept as unknown, `known_reporter`)."""
    return ProjectedCase(
        case_id=routed.case_id, service_request_id=routed.service_request_id,
        service_code=routed.routing.service_code, description=routed.description, point=point,
        requested_datetime=routed.requested_datetime,
        duplicate_of=match.candidate.survivor if match else None, reporter=known_reporter(routed.contact_key),
    )


def decision(routed: CaseRouted, match: Match, policy: DedupPolicy) -> DedupDecided:
    """The `dedup.decided` for a match: the case joins the incident (`duplicate_of` is the surviving case:
    the match itself, or the case it was merged into, following the chain). Score and text similarity
    rounded to 4 places, distance (to the matched case) to centimetres (2 places), the policy it was decided
    under, and the evidence the case service logs: closeness in distance and time, whether the reporter
    is the same, and, when the match was a merged case, which one (`matched_service_request_id`)."""
    cand = match.candidate
    evidence: dict[str, object] = {
        "service_code": routed.routing.service_code,
        "duplicate_of_service_request_id": cand.survivor_service_request_id,
        "distance_score": round(match.distance_score, 4)}
    if match.time_score is not None:
        evidence["time_score"] = round(match.time_score, 4)
    if match.same_reporter:
        evidence["same_reporter"] = True
    if cand.incident_id is not None:
        evidence["matched_service_request_id"] = cand.service_request_id
    return DedupDecided(
        case_id=routed.case_id, duplicate_of=cand.survivor, score=round(match.score, 4),
        distance_m=round(cand.distance_m, 2), text_similarity=round(match.text_similarity, 4),
        window_hours=policy.window_hours, radius_m=policy.radius_m, evidence=evidence,
    )


def suggestion(routed: CaseRouted, match: Match, policy: DedupPolicy) -> DedupSuggested:
    """The `dedup.suggested` for a match staff should review (score from the review threshold up to the
    merge threshold): the same measures as :func:`decision`, and both thresholds."""
    decided = decision(routed, match, policy)
    return DedupSuggested(**decided.model_dump(), review_threshold=policy.review_threshold,
                          merge_threshold=policy.threshold)


def after_merge(merged: CaseMerged) -> TargetChange:
    """A merged case is closed and duplicates the case it was merged into: never a target again."""
    return TargetChange(case_id=merged.case_id, open=False, duplicate_of=merged.merged_into)


def after_status_change(changed: CaseStatusChanged) -> TargetChange:
    """A closed case is no target; a reopened one is again (unless it was found to duplicate another)."""
    return TargetChange(case_id=changed.case_id, open=changed.status == "open")


def after_unmerge(unmerged: CaseUnmerged) -> TargetChange:
    """An unmerged case is its own again: it duplicates nothing and, when open, can be matched by later cases."""
    return TargetChange(case_id=unmerged.case_id, open=unmerged.status == "open", clear_duplicate=True)


def unmerged_pair(unmerged: CaseUnmerged) -> tuple[UUID, UUID]:
    """The pair staff separated, in a stable order (the smaller id first), so either way round is one pair."""
    a, b = unmerged.case_id, unmerged.unmerged_from
    return (a, b) if str(a) <= str(b) else (b, a)
