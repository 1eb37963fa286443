"""SLA clocks and the retention job against real PostgreSQL: the hooks write the clock the timer reads, a
due clock fires once (fired marks, timeline, escalation and outbox rows in one transaction), a clock
another transaction holds is skipped, closed cases stop their clocks, `closed_at` follows the status, and
retention erases a case's personal data once, sparing reporters and cases still within retention."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import pytest

from services.case.adapters.repository import CaseRepository
from services.case.domain import records
from services.case.domain.threading import case_id_for, message_id_for
from services.case.domain.commands import Actor, Transition
from services.case.service_layer import handlers, retention, staff, timers
from shared.db.unit_of_work import PgUnitOfWork
from shared.events import MessageReceived, RoutingDecided, RoutingFields
from shared.jurisdiction import Jurisdiction, load_jurisdiction
from shared.kafka import Delivery
from shared.service_layer import dispatch
from support.uow import event

NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)  # a Monday, 10:00 in Demoville
SUPERVISOR = "supervisor.public-works@demoville.example"
STAFF = Actor(subject="u-staff", name="Sam Staff", role="department_staff", department="public-works")


@pytest.fixture
def migrated_package() -> str:
    return "services.case"


@pytest.fixture
def pool(service_pool: asyncpg.Pool) -> asyncpg.Pool:
    return service_pool


@pytest.fixture(scope="module")
def demo() -> Jurisdiction:
    return load_jurisdiction("demo")


def uow(pool: asyncpg.Pool, schema: str, now: datetime = NOW) -> PgUnitOfWork[CaseRepository]:
    return PgUnitOfWork(pool, service=schema, repository=CaseRepository, now=now)


@asynccontextmanager
async def repository(pool: asyncpg.Pool) -> AsyncIterator[CaseRepository]:
    async with pool.acquire() as conn, conn.transaction():
        yield CaseRepository(conn)


async def make_case(pool: asyncpg.Pool, number: str, *, contact_key: str = "k1", service_code: str = "pothole",
                    queue: str = "roads", priority: int = 3, requested: datetime = NOW,
                    description: str = "Pothole at the corner", pii: dict[str, Any] | None = None,
                    media: list[str] | None = None) -> UUID:
    """A routed, open case (reporter, `cases` row, its first message) as the handlers leave one."""
    msg = MessageReceived(channel="sms", channel_message_id=f"SM-{number}", contact_key=contact_key,
                          received_at=requested, description=description, media_url=media or [])
    case_id = case_id_for(msg.channel, msg.channel_message_id)
    async with repository(pool) as repo:
        await repo.upsert_reporter(contact_key, "sms", pii or {}, requested)
        await repo.insert_case(records.new_case_row(msg, case_id=case_id, number=number, jurisdiction_id="demo",
                                                    correlation_id=uuid4(), now=requested,
                                                    workflow_status="acknowledged"))
        await repo.insert_message(records.message_row(msg, case_id=case_id, event_id=uuid4(),
                                                      message_id=message_id_for(msg.channel, msg.channel_message_id)))
        await repo.update_case(case_id, {"service_code": service_code, "queue": queue, "priority": priority,
                                         "service_name": service_code.title()})
    return case_id


async def case_row(pool: asyncpg.Pool, case_id: UUID) -> dict[str, Any]:
    async with repository(pool) as repo:
        row = await repo.get_case(case_id)
    assert row is not None
    return row


async def arm(pool: asyncpg.Pool, schema: str, demo: Jurisdiction, case_id: UUID, due: datetime,
              now: datetime = NOW) -> None:
    async with uow(pool, schema, now) as u:
        await timers.arm(u, await u.repo.get_case(case_id, for_update=True), due, jurisdiction=demo)


async def outbox(pool: asyncpg.Pool, case_id: UUID | None = None) -> list[dict[str, Any]]:
    async with pool.acquire() as conn:
        rows = await conn.fetch("SELECT payload FROM outbox ORDER BY id")
    envs = [json.loads(bytes(r["payload"])) for r in rows]
    return [e for e in envs if case_id is None or e["subject"] == str(case_id)]


async def timeline(pool: asyncpg.Pool, case_id: UUID) -> list[dict[str, Any]]:
    async with pool.acquire() as conn:
        return [dict(r) for r in await conn.fetch("SELECT kind, detail FROM timeline WHERE case_id = $1 ORDER BY id",
                                                  case_id)]


async def fire(pool: asyncpg.Pool, schema: str, demo: Jurisdiction, now: datetime) -> int:
    async with uow(pool, schema, now) as u:
        return await timers.fire_due(u, jurisdiction=demo)


# --- clocks ---------------------------------------------------------------------------------------------


async def test_the_hooks_write_the_clock_the_timer_reads(pool: asyncpg.Pool, fresh_schema_name: str,
                                                         demo: Jurisdiction) -> None:
    case_id = await make_case(pool, "DEMO-26-000001")
    due = demo.due_at(NOW, 9)  # Monday 10:00 + 9 business hours: Tuesday 10:00
    await arm(pool, fresh_schema_name, demo, case_id, due)
    await arm(pool, fresh_schema_name, demo, case_id, due)  # the same decision again: nothing changes
    async with repository(pool) as repo:
        clock = await repo.sla_clock(case_id)
        assert clock is not None and clock["generation"] == 1 and clock["state"] == "running"
        assert clock["due_at"] == due and clock["next_fire_at"] == clock["warn_at"]
        assert clock["warn_at"] == demo.due_at(NOW, 6.75) and clock["total_s"] == 9 * 3600
        assert await repo.next_sla_fire_at() == clock["warn_at"]
    async with uow(pool, fresh_schema_name, NOW + timedelta(hours=1)) as u:
        assert await timers.pause(u, await case_row(pool, case_id)) is not None
    async with repository(pool) as repo:
        clock = await repo.sla_clock(case_id)
        assert clock["state"] == "paused" and clock["next_fire_at"] is None and await repo.next_sla_fire_at() is None
        assert timers.sla_state(clock, NOW) == "paused"
    # Resumed the next morning at 09:00 local (14:00 UTC) with eight business hours left: due 17:00 local.
    resume_at = datetime(2026, 3, 3, 14, 0, tzinfo=UTC)
    async with uow(pool, fresh_schema_name, resume_at) as u:
        resumed = await timers.resume(u, await case_row(pool, case_id), jurisdiction=demo)
    assert resumed is not None and resumed.due_at == datetime(2026, 3, 3, 22, 0, tzinfo=UTC)
    async with uow(pool, fresh_schema_name, resume_at) as u:
        await timers.stop(u, await case_row(pool, case_id))
    async with repository(pool) as repo:
        clock = await repo.sla_clock(case_id)
        assert clock["state"] == "stopped" and clock["paused_at"] == resume_at and clock["next_fire_at"] is None
    # A later due time (recategorised) is a new generation.
    async with repository(pool) as repo:
        await repo.update_case(case_id, {"service_code": "streetlight"})
    await arm(pool, fresh_schema_name, demo, case_id, due + timedelta(days=1))
    async with repository(pool) as repo:
        clock = await repo.sla_clock(case_id)
        assert clock["generation"] == 2 and clock["state"] == "running" and clock["warning_fired_at"] is None


async def test_a_due_clock_fires_once_with_its_escalation_in_one_transaction(
        pool: asyncpg.Pool, fresh_schema_name: str, demo: Jurisdiction) -> None:
    case_id = await make_case(pool, "DEMO-26-000002", priority=3, queue="roads")
    due = NOW + timedelta(hours=2)
    await arm(pool, fresh_schema_name, demo, case_id, due)
    assert await fire(pool, fresh_schema_name, demo, NOW) == 0
    late = due + timedelta(minutes=5)
    assert await fire(pool, fresh_schema_name, demo, late) == 1
    assert await fire(pool, fresh_schema_name, demo, late) == 0
    assert await fire(pool, fresh_schema_name, demo, late + timedelta(days=30)) == 0

    types = [e["event_type"] for e in await outbox(pool, case_id)]
    # A clock found late warns and breaches; the public-works breach rule raises the priority, moves the
    # case to the supervisors' queue and emails the supervisor.
    assert types == ["case.sla_warning", "case.sla_breached", "case.priority_set", "case.assigned", "case.escalated"]
    envs = {e["event_type"]: e for e in await outbox(pool, case_id)}
    row = await case_row(pool, case_id)
    assert envs["case.sla_breached"]["correlation_id"] == str(row["correlation_id"])
    assert envs["case.sla_breached"]["data"]["generation"] == 1
    assert envs["case.sla_breached"]["data"]["department_id"] == "public-works"
    escalated = envs["case.escalated"]["data"]
    assert escalated["email_to"] == [SUPERVISOR] and escalated["trigger"] == "breach"
    assert (escalated["priority"], escalated["previous_priority"]) == (1, 3)
    assert (escalated["queue"], escalated["previous_queue"]) == ("public-works-supervisors", "roads")
    assert envs["case.assigned"]["data"]["actor"] == "system" and envs["case.priority_set"]["data"]["priority"] == 1
    assert (row["priority"], row["queue"]) == (1, "public-works-supervisors")
    kinds = [t["kind"] for t in await timeline(pool, case_id)]
    assert kinds == ["sla_warning", "sla_breached", "escalated"]
    entry = (await timeline(pool, case_id))[-1]["detail"]
    assert entry["actor"] == "system" and entry["before"] == {"priority": 3, "queue": "roads"}
    assert entry["after"] == {"priority": 1, "queue": "public-works-supervisors"}
    async with repository(pool) as repo:
        clock = await repo.sla_clock(case_id)
        assert clock["warning_fired_at"] == late and clock["breach_fired_at"] == late
        assert timers.sla_state(clock, late) == "breached"


async def test_a_warning_rule_acts_on_the_warning_only(pool: asyncpg.Pool, fresh_schema_name: str,
                                                       demo: Jurisdiction) -> None:
    case_id = await make_case(pool, "DEMO-26-000003", service_code="water-leak", queue="water-ops", priority=2)
    await arm(pool, fresh_schema_name, demo, case_id, NOW + timedelta(hours=4))
    clock = await _clock(pool, case_id)
    assert await fire(pool, fresh_schema_name, demo, clock["warn_at"]) == 1
    types = [e["event_type"] for e in await outbox(pool, case_id)]
    assert types == ["case.sla_warning", "case.priority_set", "case.escalated"]
    assert (await case_row(pool, case_id))["queue"] == "water-ops"


async def _clock(pool: asyncpg.Pool, case_id: UUID) -> dict[str, Any]:
    async with repository(pool) as repo:
        clock = await repo.sla_clock(case_id)
    assert clock is not None
    return clock


async def test_a_clock_another_transaction_holds_is_skipped_and_fires_once(
        pool: asyncpg.Pool, fresh_schema_name: str, demo: Jurisdiction) -> None:
    case_id = await make_case(pool, "DEMO-26-000004")
    await arm(pool, fresh_schema_name, demo, case_id, NOW + timedelta(minutes=1))
    late = NOW + timedelta(hours=1)
    first = uow(pool, fresh_schema_name, late)
    async with first as u1:
        assert await timers.fire_due(u1, jurisdiction=demo) == 1
        # A second timer process at the same moment: the row is locked, it is skipped, nothing is doubled.
        async with uow(pool, fresh_schema_name, late) as u2:
            assert await timers.fire_due(u2, jurisdiction=demo) == 0
    assert await fire(pool, fresh_schema_name, demo, late) == 0
    types = [e["event_type"] for e in await outbox(pool, case_id)]
    assert types.count("case.sla_warning") == 1 and types.count("case.sla_breached") == 1


async def test_a_case_held_by_a_staff_change_is_skipped_until_it_commits(
        pool: asyncpg.Pool, fresh_schema_name: str, demo: Jurisdiction) -> None:
    case_id = await make_case(pool, "DEMO-26-000005")
    await arm(pool, fresh_schema_name, demo, case_id, NOW + timedelta(minutes=1))
    late = NOW + timedelta(hours=1)
    async with uow(pool, fresh_schema_name, late) as staff:
        await staff.repo.get_case(case_id, for_update=True)
        assert await fire(pool, fresh_schema_name, demo, late) == 0
    assert await fire(pool, fresh_schema_name, demo, late) == 1


async def test_a_rolled_back_round_fires_again_on_the_next(pool: asyncpg.Pool, fresh_schema_name: str,
                                                          demo: Jurisdiction) -> None:
    case_id = await make_case(pool, "DEMO-26-000006")
    await arm(pool, fresh_schema_name, demo, case_id, NOW + timedelta(minutes=1))
    late = NOW + timedelta(hours=1)
    with pytest.raises(RuntimeError, match="crash"):
        async with uow(pool, fresh_schema_name, late) as u:
            await timers.fire_due(u, jurisdiction=demo)
            raise RuntimeError("crash before the commit")
    assert await outbox(pool, case_id) == [] and (await _clock(pool, case_id))["breach_fired_at"] is None
    assert await fire(pool, fresh_schema_name, demo, late) == 1
    assert len([e for e in await outbox(pool, case_id) if e["event_type"] == "case.sla_breached"]) == 1


async def test_closed_cases_stop_their_clocks_and_fire_nothing(pool: asyncpg.Pool, fresh_schema_name: str,
                                                              demo: Jurisdiction) -> None:
    case_id = await make_case(pool, "DEMO-26-000007")
    await arm(pool, fresh_schema_name, demo, case_id, NOW + timedelta(minutes=1))
    async with repository(pool) as repo:
        await repo.update_case(case_id, {"status": "closed", "updated_datetime": NOW + timedelta(seconds=30)})
    assert await fire(pool, fresh_schema_name, demo, NOW + timedelta(hours=1)) == 0
    clock = await _clock(pool, case_id)
    assert clock["state"] == "stopped" and clock["paused_at"] == NOW + timedelta(hours=1)
    assert await outbox(pool, case_id) == []


async def test_closed_at_follows_the_last_change_to_closed(pool: asyncpg.Pool, fresh_schema_name: str) -> None:
    case_id = await make_case(pool, "DEMO-26-000008")
    t1, t2, t3 = NOW + timedelta(days=1), NOW + timedelta(days=2), NOW + timedelta(days=3)
    async with repository(pool) as repo:
        assert (await case_row(pool, case_id))["updated_datetime"] == NOW
        await repo.update_case(case_id, {"status": "closed", "updated_datetime": t1})
    assert await _closed_at(pool, case_id) == t1
    async with repository(pool) as repo:
        await repo.update_case(case_id, {"status": "closed", "status_notes": "again", "updated_datetime": t2})
    assert await _closed_at(pool, case_id) == t1
    async with repository(pool) as repo:
        await repo.update_case(case_id, {"status": "open", "updated_datetime": t2})
    assert await _closed_at(pool, case_id) is None
    async with repository(pool) as repo:
        await repo.update_case(case_id, {"status": "closed", "updated_datetime": t3})
    assert await _closed_at(pool, case_id) == t3


async def _closed_at(pool: asyncpg.Pool, case_id: UUID) -> datetime | None:
    async with pool.acquire() as conn:
        return await conn.fetchval("SELECT closed_at FROM cases WHERE case_id = $1", case_id)


# --- retention ------------------------------------------------------------------------------------------


async def close(pool: asyncpg.Pool, case_id: UUID, at: datetime, **fields: Any) -> None:
    async with repository(pool) as repo:
        await repo.update_case(case_id, {"status": "closed", "updated_datetime": at, **fields})


async def erase(pool: asyncpg.Pool, schema: str, demo: Jurisdiction, now: datetime) -> int:
    async with uow(pool, schema, now) as u:
        return await retention.erase_due(u, jurisdiction=demo)


async def test_retention_erases_a_closed_case_s_personal_data_once_and_keeps_the_public_record(
        pool: asyncpg.Pool, fresh_schema_name: str, demo: Jurisdiction) -> None:
    pii = {"email": "ann@example.org", "phone": "+16135550123", "first_name": "Ann"}
    old = await make_case(pool, "DEMO-26-000010", contact_key="ann", pii=pii, media=["https://m.test/face.jpg"],
                          description="Hole by my door, call 613-555-0123 or ann@example.org")
    kept = await make_case(pool, "DEMO-26-000011", contact_key="bob", pii={"email": "bob@example.org"},
                           description="Lamp out, bob@example.org")
    shared_reporter = await make_case(pool, "DEMO-26-000012", contact_key="cat", pii={"phone": "+16135550199"},
                                      description="Old case, 613-555-0199")
    await make_case(pool, "DEMO-26-000013", contact_key="cat", description="Her newer case, still open")
    async with repository(pool) as repo:
        await repo.add_timeline(old, NOW, "internal_note", None, {"actor": "u-1", "text": "she said 613-555-0123"})
    async with pool.acquire() as conn:  # what the case emitted then, published long ago (description, a reply)
        await conn.execute("INSERT INTO outbox (event_id, topic, message_key, payload, published_at) "
                           "VALUES ($1, 'cases.lifecycle', $2, $3, $4)", uuid4(), str(old),
                           b'{"subject": "x", "data": {"text": "call 613-555-0123"}}', NOW)
    closed_on = NOW + timedelta(days=1)
    await close(pool, old, closed_on, status_notes="Fixed; told ann@example.org")
    await close(pool, shared_reporter, closed_on)
    await close(pool, kept, NOW + timedelta(days=400))
    policy_days = demo.retention.closed_days

    assert await erase(pool, fresh_schema_name, demo, closed_on + timedelta(days=policy_days - 1)) == 0
    later = closed_on + timedelta(days=policy_days)  # the clock set forward two years
    assert await erase(pool, fresh_schema_name, demo, later) == 2
    assert await erase(pool, fresh_schema_name, demo, later + timedelta(days=1)) == 0

    row = await case_row(pool, old)
    assert row["description"] == "Hole by my door, call [phone removed] or [email removed]"
    assert row["status_notes"] == "Fixed; told [email removed]" and row["media_url"] == []
    assert (row["status"], row["service_code"], row["queue"]) == ("closed", "pothole", "roads")
    assert row["requested_datetime"] == NOW
    async with pool.acquire() as conn:
        msgs = await conn.fetch("SELECT description, media_url FROM messages WHERE case_id = $1", old)
        reporters = {r["contact_key"]: r["pii"] for r in await conn.fetch("SELECT contact_key, pii FROM reporters")}
        erasures = {r["case_id"] for r in await conn.fetch("SELECT case_id FROM erasures")}
    assert [(m["description"], m["media_url"]) for m in msgs] == [
        ("Hole by my door, call [phone removed] or [email removed]", [])]
    assert reporters["ann"] == {} and reporters["bob"] == {"email": "bob@example.org"}
    assert reporters["cat"] == {"phone": "+16135550199"}, "a reporter with an open case keeps their contact"
    assert erasures == {old, shared_reporter}
    notes = [t for t in await timeline(pool, old) if t["kind"] == "internal_note"]
    assert notes[0]["detail"]["text"] == "she said [phone removed]"
    assert (await timeline(pool, old))[-1]["kind"] == "personal_data_erased"

    async with pool.acquire() as conn:  # the outbox kept every payload the case ever published
        assert await conn.fetchval("SELECT count(*) FROM outbox WHERE position('613-555-0123' in "
                                   "convert_from(payload, 'UTF8')) > 0") == 0
    (erased,) = [e for e in await outbox(pool, old) if e["event_type"] == "case.personal_data_erased"]
    assert erased["data"]["contact_keys"] == ["ann"] and erased["data"]["channel_message_ids"] == ["SM-DEMO-26-000010"]
    assert erased["data"]["policy_days"] == policy_days and erased["data"]["mode"] == "erase"
    (other,) = [e for e in await outbox(pool, shared_reporter) if e["event_type"] == "case.personal_data_erased"]
    assert other["data"]["contact_keys"] == []


async def test_a_case_merged_into_one_still_open_waits_for_it(pool: asyncpg.Pool, fresh_schema_name: str,
                                                              demo: Jurisdiction) -> None:
    survivor = await make_case(pool, "DEMO-26-000020", contact_key="s")
    dup = await make_case(pool, "DEMO-26-000021", contact_key="d", pii={"email": "d@example.org"})
    await close(pool, dup, NOW, merged_into=survivor)
    far = NOW + timedelta(days=demo.retention.closed_days + 10)
    assert await erase(pool, fresh_schema_name, demo, far) == 0
    await close(pool, survivor, NOW + timedelta(days=1))
    assert await erase(pool, fresh_schema_name, demo, far) == 2


async def test_pseudonymising_keeps_stable_stand_ins(pool: asyncpg.Pool, fresh_schema_name: str,
                                                     demo: Jurisdiction) -> None:
    pseudo = demo.model_copy(update={"retention": demo.retention.model_copy(update={"mode": "pseudonymise"})})
    case_id = await make_case(pool, "DEMO-26-000030", contact_key="p", pii={"email": "p@example.org"},
                              description="write p@example.org")
    await close(pool, case_id, NOW)
    assert await erase(pool, fresh_schema_name, pseudo, NOW + timedelta(days=demo.retention.closed_days)) == 1
    row = await case_row(pool, case_id)
    assert "p@example.org" not in row["description"] and row["description"].startswith("write [email-")
    async with pool.acquire() as conn:
        pii = await conn.fetchval("SELECT pii FROM reporters WHERE contact_key = 'p'")
    assert pii["email"].startswith("email-") and "example" not in pii["email"]


async def test_a_timer_round_locks_only_the_clocks_it_fires(pool: asyncpg.Pool, fresh_schema_name: str,
                                                            demo: Jurisdiction) -> None:
    due_now = await make_case(pool, "DEMO-26-000040")
    later = await make_case(pool, "DEMO-26-000041")
    await arm(pool, fresh_schema_name, demo, due_now, NOW + timedelta(minutes=1))
    await arm(pool, fresh_schema_name, demo, later, NOW + timedelta(days=3))
    async with uow(pool, fresh_schema_name, NOW + timedelta(hours=1)) as u:
        assert await timers.fire_due(u, jurisdiction=demo) == 1
        async with pool.acquire() as conn, conn.transaction():
            # A staff change on the other case takes its clock at once (NOWAIT raises if it is held).
            assert await conn.fetchval("SELECT state FROM sla_clocks WHERE case_id = $1 FOR UPDATE NOWAIT",
                                       later) == "running"


# --- the clock through the case handlers and staff commands ------------------------------------------------


async def test_the_clock_follows_the_case_through_routing_waiting_a_reply_resolving_and_reopening(
        pool: asyncpg.Pool, fresh_schema_name: str, demo: Jurisdiction) -> None:
    table = handlers.handlers(demo, clocks=timers)
    offsets = iter(range(1000))

    async def consume(payload: Any, now: datetime, subject: str) -> str | None:
        env = event(payload, subject=subject)
        delivery = Delivery(topic="t", partition=0, offset=next(offsets), consumer=fresh_schema_name)
        return await dispatch(table, env, lambda: PgUnitOfWork(
            pool, service=fresh_schema_name, repository=CaseRepository, now=now, envelope=env, delivery=delivery))

    async def move(case_id: UUID, to: str, now: datetime) -> None:
        async with uow(pool, fresh_schema_name, now) as u:
            await staff.transition(Transition(case_id=case_id, actor=STAFF, to=to), u, jurisdiction=demo,
                                   clocks=timers)

    report = MessageReceived(channel="sms", channel_message_id="SM-flow", contact_key="kf", received_at=NOW,
                             description="Pothole on Elm")
    assert await consume(report, NOW, "kf") == "opened"
    case_id = case_id_for("sms", "SM-flow")
    due = demo.due_at(NOW, 9)  # Tuesday 10:00 local
    routing = RoutingFields(service_code="pothole", service_name="Pothole", category_source="service_code",
                            agency_responsible="Demoville Public Works", queue="roads", priority=3, sla_due_at=due,
                            rule_id="r", config_version="v")
    assert await consume(RoutingDecided(case_id=case_id, routing=routing), NOW, str(case_id)) == "routed"
    assert (await _clock(pool, case_id))["state"] == "running"

    # Waiting on the resident from Monday 11:00 local (eight business hours left) pauses the clock ...
    await move(case_id, "waiting_on_resident", NOW + timedelta(hours=1))
    clock = await _clock(pool, case_id)
    assert clock["state"] == "paused" and clock["paused_at"] == NOW + timedelta(hours=1)
    # ... and their answer on Wednesday 09:00 local resumes it: due Wednesday 17:00 local.
    answer_at = datetime(2026, 3, 4, 14, 0, tzinfo=UTC)
    answer = MessageReceived(channel="sms", channel_message_id="SM-answer", contact_key="kf", received_at=answer_at,
                             description="It is in front of number 12", case_number_hint=(await case_row(
                                 pool, case_id))["service_request_id"])
    assert await consume(answer, answer_at, "kf") == "added"
    assert (await case_row(pool, case_id))["workflow_status"] == "in_progress"
    clock = await _clock(pool, case_id)
    assert clock["state"] == "running" and clock["due_at"] == datetime(2026, 3, 4, 22, 0, tzinfo=UTC)

    # Resolved (Open311 closed) with two hours left: stopped; reopened the next day: two hours from then.
    await move(case_id, "resolved", datetime(2026, 3, 4, 20, 0, tzinfo=UTC))
    assert (await _clock(pool, case_id))["state"] == "stopped"
    assert await fire(pool, fresh_schema_name, demo, datetime(2026, 3, 5, 14, 0, tzinfo=UTC)) == 0
    await move(case_id, "in_progress", datetime(2026, 3, 5, 14, 0, tzinfo=UTC))
    clock = await _clock(pool, case_id)
    assert clock["state"] == "running" and clock["due_at"] == datetime(2026, 3, 5, 16, 0, tzinfo=UTC)
    assert await fire(pool, fresh_schema_name, demo, datetime(2026, 3, 5, 16, 0, tzinfo=UTC)) == 1
    kinds = [e["event_type"] for e in await outbox(pool, case_id)]
    assert kinds.count("case.sla_warning") == 1 and kinds.count("case.sla_breached") == 1
