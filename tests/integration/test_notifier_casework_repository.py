"""`NotifierRepository` on real PostgreSQL, for staff casework: a reporter stops following a case when
staff unmerge theirs, the workflow status and its `notify` are kept per case, an email answers the last one
we sent in the case's thread, and retention erases addresses while keeping the delivery rows."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import asyncpg
import pytest

from services.notifier.adapters.repository import NotifierRepository
from services.notifier.domain.messages import recipient_key
from services.notifier.domain.model import CaseStatus, Contact

T0 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
EMAIL_KEY = recipient_key("email", "ann@resident.test")


@pytest.fixture
def migrated_package() -> str:
    return "services.notifier"


@pytest.fixture
async def repo(service_pool: asyncpg.Pool) -> AsyncIterator[NotifierRepository]:
    async with service_pool.acquire() as conn:
        yield NotifierRepository(conn)


def contact(contact_key: str = "ck", *, channel: str = "email", case_id: UUID | None = None, **kw: str) -> Contact:
    return Contact(case_id=case_id or uuid4(), service_request_id=f"DEMO-26-{uuid4().int % 10**6:06d}",
                   contact_key=contact_key, channel=channel, email=kw.get("email", "ann@resident.test"),
                   phone=kw.get("phone"), display_name="Ann Example", language="en",
                   reply_to_message_id="<a@resident.test>", handle=kw.get("handle"), last_inbound_at=T0,
                   channel_message_id="<a@resident.test>")


async def deliver(repo: NotifierRepository, case_id: UUID, *, recipient: str = EMAIL_KEY, status: str = "sent",
                  message_id: str | None = None, at: datetime = T0, channel: str = "email",
                  reason: str | None = None) -> int:
    delivery_id = await repo.claim_delivery(case_id=case_id, cause_event_id=uuid4(), recipient_key=recipient,
                                            kind="public_update", channel=channel, status="sending", reason=None,
                                            at=at)
    assert delivery_id is not None
    await repo.finish_delivery(delivery_id, status=status, provider_message_id=message_id, reason=reason, at=at)
    return delivery_id


async def test_an_unmerged_reporter_no_longer_follows_the_former_survivor(repo: NotifierRepository) -> None:
    survivor, joined, elsewhere = contact(), contact(), contact()
    for c in (survivor, joined, elsewhere):
        await repo.add_contact(c)
    await repo.mark_merged(joined.case_id, survivor.case_id)
    await repo.mark_merged(elsewhere.case_id, survivor.case_id)

    assert await repo.unmark_merged(joined.case_id, elsewhere.case_id) is False  # not what it follows
    assert await repo.unmark_merged(joined.case_id, survivor.case_id) is True
    assert await repo.unmark_merged(joined.case_id, survivor.case_id) is False
    assert await repo.unmark_merged(uuid4(), survivor.case_id) is False

    assert {c.case_id for c in await repo.contacts_following(survivor.case_id)} == {survivor.case_id,
                                                                                   elsewhere.case_id}
    found = await repo.contact(joined.case_id)
    assert found is not None and found.merged_into is None


async def test_the_workflow_status_and_whether_reporters_were_told_are_kept(repo: NotifierRepository) -> None:
    case_id = uuid4()
    resolved = CaseStatus(case_id, "DEMO-26-000001", "closed", "Filled.", uuid4(), "resolved", True)
    silent = CaseStatus(case_id, "DEMO-26-000001", "closed", None, uuid4(), "closed", False)

    await repo.set_case_status(resolved, T0)
    assert await repo.case_status(case_id) == resolved
    await repo.set_case_status(silent, T0 + timedelta(hours=1))
    assert await repo.case_status(case_id) == silent


async def test_an_old_status_row_reads_as_told_without_a_workflow_status(service_pool: asyncpg.Pool,
                                                                         repo: NotifierRepository) -> None:
    case_id, event_id = uuid4(), uuid4()
    await service_pool.execute("INSERT INTO case_status (case_id, service_request_id, status, status_notes, "
                               "event_id, at) VALUES ($1, 'DEMO-26-000009', 'closed', NULL, $2, $3)",
                               case_id, event_id, T0)

    assert await repo.case_status(case_id) == CaseStatus(case_id, "DEMO-26-000009", "closed", None, event_id)


async def test_the_last_email_sent_to_a_recipient_about_a_case_is_what_the_next_answers(
        repo: NotifierRepository) -> None:
    case_id = uuid4()
    assert await repo.last_email_to(case_id, EMAIL_KEY) is None

    await deliver(repo, case_id, message_id="<first@city.test>", at=T0)
    await deliver(repo, case_id, message_id="<second@city.test>", at=T0 + timedelta(minutes=5))
    await deliver(repo, case_id, status="failed", at=T0 + timedelta(minutes=9))
    await deliver(repo, case_id, recipient=recipient_key("email", "bob@resident.test"),
                  message_id="<bob@city.test>", at=T0 + timedelta(minutes=10))
    await deliver(repo, uuid4(), message_id="<other-case@city.test>", at=T0 + timedelta(minutes=10))

    assert await repo.last_email_to(case_id, EMAIL_KEY) == "<second@city.test>"


async def test_erasure_blanks_the_contacts_and_the_addresses_of_their_deliveries_and_keeps_the_rows(
        service_pool: asyncpg.Pool, repo: NotifierRepository) -> None:
    case = contact("ck-ann")
    earlier = contact("ck-ann", channel="sms", phone="+16135550123", email=None)  # their other, older case
    bystander = contact("ck-carl", email="carl@resident.test")
    for c in (case, earlier, bystander):
        await repo.add_contact(c)
    mine = await deliver(repo, case.case_id, message_id="<m@city.test>",
                         reason="SMTPRecipientsRefused: ann@resident.test refused")
    older = await deliver(repo, earlier.case_id, recipient=recipient_key("sms", "+16135550123"), channel="sms",
                          status="failed", reason="TwilioRestException: +1 613 555 0123 unreachable (error 21610)")
    theirs = await deliver(repo, bystander.case_id, recipient=recipient_key("email", "carl@resident.test"))
    rows = await service_pool.fetchval("SELECT count(*) FROM deliveries")
    for c in (case, bystander):
        await repo.set_case_status(CaseStatus(c.case_id, c.service_request_id, "closed", "Called Ann at 613 555 0123",
                                              uuid4()), T0)

    assert await repo.erase_personal_data(case.case_id, ["ck-ann"], T0 + timedelta(days=731)) == (2, 2)

    for c in (case, earlier):
        found = await repo.contact(c.case_id)
        assert found is not None
        assert (found.email, found.phone, found.handle, found.display_name, found.reply_to_message_id,
                found.channel_message_id) == (None,) * 6
        assert (found.service_request_id, found.channel, found.contact_key) == (c.service_request_id, c.channel,
                                                                                c.contact_key)
    assert await repo.contact(bystander.case_id) == bystander
    stored = {r["id"]: (r["recipient_key"], r["reason"]) for r in await service_pool.fetch(
        "SELECT id, recipient_key, reason FROM deliveries")}
    assert len(stored) == rows
    assert stored[mine] == (f"erased:{mine}", "SMTPRecipientsRefused: [erased] refused")
    assert stored[older] == (f"erased:{older}", "TwilioRestException: [erased] unreachable (error 21610)")
    assert stored[theirs][0] == recipient_key("email", "carl@resident.test")
    assert await service_pool.fetchval("SELECT erased_at FROM contacts WHERE case_id = $1",
                                       case.case_id) == T0 + timedelta(days=731)
    notes = [await repo.case_status(c.case_id) for c in (case, bystander)]
    assert [n.status_notes if n else "?" for n in notes] == [None, "Called Ann at 613 555 0123"]
    # a second erasure finds nothing left to blank
    assert await repo.erase_personal_data(case.case_id, ["ck-ann"], T0 + timedelta(days=800)) == (2, 0)


async def test_interrupted_deliveries_are_the_old_sending_ones_locked_for_one_sweeper(
        service_pool: asyncpg.Pool) -> None:
    case_id = uuid4()
    async with service_pool.acquire() as conn:
        repo = NotifierRepository(conn)

        async def claim(at: datetime, recipient: str) -> int:
            delivery_id = await repo.claim_delivery(case_id=case_id, cause_event_id=uuid4(), recipient_key=recipient,
                                                    kind="public_update", channel="email", status="sending",
                                                    reason=None, at=at)
            assert delivery_id is not None
            return delivery_id

        oldest, old = await claim(T0 - timedelta(hours=2), "rk-1"), await claim(T0 - timedelta(hours=1), "rk-2")
        await claim(T0 + timedelta(minutes=1), "rk-recent")
        done = await deliver(repo, case_id, at=T0 - timedelta(hours=3))

    async with service_pool.acquire() as a, a.transaction():
        first = await NotifierRepository(a).interrupted_deliveries(T0, 60, 1)
        assert [x.delivery_id for x in first] == [oldest]
        assert first[0].sent.kind == "public_update" and first[0].sent.recipient_key == "rk-1"
        # another sweeper meanwhile skips the locked row
        async with service_pool.acquire() as b, b.transaction():
            assert [x.delivery_id for x in await NotifierRepository(b).interrupted_deliveries(T0, 60, 10)] == [old]
    async with service_pool.acquire() as conn:
        repo = NotifierRepository(conn)
        assert [x.delivery_id for x in await repo.interrupted_deliveries(T0, 60, 10)] == [oldest, old]
        assert done not in [x.delivery_id for x in await repo.interrupted_deliveries(T0 + timedelta(days=1), 60, 10)]


async def test_only_a_silent_owners_deliveries_are_interrupted_and_a_settled_one_keeps_its_outcome(
        service_pool: asyncpg.Pool) -> None:
    case_id, alive, dead = uuid4(), uuid4(), uuid4()
    async with service_pool.acquire() as conn:
        repo = NotifierRepository(conn)

        async def claim(owner: UUID, recipient: str) -> int:
            delivery_id = await repo.claim_delivery(case_id=case_id, cause_event_id=uuid4(), recipient_key=recipient,
                                                    kind="acknowledgement", channel="email", status="sending",
                                                    reason=None, at=T0 - timedelta(hours=1), owner=owner,
                                                    intent={"route": "email", "message": "Subject: hi"})
            assert delivery_id is not None
            return delivery_id

        slow, orphan = await claim(alive, "rk-alive"), await claim(dead, "rk-dead")
        await repo.beat(alive, T0)
        await repo.beat(dead, T0)
        await conn.execute("UPDATE senders SET beat_at = now() - interval '2 minutes' WHERE instance_id = $1", dead)
        await repo.beat(alive, T0)  # a second beat moves beat_at, keeps started_at

        # an hour-old claim of a live process is its slow send, not a crash; the silent owner's is
        found = [x.delivery_id for x in await repo.interrupted_deliveries(T0, 60, 10)]
        assert slow not in found and orphan in found
        assert await conn.fetchval("SELECT started_at FROM senders WHERE instance_id = $1", alive) == T0

        # what it would send, and whether it was handed over, come with it; a mark is taken once
        [row] = [x for x in await repo.interrupted_deliveries(T0, 60, 10) if x.delivery_id == orphan]
        assert (row.intent, row.attempted, row.resendable) == ({"route": "email", "message": "Subject: hi"}, False, True)
        assert await repo.mark_attempted(orphan) is True and await repo.mark_attempted(orphan) is False
        await repo.take_over(orphan, alive)
        [row] = [x for x in await repo.interrupted_deliveries(T0, 60, 10) if x.delivery_id == orphan] or [None]
        assert row is None  # now a live process's

        await conn.execute("UPDATE deliveries SET owner = $2 WHERE id = $1", orphan, dead)
        # the sweeper settled it first: the late outcome of the send changes nothing
        assert await repo.finish_delivery(orphan, status="failed", provider_message_id=None, reason="interrupted",
                                          at=T0) is True
        assert await repo.finish_delivery(orphan, status="sent", provider_message_id="<m@x>", reason=None,
                                          at=T0) is False
        settled = await conn.fetchrow("SELECT status, provider_message_id, intent FROM deliveries WHERE id = $1", orphan)
        assert (settled["status"], settled["provider_message_id"], settled["intent"]) == ("failed", None, None)
