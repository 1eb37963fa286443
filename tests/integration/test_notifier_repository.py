"""`NotifierRepository` on real PostgreSQL: the SQL that the handler tests' in-memory fake copies
(contacts and who follows a case, the reply window, opt-outs and bounces, one delivery per case, causing
event and recipient, provider statuses, case statuses) does what the fake says it does."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import asyncpg
import pytest

from services.notifier.adapters.repository import NotifierRepository
from services.notifier.domain.messages import recipient_key
from services.notifier.domain.model import CaseStatus, Contact
from services.notifier.domain.outcomes import OptOut, SentNotice, Undeliverable

T0 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
PHONE_KEY = recipient_key("sms", "+16135550123")
EMAIL_KEY = recipient_key("email", "ann@resident.test")


@pytest.fixture
def migrated_package() -> str:
    return "services.notifier"


@pytest.fixture
def pool(service_pool: asyncpg.Pool) -> asyncpg.Pool:
    return service_pool


@pytest.fixture
async def repo(pool: asyncpg.Pool) -> AsyncIterator[NotifierRepository]:
    """The repository on one connection outside any transaction: each statement commits on its own."""
    async with pool.acquire() as conn:
        yield NotifierRepository(conn)


@contextlib.asynccontextmanager
async def transaction(pool: asyncpg.Pool) -> AsyncIterator[NotifierRepository]:
    async with pool.acquire() as conn, conn.transaction():
        yield NotifierRepository(conn)


def contact(channel: str = "messenger", *, handle: str | None = "2456", case_id: UUID | None = None,
            last_inbound_at: datetime | None = T0, **kw: str) -> Contact:
    return Contact(case_id=case_id or uuid4(), service_request_id=f"DEMO-26-{uuid4().int % 10**6:06d}",
                   contact_key="ck", channel=channel, email=kw.get("email", "ann@resident.test"),
                   phone=kw.get("phone"), display_name=kw.get("display_name", "Ann Example"),
                   language=kw.get("language", "fr"), reply_to_message_id=kw.get("reply_to_message_id"),
                   handle=handle, last_inbound_at=last_inbound_at,
                   channel_message_id=kw.get("channel_message_id", "m_1"))


# --- contacts --------------------------------------------------------------------------------------------


async def test_a_case_keeps_its_first_contact_and_reads_it_back_whole(repo: NotifierRepository) -> None:
    first = contact("email", handle=None, reply_to_message_id="<a@resident.test>", channel_message_id="<a@r.test>")

    await repo.add_contact(first)
    await repo.add_contact(contact("sms", case_id=first.case_id, phone="+16135550123"))

    assert await repo.contact(first.case_id) == first
    assert await repo.contact(uuid4()) is None


async def test_the_reporters_following_a_case_are_its_own_and_those_merged_into_it(repo: NotifierRepository) -> None:
    survivor, joined, elsewhere, alone = contact(), contact(), contact(), contact()
    for c in (survivor, joined, elsewhere, alone):
        await repo.add_contact(c)
    await repo.mark_merged(joined.case_id, survivor.case_id)
    await repo.mark_merged(elsewhere.case_id, alone.case_id)

    following = await repo.contacts_following(survivor.case_id)

    assert sorted(following, key=lambda c: c.case_id != survivor.case_id) == [
        survivor, replace(joined, merged_into=survivor.case_id)]
    assert await repo.contacts_following(uuid4()) == []


async def test_the_reply_window_moves_for_the_reporters_own_channel_and_handle_and_never_back(
        repo: NotifierRepository) -> None:
    c = contact("messenger", handle="2456")
    await repo.add_contact(c)
    later, earlier = T0 + timedelta(hours=3), T0 - timedelta(hours=3)

    async def last() -> datetime | None:
        found = await repo.contact(c.case_id)
        return found.last_inbound_at if found else None

    assert await repo.move_reply_window(c.case_id, "email", "2456", later) is False
    assert await repo.move_reply_window(c.case_id, "messenger", "9999", later) is False
    assert await last() == T0
    assert await repo.move_reply_window(c.case_id, "messenger", "2456", later) is True
    assert await last() == later
    assert await repo.move_reply_window(c.case_id, "messenger", "2456", earlier) is True  # matched, not moved back
    assert await last() == later
    assert await repo.move_reply_window(c.case_id, "messenger", None, later + timedelta(hours=1)) is True
    assert await last() == later + timedelta(hours=1)
    assert await repo.move_reply_window(uuid4(), "messenger", "2456", later) is False


async def test_a_reporter_without_a_handle_or_a_last_message_time(repo: NotifierRepository) -> None:
    c = contact("messenger", handle=None, last_inbound_at=None)
    await repo.add_contact(c)

    assert await repo.move_reply_window(c.case_id, "messenger", "2456", T0) is False  # a handle is not NULL
    assert await repo.move_reply_window(c.case_id, "messenger", None, T0) is True
    found = await repo.contact(c.case_id)
    assert found is not None and found.last_inbound_at == T0  # greatest() skips the NULL


# --- opt-outs and bounces --------------------------------------------------------------------------------


async def test_opt_outs_are_renewed_and_cleared_and_block_only_their_recipient(pool: asyncpg.Pool,
                                                                               repo: NotifierRepository) -> None:
    assert await repo.blocks(PHONE_KEY) == (None, None)

    await repo.opt_out(OptOut(PHONE_KEY, "sms", "opted out (keyword STOP)", "keyword", "SM1"), T0)
    await repo.opt_out(OptOut(PHONE_KEY, "sms", "opted out (provider_error 21610)", "provider_error", "SM2"),
                       T0 + timedelta(hours=1))

    assert await repo.blocks(PHONE_KEY) == ("opted out (provider_error 21610)", None)
    assert await repo.blocks(EMAIL_KEY) == (None, None)
    stored = await pool.fetch("SELECT channel, reason, at, source, message_id FROM opt_outs")
    assert [tuple(r) for r in stored] == [("sms", "opted out (provider_error 21610)", T0 + timedelta(hours=1),
                                           "provider_error", "SM2")]

    await repo.opt_in(PHONE_KEY)
    await repo.opt_in(PHONE_KEY)  # nothing left to clear: no error
    assert await repo.blocks(PHONE_KEY) == (None, None)


async def test_bounces_of_an_address_are_counted_and_block_it(pool: asyncpg.Pool, repo: NotifierRepository) -> None:
    await repo.mark_undeliverable(Undeliverable(EMAIL_KEY, "email", "mailbox unknown", "5.1.1", "<dsn1@mx>"), T0)
    await repo.mark_undeliverable(Undeliverable(EMAIL_KEY, "email", "mailbox full", "4.2.2", "<dsn2@mx>"),
                                  T0 + timedelta(days=1))

    assert await repo.blocks(EMAIL_KEY) == (None, "mailbox full")
    assert await repo.blocks(PHONE_KEY) == (None, None)
    r = await pool.fetchrow("SELECT reason, status, bounce_message_id, bounces, first_at, last_at FROM undeliverable")
    assert tuple(r) == ("mailbox full", "4.2.2", "<dsn2@mx>", 2, T0, T0 + timedelta(days=1))

    await repo.opt_out(OptOut(EMAIL_KEY, "email", "opted out", "keyword", "m1"), T0)
    assert await repo.blocks(EMAIL_KEY) == ("opted out", "mailbox full")


# --- deliveries ------------------------------------------------------------------------------------------


async def test_a_delivery_is_claimed_once_per_case_causing_event_and_recipient(pool: asyncpg.Pool) -> None:
    case_id, cause = uuid4(), uuid4()

    async def claim(*, case: UUID = case_id, event: UUID = cause, recipient: str = EMAIL_KEY,
                    status: str = "sending") -> int | None:
        async with transaction(pool) as repo:
            return await repo.claim_delivery(case_id=case, cause_event_id=event, recipient_key=recipient,
                                             kind="acknowledgement", channel="email", status=status,
                                             reason="opted out" if status == "suppressed" else None, at=T0)

    first = await claim()
    assert isinstance(first, int)
    assert await claim() is None
    assert await claim(status="suppressed") is None  # whatever the second claim would have said
    others = [await claim(case=uuid4()), await claim(event=uuid4()), await claim(recipient=PHONE_KEY)]
    assert None not in others and len({first, *others}) == 4

    r = await pool.fetchrow("SELECT * FROM deliveries WHERE id = $1", first)
    assert (r["case_id"], r["cause_event_id"], r["recipient_key"], r["kind"], r["channel"], r["status"],
            r["reason"], r["claimed_at"], r["finished_at"]) == (case_id, cause, EMAIL_KEY, "acknowledgement",
                                                                 "email", "sending", None, T0, None)


async def test_a_delivery_without_a_case_is_claimed_once_per_cause_and_recipient(pool: asyncpg.Pool,
                                                                                  repo: NotifierRepository) -> None:
    # A request to write as text (intake.message_unsupported) answers a message that opened no case.
    cause = uuid4()

    async def claim(*, event: UUID = cause, recipient: str = PHONE_KEY, case: UUID | None = None) -> int | None:
        async with transaction(pool) as tx:
            return await tx.claim_delivery(case_id=case, cause_event_id=event, recipient_key=recipient,
                                           kind="text_request", channel="sms", status="sending", reason=None, at=T0)

    first = await claim()
    assert isinstance(first, int)
    assert await claim() is None  # NULL case ids are not distinct here: the partial unique index says so
    others = [await claim(event=uuid4()), await claim(recipient=EMAIL_KEY), await claim(case=uuid4())]
    assert None not in others and len({first, *others}) == 4

    await repo.finish_delivery(first, status="sent", provider_message_id="SMtext", reason=None, at=T0)
    assert await repo.record_provider_status("SMtext", "delivered") == SentNotice(None, cause, "text_request", "sms",
                                                                                  PHONE_KEY)
    stale = await claim(event=uuid4(), recipient="rk-stale")
    async with transaction(pool) as tx:
        interrupted = await tx.interrupted_deliveries(T0 + timedelta(minutes=10), 60, 100)
    assert (stale, None) in [(x.delivery_id, x.sent.case_id) for x in interrupted]


async def test_a_finished_delivery_keeps_its_outcome_and_provider_statuses_find_it(pool: asyncpg.Pool,
                                                                                 repo: NotifierRepository) -> None:
    case_id, cause = uuid4(), uuid4()
    sent_id = await repo.claim_delivery(case_id=case_id, cause_event_id=cause, recipient_key=PHONE_KEY,
                                        kind="closed", channel="sms", status="sending", reason=None, at=T0)
    failed_id = await repo.claim_delivery(case_id=case_id, cause_event_id=cause, recipient_key=EMAIL_KEY,
                                          kind="closed", channel="email", status="sending", reason=None, at=T0)
    assert sent_id is not None and failed_id is not None
    done = T0 + timedelta(seconds=2)

    await repo.finish_delivery(sent_id, status="sent", provider_message_id="SM42", reason=None, at=done)
    await repo.finish_delivery(failed_id, status="failed", provider_message_id=None, reason="ConnectionError: down",
                               at=done)

    rows = {r["id"]: tuple(r)[1:] for r in await pool.fetch(
        "SELECT id, status, provider_message_id, reason, finished_at, provider_status FROM deliveries")}
    assert rows == {sent_id: ("sent", "SM42", None, done, None),
                    failed_id: ("failed", None, "ConnectionError: down", done, None)}

    assert await repo.record_provider_status("SM42", "delivered") == SentNotice(case_id, cause, "closed", "sms",
                                                                                PHONE_KEY)
    assert await repo.record_provider_status("SMnotours", "delivered") is None
    assert await pool.fetchval("SELECT provider_status FROM deliveries WHERE id = $1", sent_id) == "delivered"


async def test_the_last_status_heard_of_a_case_replaces_the_one_before(pool: asyncpg.Pool,
                                                                       repo: NotifierRepository) -> None:
    case_id = uuid4()
    assert await repo.case_status(case_id) is None
    opened = CaseStatus(case_id, "DEMO-26-000001", "open", "Crew assigned.", uuid4())
    closed = CaseStatus(case_id, "DEMO-26-000001", "closed", None, uuid4())

    await repo.set_case_status(opened, T0)
    await repo.set_case_status(closed, T0 + timedelta(hours=1))

    assert await repo.case_status(case_id) == closed
    assert await pool.fetchval("SELECT at FROM case_status") == T0 + timedelta(hours=1)


async def test_a_live_process_finds_its_own_given_up_deliveries_but_not_those_it_is_delivering(
        pool: asyncpg.Pool, repo: NotifierRepository) -> None:
    # FAULTS's bug (issue 14): a delivery's records failed on a PostgreSQL restart, its owner lives on.
    me, other = uuid4(), uuid4()
    await repo.beat(me, T0)
    await repo.beat(other, T0)

    async def claim(owner: UUID) -> int:
        async with transaction(pool) as tx:
            got = await tx.claim_delivery(case_id=uuid4(), cause_event_id=uuid4(), recipient_key=EMAIL_KEY,
                                          kind="acknowledgement", channel="email", status="sending", reason=None,
                                          at=T0, owner=owner, intent={"route": "email", "message": "x"})
        assert got is not None
        return got

    never, long_ago, just_now, busy, others = [await claim(o) for o in (me, me, me, me, other)]
    assert await repo.mark_attempted(long_ago) and await repo.mark_attempted(just_now)
    async with pool.acquire() as conn:
        await conn.execute("UPDATE deliveries SET attempted_at = $2 WHERE id = $1", long_ago, T0)

    async with transaction(pool) as tx:
        found = await tx.interrupted_deliveries(T0 + timedelta(minutes=10), 60, 100, own=me, in_flight=[busy])
        assert {(x.delivery_id, x.resendable) for x in found} == {(never, True), (long_ago, False)}
    async with transaction(pool) as tx:  # another replica: every owner lives, nothing is its to settle
        assert not {never, long_ago, just_now, busy, others} & {
            x.delivery_id for x in await tx.interrupted_deliveries(T0 + timedelta(minutes=10), 60, 100, own=uuid4())}
