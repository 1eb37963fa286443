"""The mail server goes away under intake_email and comes back (issue 3): stopped and restarted while the
adapter is in IDLE, and frozen (it keeps the socket open and answers nothing). Mail sent before, during
and after is ingested exactly once, within 60 s of the restart. Without IDLE the mailbox is polled, and
ingested mail is flagged on the server.

Runs its own GreenMail on other ports (support.greenmail), so the shared mail server is never touched,
and intake_email alone as a process against it, with its own database and topic prefix.
"""

from __future__ import annotations

import asyncio
import imaplib
import time
from collections import Counter
from email.message import EmailMessage
from email.utils import make_msgid

import aiosmtplib
import httpx
import pytest

from shared.auth import Role
from support.auth import TestIssuer
from support.greenmail import GreenMail
from support.infra import check_kafka, check_postgres
from support.stack import Stack
from support.wait import eventually

CITY = "city@omni311.test"


@pytest.fixture
async def mail_server():
    server = GreenMail(users="city:secret@omni311.test")
    await asyncio.to_thread(server.start)
    try:
        yield server
    finally:
        await asyncio.to_thread(server.stop)


@pytest.fixture
def adapter_env() -> dict[str, str]:
    # A poll interval short enough that a frozen server is noticed within the test, long enough to be
    # seen in IDLE.
    return {"OMNI311_IMAP_POLL_INTERVAL_S": "4"}


@pytest.fixture
async def adapter(mail_server: GreenMail, adapter_env: dict[str, str], test_issuer: TestIssuer):
    await check_kafka()
    await check_postgres()
    stack = Stack(services=("intake_email",), imap=("127.0.0.1", mail_server.imap_port), extra_env={
        "OMNI311_IMAP_USER": "city", "OMNI311_IMAP_PASSWORD": "secret", "OMNI311_MAIL_FROM": CITY,
        "OMNI311_IMAP_TIMEOUT_S": "3", "OMNI311_IMAP_RECONNECT_MAX_S": "2", **adapter_env, **test_issuer.env(),
    })
    await stack.up()
    try:
        yield stack
    finally:
        await stack.down()


def mail(n: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = f"resident-{n}@resident.test"
    msg["To"] = CITY
    msg["Subject"] = f"Report {n}"
    msg["Message-ID"] = make_msgid(idstring=n, domain="resident.test")
    msg.set_content(f"Broken bench number {n} in the park.")
    return msg


async def send_until_accepted(server: GreenMail, message: EmailMessage, deadline_s: float = 90.0) -> None:
    """A sending MTA: retry until the server takes the message."""
    deadline = time.monotonic() + deadline_s
    while True:
        try:
            await aiosmtplib.send(message, hostname="127.0.0.1", port=server.smtp_port, timeout=3)
            return
        except (aiosmtplib.SMTPException, OSError, asyncio.TimeoutError):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.3)


async def status(api: httpx.AsyncClient) -> dict:
    return (await api.get("/mailbox")).json()


async def ingested(stack: Stack) -> tuple[Counter, Counter]:
    """Per Message-ID: raw messages stored, and intake events written to the outbox."""
    conn = await stack.db("intake_email")
    try:
        raw = Counter(r["message_id"] for r in await conn.fetch("SELECT message_id FROM raw_messages"))
        events = Counter(
            r["mid"] for r in await conn.fetch(
                "SELECT convert_from(payload, 'UTF8')::jsonb -> 'data' ->> 'channel_message_id' AS mid FROM outbox"))
    finally:
        await conn.close()
    return raw, events


async def test_mail_sent_before_during_and_after_a_mail_server_restart_is_ingested_exactly_once(
        mail_server: GreenMail, adapter: Stack, test_issuer: TestIssuer) -> None:
    async with httpx.AsyncClient(base_url=adapter.url("intake_email"), timeout=5,
                                 headers=test_issuer.headers(Role.SUPERVISOR)) as api:
        before = mail("before")
        await send_until_accepted(mail_server, before)
        await eventually(lambda: _has(adapter, [before]), timeout=30, what="mail before the outage ingested")
        first = await eventually(lambda: _state(api, "idle"), timeout=30, what="adapter in IDLE")

        await asyncio.to_thread(mail_server.stop)
        await eventually(lambda: _state(api, "backoff", "connecting"), timeout=15,
                         what="adapter noticed the server went away")
        during = mail("during")
        sender = asyncio.create_task(send_until_accepted(mail_server, during))
        await asyncio.sleep(2.0)  # the outage: the adapter retries, the sender retries
        assert not sender.done(), "the mail server was really down"

        await asyncio.to_thread(mail_server.start)
        restarted = time.monotonic()
        await sender
        after = mail("after")
        await send_until_accepted(mail_server, after)

        await eventually(lambda: _has(adapter, [before, during, after]), timeout=60,
                         what="mail sent during and after the outage ingested")
        assert time.monotonic() - restarted < 60
        now = await status(api)
        assert now["uidvalidity"] != first["uidvalidity"], "GreenMail's restart gave the mailbox a new UIDVALIDITY"
        assert now["sessions"] >= first["sessions"] + 1 and "state" in now

        await asyncio.sleep(1.0)  # one more chance for a double ingestion to show
        raw, events = await ingested(adapter)
        ids = [m["Message-ID"] for m in (before, during, after)]
        assert [raw[i] for i in ids] == [1, 1, 1], raw
        assert [events[i] for i in ids] == [1, 1, 1], events
        assert sum(raw.values()) == 3 and sum(events.values()) == 3


async def test_a_frozen_mail_server_does_not_hang_the_adapter(mail_server: GreenMail, adapter: Stack, test_issuer: TestIssuer) -> None:
    async with httpx.AsyncClient(base_url=adapter.url("intake_email"), timeout=5,
                                 headers=test_issuer.headers(Role.SUPERVISOR)) as api:
        first = mail("first")
        await send_until_accepted(mail_server, first)
        await eventually(lambda: _has(adapter, [first]), timeout=30, what="first mail ingested")
        idle = await eventually(lambda: _state(api, "idle"), timeout=30, what="adapter in IDLE")

        await asyncio.to_thread(mail_server.freeze)
        try:
            # The IDLE ends at the safety poll (4 s), DONE gets no answer within the 3 s timeout: the
            # adapter gives the session up instead of waiting for ever.
            stuck = await eventually(lambda: _error(api, "no answer"), timeout=20,
                                     what="adapter gave up on the frozen server")
            assert stuck["reconnects"] > idle["reconnects"]
        finally:
            await asyncio.to_thread(mail_server.thaw)
        thawed = time.monotonic()

        later = mail("later")
        await send_until_accepted(mail_server, later)
        await eventually(lambda: _has(adapter, [first, later]), timeout=60, what="mail after the freeze ingested")
        assert time.monotonic() - thawed < 60
        raw, events = await ingested(adapter)
        assert raw[later["Message-ID"]] == 1 and events[later["Message-ID"]] == 1 and sum(events.values()) == 2


@pytest.mark.parametrize("adapter_env", [{"OMNI311_IMAP_USE_IDLE": "false", "OMNI311_IMAP_POLL_INTERVAL_S": "1"}])
async def test_without_idle_the_mailbox_is_polled_and_ingested_mail_is_flagged(
        mail_server: GreenMail, adapter: Stack, test_issuer: TestIssuer) -> None:
    async with httpx.AsyncClient(base_url=adapter.url("intake_email"), timeout=5,
                                 headers=test_issuer.headers(Role.SUPERVISOR)) as api:
        mails = [mail("p1"), mail("p2")]
        for m in mails:
            await send_until_accepted(mail_server, m)
        await eventually(lambda: _has(adapter, mails), timeout=30, what="polled mail ingested")
        polling = await eventually(lambda: _state(api, "polling"), timeout=10, what="adapter polling")
        assert polling["idle_supported"] is True, "the server offers IDLE; the setting turned it off"

    def flags() -> list[bytes]:
        box = imaplib.IMAP4("127.0.0.1", mail_server.imap_port)
        try:
            box.login("city", "secret")
            box.select("INBOX", readonly=True)
            _typ, data = box.fetch("1:*", "(FLAGS)")
            return [d for d in data if isinstance(d, bytes)]
        finally:
            box.logout()

    async def all_flagged() -> list[bytes] | None:
        got = await asyncio.to_thread(flags)
        return got if len(got) == 2 and all(b"\\Seen" in f and b"$Omni311Ingested" in f for f in got) else None

    await eventually(all_flagged, timeout=10, what="ingested mail flagged \\Seen and $Omni311Ingested")


async def _has(stack: Stack, messages: list[EmailMessage]) -> bool:
    raw, events = await ingested(stack)
    return all(raw[m["Message-ID"]] and events[m["Message-ID"]] for m in messages)


async def _state(api: httpx.AsyncClient, *states: str) -> dict | None:
    s = await status(api)
    return s if s["state"] in states else None


async def _error(api: httpx.AsyncClient, text: str) -> dict | None:
    s = await status(api)
    return s if text in (s.get("last_error") or "") else None
