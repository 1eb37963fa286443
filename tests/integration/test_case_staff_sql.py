"""The staff side of the case store against real PostgreSQL: migration 003 on cases stored before it, the
timeline's actor and role columns, a case's reporters through merges, duplicate suggestions, the staff
list's filters, order and SLA badges (with and without a clock), and staff commands on a real unit of
work with their outbox rows."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import pytest

import shared.db.migrate as migrations
from services.case.adapters.reads import StaffQuery, StaffReads
from services.case.adapters.repository import CaseRepository
from services.case.domain import commands as c
from services.case.domain import records
from services.case.domain.threading import case_id_for, message_id_for
from services.case.service_layer import staff
from shared.db.migrate import migrate
from shared.db.pool import create_pool
from shared.db.unit_of_work import PgUnitOfWork
from shared.events import CaseUnmerged, Envelope, MessageReceived
from shared.jurisdiction import load_jurisdiction

NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
DEMO = load_jurisdiction("demo")
STAFF = c.Actor("u-staff", "Sasha Staff", "department_staff", "public-works", frozenset({"roads-north"}))


@pytest.fixture
def migrated_package() -> str:
    return "services.case"


@pytest.fixture
def pool(service_pool: asyncpg.Pool) -> asyncpg.Pool:
    return service_pool


async def store_case(conn: asyncpg.Connection, number: str, *, contact_key: str = "k1", channel: str = "sms",
                     pii: dict[str, Any] | None = None, at: datetime = NOW, **columns: Any) -> UUID:
    """A case as the handler opens one (reporter, row, first message), then `columns` set on it."""
    repo = CaseRepository(conn)
    msg = MessageReceived(channel=channel, channel_message_id=f"open-{number}", contact_key=contact_key,
                          received_at=at, description=f"report {number}", media_url=[f"https://m/{number}.jpg"])
    case_id = case_id_for(msg.channel, msg.channel_message_id)
    await repo.upsert_reporter(contact_key, channel, pii or {}, at)
    await repo.insert_case(records.new_case_row(msg, case_id=case_id, number=number, jurisdiction_id="demo",
                                                correlation_id=uuid4(), now=at))
    await repo.insert_message(records.message_row(msg, case_id=case_id,
                                                  message_id=message_id_for(msg.channel, msg.channel_message_id),
                                                  event_id=uuid4()))
    if columns:
        await repo.update_case(case_id, columns)
    return case_id


async def test_migration_003_gives_cases_stored_before_it_their_workflow_status(
        database: str, fresh_schema_name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    everything = migrations._service_migrations

    def before_003(package: str) -> list[tuple[str, str]]:
        return [m for m in everything(package) if m[0] < "003"]

    monkeypatch.setattr(migrations, "_service_migrations", before_003)
    await migrate(database, fresh_schema_name, "services.case")
    p = await create_pool(database, fresh_schema_name, application_name="it-case-003", max_size=1)
    try:
        async with p.acquire() as conn:
            for number, columns in (("DEMO-26-000001", {}), ("DEMO-26-000002", {"routing": {"rule_id": "r"}}),
                                    ("DEMO-26-000003", {"status": "closed"})):
                msg = MessageReceived(channel="sms", channel_message_id=number, contact_key="k1", received_at=NOW)
                await conn.execute("INSERT INTO reporters (contact_key, channel, first_seen, last_seen) "
                                   "VALUES ('k1', 'sms', $1, $1) ON CONFLICT DO NOTHING", NOW)
                row = records.new_case_row(msg, case_id=uuid4(), number=number, jurisdiction_id="demo",
                                           correlation_id=uuid4(), now=NOW)
                row.pop("workflow_status"), row.pop("attributes"), row.pop("location_source")  # later migrations
                await conn.execute(f"INSERT INTO cases ({', '.join(row)}) VALUES "
                                   f"({', '.join(f'${i + 1}' for i in range(len(row)))})", *row.values())
                if columns:
                    await CaseRepository(conn).update_case(row["case_id"], columns)
            first = await conn.fetchval("SELECT case_id FROM cases WHERE service_request_id = 'DEMO-26-000001'")
            await conn.execute("UPDATE cases SET status = 'closed', merged_into = $1 "
                               "WHERE service_request_id = 'DEMO-26-000003'", first)
            await conn.execute("UPDATE cases SET status = 'closed' WHERE service_request_id = 'DEMO-26-000002'")
            await conn.execute("INSERT INTO reporters (contact_key, channel, first_seen, last_seen) "
                               "VALUES ('k2', 'sms', $1, $1)", NOW)
    finally:
        await p.close()
    monkeypatch.setattr(migrations, "_service_migrations", everything)
    await migrate(database, fresh_schema_name, "services.case")
    p = await create_pool(database, fresh_schema_name, application_name="it-case-003", max_size=1)
    try:
        rows = await p.fetch("SELECT service_request_id, workflow_status, assignee FROM cases ORDER BY 1")
        assert [(r["service_request_id"], r["workflow_status"], r["assignee"]) for r in rows] == [
            ("DEMO-26-000001", "new", None), ("DEMO-26-000002", "closed", None), ("DEMO-26-000003", "duplicate", None)]
    finally:
        await p.close()


async def test_a_staff_entry_keeps_its_actor_and_role_in_columns_too(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn, conn.transaction():
        case_id = await store_case(conn, "DEMO-26-000001")
        repo = CaseRepository(conn)
        await repo.add_timeline(case_id, NOW, "internal_note", None, {"actor": "u-1", "role": "supervisor", "text": "x"})
        await repo.add_timeline(case_id, NOW, "routed", uuid4(), {"queue": "roads"})
    rows = await pool.fetch("SELECT kind, actor, role FROM timeline WHERE case_id = $1 ORDER BY id", case_id)
    assert [tuple(r) for r in rows] == [("internal_note", "u-1", "supervisor"), ("routed", None, None)]


async def test_the_reporters_of_a_case_include_those_merged_into_it_transitively(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn, conn.transaction():
        a = await store_case(conn, "DEMO-26-000001", contact_key="ka", pii={"email": "ann@example.org"})
        b = await store_case(conn, "DEMO-26-000002", contact_key="kb", at=NOW + HOUR, pii={"phone": "+15145550123"})
        d = await store_case(conn, "DEMO-26-000003", contact_key="kc", at=NOW + 2 * HOUR)
        await store_case(conn, "DEMO-26-000004", contact_key="ka", at=NOW + 3 * HOUR)
        repo = CaseRepository(conn)
        await repo.update_case(b, {"status": "closed", "merged_into": a})
        await repo.update_case(d, {"status": "closed", "merged_into": b})
        assert await repo.reporters_of(a) == ["ka", "kb", "kc"]
        assert await repo.reporters_of(b) == ["kb", "kc"]
        assert await repo.reporters_of(uuid4()) == []
    reads = StaffReads(pool)
    reporters = await reads.reporters(a)
    assert [(r["contact_key"], r["case"], r["merged"]) for r in reporters] == [
        ("ka", "DEMO-26-000001", False), ("kb", "DEMO-26-000002", True), ("kc", "DEMO-26-000003", True)]
    assert reporters[0]["pii"] == {"email": "ann@example.org"}
    assert [m["service_request_id"] for m in await reads.merged_into_it(a)] == ["DEMO-26-000002"]
    [message] = await reads.messages(a)
    assert (message["channel"], message["description"], message["media_url"]) == (
        "sms", "report DEMO-26-000001", ["https://m/DEMO-26-000001.jpg"])


async def test_a_suggestion_is_stored_once_per_event_decided_and_listed_in_scope(pool: asyncpg.Pool) -> None:
    event_id = uuid4()
    async with pool.acquire() as conn, conn.transaction():
        a = await store_case(conn, "DEMO-26-000001", queue="roads")
        b = await store_case(conn, "DEMO-26-000002", queue="roads")
        repo = CaseRepository(conn)
        row = {"id": uuid4(), "case_id": b, "duplicate_of": a, "score": 0.4, "evidence": {"distance_m": 30.0},
               "event_id": event_id, "created_at": NOW}
        assert await repo.insert_suggestion(row) is True
        assert await repo.insert_suggestion({**row, "id": uuid4()}) is False
        assert await repo.pending_suggestion(b, a) == row["id"] and await repo.pending_suggestion(a, b) is None
        with pytest.raises(asyncpg.ForeignKeyViolationError):
            async with conn.transaction():
                await repo.insert_suggestion({**row, "id": uuid4(), "event_id": uuid4(), "case_id": uuid4()})
    reads = StaffReads(pool)
    [listed] = await reads.suggestions(status="pending", queues=["roads"])
    assert (listed["case"], listed["duplicate_of_case"], listed["evidence"]) == (
        "DEMO-26-000002", "DEMO-26-000001", {"distance_m": 30.0})
    assert await reads.suggestions(status="pending", queues=["water-ops"]) == []
    async with pool.acquire() as conn, conn.transaction():
        repo = CaseRepository(conn)
        stored = await repo.get_suggestion(row["id"])
        assert stored is not None and stored["status"] == "pending"
        await repo.decide_suggestion(row["id"], status="rejected", decided_by="u-1", decided_at=NOW, reason="no")
        with pytest.raises(asyncpg.CheckViolationError):
            async with conn.transaction():
                await repo.decide_suggestion(row["id"], status="maybe", decided_by="u-1", decided_at=NOW, reason=None)
    assert await reads.suggestions(status="pending", queues=None) == []
    [done] = await reads.suggestions(status=None, queues=None)
    assert (done["status"], done["decided_by"], done["reason"]) == ("rejected", "u-1", "no")


async def add_clock(conn: asyncpg.Connection, case_id: UUID, *, due_at: datetime, warn_at: datetime | None,
                    state: str = "running", breach_fired_at: datetime | None = None) -> None:
    await conn.execute(
        "INSERT INTO sla_clocks (case_id, generation, clock, started_at, routed_due_at, due_at, warn_at, total_s, "
        "state, paused_at, updated_at, breach_fired_at) VALUES ($1, 1, 'calendar', $2, $3, $3, $4, 3600, $5, $6, $2, $7)",
        case_id, NOW - 10 * HOUR, due_at, warn_at, state, None if state == "running" else NOW, breach_fired_at)


async def test_the_staff_list_filters_sorts_by_due_time_and_computes_sla_badges(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn, conn.transaction():
        ok = await store_case(conn, "DEMO-26-000001", queue="roads", sla_due_at=NOW + 5 * HOUR, district="east",
                              workflow_status="acknowledged", service_code="pothole")
        warn = await store_case(conn, "DEMO-26-000002", queue="roads", sla_due_at=NOW + 2 * HOUR,
                                workflow_status="assigned", assignee="u-staff", service_code="pothole")
        await add_clock(conn, warn, due_at=NOW + 2 * HOUR, warn_at=NOW - HOUR)
        late = await store_case(conn, "DEMO-26-000003", queue="lighting", sla_due_at=NOW - HOUR, channel="email",
                                workflow_status="in_progress")
        paused = await store_case(conn, "DEMO-26-000004", queue="roads", sla_due_at=NOW + HOUR,
                                  workflow_status="waiting_on_resident")
        await add_clock(conn, paused, due_at=NOW + HOUR, warn_at=NOW - HOUR, state="paused")
        await store_case(conn, "DEMO-26-000005", queue="roads", workflow_status="acknowledged")
        await store_case(conn, "DEMO-26-000006", queue="roads", sla_due_at=NOW - HOUR, status="closed",
                         workflow_status="resolved")
        await store_case(conn, "DEMO-26-000007", queue="water-ops", sla_due_at=NOW)
        # Closed after its breach: the badge keeps saying so (the clock's rule, domain.sla.sla_state).
        closed_late = await store_case(conn, "DEMO-26-000008", queue="water-ops", sla_due_at=NOW - 3 * HOUR,
                                       status="closed", workflow_status="resolved")
        await add_clock(conn, closed_late, due_at=NOW - 3 * HOUR, warn_at=None, state="stopped",
                        breach_fired_at=NOW - 3 * HOUR)
    reads = StaffReads(pool)

    async def listed(**kw: Any) -> list[tuple[str, str]]:
        return [(r["service_request_id"], r["sla_state"]) for r in await reads.staff_cases(StaffQuery(**kw), NOW)]

    assert await listed(queues=["roads", "lighting"]) == [
        ("DEMO-26-000003", "breached"), ("DEMO-26-000006", "none"), ("DEMO-26-000004", "paused"),
        ("DEMO-26-000002", "warning"), ("DEMO-26-000001", "ok"), ("DEMO-26-000005", "none")]
    assert await listed(queues=["roads"], sla_states=["warning", "breached"]) == [("DEMO-26-000002", "warning")]
    assert await listed(assignee="u-staff") == [("DEMO-26-000002", "warning")]
    assert await listed(statuses=["acknowledged"], district="east") == [("DEMO-26-000001", "ok")]
    assert await listed(channel="email", queue="lighting") == [("DEMO-26-000003", "breached")]
    assert await listed(queues=[]) == []
    assert len(await listed(limit=2)) == 2
    assert await listed(queue="water-ops") == [("DEMO-26-000008", "breached"), ("DEMO-26-000007", "breached")]
    assert len(await listed()) == 8 and await listed(service_code="pothole", limit=1) == [("DEMO-26-000002", "warning")]
    sla = await reads.sla(warn, NOW)
    assert (sla["state"], sla["due_at"], sla["warn_at"], sla["paused_at"]) == ("warning", NOW + 2 * HOUR,
                                                                              NOW - HOUR, None)
    assert (await reads.sla(ok, NOW))["state"] == "ok" and (await reads.sla(uuid4(), NOW))["state"] == "none"
    assert (await reads.sla(late, NOW))["state"] == "breached"
    assert (await reads.sla(paused, NOW))["paused_at"] == NOW
    assert (await reads.sla(closed_late, NOW))["paused_at"] is None  # stopped, not paused


async def test_staff_commands_on_a_real_unit_of_work_write_their_rows_and_outbox(
        pool: asyncpg.Pool, fresh_schema_name: str) -> None:
    async with pool.acquire() as conn, conn.transaction():
        first = await store_case(conn, "DEMO-26-000001", queue="roads", workflow_status="acknowledged")
        second = await store_case(conn, "DEMO-26-000002", contact_key="k2", queue="roads",
                                  workflow_status="acknowledged")

    def uow() -> PgUnitOfWork[CaseRepository]:
        return PgUnitOfWork(pool, service=fresh_schema_name, repository=CaseRepository, now=NOW, envelope=None)

    async with uow() as u:
        await staff.claim(c.Claim(second, STAFF), u, jurisdiction=DEMO)
    async with uow() as u:
        await staff.add_note(c.AddNote(second, STAFF, "same hole as 1?"), u, jurisdiction=DEMO)
    async with uow() as u:
        await staff.merge(c.Merge(second, STAFF, first, "same hole"), u, jurisdiction=DEMO)
    with pytest.raises(staff.Conflict):
        async with uow() as u:
            await staff.transition(c.Transition(second, STAFF, "in_progress"), u, jurisdiction=DEMO)
    async with uow() as u:
        await staff.unmerge(c.Unmerge(second, STAFF, "other side of the street"), u, jurisdiction=DEMO)

    case = await StaffReads(pool).case("DEMO-26-000002")
    assert case is not None
    assert (case["status"], case["workflow_status"], case["merged_into"], case["assignee"]) == (
        "open", "assigned", None, "u-staff")
    kinds = [(e["kind"], e["detail"].get("actor")) for e in await StaffReads(pool).timeline(second)]
    assert kinds == [("claimed", "u-staff"), ("internal_note", "u-staff"), ("merged", "u-staff"),
                     ("unmerged", "u-staff")]
    outbox = [Envelope.from_bytes(r["payload"]) for r in await pool.fetch("SELECT payload FROM outbox ORDER BY id")]
    assert [e.event_type for e in outbox] == ["case.assigned", "case.status_changed", "case.merged", "case.unmerged"]
    assert not any("same hole as 1?" in e.model_dump_json() for e in outbox)
    assert outbox[-1].payload(CaseUnmerged).unmerged_from_service_request_id == "DEMO-26-000001"


async def test_the_staff_lists_sla_badge_agrees_with_the_clocks_own_rule_for_every_kind_of_clock(
        pool: asyncpg.Pool) -> None:
    # One rule, two places: the SQL badge of the staff list and case page (adapters/reads._SLA, which a
    # list must filter and sort on) and domain.sla.sla_state, which the timer and handlers use.
    from itertools import product

    from services.case.service_layer import timers

    past, future = NOW - HOUR, NOW + HOUR
    kinds = list(product(("running", "paused", "stopped"), (past, future), (None, past, future),
                         (None, past), (None, past)))
    async with pool.acquire() as conn, conn.transaction():
        for n, (state, due_at, warn_at, warning_fired_at, breach_fired_at) in enumerate(kinds, start=1):
            case_id = await store_case(conn, f"DEMO-26-{n:06d}", contact_key=f"k{n}", queue="roads",
                                       sla_due_at=due_at, workflow_status="in_progress")
            await conn.execute(
                "INSERT INTO sla_clocks (case_id, generation, clock, started_at, routed_due_at, due_at, warn_at,"
                " total_s, state, paused_at, warning_fired_at, breach_fired_at, updated_at)"
                " VALUES ($1, 1, 'calendar', $2, $3, $3, $4, 3600, $5, $6, $7, $8, $2)",
                case_id, NOW - 10 * HOUR, due_at, warn_at, state, None if state == "running" else past,
                warning_fired_at, breach_fired_at)
        clocks = {r["case_id"]: dict(r) for r in await conn.fetch("SELECT * FROM sla_clocks")}
    reads = StaffReads(pool)
    listed = await reads.staff_cases(StaffQuery(limit=500), NOW)
    assert len(listed) == len(kinds) == len(clocks)
    expected = {r["case_id"]: timers.sla_state(clocks[r["case_id"]], NOW) for r in listed}
    assert {r["case_id"]: r["sla_state"] for r in listed} == expected
    assert set(expected.values()) == {"ok", "warning", "breached", "paused", "none"}, "every badge is tried"
    for case_id in list(clocks)[::7]:
        assert (await reads.sla(case_id, NOW))["state"] == expected[case_id]


async def test_department_staff_keep_listing_their_own_case_once_it_escalated_to_the_supervisor_queue(
        pool: asyncpg.Pool) -> None:
    from services.case.domain import staff as rules

    async with pool.acquire() as conn, conn.transaction():
        await store_case(conn, "DEMO-26-000001", queue="roads", assignee="u-staff")
        await store_case(conn, "DEMO-26-000002", contact_key="k2", queue="public-works-supervisors",
                         assignee="u-staff")  # escalated: moved to the supervisors' queue
        await store_case(conn, "DEMO-26-000003", contact_key="k3", queue="public-works-supervisors",
                         assignee="u-other")
        await store_case(conn, "DEMO-26-000004", contact_key="k4", queue="water-supervisors", assignee="u-staff")
    reads = StaffReads(pool)
    scope, own = rules.visible_queues(STAFF, DEMO), rules.own_case_queues(STAFF, DEMO)
    assert own == ["public-works-supervisors"] and "public-works-supervisors" not in (scope or [])

    async def listed(**kw: Any) -> list[str]:
        q = StaffQuery(queues=scope, assigned_in=(STAFF.subject, own), **kw)
        return [r["service_request_id"] for r in await reads.staff_cases(q, NOW)]

    assert sorted(await listed()) == ["DEMO-26-000001", "DEMO-26-000002"]
    assert sorted(await listed(assignee="u-staff")) == ["DEMO-26-000001", "DEMO-26-000002"]
    assert await listed(queue="public-works-supervisors") == ["DEMO-26-000002"]
    supervisor = c.Actor("u-sup", "Sam", "supervisor", "public-works", frozenset())
    assert rules.own_case_queues(supervisor, DEMO) == []


async def test_a_public_update_sent_twice_with_its_id_is_one_entry_and_one_outbox_row(
        pool: asyncpg.Pool, fresh_schema_name: str) -> None:
    async with pool.acquire() as conn, conn.transaction():
        case_id = await store_case(conn, "DEMO-26-000001", queue="roads", workflow_status="acknowledged")
    update_id = uuid4()
    for _ in range(2):
        async with PgUnitOfWork(pool, service=fresh_schema_name, repository=CaseRepository, now=NOW,
                                envelope=None) as u:
            await staff.post_update(c.PostUpdate(case_id, STAFF, "Crew booked.", update_id), u, jurisdiction=DEMO)
    kinds = [e["kind"] for e in await StaffReads(pool).timeline(case_id)]
    assert kinds.count("public_update") == 1
    assert await pool.fetchval("SELECT count(*) FROM outbox") == 1
    async with pool.acquire() as conn:
        repo = CaseRepository(conn)
        assert await repo.has_timeline_entry(case_id, "public_update", "update_id", str(update_id))
        assert not await repo.has_timeline_entry(case_id, "public_update", "update_id", str(uuid4()))
        assert not await repo.has_timeline_entry(case_id, "reply", "update_id", str(update_id))
