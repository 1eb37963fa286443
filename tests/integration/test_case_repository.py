"""The case store's SQL against real PostgreSQL: what the handler tests' in-memory repository re-implements
(the threading look-ups and their precedence, row locks and the merge chain), the case API's queries
(filters, order, limits, a reporter's cases, tokens, timelines) and what the constraints refuse."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from services.case.adapters.reads import BY_CONTACT_LIMIT, CaseReads, RequestQuery
from services.case.adapters.repository import CASE_COLUMNS, MERGE_CHAIN_LIMIT, CaseRepository
from services.case.domain import records
from services.case.domain.rules import CaseState, MergePlan, plan_merge
from services.case.domain.threading import (
    CaseRef,
    ThreadingFacts,
    case_id_for,
    is_repeat,
    message_id_for,
    thread_into,
)
from services.case.service_layer import handlers
from shared.db.unit_of_work import PgUnitOfWork
from shared.events import CaseMessageAdded, CaseOpened, Envelope, MessageReceived
from shared.jurisdiction import load_jurisdiction
from shared.kafka import Delivery
from shared.service_layer import dispatch
from support.uow import event

NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
DAY = timedelta(days=1)
COLUMNS = {c.strip() for c in CASE_COLUMNS.split(",")}


@pytest.fixture
def migrated_package() -> str:
    return "services.case"


@pytest.fixture
def pool(service_pool: asyncpg.Pool) -> asyncpg.Pool:
    return service_pool


@asynccontextmanager
async def repository(pool: asyncpg.Pool) -> AsyncIterator[CaseRepository]:
    """A repository on one pooled connection in one transaction, committed on leaving."""
    async with pool.acquire() as conn, conn.transaction():
        yield CaseRepository(conn)


def received(channel_message_id: str, *, channel: str = "sms", contact_key: str = "k1", at: datetime = NOW,
             **kw: Any) -> MessageReceived:
    return MessageReceived(channel=channel, channel_message_id=channel_message_id, contact_key=contact_key,
                           received_at=at, description=f"report {channel_message_id}", **kw)


async def open_case(repo: CaseRepository, number: str, channel_message_id: str | None = None, **kw: Any) -> UUID:
    """Store a case as the handler opens one (reporter, `cases` row, its first message); `kw` go to the
    intake message (`channel`, `contact_key`, `at`, `service_code`, `in_reply_to`, ...)."""
    msg = received(channel_message_id or f"open-{number}", **kw)
    case_id = case_id_for(msg.channel, msg.channel_message_id)
    await repo.upsert_reporter(msg.contact_key, msg.channel, {}, NOW)
    await repo.insert_case(records.new_case_row(msg, case_id=case_id, number=number, jurisdiction_id="demo",
                                                correlation_id=uuid4(), now=NOW))
    await add_message(repo, case_id, msg)
    return case_id


async def add_message(repo: CaseRepository, case_id: UUID, msg: MessageReceived) -> None:
    await repo.insert_message(records.message_row(
        msg, case_id=case_id, message_id=message_id_for(msg.channel, msg.channel_message_id), event_id=uuid4()))


async def facts(pool: asyncpg.Pool, channel_message_id: str, *, channel: str = "sms", hinted: str | None = None,
                reply_ids: Sequence[str] = ()) -> ThreadingFacts:
    async with repository(pool) as repo:
        return await repo.threading_facts(channel, channel_message_id, hinted=hinted, reply_ids=list(reply_ids))


# --- threading_facts: each look-up ------------------------------------------------------------------------


async def test_a_message_nobody_knows_has_no_facts(pool: asyncpg.Pool) -> None:
    async with repository(pool) as repo:
        await open_case(repo, "DEMO-26-000001", "SM1")

    assert await facts(pool, "SM2", hinted="DEMO-26-000999", reply_ids=["<nobody@x>"]) == ThreadingFacts()
    assert await facts(pool, "SM2") == ThreadingFacts()


async def test_the_channel_message_already_held_is_found_on_its_own_channel_only(pool: asyncpg.Pool) -> None:
    async with repository(pool) as repo:
        case = await open_case(repo, "DEMO-26-000001", "SM1")
        await add_message(repo, case, received("SM2"))

    assert (await facts(pool, "SM1")).held_by == case  # the message that opened the case
    assert (await facts(pool, "SM2")).held_by == case  # a message threaded onto it
    assert (await facts(pool, "SM1", channel="whatsapp")).held_by is None
    assert is_repeat(await facts(pool, "SM1")) and not is_repeat(await facts(pool, "SM3"))


async def test_a_quoted_case_number_names_its_case_and_the_reporter_who_opened_it(pool: asyncpg.Pool) -> None:
    async with repository(pool) as repo:
        case = await open_case(repo, "DEMO-26-000001", "SM1", contact_key="k1")
        await repo.upsert_reporter("k2", "sms", {}, NOW)
        await add_message(repo, case, received("SM2", contact_key="k2"))  # k2 wrote on it, k1 opened it

    assert (await facts(pool, "SM3", hinted="DEMO-26-000001")).hinted == CaseRef(case, "k1")
    assert (await facts(pool, "SM3", hinted="DEMO-26-000002")).hinted is None
    assert (await facts(pool, "SM3", hinted="demo-26-000001")).hinted is None  # the domain canonicalises first


async def test_a_reply_to_our_message_names_the_case_we_sent_it_for(pool: asyncpg.Pool) -> None:
    async with repository(pool) as repo:
        case = await open_case(repo, "DEMO-26-000001", "<m1@resident>", channel="email")
        other = await open_case(repo, "DEMO-26-000002", "<m9@resident>", channel="email")
        await repo.record_outbound("<ack1@omni311>", case)
        await repo.record_outbound("<ack1@omni311>", other)  # recorded again: the first case stays

    found = await facts(pool, "<m2@resident>", channel="email", reply_ids=["<unknown@x>", "<ack1@omni311>"])
    assert found.replied_ours == case and found.replied_theirs is None
    assert (await facts(pool, "<m2@resident>", channel="email")).replied_ours is None


async def test_a_reply_to_a_residents_message_names_its_case_on_any_channel(pool: asyncpg.Pool) -> None:
    async with repository(pool) as repo:
        case = await open_case(repo, "DEMO-26-000001", "<m1@resident>", channel="email")
        await repo.record_outbound("<ack1@omni311>", case)

    found = await facts(pool, "<m2@resident>", channel="email", reply_ids=["<m1@resident>"])
    assert found.replied_theirs == case and found.replied_ours is None
    # The look-up is by channel id alone, whatever channel the reply came on.
    assert (await facts(pool, "SM7", channel="sms", reply_ids=["<m1@resident>"])).replied_theirs == case
    # Our own message ids are not the resident's.
    assert (await facts(pool, "<m2@resident>", channel="email", reply_ids=["<ack1@omni311>"])).replied_theirs is None


async def test_when_several_of_our_messages_are_named_one_of_their_cases_is_taken(pool: asyncpg.Pool) -> None:
    async with repository(pool) as repo:
        first = await open_case(repo, "DEMO-26-000001", "<m1@resident>", channel="email")
        second = await open_case(repo, "DEMO-26-000002", "<m2@resident>", channel="email")
        await repo.record_outbound("<ack1@omni311>", first)
        await repo.record_outbound("<ack2@omni311>", second)

    found = await facts(pool, "<m3@resident>", channel="email",
                        reply_ids=["<ack2@omni311>", "<ack1@omni311>", "<m1@resident>", "<m2@resident>"])
    # The SQL takes one row in no set order (LIMIT 1 without ORDER BY); only membership is promised.
    assert found.replied_ours in {first, second} and found.replied_theirs in {first, second}


async def test_a_reply_that_came_first_names_the_earliest_case_that_answered_this_message(pool: asyncpg.Pool) -> None:
    async with repository(pool) as repo:
        await open_case(repo, "DEMO-26-000001", "TR1", channel="voice", contact_key="k1",
                        at=NOW + timedelta(minutes=5), in_reply_to=["CA1"])
        earlier = await open_case(repo, "DEMO-26-000002", "SM1", contact_key="k2", at=NOW)
        await repo.upsert_reporter("k3", "voice", {}, NOW)
        # The earliest answer is a message k3 threaded onto k2's case: the case's opener is named.
        await add_message(repo, earlier, received("TR2", channel="voice", contact_key="k3",
                                                  at=NOW + timedelta(minutes=1), in_reply_to=["CA0", "CA1"]))

    assert (await facts(pool, "CA1", channel="voice")).answered_by == CaseRef(earlier, "k2")
    assert (await facts(pool, "CA0", channel="voice")).answered_by == CaseRef(earlier, "k2")
    assert (await facts(pool, "CA2", channel="voice")).answered_by is None


# --- threading_facts: together, and the rule's precedence over them ----------------------------------------


async def test_the_look_ups_are_independent_and_the_rule_takes_them_in_order(pool: asyncpg.Pool) -> None:
    async with repository(pool) as repo:
        hinted = await open_case(repo, "DEMO-26-000001", "SM-H", contact_key="k1")
        ours = await open_case(repo, "DEMO-26-000002", "SM-O", contact_key="k2")
        await repo.record_outbound("ack-O", ours)
        theirs = await open_case(repo, "DEMO-26-000003", "SM-T", contact_key="k2")
        answered = await open_case(repo, "DEMO-26-000004", "SM-A", contact_key="k1", in_reply_to=["NEW"])

    every = await facts(pool, "NEW", hinted="DEMO-26-000001", reply_ids=["SM-T", "ack-O"])
    assert every == ThreadingFacts(held_by=None, hinted=CaseRef(hinted, "k1"), replied_ours=ours,
                                   replied_theirs=theirs, answered_by=CaseRef(answered, "k1"))

    assert thread_into(every, "k1") == hinted  # 1. a number quoted by the case's own reporter
    assert thread_into(every, "k9") == ours  # someone else quoting it: 2. our message first
    no_hint = await facts(pool, "NEW", reply_ids=["SM-T"])
    assert thread_into(no_hint, "k1") == theirs  # 2. then the resident's
    no_reply = await facts(pool, "NEW")
    assert thread_into(no_reply, "k1") == answered  # 3. the reply that came first, same reporter only
    assert thread_into(no_reply, "k9") is None

    async with repository(pool) as repo:
        await add_message(repo, ours, received("NEW"))
    held = await facts(pool, "NEW", hinted="DEMO-26-000001", reply_ids=["SM-T", "ack-O"])
    assert held.held_by == ours and is_repeat(held)
    assert held.hinted == every.hinted and held.replied_theirs == theirs  # still looked up on their own


# --- locks and the merge chain ------------------------------------------------------------------------------


async def locked(pool: asyncpg.Pool, case_id: UUID) -> bool:
    """Whether another transaction holds the case's row (asked without waiting)."""
    async with pool.acquire() as conn:
        try:
            await conn.execute("SELECT 1 FROM cases WHERE case_id = $1 FOR UPDATE NOWAIT", case_id)
        except asyncpg.LockNotAvailableError:
            return True
        return False


async def test_lock_cases_holds_each_existing_row_until_the_transaction_ends(pool: asyncpg.Pool) -> None:
    async with repository(pool) as repo:
        a = await open_case(repo, "DEMO-26-000001")
        b = await open_case(repo, "DEMO-26-000002")
        c = await open_case(repo, "DEMO-26-000003")

    async with repository(pool) as repo:
        await repo.lock_cases(sorted([a, uuid4(), b]))  # an id with no case is skipped
        assert await locked(pool, a) and await locked(pool, b) and not await locked(pool, c)
    assert not await locked(pool, a) and not await locked(pool, b)


async def test_the_merge_chain_follows_each_merge_to_the_survivor_and_locks_it(pool: asyncpg.Pool) -> None:
    async with repository(pool) as repo:
        a = await open_case(repo, "DEMO-26-000001")
        b = await open_case(repo, "DEMO-26-000002")
        c = await open_case(repo, "DEMO-26-000003")
        d = await open_case(repo, "DEMO-26-000004")
        await repo.update_case(a, {"status": "closed", "merged_into": b})
        await repo.update_case(b, {"status": "closed", "merged_into": c})

    async with repository(pool) as repo:
        chain = await repo.merge_chain(a)
        assert chain == [CaseState(a, "closed", b, NOW), CaseState(b, "closed", c, NOW),
                         CaseState(c, "open", None, NOW)]
        assert await locked(pool, c) and not await locked(pool, d)
        candidate = await repo.case_state(d)
        assert candidate == CaseState(d, "open", None, NOW)
        assert plan_merge(candidate, chain) == MergePlan(duplicate=d, survivor=c)

    async with repository(pool) as repo:
        assert await repo.merge_chain(a, limit=2) == chain[:2]
        assert await repo.merge_chain(c) == [chain[2]]
        assert await repo.merge_chain(uuid4()) == [] and await repo.case_state(uuid4()) is None


async def test_the_merge_chain_stops_at_its_limit(pool: asyncpg.Pool) -> None:
    async with repository(pool) as repo:
        ids = [await open_case(repo, f"DEMO-26-{n:06d}") for n in range(1, MERGE_CHAIN_LIMIT + 3)]
        for case_id, into in zip(ids, ids[1:], strict=False):
            await repo.update_case(case_id, {"merged_into": into})

        chain = await repo.merge_chain(ids[0])
    assert [s.case_id for s in chain] == ids[:MERGE_CHAIN_LIMIT]


# --- what the repository writes, and what the constraints refuse -----------------------------------------


async def test_a_reporter_seen_again_keeps_channel_and_first_seen_and_merges_non_null_personal_data(
        pool: asyncpg.Pool) -> None:
    async with repository(pool) as repo:
        await repo.upsert_reporter("k1", "sms", {"phone": "+15555550100", "name": "Ann"}, NOW)
        await repo.upsert_reporter("k1", "email", {"name": None, "email": "ann@example.org"}, NOW + DAY)

    row = await pool.fetchrow("SELECT channel, pii, first_seen, last_seen FROM reporters WHERE contact_key = 'k1'")
    assert dict(row) == {"channel": "sms", "pii": {"phone": "+15555550100", "name": "Ann", "email": "ann@example.org"},
                         "first_seen": NOW, "last_seen": NOW + DAY}


async def test_get_case_gives_every_column_as_stored(pool: asyncpg.Pool) -> None:
    async with repository(pool) as repo:
        case_id = await open_case(repo, "DEMO-26-000001", "SM1", media_url=["https://m/1.jpg"], lat=45.4, long=-75.7)
        await repo.update_case(case_id, {"routing": {"queue": "roads", "priority": 2}, "queue": "roads"})
        case = await repo.get_case(case_id, for_update=True)
        assert await repo.get_case(uuid4()) is None

    assert case is not None and list(case) == [c.strip() for c in CASE_COLUMNS.split(",")]
    assert case["media_url"] == ["https://m/1.jpg"] and case["routing"] == {"queue": "roads", "priority": 2}
    assert case["requested_datetime"] == NOW and case["requested_datetime"].tzinfo is not None
    assert (case["status"], case["lat"], case["long"], case["description"]) == ("open", 45.4, -75.7, "report SM1")


async def test_what_the_tables_refuse_is_raised_as_the_asyncpg_error_named(pool: asyncpg.Pool) -> None:
    async with repository(pool) as repo:
        case_id = await open_case(repo, "DEMO-26-000001", "SM1")
        msg = received("SM1")
        refusals: list[tuple[type[Exception], Any]] = [
            (asyncpg.UniqueViolationError,  # the same channel message again, under a new message id
             lambda: repo.insert_message(records.message_row(msg, case_id=case_id, message_id=uuid4(),
                                                             event_id=uuid4()))),
            (asyncpg.ForeignKeyViolationError,  # a case whose reporter was never stored
             lambda: repo.insert_case(records.new_case_row(received("SM2", contact_key="nobody"), case_id=uuid4(),
                                                           number="DEMO-26-000002", jurisdiction_id="demo",
                                                           correlation_id=uuid4(), now=NOW))),
            (asyncpg.UniqueViolationError,  # a case number already given
             lambda: repo.insert_case(records.new_case_row(received("SM3"), case_id=uuid4(), number="DEMO-26-000001",
                                                           jurisdiction_id="demo", correlation_id=uuid4(), now=NOW))),
            (asyncpg.CheckViolationError, lambda: repo.update_case(case_id, {"status": "acknowledged"})),
            (asyncpg.UndefinedColumnError, lambda: repo.update_case(case_id, {"not_a_column": 1})),
            (asyncpg.PostgresSyntaxError, lambda: repo.update_case(case_id, {})),
            (asyncpg.ForeignKeyViolationError, lambda: repo.update_case(case_id, {"merged_into": uuid4()})),
            (asyncpg.ForeignKeyViolationError, lambda: repo.add_timeline(uuid4(), NOW, "opened", None, {})),
            (asyncpg.ForeignKeyViolationError, lambda: repo.record_outbound("<ack@omni311>", uuid4())),
        ]
        for error, attempt in refusals:
            with pytest.raises(error):
                async with repo.conn.transaction():  # a savepoint: the refusal does not abort the rest
                    await attempt()
        await repo.update_case(uuid4(), {"status": "closed"})  # no such case: nothing changes, nothing raised

    assert await pool.fetchval("SELECT count(*) FROM messages") == 1
    assert await pool.fetchval("SELECT status FROM cases") == "open"


async def test_a_case_number_given_out_is_not_taken_back_by_a_rollback(pool: asyncpg.Pool) -> None:
    async with repository(pool) as repo:
        assert await repo.next_case_number() == 1
    with pytest.raises(RuntimeError):
        async with repository(pool) as repo:
            assert await repo.next_case_number() == 2
            raise RuntimeError("the handler failed")
    async with repository(pool) as repo:
        assert await repo.next_case_number() == 3


# --- the merged statements of the consume path: one round trip each ------------------------------------------


async def test_the_look_up_reserves_a_case_number_only_for_a_message_that_opens_a_case(pool: asyncpg.Pool) -> None:
    async with repository(pool) as repo:
        case = await open_case(repo, "DEMO-26-000001", "SM1")
        first = await repo.threading_facts("sms", "SM2", hinted=None, reply_ids=[], reserve_number=True)
        repeat = await repo.threading_facts("sms", "SM1", hinted=None, reply_ids=[], reserve_number=True)
        threaded = await repo.threading_facts("sms", "SM3", hinted=None, reply_ids=["SM1"], reserve_number=True)
        asked_not = await repo.threading_facts("sms", "SM4", hinted=None, reply_ids=[])
        second = await repo.threading_facts("sms", "SM5", hinted=None, reply_ids=[], reserve_number=True)

    assert (first.reserved_number, second.reserved_number) == (1, 2), "no number taken for the others"
    assert repeat.held_by == case and repeat.reserved_number is None
    assert threaded.replied_theirs == case and threaded.reserved_number is None
    assert asked_not == ThreadingFacts()
    assert thread_into(first, "k1") is None and not is_repeat(first)


async def test_a_case_opens_in_one_statement_with_its_reporter_message_and_timeline_in_order(
        pool: asyncpg.Pool) -> None:
    msg = received("SM1", contact_key="k9")
    case_id = case_id_for("sms", "SM1")
    event_id = uuid4()
    row = records.new_case_row(msg, case_id=case_id, number="DEMO-26-000007", jurisdiction_id="demo",
                               correlation_id=uuid4(), now=NOW)
    message = records.message_row(msg, case_id=case_id, message_id=message_id_for("sms", "SM1"), event_id=event_id)
    async with repository(pool) as repo:
        await repo.upsert_reporter("k9", "email", {"name": "Ann", "email": "ann@example.org"}, NOW - DAY)
        await repo.open_case(("k9", "sms", {"name": None, "phone": "+15555550100"}, NOW), row, message, at=NOW,
                             event_id=event_id, entries=[("opened", {"n": 1}), ("location_checked", {"n": 2}),
                                                         ("third", {"actor": "system", "role": "system"})])
        with pytest.raises(asyncpg.UniqueViolationError):  # the same case again: nothing of it is written
            async with repo.conn.transaction():
                await repo.open_case(("k8", "sms", {}, NOW), row, message, at=NOW, event_id=event_id,
                                     entries=[("opened", {})])
        with pytest.raises(ValueError, match="at least one timeline entry"):
            await repo.open_case(("k8", "sms", {}, NOW), row, message, at=NOW, event_id=event_id, entries=[])

    reporter = await pool.fetchrow("SELECT channel, pii, first_seen, last_seen FROM reporters WHERE contact_key = 'k9'")
    assert dict(reporter) == {"channel": "email", "pii": {"name": "Ann", "email": "ann@example.org",
                                                          "phone": "+15555550100"},
                              "first_seen": NOW - DAY, "last_seen": NOW}, "as upsert_reporter merges"
    assert await pool.fetchval("SELECT count(*) FROM reporters WHERE contact_key = 'k8'") == 0
    assert await pool.fetchval("SELECT service_request_id FROM cases") == "DEMO-26-000007"
    assert await pool.fetchval("SELECT event_id FROM messages WHERE case_id = $1", case_id) == event_id
    timeline = await pool.fetch("SELECT kind, event_id, at, actor FROM timeline WHERE case_id = $1 ORDER BY id",
                                case_id)
    assert [(t["kind"], t["event_id"], t["at"], t["actor"]) for t in timeline] == [
        ("opened", event_id, NOW, None), ("location_checked", event_id, NOW, None), ("third", event_id, NOW, "system")]


async def test_a_change_updates_the_case_and_appends_its_entries_in_one_statement(pool: asyncpg.Pool) -> None:
    async with repository(pool) as repo:
        case_id = await open_case(repo, "DEMO-26-000001", "SM1")
        await repo.change_case(case_id, {"queue": "roads", "priority": 2}, at=NOW + DAY, event_id=None,
                               entries=[("routed", {"queue": "roads"}), ("located", {})])
        with pytest.raises(asyncpg.CheckViolationError):  # refused: neither the change nor its entry is kept
            async with repo.conn.transaction():
                await repo.change_case(case_id, {"status": "acknowledged"}, at=NOW, event_id=None,
                                       entries=[("routed", {})])
        with pytest.raises(asyncpg.ForeignKeyViolationError):
            async with repo.conn.transaction():
                await repo.change_case(uuid4(), {"queue": "x"}, at=NOW, event_id=None, entries=[("routed", {})])

    assert dict(await pool.fetchrow("SELECT queue, priority, status FROM cases")) == {
        "queue": "roads", "priority": 2, "status": "open"}
    assert [r["kind"] for r in await pool.fetch("SELECT kind FROM timeline ORDER BY id")] == ["routed", "located"]

    clock = {"case_id": case_id, "generation": 1, "clock": "calendar", "started_at": NOW, "routed_due_at": NOW + DAY,
             "due_at": NOW + DAY, "warn_at": None, "total_s": 86400.0, "state": "running", "paused_at": None,
             "remaining_s": None, "warning_fired_at": None, "breach_fired_at": None}
    async with repository(pool) as repo:
        await repo.case_with_clock(case_id)
        await repo.change_case(case_id, {"queue": "parks"}, at=NOW + 2 * DAY, event_id=None, entries=[("routed", {})],
                               clock=clock)
        assert case_id not in repo.locked_clocks, "a clock saved is read again"
        await repo.change_case(case_id, {"priority": 1}, at=NOW + 3 * DAY, event_id=None, entries=[("routed", {})],
                               clock={**clock, "generation": 2})  # replaced
        with pytest.raises(ValueError, match="the clock of case"):
            await repo.change_case(uuid4(), {"queue": "x"}, at=NOW, event_id=None, entries=[("routed", {})],
                                   clock=clock)
    saved = await pool.fetchrow("SELECT generation, due_at, updated_at, next_fire_at FROM sla_clocks")
    assert dict(saved) == {"generation": 2, "due_at": NOW + DAY, "updated_at": NOW + 3 * DAY, "next_fire_at": NOW + DAY}
    assert dict(await pool.fetchrow("SELECT queue, priority FROM cases")) == {"queue": "parks", "priority": 1}


async def test_a_case_read_with_its_clock_locks_both_and_hands_the_clock_to_the_next_locked_read(
        pool: asyncpg.Pool) -> None:
    async with repository(pool) as repo:
        case_id = await open_case(repo, "DEMO-26-000001", "SM1")
        bare = await open_case(repo, "DEMO-26-000002", "SM2")
        clock = {"case_id": case_id, "generation": 1, "clock": "calendar", "started_at": NOW,
                 "routed_due_at": NOW + DAY, "due_at": NOW + DAY, "warn_at": NOW + DAY / 2, "total_s": 86400.0,
                 "state": "running", "paused_at": None, "remaining_s": None, "warning_fired_at": None,
                 "breach_fired_at": None}
        await repo.save_sla_clock(clock, NOW)
    async with repository(pool) as repo:
        case = await repo.case_with_clock(case_id)
        assert case == await repo.get_case(case_id)
        async with pool.acquire() as other:
            for table in ("cases", "sla_clocks"):
                with pytest.raises(asyncpg.LockNotAvailableError):  # both rows are locked FOR UPDATE
                    await other.execute(f"SELECT 1 FROM {table} WHERE case_id = $1 FOR UPDATE NOWAIT", case_id)
        kept = repo.locked_clocks[case_id]
        assert kept is not None and kept["due_at"] == NOW + DAY and kept["next_fire_at"] == NOW + DAY / 2
        assert await repo.sla_clock(case_id, for_update=True) == kept == await repo.sla_clock(case_id)
        assert case_id not in repo.locked_clocks, "handed once; the next read asks the database"
        assert await repo.case_with_clock(bare) is not None and repo.locked_clocks[bare] is None
        assert await repo.sla_clock(bare, for_update=True) is None
        await repo.case_with_clock(case_id)
        await repo.save_sla_clock({**clock, "generation": 2}, NOW)
        assert case_id not in repo.locked_clocks, "a clock written is read again"
        assert (await repo.sla_clock(case_id, for_update=True) or {})["generation"] == 2
        assert await repo.case_with_clock(uuid4()) is None


@pytest.mark.parametrize("read", ["case_with_clock", "cases_with_clocks"])
async def test_a_case_read_with_its_clock_takes_the_case_first_like_every_other_writer(
        pool: asyncpg.Pool, read: str) -> None:
    """A staff command (or a reply resuming the clock) locks the case, then its clock; a decision's read of
    the case with its clock, started between the two, must wait on the case and hold nothing the staff side
    then waits for (it locked the clock first once: PostgreSQL found the cycle and failed one side)."""
    async with repository(pool) as repo:
        case_id = await open_case(repo, "DEMO-26-000001", "SM1")
        await repo.save_sla_clock({"case_id": case_id, "generation": 1, "clock": "calendar", "started_at": NOW,
                                   "routed_due_at": NOW + DAY, "due_at": NOW + DAY, "warn_at": None,
                                   "total_s": 86400.0, "state": "running", "paused_at": None, "remaining_s": None,
                                   "warning_fired_at": None, "breach_fired_at": None}, NOW)
    async with pool.acquire() as staff, pool.acquire() as decision:
        async with staff.transaction():
            await staff.execute("SELECT 1 FROM cases WHERE case_id = $1 FOR UPDATE", case_id)
            repo = CaseRepository(decision)
            tx = decision.transaction()
            await tx.start()
            reading = asyncio.create_task(
                repo.case_with_clock(case_id) if read == "case_with_clock" else repo.cases_with_clocks([case_id]))
            await asyncio.sleep(0.5)  # the read is now waiting on whatever it locks first
            assert not reading.done()
            await asyncio.wait_for(staff.execute("SELECT 1 FROM sla_clocks WHERE case_id = $1 FOR UPDATE", case_id),
                                   timeout=15)
        try:
            assert await asyncio.wait_for(reading, timeout=15)
            assert repo.locked_clocks[case_id] is not None
        finally:
            await tx.rollback()


# --- CaseReads: the case API's queries ------------------------------------------------------------------------


@pytest.fixture
async def reads(pool: asyncpg.Pool) -> CaseReads:
    """Five cases: (number, service code, reporter, requested), case 3 closed; cases 3, 4 and 5 requested at
    the same time; k1 also wrote on case 3, which k2 opened."""
    async with repository(pool) as repo:
        for n, code, reporter, requested in [(1, "pothole", "k1", NOW - 3 * DAY),
                                             (2, "streetlight", "k1", NOW - 2 * DAY),
                                             (3, "pothole", "k2", NOW - DAY), (4, "pothole", "k1", NOW - DAY),
                                             (5, "graffiti", "k1", NOW - DAY)]:
            case_id = await open_case(repo, f"DEMO-26-{n:06d}", f"SM{n}", contact_key=reporter, service_code=code,
                                      at=requested)
            if n == 3:
                await repo.update_case(case_id, {"status": "closed"})
                await add_message(repo, case_id, received("SM3-k1", contact_key="k1"))
    return CaseReads(pool)


def numbers(rows: list[dict[str, Any]]) -> list[int]:
    return [int(r["service_request_id"].rsplit("-", 1)[1]) for r in rows]


async def search(reads: CaseReads, **q: Any) -> list[int]:
    return numbers(await reads.requests(RequestQuery(**q)))


async def test_a_search_is_newest_first_ties_by_number_and_filters_combine(reads: CaseReads) -> None:
    assert await search(reads) == [3, 4, 5, 2, 1]
    assert await search(reads, limit=2) == [3, 4]
    assert await search(reads, service_codes=["pothole"]) == [3, 4, 1]
    assert await search(reads, statuses=["open"]) == [4, 5, 2, 1]
    assert await search(reads, service_codes=["pothole", "graffiti"], statuses=["open"]) == [4, 5, 1]
    assert await search(reads, service_request_ids=["DEMO-26-000001", "DEMO-26-000002", "DEMO-26-999999"]) == [2, 1]
    assert await search(reads, service_codes=[]) == [] and await search(reads, statuses=[]) == []
    assert set((await reads.requests(RequestQuery(limit=1)))[0]) == COLUMNS


async def test_a_search_by_dates_bounds_requested_datetime_inclusively_as_instants(reads: CaseReads) -> None:
    two_days_ago = NOW - 2 * DAY
    assert await search(reads, start_date=two_days_ago) == [3, 4, 5, 2]
    assert await search(reads, end_date=two_days_ago) == [2, 1]
    assert await search(reads, start_date=two_days_ago, end_date=two_days_ago) == [2]
    local = two_days_ago.astimezone(ZoneInfo("America/Toronto"))
    assert await search(reads, start_date=local, end_date=local) == [2]
    assert await search(reads, start_date=two_days_ago, statuses=["open"], limit=2) == [4, 5]


async def test_a_reporters_cases_are_those_they_opened_newest_first_ties_by_number_descending(
        reads: CaseReads) -> None:
    assert numbers(await reads.by_contact("k1")) == [5, 4, 2, 1]  # not case 3, which k1 only wrote on
    assert numbers(await reads.by_contact("k2")) == [3]
    assert await reads.by_contact("nobody") == []


async def test_a_reporter_is_shown_their_fifty_newest_cases(pool: asyncpg.Pool) -> None:
    async with repository(pool) as repo:
        for n in range(1, BY_CONTACT_LIMIT + 2):
            await open_case(repo, f"DEMO-26-{n:06d}", contact_key="k9", at=NOW + n * timedelta(minutes=1))

    shown = numbers(await CaseReads(pool).by_contact("k9"))
    assert shown == list(range(BY_CONTACT_LIMIT + 1, 1, -1))  # the oldest one is left out


async def test_a_token_names_the_case_holding_that_channel_message(reads: CaseReads, pool: asyncpg.Pool) -> None:
    async with repository(pool) as repo:
        case_id = await open_case(repo, "DEMO-26-000010", "tok-1", channel="open311")
        await add_message(repo, case_id, received("tok-2", channel="open311"))

    assert await reads.number_for_token("open311", "tok-1") == "DEMO-26-000010"
    assert await reads.number_for_token("open311", "tok-2") == "DEMO-26-000010"  # a message threaded onto it
    assert await reads.number_for_token("web", "tok-1") is None
    assert await reads.number_for_token("open311", "tok-3") is None
    assert await reads.number_for_token("sms", "SM1") == "DEMO-26-000001"


async def test_a_case_its_id_its_number_and_its_timeline_in_the_order_written(reads: CaseReads,
                                                                              pool: asyncpg.Pool) -> None:
    case_id = await reads.case_id("DEMO-26-000001")
    other = await reads.case_id("DEMO-26-000002")
    assert case_id is not None and other is not None
    cause = uuid4()
    async with repository(pool) as repo:
        await repo.add_timeline(case_id, NOW, "opened", cause, {"channel": "sms"})
        await repo.add_timeline(other, NOW, "opened", None, {})
        # Written later with an earlier time: the timeline keeps the order entries were written in.
        await repo.add_timeline(case_id, NOW - DAY, "routed", None, {"queue": "roads", "fields": ["lat", "long"]})

    assert await reads.timeline(case_id) == [
        {"at": NOW, "kind": "opened", "event_id": cause, "detail": {"channel": "sms"}},
        {"at": NOW - DAY, "kind": "routed", "event_id": None, "detail": {"queue": "roads", "fields": ["lat", "long"]}},
    ]
    assert await reads.timeline(uuid4()) == []
    case = await reads.case("DEMO-26-000001")
    assert case is not None and case["case_id"] == case_id and set(case) == COLUMNS
    assert await reads.case("DEMO-26-999999") is None and await reads.case_id("DEMO-26-999999") is None
    assert await reads.number_of(case_id) == "DEMO-26-000001" and await reads.number_of(uuid4()) is None


# --- the rows the handlers build fit the tables ---------------------------------------------------------------


async def test_a_report_and_its_reply_through_the_handlers_on_a_real_unit_of_work(pool: asyncpg.Pool,
                                                                                  fresh_schema_name: str) -> None:
    table = handlers.handlers(load_jurisdiction("demo"))

    async def consume(msg: MessageReceived, offset: int) -> str | None:
        env = event(msg, subject=msg.contact_key)
        delivery = Delivery(topic="intake.messages", partition=0, offset=offset, consumer=fresh_schema_name)
        return await dispatch(table, env, lambda: PgUnitOfWork(
            pool, service=fresh_schema_name, repository=CaseRepository, now=NOW, envelope=env, delivery=delivery))

    report = received("SM1", pii={"phone": "+15555550100"}, media_url=["https://m/1.jpg"])
    assert await consume(report, 1) == "opened"
    reply = received("SM2", at=NOW + timedelta(minutes=1), case_number_hint="about DEMO-26-000001",
                     media_url=["https://m/1.jpg", "https://m/2.jpg"], in_reply_to=["x"])
    assert await consume(reply, 2) == "added"
    assert await consume(received("SM2"), 3) == "duplicate"

    reads = CaseReads(pool)
    case = await reads.case("DEMO-26-000001")
    assert case is not None and case["media_url"] == ["https://m/1.jpg", "https://m/2.jpg"]
    assert [e["kind"] for e in await reads.timeline(case["case_id"])] == ["opened", "message_added"]
    assert await reads.number_for_token("sms", "SM2") == "DEMO-26-000001"
    outbox = [Envelope.from_bytes(r["payload"]) for r in await pool.fetch("SELECT payload FROM outbox ORDER BY id")]
    assert [e.event_type for e in outbox] == [CaseOpened.event_type, CaseMessageAdded.event_type]
    assert outbox[1].payload(CaseMessageAdded).service_request_id == "DEMO-26-000001"
