"""The forwarding side of the case store against real PostgreSQL (migration 009, docs/integrations.md
sections 2 and 3): a case's external requests (a token, then the id; a report before the send is known),
a reported close applied on a real unit of work (case, timeline, outbox row, SLA clock stopped), and one
person's history across contact keys, merged cases included."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import pytest

from services.case.adapters.reads import StaffReads
from services.case.adapters.repository import CaseRepository
from services.case.domain import forwarding as fwd
from services.case.domain import records
from services.case.domain.threading import case_id_for, message_id_for
from services.case.service_layer import forwarding, timers
from shared.db.unit_of_work import PgUnitOfWork
from shared.events import CaseForwarded, Envelope, MessageReceived, StatusReported
from shared.jurisdiction import load_jurisdiction

NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
DEMO = load_jurisdiction("demo")
ENDPOINT = "county-public-works"


@pytest.fixture
def migrated_package() -> str:
    return "services.case"


@pytest.fixture
def pool(service_pool: asyncpg.Pool) -> asyncpg.Pool:
    return service_pool


async def store_case(conn: asyncpg.Connection, number: str, *, contact_key: str = "k1", channel: str = "sms",
                     at: datetime = NOW, **columns: Any) -> UUID:
    """A case as the handler opens one (reporter, row, first message), then `columns` set on it."""
    repo = CaseRepository(conn)
    msg = MessageReceived(channel=channel, channel_message_id=f"open-{number}", contact_key=contact_key,
                          received_at=at, description=f"report {number}", address=f"{number} Main St")
    case_id = case_id_for(msg.channel, msg.channel_message_id)
    await repo.upsert_reporter(contact_key, channel, {}, at)
    await repo.insert_case(records.new_case_row(msg, case_id=case_id, number=number, jurisdiction_id="demo",
                                                correlation_id=uuid4(), now=at))
    await repo.insert_message(records.message_row(msg, case_id=case_id, event_id=uuid4(),
                                                  message_id=message_id_for(msg.channel, msg.channel_message_id)))
    if columns:
        await repo.update_case(case_id, columns)
    return case_id


def forwarded(case_id: UUID, *, external_id: str | None, token: str | None, at: datetime) -> CaseForwarded:
    return CaseForwarded(case_id=case_id, service_request_id="DEMO-26-000001", jurisdiction_id="demo",
                         endpoint=ENDPOINT, external_service_request_id=external_id, token=token,
                         external_service_code="4fd3", forwarded_at=at)


async def test_a_token_then_its_id_fill_one_row_and_the_first_send_time_stays(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn, conn.transaction():
        case_id = await store_case(conn, "DEMO-26-000001")
        other = await store_case(conn, "DEMO-26-000002", contact_key="k2")
        repo = CaseRepository(conn)
        await repo.record_forwarded(fwd.forwarded_row(forwarded(case_id, external_id=None, token="t-1",
                                                                             at=NOW)))
        await repo.record_forwarded(fwd.forwarded_row(forwarded(case_id, external_id="638344", token=None,
                                                                             at=NOW + HOUR)))
        await repo.record_reported_status(other, ENDPOINT, external_service_request_id="77", status="open",
                                          agency_responsible=None, updated_datetime=None, reported_at=NOW)
        await repo.record_reported_status(case_id, ENDPOINT, external_service_request_id="638344", status="closed",
                                          agency_responsible="County Roads", updated_datetime=NOW + HOUR,
                                          reported_at=NOW + 2 * HOUR)
        with pytest.raises(asyncpg.CheckViolationError):
            async with conn.transaction():
                await repo.record_reported_status(case_id, ENDPOINT, external_service_request_id="638344",
                                                  status="archived", agency_responsible=None, updated_datetime=None,
                                                  reported_at=NOW)
        with pytest.raises(asyncpg.ForeignKeyViolationError):
            async with conn.transaction():
                await repo.record_forwarded(fwd.forwarded_row(
                    forwarded(uuid4(), external_id="1", token=None, at=NOW)))
    reads = StaffReads(pool)
    [held] = await reads.external_requests(case_id)
    assert held == {"endpoint": ENDPOINT, "external_service_request_id": "638344", "token": "t-1",
                    "external_service_code": "4fd3", "forwarded_at": NOW, "last_status": "closed",
                    "last_agency_responsible": "County Roads", "last_updated_datetime": NOW + HOUR,
                    "last_reported_at": NOW + 2 * HOUR}
    [early] = await reads.external_requests(other)
    assert (early["external_service_request_id"], early["forwarded_at"], early["last_status"]) == ("77", None, "open")
    assert await reads.external_requests(uuid4()) == []


async def test_a_reported_close_on_a_real_unit_of_work_moves_the_case_and_stops_its_clock(
        pool: asyncpg.Pool, fresh_schema_name: str) -> None:
    async with pool.acquire() as conn, conn.transaction():
        case_id = await store_case(conn, "DEMO-26-000001", queue="roads", service_code="pothole",
                                   workflow_status="in_progress", routing={"rule_id": "r"})

    def uow(envelope: Envelope | None = None) -> PgUnitOfWork[CaseRepository]:
        return PgUnitOfWork(pool, service=fresh_schema_name, repository=CaseRepository, now=NOW + HOUR,
                            envelope=envelope)

    async with uow() as u:
        case = await u.repo.get_case(case_id)
        assert await timers.arm(u, case, NOW + 48 * HOUR, jurisdiction=DEMO) is not None
    report = StatusReported(case_id=case_id, service_request_id="DEMO-26-000001", jurisdiction_id="demo",
                            endpoint=ENDPOINT, external_service_request_id="638344", status="closed",
                            status_notes="Pothole filled.", agency_responsible="County Roads",
                            updated_datetime=NOW + HOUR, reported_at=NOW + HOUR)
    envelope = Envelope.new_flow(report, subject=str(case_id), producer="forwarder", now=NOW + HOUR)
    async with uow(envelope) as u:
        assert await forwarding.apply_reported_status(report, u, jurisdiction=DEMO, clocks=timers) == "moved"
    row = await pool.fetchrow("SELECT status, workflow_status, status_notes FROM cases WHERE case_id = $1", case_id)
    assert tuple(row) == ("closed", "resolved", "Pothole filled.")
    entry = await pool.fetchrow("SELECT kind, actor, role, event_id FROM timeline WHERE case_id = $1 "
                                "ORDER BY id DESC LIMIT 1", case_id)
    assert tuple(entry) == ("status_changed", f"open311:{ENDPOINT}", "external_system", envelope.event_id)
    [published] = await pool.fetch("SELECT topic, payload FROM outbox")
    sent = Envelope.model_validate_json(bytes(published["payload"]))
    assert (published["topic"], sent.event_type, sent.causation_id) == ("cases.lifecycle", "case.status_changed",
                                                                        envelope.event_id)
    assert (sent.data["status_notes"], sent.data["notify"]) == ("Pothole filled.", True)
    assert await pool.fetchval("SELECT state FROM sla_clocks WHERE case_id = $1", case_id) == "stopped"
    assert (await StaffReads(pool).external_requests(case_id))[0]["last_status"] == "closed"


async def test_one_persons_history_lists_their_cases_and_those_theirs_were_merged_into(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn, conn.transaction():
        email = await store_case(conn, "DEMO-26-000001", contact_key="email:ann", channel="email", at=NOW)
        sms = await store_case(conn, "DEMO-26-000002", contact_key="phone:ann", at=NOW + HOUR)
        survivor = await store_case(conn, "DEMO-26-000003", contact_key="k-bob", at=NOW + 2 * HOUR)
        top = await store_case(conn, "DEMO-26-000004", contact_key="k-carl", channel="web", at=NOW - HOUR)
        await store_case(conn, "DEMO-26-000005", contact_key="k-dan", at=NOW + 3 * HOUR)  # nobody's of ann
        repo = CaseRepository(conn)
        # ann's SMS case merged into bob's, bob's into carl's: both are ann's history; her email case is
        # merged into bob's too, and bob's case is listed once.
        await repo.update_case(sms, {"merged_into": survivor, "status": "closed", "workflow_status": "duplicate"})
        await repo.update_case(email, {"merged_into": survivor, "status": "closed", "workflow_status": "duplicate"})
        await repo.update_case(survivor, {"merged_into": top, "status": "closed", "workflow_status": "duplicate"})
    reads = StaffReads(pool)
    rows = await reads.cases_of_contacts(["email:ann", "phone:ann"])
    assert [(r["service_request_id"], r["reporter_key"], r["merged_from"]) for r in rows] == [
        ("DEMO-26-000003", "email:ann", "DEMO-26-000001"),
        ("DEMO-26-000002", "phone:ann", None),
        ("DEMO-26-000001", "email:ann", None),
        ("DEMO-26-000004", "email:ann", "DEMO-26-000001"),
    ]
    assert rows[-1]["channel"] == "web" and rows[0]["address"] == "DEMO-26-000003 Main St"
    assert [r["service_request_id"] for r in await reads.cases_of_contacts(["phone:ann"], 2)] == [
        "DEMO-26-000003", "DEMO-26-000002"]
    assert await reads.cases_of_contacts(["nobody"]) == []
