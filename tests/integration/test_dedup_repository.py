"""`DedupRepository` on real PostgreSQL/PostGIS: the SQL that the handler tests' in-memory fake copies
(candidate search, projection upsert, decision log with merges and suggestions, target changes, unmerged
pairs, the category locks) does what the fake says it does, and two replicas' batches that meet two
categories in opposite orders both commit (no deadlock) and the later sees the earlier's cases."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import pytest

from services.dedup.adapters.repository import DedupRepository
from services.dedup.domain import Point, ProjectedCase, Search, TargetChange, window
from shared.events import DedupDecided, DedupSuggested
from support.wait import eventually

T0 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
HERE = Point(45.415, -75.70)
# One 1e-5 degree of latitude is about 1.11 m here.
FIVE_M_SOUTH = Point(45.415 - 0.000045, -75.70)
TEN_M_NORTH = Point(45.415 + 0.00009, -75.70)
TWENTY_M_NORTH = Point(45.415 + 0.00018, -75.70)
FORTY_M_NORTH = Point(45.415 + 0.00036, -75.70)
RADIUS_M = 30.0


@pytest.fixture
def migrated_package() -> str:
    return "services.dedup"


@pytest.fixture
def pool(service_pool: asyncpg.Pool) -> asyncpg.Pool:
    return service_pool


@contextlib.asynccontextmanager
async def repository(pool: asyncpg.Pool) -> AsyncIterator[DedupRepository]:
    """The repository on one connection, in one transaction (committed on a clean exit)."""
    async with pool.acquire() as conn, conn.transaction():
        yield DedupRepository(conn)


_n = iter(range(1, 100_000))


def case(point: Point | None = HERE, *, code: str = "pothole", at: datetime = T0, text: str = "pothole",
         duplicate_of: UUID | None = None, case_id: UUID | None = None, reporter: str | None = None) -> ProjectedCase:
    return ProjectedCase(case_id=case_id or uuid4(), service_request_id=f"DEMO-26-{next(_n):06d}",
                         service_code=code, description=text, point=point, requested_datetime=at,
                         duplicate_of=duplicate_of, reporter=reporter)


async def project(pool: asyncpg.Pool, *cases: ProjectedCase) -> None:
    async with repository(pool) as repo:
        for c in cases:
            await repo.project(c)


def search(of: UUID, *, at: Point = HERE, code: str = "pothole", since: datetime = T0 - timedelta(hours=72),
           until: datetime = T0 + timedelta(hours=72), limit: int = 50) -> Search:
    return Search(case_id=of, service_code=code, point=at, radius_m=RADIUS_M, since=since, until=until, limit=limit)


async def found(pool: asyncpg.Pool, s: Search) -> list[UUID]:
    async with repository(pool) as repo:
        return [c.case_id for c in await repo.candidates(s)]


async def row(pool: asyncpg.Pool, case_id: UUID) -> dict[str, Any] | None:
    r = await pool.fetchrow(
        "SELECT service_request_id, service_code, description, ST_Y(geog::geometry) AS lat, "
        "ST_X(geog::geometry) AS long, location_known, requested_datetime, open, duplicate_of "
        "FROM cases WHERE case_id = $1", case_id)
    return dict(r) if r else None


# --- candidates ------------------------------------------------------------------------------------------


async def test_candidates_are_open_located_unmatched_cases_of_the_category_in_the_radius_nearest_first(
        pool: asyncpg.Pool) -> None:
    new = case(HERE)
    five, ten, twenty = case(FIVE_M_SOUTH, text="five"), case(TEN_M_NORTH), case(TWENTY_M_NORTH)
    closed, duplicate = case(FIVE_M_SOUTH), case(FIVE_M_SOUTH, duplicate_of=ten.case_id)
    others = [case(FORTY_M_NORTH), case(TEN_M_NORTH, code="graffiti"), case(None), closed, duplicate]
    await project(pool, new, twenty, ten, five, *others)
    async with repository(pool) as repo:
        await repo.change_target(TargetChange(closed.case_id, open=False))

    async with repository(pool) as repo:
        candidates = await repo.candidates(search(new.case_id))

    # the duplicate of `ten` (5 m away) stands for its incident: it carries `ten` as the case it joins
    assert {c.case_id for c in candidates[:2]} == {five.case_id, duplicate.case_id}
    assert [c.case_id for c in candidates[2:]] == [ten.case_id, twenty.case_id]
    member = next(c for c in candidates if c.case_id == duplicate.case_id)
    assert (member.incident_id, member.incident_service_request_id) == (ten.case_id, ten.service_request_id)
    assert [c.incident_id for c in candidates if c.case_id != duplicate.case_id] == [None, None, None]
    candidates = [c for c in candidates if c.case_id != duplicate.case_id]
    first = candidates[0]
    assert (first.service_request_id, first.description, first.requested_datetime) == (
        five.service_request_id, "five", T0)
    # geodesic metres (PostGIS geography), as the fake's haversine within a few centimetres
    assert [round(c.distance_m) for c in candidates] == [5, 10, 20]
    assert len(await found(pool, search(new.case_id, limit=2))) == 2
    assert await found(pool, search(new.case_id, code="graffiti")) == [others[1].case_id]


async def test_the_case_itself_is_never_its_own_candidate(pool: asyncpg.Pool) -> None:
    new, other = case(HERE), case(TEN_M_NORTH)
    await project(pool, new, other)

    assert await found(pool, search(new.case_id)) == [other.case_id]
    assert await found(pool, search(uuid4())) == [new.case_id, other.case_id]


async def test_the_time_window_includes_both_ends_and_nothing_beyond(pool: asyncpg.Pool) -> None:
    since, until = T0 - timedelta(hours=72), T0 + timedelta(hours=72)
    tick = timedelta(microseconds=1)
    at_since, at_until = case(TEN_M_NORTH, at=since), case(TEN_M_NORTH, at=until)
    await project(pool, at_since, at_until, case(TEN_M_NORTH, at=since - tick), case(TEN_M_NORTH, at=until + tick))

    assert set(await found(pool, search(uuid4(), since=since, until=until))) == {at_since.case_id, at_until.case_id}


async def test_a_window_clamped_at_year_1_or_9999_still_finds_cases_near_those_ends(pool: asyncpg.Pool) -> None:
    early_at = datetime(1, 1, 1, 2, 0, tzinfo=UTC)
    late_at = datetime(9999, 12, 31, 20, 0, tzinfo=UTC)
    early, late = case(TEN_M_NORTH, at=early_at), case(TEN_M_NORTH, at=late_at)
    beyond = case(TEN_M_NORTH, at=early_at + timedelta(hours=80))
    await project(pool, early, late, beyond)

    since, until = window(early_at + timedelta(hours=1), 72)
    assert since == datetime.min.replace(tzinfo=UTC)
    assert await found(pool, search(uuid4(), since=since, until=until)) == [early.case_id]
    since, until = window(late_at, 72)
    assert until == datetime.max.replace(tzinfo=UTC)
    assert await found(pool, search(uuid4(), since=since, until=until)) == [late.case_id]


# --- the projection --------------------------------------------------------------------------------------


async def test_a_case_projected_again_gets_its_new_kind_text_and_place_but_keeps_the_rest(pool: asyncpg.Pool) -> None:
    survivor = uuid4()
    first = case(HERE, text="pothole", duplicate_of=survivor)
    await project(pool, first)
    assert (await row(pool, first.case_id) or {})["open"] is True
    async with repository(pool) as repo:
        await repo.change_target(TargetChange(first.case_id, open=False))

    again = case(TEN_M_NORTH, code="sinkhole", text="a sinkhole now", at=T0 + timedelta(hours=5),
                 case_id=first.case_id)
    await project(pool, again)

    r = await row(pool, first.case_id)
    assert r is not None
    assert (r["service_code"], r["description"], r["location_known"]) == ("sinkhole", "a sinkhole now", True)
    assert (round(r["lat"], 6), round(r["long"], 6)) == (TEN_M_NORTH.lat, TEN_M_NORTH.long)
    assert (r["service_request_id"], r["requested_datetime"]) == (first.service_request_id, T0)
    assert (r["open"], r["duplicate_of"]) == (False, survivor)

    await project(pool, case(None, case_id=first.case_id))
    r = await row(pool, first.case_id)
    assert r is not None and (r["lat"], r["long"], r["location_known"]) == (None, None, False)
    assert r["duplicate_of"] == survivor


async def test_the_projection_keeps_each_cases_reporter_and_candidates_carry_their_own(pool: asyncpg.Pool) -> None:
    survivor = case(TWENTY_M_NORTH, reporter="ck_bob")
    ann, member, unknown = (case(FIVE_M_SOUTH, reporter="ck_ann"),
                            case(TEN_M_NORTH, reporter="ck_cid", duplicate_of=survivor.case_id), case(HERE))
    await project(pool, survivor, ann, member, unknown)

    async with repository(pool) as repo:
        got = {c.case_id: c.reporter for c in await repo.candidates(search(uuid4()))}

    # a member of an incident carries its own reporter, not its survivor's; NULL is an unknown reporter
    assert got == {survivor.case_id: "ck_bob", ann.case_id: "ck_ann", member.case_id: "ck_cid",
                   unknown.case_id: None}
    # routed again: without a key the known one stays; with one, it is the new one
    await project(pool, case(HERE, case_id=ann.case_id), case(HERE, case_id=unknown.case_id, reporter="ck_dan"))
    reporters = dict(await pool.fetch("SELECT case_id, reporter FROM cases WHERE case_id = ANY($1::uuid[])",
                                      [ann.case_id, unknown.case_id]))
    assert reporters == {ann.case_id: "ck_ann", unknown.case_id: "ck_dan"}


async def test_only_a_cases_first_decision_is_logged(pool: asyncpg.Pool) -> None:
    case_id, first_target, event_id = uuid4(), uuid4(), uuid4()

    def decided(target: UUID, score: float) -> DedupDecided:
        return DedupDecided(case_id=case_id, duplicate_of=target, score=score, distance_m=9.87, text_similarity=0.8,
                            window_hours=72, radius_m=RADIUS_M, evidence={})

    async with repository(pool) as repo:
        await repo.add_decision(decided(first_target, 0.9), decided_at=T0, event_id=event_id)
    async with repository(pool) as repo:
        await repo.add_decision(decided(uuid4(), 0.7), decided_at=T0 + timedelta(hours=1), event_id=uuid4())

    rows = await pool.fetch("SELECT * FROM decisions")
    assert [dict(r) for r in rows] == [{"case_id": case_id, "duplicate_of": first_target, "score": 0.9,
                                        "distance_m": 9.87, "text_similarity": 0.8, "decided_at": T0,
                                        "event_id": event_id, "kind": "merge"}]


async def test_a_suggestion_is_logged_as_one(pool: asyncpg.Pool) -> None:
    suggested = DedupSuggested(case_id=uuid4(), duplicate_of=uuid4(), score=0.4, distance_m=20.0, text_similarity=0.4,
                               window_hours=72, radius_m=RADIUS_M, review_threshold=0.35, merge_threshold=0.55)
    async with repository(pool) as repo:
        await repo.add_decision(suggested, decided_at=T0, event_id=uuid4())

    assert await pool.fetchval("SELECT kind FROM decisions WHERE case_id = $1", suggested.case_id) == "suggestion"


async def test_an_unmerge_clears_what_the_case_duplicates_and_the_pair_is_known_from_both_sides(
        pool: asyncpg.Pool) -> None:
    survivor, merged = case(TWENTY_M_NORTH), case(TEN_M_NORTH)
    await project(pool, survivor, merged)
    async with repository(pool) as repo:
        await repo.change_target(TargetChange(merged.case_id, open=False, duplicate_of=survivor.case_id))
    async with repository(pool) as repo:
        joined = await repo.candidates(search(uuid4()))
    assert [(c.case_id, c.incident_id) for c in joined] == [(merged.case_id, survivor.case_id), (survivor.case_id, None)]

    pair = tuple(sorted((merged.case_id, survivor.case_id), key=str))
    event_id = uuid4()
    async with repository(pool) as repo:
        await repo.change_target(TargetChange(merged.case_id, open=True, clear_duplicate=True))
        await repo.remember_unmerge(pair, unmerged_at=T0, event_id=event_id)  # type: ignore[arg-type]
        await repo.remember_unmerge(pair, unmerged_at=T0 + timedelta(hours=1), event_id=uuid4())  # type: ignore[arg-type]

    r = await row(pool, merged.case_id)
    assert r is not None and (r["open"], r["duplicate_of"]) == (True, None)
    assert await found(pool, search(uuid4())) == [merged.case_id, survivor.case_id]
    async with repository(pool) as repo:
        assert await repo.unmerged_with(merged.case_id) == {survivor.case_id}
        assert await repo.unmerged_with(survivor.case_id) == {merged.case_id}
        assert await repo.unmerged_with(uuid4()) == set()
    stored = await pool.fetch("SELECT unmerged_at, event_id FROM unmerged_pairs")
    assert [tuple(x) for x in stored] == [(T0, event_id)]
    with pytest.raises(asyncpg.CheckViolationError):  # the pair is kept one way round only
        async with repository(pool) as repo:
            await repo.remember_unmerge((pair[1], pair[0]), unmerged_at=T0, event_id=uuid4())


async def test_a_merged_case_leads_to_the_root_of_its_chain_while_that_case_is_open(pool: asyncpg.Pool) -> None:
    root, middle = case(FORTY_M_NORTH), case(TWENTY_M_NORTH)
    first = case(FIVE_M_SOUTH, duplicate_of=middle.case_id)
    await project(pool, root, middle, first)
    async with repository(pool) as repo:
        await repo.change_target(TargetChange(first.case_id, open=False, duplicate_of=middle.case_id))
        await repo.change_target(TargetChange(middle.case_id, open=False, duplicate_of=root.case_id))
        got = await repo.candidates(search(uuid4()))
    # A (5 m) and B (20 m) both lead to C, which lies beyond the radius itself
    assert [(c.case_id, c.incident_id, c.incident_service_request_id) for c in got] == [
        (first.case_id, root.case_id, root.service_request_id), (middle.case_id, root.case_id, root.service_request_id)]
    assert await found(pool, search(root.case_id)) == []  # never the case itself, through its own incident
    async with repository(pool) as repo:
        await repo.change_target(TargetChange(root.case_id, open=False))
    assert await found(pool, search(uuid4())) == []  # a closed incident takes no one


async def test_a_merge_closes_the_case_and_a_status_change_keeps_what_it_duplicates(pool: asyncpg.Pool) -> None:
    merged, plain, survivor = case(TEN_M_NORTH), case(TWENTY_M_NORTH), uuid4()
    await project(pool, merged, plain)

    async with repository(pool) as repo:
        await repo.change_target(TargetChange(merged.case_id, open=False, duplicate_of=survivor))
        await repo.change_target(TargetChange(plain.case_id, open=False))
    assert [((await row(pool, c)) or {}).get(k) for c in (merged.case_id, plain.case_id)
            for k in ("open", "duplicate_of")] == [False, survivor, False, None]

    async with repository(pool) as repo:  # staff reopen both
        await repo.change_target(TargetChange(merged.case_id, open=True))
        await repo.change_target(TargetChange(plain.case_id, open=True))
    assert [((await row(pool, c)) or {}).get(k) for c in (merged.case_id, plain.case_id)
            for k in ("open", "duplicate_of")] == [True, survivor, True, None]
    # the reopened merged case still duplicates another, so it is no target
    assert await found(pool, search(uuid4())) == [plain.case_id]


async def test_a_change_for_a_case_the_projection_does_not_hold_changes_nothing(pool: asyncpg.Pool) -> None:
    unknown = uuid4()
    async with repository(pool) as repo:
        await repo.change_target(TargetChange(unknown, open=False, duplicate_of=uuid4()))

    assert await row(pool, unknown) is None
    assert await pool.fetchval("SELECT count(*) FROM cases") == 0


# --- the category lock -----------------------------------------------------------------------------------


async def test_category_locks_hold_those_categories_alone_until_the_transaction_ends(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as holder, pool.acquire() as other:
        held = holder.transaction()
        await held.start()
        holding = True
        waiting: asyncio.Task[None] | None = None
        try:
            await DedupRepository(holder).lock_categories(["pothole", "noise", "pothole"])
            async with other.transaction():  # other categories: not held up
                await asyncio.wait_for(DedupRepository(other).lock_categories(["graffiti", "streetlight"]), timeout=5)

            blocked = other.transaction()
            await blocked.start()
            waiting = asyncio.create_task(DedupRepository(other).lock_categories(["graffiti", "pothole"]))
            pid = other.get_server_pid()
            await eventually(lambda: holder.fetchval(
                "SELECT count(*) FROM pg_locks WHERE pid = $1 AND locktype = 'advisory' AND NOT granted", pid),
                timeout=10, what="the second pothole lock waits")
            assert not waiting.done()

            await held.commit()
            holding = False
            await asyncio.wait_for(waiting, timeout=5)
            await blocked.commit()
        finally:
            if holding:  # release the lock whatever failed, so that the waiting statement ends
                await held.rollback()
            if waiting is not None and not waiting.done():
                await asyncio.wait_for(waiting, timeout=5)


async def test_the_text_measure_is_fitted_at_start_on_the_projections_latest_texts(pool: asyncpg.Pool,
                                                                                   fresh_schema_name: str) -> None:
    from services.dedup.service_layer.handlers import text_measure  # noqa: PLC0415
    from shared.db.unit_of_work import PgUnitOfWork  # noqa: PLC0415

    def uow() -> PgUnitOfWork[DedupRepository]:
        return PgUnitOfWork(pool, service=fresh_schema_name, repository=DedupRepository, now=T0)

    assert (await text_measure(uow(), limit=100)).fitted_on == 0  # an empty projection: the unfitted form
    await project(pool, *(case(text=f"Details: pothole number {i}", at=T0 + timedelta(minutes=i)) for i in range(60)),
                  case(text=""))
    async with repository(pool) as repo:
        latest = await repo.recent_descriptions(3)
    assert latest == [f"Details: pothole number {i}" for i in (59, 58, 57)]
    fitted = await text_measure(uow(), limit=55)
    assert fitted.fitted_on == 55 and fitted.labels == frozenset({"details"})


# --- two replicas' batches -------------------------------------------------------------------------------


def _routed(code: str, *, at: Point = HERE, text: str = "deep pothole in the right lane") -> Any:
    from shared.events import CaseRouted, RoutingFields  # noqa: PLC0415

    routing = RoutingFields(service_code=code, service_name=code, category_source="service_code",
                            agency_responsible="Public Works", queue="roads", priority=3, rule_id="default",
                            config_version="test")
    return CaseRouted(case_id=uuid4(), service_request_id=f"DEMO-26-{next(_n):06d}", jurisdiction_id="demo",
                      routing=routing, description=text, lat=at.lat, long=at.long, requested_datetime=T0)


async def test_two_batches_routing_categories_in_opposite_orders_both_commit_and_the_later_sees_the_earlier(
        database: str, fresh_schema_name: str, pool: asyncpg.Pool) -> None:
    """Two replicas (a pool of one connection each) handle a batch each at the same time: A routes a pothole
    then a noise case, B a noise then a pothole case, each the twin of the other's (same point, text and
    time). Each batch pauses after its first case until the other has handled its first case too or waits
    on a lock. Locks taken per event in event order deadlock there (PostgreSQL aborts one batch:
    `DeadlockDetectedError`); the category locks the batch takes first, in one order, make B wait for A's
    commit, and then each of B's cases finds its twin: one merge per category, nothing missed."""
    from services.dedup.config import jurisdiction_rules  # noqa: PLC0415
    from services.dedup.service_layer import handlers as h  # noqa: PLC0415
    from shared.db.pool import create_pool  # noqa: PLC0415
    from shared.db.unit_of_work import PgBatchUnitOfWork  # noqa: PLC0415
    from shared.events import CaseRouted  # noqa: PLC0415
    from shared.jurisdiction import load_jurisdiction  # noqa: PLC0415
    from shared.kafka import Delivery  # noqa: PLC0415
    from shared.service_layer import dispatch_batch  # noqa: PLC0415
    from support.uow import event  # noqa: PLC0415

    table = h.handlers(*jurisdiction_rules(load_jurisdiction("demo")))
    pothole_a, noise_a = _routed("pothole"), _routed("noise", text="loud music all night")
    noise_b, pothole_b = _routed("noise", text="loud music all night"), _routed("pothole")
    batches = {"a": [pothole_a, noise_a], "b": [noise_b, pothole_b]}
    pools = {name: await create_pool(database, fresh_schema_name, application_name=f"it-dedup-{name}", max_size=1)
             for name in batches}
    try:
        pids = {}
        for name, p in pools.items():
            async with p.acquire() as conn:
                pids[name] = conn.get_server_pid()
        first_done = {name: asyncio.Event() for name in batches}

        async def other_moved_on(other: str) -> bool:
            return first_done[other].is_set() or await pool.fetchval(
                "SELECT count(*) > 0 FROM pg_locks WHERE pid = $1 AND NOT granted", pids[other])

        def pausing(name: str, other: str) -> Any:
            model, handler = table[CaseRouted.event_type]

            async def paused(payload: Any, uow: Any) -> str:
                result = await handler(payload, uow)
                if not first_done[name].is_set():
                    first_done[name].set()
                    await eventually(lambda: other_moved_on(other), timeout=20,
                                     what=f"batch {other} handled its first case or waits on a lock")
                return result

            return {**table, CaseRouted.event_type: (model, paused)}

        async def run(name: str, other: str) -> list[Any]:
            consumed = [(event(c, subject=c.case_id), Delivery(topic="cases.lifecycle", partition=i, offset=0,
                                                               consumer=fresh_schema_name))
                        for i, c in enumerate(batches[name])]
            return await dispatch_batch(
                pausing(name, other), consumed,
                lambda: PgBatchUnitOfWork(pools[name], service=fresh_schema_name, repository=DedupRepository),
                clock=lambda: T0, last_attempt=False, prepare=h.lock_categories)  # as services/dedup/app.py

        outcomes = await asyncio.wait_for(asyncio.gather(run("a", "b"), run("b", "a")), timeout=60)
    finally:
        for p in pools.values():
            await p.close()

    results = {c.case_id: o.result for name, out in zip(batches, outcomes) for c, o in zip(batches[name], out)}
    for twins in ((pothole_a, pothole_b), (noise_a, noise_b)):
        assert sorted(results[c.case_id] for c in twins) == ["duplicate_found", "unique"]
    decisions = await pool.fetch("SELECT case_id, duplicate_of FROM decisions")
    assert {(r["case_id"], r["duplicate_of"]) for r in decisions} in (
        {(pothole_b.case_id, pothole_a.case_id), (noise_b.case_id, noise_a.case_id)},
        {(pothole_a.case_id, pothole_b.case_id), (noise_a.case_id, noise_b.case_id)},
    )


async def test_a_batch_of_many_categories_some_unlocated_and_twins_decides_as_one_event_per_batch_does(
        database: str, fresh_schema_name: str, pool: asyncpg.Pool) -> None:
    """One batch (as services/dedup/app.py runs it, `lock_categories` first) of twelve categories, twins
    inside the batch, cases without a point or with one coordinate only: it holds exactly the located
    categories' locks while its handlers run, and decides what the same events decide each in a batch of its
    own on a second schema; the batch consumed again changes nothing."""
    from services.dedup.config import jurisdiction_rules  # noqa: PLC0415
    from services.dedup.service_layer import handlers as h  # noqa: PLC0415
    from shared.db.migrate import migrate  # noqa: PLC0415
    from shared.db.pool import create_pool  # noqa: PLC0415
    from shared.db.unit_of_work import PgBatchUnitOfWork  # noqa: PLC0415
    from shared.events import CaseRouted  # noqa: PLC0415
    from shared.jurisdiction import load_jurisdiction  # noqa: PLC0415
    from shared.kafka import Delivery  # noqa: PLC0415
    from shared.service_layer import dispatch_batch  # noqa: PLC0415
    from support.uow import event  # noqa: PLC0415

    table = h.handlers(*jurisdiction_rules(load_jurisdiction("demo")))
    model, handler = table[CaseRouted.event_type]
    held: list[int] = []

    async def counting(payload: Any, uow: Any) -> str:
        held.append(await uow.repo.conn.fetchval(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND granted"))
        return await handler(payload, uow)

    watched = {**table, CaseRouted.event_type: (model, counting)}
    located = [_routed(f"cat{n}", text=f"trouble of kind {n} on the corner") for n in range(12)]
    unlocated = [_routed("cat5", text="no point given").model_copy(update={"lat": None, "long": None})
                 for _ in range(2)]
    half_point = _routed("only_lat", text="one coordinate").model_copy(update={"long": None})
    twins = [_routed("cat3", text="trouble of kind 3 on the corner"),
             _routed("cat7", text="trouble of kind 7 on the corner")]
    routed = [*located[:6], unlocated[0], twins[0], *located[6:], half_point, unlocated[1], twins[1]]
    consumed = [(event(c, subject=c.case_id), Delivery(topic="cases.lifecycle", partition=0, offset=i,
                                                       consumer=fresh_schema_name)) for i, c in enumerate(routed)]
    second = f"it_{uuid4().hex[:10]}"
    await migrate(database, second, "services.dedup")
    other = await create_pool(database, second, application_name="it-dedup-one-by-one", max_size=1)
    try:
        one_by_one = [(await dispatch_batch(
            table, [item], lambda: PgBatchUnitOfWork(other, service=second, repository=DedupRepository),
            clock=lambda: T0, prepare=h.lock_categories))[0].result for item in consumed]
        expected = await other.fetch("SELECT case_id, duplicate_of, kind FROM decisions ORDER BY case_id")
    finally:
        await other.close()

    def batch() -> Any:
        return PgBatchUnitOfWork(pool, service=fresh_schema_name, repository=DedupRepository)

    outcomes = await dispatch_batch(watched, consumed, batch, clock=lambda: T0, prepare=h.lock_categories)

    assert [o.result for o in outcomes] == one_by_one
    assert one_by_one.count("duplicate_found") == 2, "each twin found its own kind's case inside the batch"
    assert held == [12] * len(routed), "the twelve located categories' locks, taken before the first handler"
    decided = await pool.fetch("SELECT case_id, duplicate_of, kind FROM decisions ORDER BY case_id")
    assert [dict(r) for r in decided] == [dict(r) for r in expected]
    again = await dispatch_batch(watched, consumed, batch, clock=lambda: T0, prepare=h.lock_categories)
    assert [o.result for o in again] == ["duplicate"] * len(routed), "a replay is skipped by the inbox"
    assert [dict(r) for r in await pool.fetch("SELECT case_id, duplicate_of, kind FROM decisions ORDER BY case_id")
            ] == [dict(r) for r in expected]
    assert await pool.fetchval("SELECT count(*) FROM cases") == len(routed), "every case projected, located or not"
