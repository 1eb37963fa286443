"""Dedup handlers on an in-memory unit of work: a routed case is projected and matched against open cases
of its kind nearby and alike (merged when sure, suggested to staff when not); merges, unmerges and status
changes decide which cases can still be matched; replays change nothing; a failure leaves nothing behind."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest

from services.dedup.adapters.repository import lock_keys
from services.dedup.config import jurisdiction_rules
from services.dedup.domain import Candidate, ProjectedCase, Search, TargetChange
from services.dedup.service_layer import handlers as h
from shared.events import (
    CaseMerged,
    CaseOpened,
    CaseRouted,
    CaseStatusChanged,
    CaseUnmerged,
    DedupDecided,
    DedupSuggested,
    RoutingFields,
)
from shared.jurisdiction import distance_m, load_jurisdiction
from shared.kafka import Delivery
from shared.service_layer import dispatch_batch
from support.uow import T0, FakeStore, event

HERE = (45.415, -75.70)
TEN_M_NORTH = (45.415 + 0.00009, -75.70)      # about 10 m from HERE
TEN_M_SOUTH = (45.415 - 0.00009, -75.70)
TWENTY_M_NORTH = (45.415 + 0.00018, -75.70)   # about 20 m: there the words decide
TWENTY_EIGHT_M_NORTH = (45.415 + 0.000252, -75.70)  # about 28 m: near the edge of the pothole radius
FORTY_M_NORTH = (45.415 + 0.00036, -75.70)    # about 40 m from HERE: outside the pothole radius (30 m)
CITY_HALL = (45.4175, -75.68)                  # the demo jurisdiction's "unknown location" point
POTHOLE_TEXT = "deep pothole in the right lane"


class FakeDedupRepository:
    """`DedupRepository` in memory: the projection (case_id -> row), the decision log, the locks taken (one
    entry per `lock_categories` call: the codes asked for, and how many cases were projected then) and the
    searches asked for. Distances are great-circle (haversine), as near to PostGIS as a fake needs."""

    def __init__(self) -> None:
        self.cases: dict[UUID, dict[str, Any]] = {}
        self.decisions: dict[UUID, dict[str, Any]] = {}
        self.locks: list[tuple[list[str], int]] = []
        self.searches: list[Search] = []
        self.unmerged: dict[tuple[UUID, UUID], dict[str, Any]] = {}

    async def lock_categories(self, service_codes: Iterable[str]) -> None:
        self.locks.append((list(service_codes), len(self.cases)))

    def _root(self, row: dict[str, Any]) -> dict[str, Any] | None:
        """The surviving case of the incident a merged case belongs to (the end of its chain)."""
        for _ in range(32):
            nxt = self.cases.get(row["duplicate_of"])
            if nxt is None:
                return None
            if nxt["duplicate_of"] is None:
                return nxt
            row = nxt
        return None

    async def candidates(self, search: Search) -> list[Candidate]:
        self.searches.append(search)
        found = []
        for row in self.cases.values():
            case: ProjectedCase = row["case"]
            if (case.point is None or case.service_code != search.service_code or case.case_id == search.case_id
                    or not search.since <= case.requested_datetime <= search.until):
                continue
            incident = None
            if row["duplicate_of"] is not None:
                root = self._root(row)
                if root is None or not root["open"] or root["case"].case_id == search.case_id:
                    continue
                incident = root["case"]
            elif not row["open"]:
                continue
            d = distance_m(search.point.lat, search.point.long, case.point.lat, case.point.long)
            if d <= search.radius_m:
                found.append(Candidate(case_id=case.case_id, service_request_id=case.service_request_id,
                                       description=case.description, distance_m=d,
                                       requested_datetime=case.requested_datetime, reporter=case.reporter,
                                       incident_id=incident.case_id if incident else None,
                                       incident_service_request_id=incident.service_request_id if incident else None))
        return sorted(found, key=lambda c: (c.distance_m, str(c.case_id)))[:search.limit]

    async def project(self, case: ProjectedCase) -> None:
        row = self.cases.get(case.case_id)
        if row is None:
            self.cases[case.case_id] = {"case": case, "open": True, "duplicate_of": case.duplicate_of}
        else:  # routed again: category, text and place replaced, a known reporter too; open, opening time
            # and duplicate_of kept
            row["case"] = replace(row["case"], service_code=case.service_code, description=case.description,
                                  point=case.point, reporter=case.reporter or row["case"].reporter)

    async def add_decision(self, decided: DedupDecided | DedupSuggested, *, decided_at: datetime,
                           event_id: UUID) -> None:
        kind = "suggestion" if isinstance(decided, DedupSuggested) else "merge"
        self.decisions.setdefault(decided.case_id, {"decided": decided, "decided_at": decided_at,
                                                    "event_id": event_id, "kind": kind})

    async def change_target(self, change: TargetChange) -> None:
        row = self.cases.get(change.case_id)
        if row is not None:
            row["open"] = change.open
            if change.clear_duplicate:
                row["duplicate_of"] = None
            elif change.duplicate_of is not None:
                row["duplicate_of"] = change.duplicate_of

    async def remember_unmerge(self, pair: tuple[UUID, UUID], *, unmerged_at: datetime, event_id: UUID) -> None:
        assert str(pair[0]) < str(pair[1])
        self.unmerged.setdefault(pair, {"unmerged_at": unmerged_at, "event_id": event_id})

    async def unmerged_with(self, case_id: UUID) -> set[UUID]:
        return {b if a == case_id else a for a, b in self.unmerged if case_id in (a, b)}


@pytest.fixture(scope="module")
def table() -> Any:
    return h.handlers(*jurisdiction_rules(load_jurisdiction("demo")))


@pytest.fixture
def store() -> FakeStore[FakeDedupRepository]:
    return FakeStore(FakeDedupRepository(), "dedup")


_n = iter(range(1, 10_000))


def routed(at: tuple[float | None, float | None] | None = HERE, *, code: str = "pothole", text: str = POTHOLE_TEXT,
           requested: datetime = T0, contact_key: str | None = None) -> CaseRouted:
    lat, long = at if at is not None else (None, None)
    routing = RoutingFields(service_code=code, service_name=code, category_source="service_code",
                            agency_responsible="Public Works", queue="roads", priority=3, rule_id="default",
                            config_version="test")
    return CaseRouted(case_id=uuid4(), service_request_id=f"DEMO-26-{next(_n):06d}",
                      jurisdiction_id="demo", routing=routing, description=text, lat=lat, long=long,
                      requested_datetime=requested, contact_key=contact_key)


async def route(store: Any, table: Any, case: CaseRouted) -> str | None:
    return await store.handle(table, event(case, subject=case.case_id))


def lifecycle(case: CaseRouted) -> dict[str, Any]:
    return {"case_id": case.case_id, "service_request_id": case.service_request_id, "jurisdiction_id": "demo"}


async def test_a_case_with_no_similar_neighbour_is_unique_and_projected_as_an_open_target(store: Any,
                                                                                         table: Any) -> None:
    case = routed()

    assert await route(store, table, case) == "unique"

    row = store.repo.cases[case.case_id]
    assert row["open"] and row["duplicate_of"] is None
    assert row["case"].location_known and (row["case"].point.lat, row["case"].point.long) == HERE
    assert store.emitted() == [] and store.repo.decisions == {}


async def test_a_near_alike_case_of_the_same_kind_is_announced_as_a_duplicate(store: Any, table: Any) -> None:
    first = routed(HERE)
    await route(store, table, first)
    second = routed(TEN_M_NORTH, text="pothole, right lane, very deep", requested=T0 + timedelta(hours=2))
    env = event(second, subject=second.case_id)

    assert await store.handle(table, env) == "duplicate_found"

    [out] = store.emitted("dedup.decided")
    decided = out.payload(DedupDecided)
    assert decided.case_id == second.case_id and decided.duplicate_of == first.case_id
    assert out.causation_id == env.event_id and out.correlation_id == env.correlation_id
    assert out.subject == str(second.case_id) and out.producer == "dedup"
    assert 9 < decided.distance_m < 11 and decided.distance_m == round(decided.distance_m, 2)
    assert decided.radius_m == 30 and decided.window_hours == 336 and decided.score >= 0.55
    assert decided.evidence["duplicate_of_service_request_id"] == first.service_request_id
    assert decided.evidence["service_code"] == "pothole"
    logged = store.repo.decisions[second.case_id]
    assert logged["event_id"] == env.event_id and logged["decided_at"] == T0 and logged["decided"] == decided
    assert store.repo.cases[second.case_id]["duplicate_of"] == first.case_id


@pytest.mark.parametrize("at", [CITY_HALL, None, (HERE[0], None)], ids=["fallback_point", "no_point", "lat_only"])
async def test_a_case_without_a_known_point_is_never_matched_and_projected_as_location_unknown(
        store: Any, table: Any, at: Any) -> None:
    earlier = routed(at)
    assert await route(store, table, earlier) == "unique"
    later = routed(at)

    assert await route(store, table, later) == "unique"

    for case in (earlier, later):
        projected = store.repo.cases[case.case_id]["case"]
        assert not projected.location_known and projected.point is None
    assert store.repo.searches == [] and store.emitted() == []


async def test_a_known_point_near_a_case_of_unknown_location_does_not_match_it(store: Any, table: Any) -> None:
    await route(store, table, routed(CITY_HALL, code="noise", text="loud music"))
    fifty_m_away = (CITY_HALL[0] + 0.00045, CITY_HALL[1])  # outside the stand-in's 25 m, inside noise's 100 m

    assert await route(store, table, routed(fifty_m_away, code="noise", text="loud music")) == "unique"
    assert len(store.repo.searches) == 1


@pytest.mark.parametrize("later", [
    {"at": FORTY_M_NORTH},
    {"requested": T0 + timedelta(hours=337)},
    {"requested": T0 - timedelta(hours=337)},
    {"code": "streetlight"},
    {"at": TWENTY_EIGHT_M_NORTH, "text": "dog barking all night long next door"},
], ids=["outside_radius", "after_window", "before_window", "other_kind", "unlike_words_near_the_edge"])
async def test_a_case_outside_the_radius_window_kind_or_words_is_unique(store: Any, table: Any,
                                                                        later: dict[str, Any]) -> None:
    await route(store, table, routed(HERE))

    assert await route(store, table, routed(**{"at": HERE, **later})) == "unique"
    assert store.emitted() == []


async def test_at_twenty_metres_alike_words_still_make_a_duplicate(store: Any, table: Any) -> None:
    await route(store, table, routed(HERE))

    assert await route(store, table, routed(TWENTY_M_NORTH, text="Deep pothole, right lane!")) == "duplicate_found"


async def test_the_search_asks_for_the_categorys_radius_and_window_around_the_case(store: Any, table: Any) -> None:
    case = routed(TEN_M_NORTH, code="noise")
    await route(store, table, case)

    [search] = store.repo.searches
    assert search.service_code == "noise" and search.radius_m == 100 and search.case_id == case.case_id
    assert (search.since, search.until) == (T0 - timedelta(hours=6), T0 + timedelta(hours=6))
    assert (search.point.lat, search.point.long) == TEN_M_NORTH and search.limit == 50


async def test_the_same_event_twice_is_decided_once(store: Any, table: Any) -> None:
    await route(store, table, routed(HERE))
    second = routed(TEN_M_NORTH)
    env = event(second, subject=second.case_id)
    assert await store.handle(table, env) == "duplicate_found"

    assert await store.handle(table, env) == "duplicate"
    assert len(store.emitted("dedup.decided")) == 1


async def test_a_case_found_to_be_a_duplicate_is_not_itself_a_target(store: Any, table: Any) -> None:
    first = routed(HERE)
    await route(store, table, first)
    await route(store, table, routed(TEN_M_NORTH))

    third = routed(TEN_M_NORTH)
    assert await route(store, table, third) == "duplicate_found"
    assert store.emitted()[-1].payload(DedupDecided).duplicate_of == first.case_id


def merged_event(case: CaseRouted, into: CaseRouted) -> CaseMerged:
    return CaseMerged(**lifecycle(case), merged_into=into.case_id,
                      merged_into_service_request_id=into.service_request_id, status_notes="Duplicate")


async def test_a_report_near_a_merged_case_joins_the_incident_it_was_merged_into(store: Any, table: Any) -> None:
    survivor, merged = routed(FORTY_M_NORTH), routed(HERE)
    await route(store, table, survivor)
    await route(store, table, merged)

    assert await store.handle(table, event(merged_event(merged, survivor), subject=merged.case_id)) == "closed"

    row = store.repo.cases[merged.case_id]
    assert not row["open"] and row["duplicate_of"] == survivor.case_id
    # 10 m from the merged case, 30 m from the survivor (beyond the pothole radius from it): it joins the
    # incident, whose surviving case is the one that stays open.
    assert await route(store, table, routed(TEN_M_NORTH)) == "duplicate_found"
    decided = store.emitted()[-1].payload(DedupDecided)
    assert decided.duplicate_of == survivor.case_id
    assert decided.evidence["duplicate_of_service_request_id"] == survivor.service_request_id
    assert decided.evidence["matched_service_request_id"] == merged.service_request_id


async def test_a_chain_of_merges_is_followed_to_its_surviving_case_and_a_closed_incident_takes_no_one(
        store: Any, table: Any) -> None:
    a, b, c = routed(HERE), routed(TWENTY_EIGHT_M_NORTH), routed(FORTY_M_NORTH)
    for case in (c, b, a):
        await route(store, table, case)
    await store.handle(table, event(merged_event(a, b)))
    await store.handle(table, event(merged_event(b, c)))

    assert await route(store, table, routed(TEN_M_SOUTH)) == "duplicate_found"
    assert store.emitted()[-1].payload(DedupDecided).duplicate_of == c.case_id

    await store.handle(table, event(CaseStatusChanged(**lifecycle(c), status="closed")))
    assert await route(store, table, routed(TEN_M_SOUTH, text="deep pothole, right lane")) == "unique"


async def test_a_closed_case_is_no_target_until_it_is_reopened(store: Any, table: Any) -> None:
    case = routed(HERE)
    await route(store, table, case)

    closed = CaseStatusChanged(**lifecycle(case), status="closed")
    assert await store.handle(table, event(closed, subject=case.case_id)) == "closed"
    assert await route(store, table, routed(TEN_M_SOUTH)) == "unique"

    reopened = CaseStatusChanged(**lifecycle(case), status="open")
    assert await store.handle(table, event(reopened, subject=case.case_id)) == "open"
    assert await route(store, table, routed(HERE)) == "duplicate_found"  # the reopened case is the nearer
    assert store.emitted()[-1].payload(DedupDecided).duplicate_of == case.case_id


async def test_a_reopened_merged_case_stays_in_its_incident_and_is_no_target_of_its_own(store: Any,
                                                                                      table: Any) -> None:
    survivor, merged = routed(FORTY_M_NORTH), routed(HERE)
    for c in (survivor, merged):
        await route(store, table, c)
    await store.handle(table, event(merged_event(merged, survivor)))
    await store.handle(table, event(CaseStatusChanged(**lifecycle(merged), status="open")))

    row = store.repo.cases[merged.case_id]
    assert row["open"] and row["duplicate_of"] == survivor.case_id
    assert await route(store, table, routed(TEN_M_NORTH)) == "duplicate_found"
    assert store.emitted()[-1].payload(DedupDecided).duplicate_of == survivor.case_id


async def test_a_status_change_for_a_case_never_projected_changes_nothing(store: Any, table: Any) -> None:
    case = routed()
    closed = CaseStatusChanged(**lifecycle(case), status="closed")

    assert await store.handle(table, event(closed)) == "closed"
    assert store.repo.cases == {} and store.emitted() == []


async def test_a_case_routed_again_with_the_place_it_lacked_is_matched_there(store: Any, table: Any) -> None:
    earlier = routed(HERE)
    await route(store, table, earlier)
    unlocated = routed(None, requested=T0 + timedelta(hours=1))
    assert await route(store, table, unlocated) == "unique"

    relocated = unlocated.model_copy(update={"lat": TEN_M_NORTH[0], "long": TEN_M_NORTH[1]})
    assert await route(store, table, relocated) == "duplicate_found"

    decided = store.emitted()[-1].payload(DedupDecided)
    assert decided.case_id == unlocated.case_id and decided.duplicate_of == earlier.case_id
    projected = store.repo.cases[unlocated.case_id]["case"]
    assert projected.location_known and projected.requested_datetime == T0 + timedelta(hours=1)


async def test_a_failing_write_rolls_back_projection_claim_and_decision(store: Any, table: Any) -> None:
    await route(store, table, routed(HERE))
    before = dict(store.repo.cases)
    second = routed(TEN_M_NORTH)
    env = event(second, subject=second.case_id)

    async def broken(*_a: Any, **_k: Any) -> None:
        raise ConnectionError("database went away")

    store.repo.add_decision = broken  # type: ignore[method-assign]
    with pytest.raises(ConnectionError):
        await store.handle(table, env)
    assert store.repo.cases.keys() == before.keys() and store.emitted() == []
    assert (("dedup", env.event_id) not in store.inbox) and store.rollbacks == 1

    del store.repo.add_decision
    assert await store.handle(table, env) == "duplicate_found"
    assert len(store.emitted()) == 1


async def test_other_lifecycle_events_are_not_deduplications(store: Any, table: Any) -> None:
    opened = CaseOpened(case_id=uuid4(), service_request_id="DEMO-26-000001", jurisdiction_id="demo",
                        channel="sms", channel_message_id="SM1", contact_key="k", description="x",
                        requested_datetime=T0)
    assert await store.handle(table, event(opened)) is None
    assert store.inbox == set()


# -- staff review: below the merge threshold, at or above the review threshold --------------------------


async def test_a_match_below_the_merge_threshold_but_at_review_is_suggested_not_merged(store: Any, table: Any) -> None:
    first = routed(HERE)
    await route(store, table, first)
    # The same point and an hour later, in words that share nothing: place and time alone give about 0.5,
    # between review (0.45) and merge (0.6): two problems at one point are suggested, never merged.
    second = routed(HERE, text="dog barking all night long next door", requested=T0 + timedelta(hours=1))
    env = event(second, subject=second.case_id)

    assert await store.handle(table, env) == "suggested"

    assert store.emitted("dedup.decided") == []
    [out] = store.emitted("dedup.suggested")
    suggested = out.payload(DedupSuggested)
    assert suggested.case_id == second.case_id and suggested.duplicate_of == first.case_id
    assert (suggested.review_threshold, suggested.merge_threshold) == (0.45, 0.6)
    assert 0.45 <= suggested.score < 0.6 and suggested.distance_m < 1
    assert suggested.evidence["duplicate_of_service_request_id"] == first.service_request_id
    assert out.causation_id == env.event_id and out.subject == str(second.case_id)
    assert store.repo.decisions[second.case_id]["kind"] == "suggestion"
    # A suggestion is no merge: the case stays its own and can be matched by a later report.
    assert store.repo.cases[second.case_id]["duplicate_of"] is None
    third = routed(HERE, text="dog barking all night long next door", requested=T0 + timedelta(hours=2))
    assert await route(store, table, third) == "duplicate_found"
    assert store.emitted()[-1].payload(DedupDecided).duplicate_of == second.case_id


async def test_a_sure_match_is_merged_even_when_a_review_band_exists(store: Any, table: Any) -> None:
    await route(store, table, routed(HERE))

    assert await route(store, table, routed(TEN_M_NORTH)) == "duplicate_found"
    assert store.emitted("dedup.suggested") == []
    assert next(iter(store.repo.decisions.values()))["kind"] == "merge"


async def test_the_review_band_follows_the_categorys_thresholds() -> None:
    from services.dedup.domain import DedupPolicy

    strict = FakeStore(FakeDedupRepository(), "dedup")
    table = h.handlers(lambda code: DedupPolicy(radius_m=30, window_hours=336, threshold=0.55, review_threshold=0.5),
                       lambda lat, long: False)
    await route(strict, table, routed(HERE))
    assert await route(strict, table, routed(TWENTY_M_NORTH, text="dog barking all night long next door")) == "unique"
    assert strict.emitted() == []


# -- staff unmerge ---------------------------------------------------------------------------------------


def unmerged(case: CaseRouted, from_case: CaseRouted, *, status: str = "open") -> CaseUnmerged:
    return CaseUnmerged(**lifecycle(case), actor="u-staff-1", actor_role="department_staff",
                        unmerged_from=from_case.case_id, unmerged_from_service_request_id=from_case.service_request_id,
                        status=status, workflow_status="in_progress" if status == "open" else "closed",  # type: ignore[arg-type]
                        reason="different holes")


async def merge(store: Any, table: Any, case: CaseRouted, into: CaseRouted) -> None:
    await store.handle(table, event(merged_event(case, into), subject=case.case_id))


async def test_an_unmerged_case_is_open_again_and_a_later_report_may_match_it(store: Any, table: Any) -> None:
    survivor, merged = routed(FORTY_M_NORTH), routed(HERE)
    await route(store, table, survivor)
    assert await route(store, table, merged) == "unique"
    await merge(store, table, merged, survivor)
    assert not store.repo.cases[merged.case_id]["open"]

    env = event(unmerged(merged, survivor), subject=merged.case_id)
    assert await store.handle(table, env) == "unmerged"

    row = store.repo.cases[merged.case_id]
    assert row["open"] and row["duplicate_of"] is None
    pair = tuple(sorted((merged.case_id, survivor.case_id), key=str))
    assert store.repo.unmerged[pair]["event_id"] == env.event_id  # type: ignore[index]
    later = routed(TEN_M_NORTH)
    assert await route(store, table, later) == "duplicate_found"
    assert store.emitted()[-1].payload(DedupDecided).duplicate_of == merged.case_id


async def test_an_unmerged_pair_is_never_merged_or_suggested_again(store: Any, table: Any) -> None:
    first, second = routed(HERE), routed(TEN_M_NORTH, requested=T0 + timedelta(hours=1))
    await route(store, table, first)
    assert await route(store, table, second) == "duplicate_found"
    await merge(store, table, second, first)
    await store.handle(table, event(unmerged(second, first), subject=second.case_id))

    # Routed again (a recategorisation, a new place): the staff's unmerge still holds, either way round.
    assert await route(store, table, second) == "unique"
    assert await route(store, table, first) == "unique"
    assert len(store.emitted("dedup.decided")) == 1 and store.emitted("dedup.suggested") == []
    # Another case near both is still matched, with the nearer of them.
    third = routed(HERE, requested=T0 + timedelta(hours=2))
    assert await route(store, table, third) == "duplicate_found"
    assert store.emitted()[-1].payload(DedupDecided).duplicate_of == first.case_id


async def test_an_unmerge_that_leaves_the_case_closed_keeps_it_from_being_a_target(store: Any, table: Any) -> None:
    survivor, merged = routed(FORTY_M_NORTH), routed(HERE)
    for c in (survivor, merged):
        await route(store, table, c)
    await merge(store, table, merged, survivor)

    await store.handle(table, event(unmerged(merged, survivor, status="closed"), subject=merged.case_id))

    row = store.repo.cases[merged.case_id]
    assert not row["open"] and row["duplicate_of"] is None
    assert await route(store, table, routed(TEN_M_NORTH)) == "unique"


async def test_the_same_unmerge_twice_is_handled_once(store: Any, table: Any) -> None:
    survivor, merged = routed(FORTY_M_NORTH), routed(HERE)
    env = event(unmerged(merged, survivor), subject=merged.case_id)
    assert await store.handle(table, env) == "unmerged"  # a case never projected: only the pair is kept
    assert await store.handle(table, env) == "duplicate"
    assert len(store.repo.unmerged) == 1 and store.repo.cases == {}


# --- the same reporter ---------------------------------------------------------------------------------

UNRELATED = "dog barking all night long next door"
"""With POTHOLE_TEXT at one point an hour apart: place and time alone, about 0.5 (a suggestion)."""


async def pair_score(first_key: str | None, second_key: str | None) -> tuple[str | None, Any]:
    """Route a pothole report by `first_key`, then an unrelated text at the same point an hour later by
    `second_key`, in a fresh store; the second's result word and the decision it announced (or None)."""
    store = FakeStore(FakeDedupRepository(), "dedup")
    table = h.handlers(*jurisdiction_rules(load_jurisdiction("demo")))
    await route(store, table, routed(HERE, contact_key=first_key))
    second = routed(HERE, text=UNRELATED, requested=T0 + timedelta(hours=1), contact_key=second_key)
    result = await route(store, table, second)
    out = store.emitted()
    return result, (out[-1].payload(DedupDecided if result == "duplicate_found" else DedupSuggested) if out else None)


async def test_two_reports_by_the_same_reporter_at_one_place_are_lifted_half_way_to_one() -> None:
    from services.dedup.domain.scoring import REPORTER_LIFT

    base_result, base = await pair_score("ck_ann", "ck_bob")
    same_result, same = await pair_score("ck_ann", "ck_ann")

    # Different reporters: place and time alone, a suggestion. The same one: lifted by REPORTER_LIFT of
    # the way to 1 (scoring.combine), past the merge threshold.
    assert base_result == "suggested" and "same_reporter" not in base.evidence
    assert same_result == "duplicate_found" and same.evidence["same_reporter"] is True
    assert same.score == pytest.approx(base.score + REPORTER_LIFT * (1 - base.score), abs=2e-4)
    assert same.text_similarity == base.text_similarity and same.distance_m == base.distance_m


@pytest.mark.parametrize(("first_key", "second_key"), [
    (None, None), ("ck_ann", None), (None, "ck_ann"), ("ck_anon_0123456789abcdef01234567",) * 2, ("  ", "  ")],
    ids=["both_unknown", "new_unknown", "candidate_unknown", "same_anonymous_key", "blank"])
async def test_an_unknown_reporter_is_never_the_same_reporter(first_key: str | None, second_key: str | None) -> None:
    result, suggested = await pair_score(first_key, second_key)

    assert result == "suggested" and "same_reporter" not in suggested.evidence
    assert suggested.score < 0.6


async def test_the_projection_keeps_the_reporter_and_a_later_routing_without_one_keeps_it(store: Any,
                                                                                          table: Any) -> None:
    known, anonymous = routed(contact_key="ck_ann"), routed(FORTY_M_NORTH, contact_key="ck_anon_00ff")
    await route(store, table, known)
    await route(store, table, anonymous)
    again = known.model_copy(update={"contact_key": None, "lat": TEN_M_SOUTH[0]})
    await store.handle(table, event(again, subject=again.case_id))

    assert store.repo.cases[known.case_id]["case"].reporter == "ck_ann"
    assert store.repo.cases[known.case_id]["case"].point.lat == TEN_M_SOUTH[0]
    assert store.repo.cases[anonymous.case_id]["case"].reporter is None


async def test_two_reports_in_triage_are_only_suggested_however_alike(store: Any, table: Any) -> None:
    # Triage (the unclassified service) holds every kind of problem: its one category says nothing.
    first = routed(HERE, code="unclassified", text="Dead tree at 4 Elm Street")
    await route(store, table, first)
    second = routed(TEN_M_NORTH, code="unclassified", text="Dead tree at 4 Elm Street")

    assert await route(store, table, second) == "suggested"

    assert store.emitted("dedup.decided") == []
    [out] = store.emitted("dedup.suggested")
    assert out.payload(DedupSuggested).duplicate_of == first.case_id
    assert store.repo.cases[second.case_id]["duplicate_of"] is None


def test_only_the_unclassified_service_never_auto_merges() -> None:
    policy_for, _ = jurisdiction_rules(load_jurisdiction("demo"))
    assert policy_for("unclassified").auto_merge is False
    assert policy_for("pothole").auto_merge is True


# -- the batch's category locks (two replicas must not deadlock) ---------------------------------------------


async def handle_batch(store: Any, table: Any, envelopes: Sequence[Any]) -> list[Any]:
    """Consume `envelopes` as one batch the way the service does: `lock_categories` first."""
    consumed = [(e, Delivery(topic="cases.lifecycle", partition=0, offset=i, consumer="dedup"))
                for i, e in enumerate(envelopes)]
    return await dispatch_batch(table, consumed, store.batch, clock=lambda: T0, prepare=h.lock_categories)


async def test_a_batch_locks_the_categories_of_all_its_located_routed_cases_at_once_before_any_handler(
        store: Any, table: Any) -> None:
    located = [routed(HERE, code="pothole"), routed(HERE, code="noise"), routed(TEN_M_NORTH, code="pothole")]
    unlocated = [routed(None, code="graffiti"), routed((HERE[0], None), code="streetlight")]
    merged = merged_event(located[0], into=located[1])

    outcomes = await handle_batch(store, table, [event(c, subject=c.case_id) for c in [*located, *unlocated]]
                                  + [event(merged, subject=located[0].case_id)])

    assert [o.result for o in outcomes] == ["unique", "unique", "duplicate_found", "unique", "unique", "closed"]
    [(codes, projected_then)] = store.repo.locks
    assert sorted(codes) == ["noise", "pothole", "pothole"] and projected_then == 0


async def test_a_batch_of_cases_already_handled_or_without_a_routed_case_takes_no_lock(store: Any,
                                                                                      table: Any) -> None:
    case = routed(HERE)
    env = event(case, subject=case.case_id)
    await handle_batch(store, table, [env])
    store.repo.locks.clear()

    outcomes = await handle_batch(store, table, [env, event(CaseStatusChanged(**lifecycle(case), status="closed"),
                                                            subject=case.case_id)])

    assert [o.result for o in outcomes] == ["duplicate", "closed"]
    assert store.repo.locks == []


def test_category_lock_keys_are_one_per_category_in_ascending_order() -> None:
    keys = lock_keys(["pothole", "noise", "pothole", "graffiti"])

    assert keys == sorted(keys) and len(keys) == 3
    assert keys == lock_keys(["graffiti", "noise", "pothole"]) == lock_keys(reversed(["graffiti", "noise", "pothole"]))
    assert all(-2**63 <= k < 2**63 for k in keys)  # PostgreSQL's bigint


def test_the_service_takes_a_batchs_category_locks_before_its_handlers(monkeypatch: pytest.MonkeyPatch) -> None:
    from services.dedup.app import create_app
    from shared.service import Runtime
    from shared.settings import Settings

    wired: dict[str, Any] = {}
    real = Runtime.event_handler

    def spy(self: Runtime, *args: Any, **kwargs: Any) -> Any:
        wired.update(kwargs)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Runtime, "event_handler", spy)
    create_app(Settings())  # builds the app and its subscription; opens nothing

    assert wired.get("prepare") is h.lock_categories
