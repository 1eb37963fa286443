"""intake_email's ingest transaction against real PostgreSQL, and the notifier's handling of a bounce:
raw bytes kept whatever they are, the cursor claimed once per UID, Message-ID idempotency across a new
UIDVALIDITY, one bounce event per failed recipient, and no mail to an address that bounced; and the
erasure of a case's mail, media and published payloads when its retention ran out."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from email.message import EmailMessage
from uuid import uuid4

import asyncpg
import pytest

from services.intake_email.adapters import repository as repo
from services.intake_email.service_layer import handlers
from services.notifier.adapters.repository import NotifierRepository
from services.notifier.service_layer import handlers as notifier
from shared.db.migrate import migrate
from shared.db.pool import create_pool
from shared.db.unit_of_work import PgUnitOfWork
from shared.events import BounceReceived, CaseOpened, Envelope, MessageReceived
from shared.kafka import Delivery
from shared.service_layer import dispatch

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
MAILBOX = "city@127.0.0.1:3143/INBOX"


@pytest.fixture
async def pool(database: str, fresh_schema_name: str):  # noqa: ANN201
    await migrate(database, fresh_schema_name, "services.intake_email")
    p = await create_pool(database, fresh_schema_name, application_name="it-intake-email", max_size=2)
    yield p
    await p.close()


@pytest.fixture
def deps(pool: asyncpg.Pool) -> handlers.Deps:
    return handlers.Deps(mailbox=MAILBOX, authserv_id="mx.omni311.test",
                         own_addresses=frozenset({"311@omni311.test"}),
                         media_url=lambda media_id: f"https://311.example.org/media/{media_id}",
                         unit_of_work=lambda now: PgUnitOfWork(pool, service="intake_email",
                                                               repository=repo.MailRepository, now=now))


@pytest.fixture
def store(pool: asyncpg.Pool) -> repo.MailboxStore:
    return repo.MailboxStore(pool)


def resident_mail(message_id: str, *, auth: str | None = None) -> bytes:
    msg = EmailMessage()
    if auth:
        msg["Authentication-Results"] = auth
    msg["From"] = "Jeanne Roy <jeanne@resident.test>"
    msg["To"] = "311@omni311.test"
    msg["Subject"] = "Lampadaire éteint rue des Érables"
    msg["Message-ID"] = message_id
    msg.set_content("Bonjour, le lampadaire devant le 12 rue des Érables est éteint depuis une semaine.")
    return msg.as_bytes()


async def outbox(pool: asyncpg.Pool) -> list[Envelope]:
    return [Envelope.from_bytes(r["payload"]) for r in await pool.fetch("SELECT payload FROM outbox ORDER BY id")]


async def test_a_message_is_kept_published_once_and_its_uid_never_ingested_twice(
        deps: handlers.Deps, store: repo.MailboxStore, pool: asyncpg.Pool) -> None:
    await store.start_over(MAILBOX, 7, NOW)
    raw = resident_mail("<m1@resident.test>", auth="mx.omni311.test; spf=pass smtp.mailfrom=resident.test; "
                                                    "dmarc=fail header.from=resident.test")
    assert await handlers.ingest(deps, uidvalidity=7, uid=1, raw=raw, now=NOW) == "message"
    assert await handlers.ingest(deps, uidvalidity=7, uid=1, raw=raw, now=NOW) == "already_ingested"

    (stored,) = await pool.fetch("SELECT raw, kind, message_id, sender_authenticated, event_ids FROM raw_messages")
    assert stored["raw"] == raw and stored["kind"] == "message" and stored["message_id"] == "<m1@resident.test>"
    assert stored["sender_authenticated"] == "fail"
    (env,) = await outbox(pool)
    assert [env.event_id] == stored["event_ids"]
    msg = env.payload(MessageReceived)
    assert msg.channel == "email" and msg.channel_message_id == "<m1@resident.test>"
    assert msg.sender_authenticated == "fail" and msg.language == "fr"
    assert msg.pii.email == "jeanne@resident.test" and env.subject == msg.contact_key
    assert "lampadaire" in msg.description
    assert (await store.cursor(MAILBOX)) == repo.Cursor(7, 1)


async def test_after_a_new_uidvalidity_the_same_message_id_is_kept_but_not_published_again(
        deps: handlers.Deps, store: repo.MailboxStore, pool: asyncpg.Pool) -> None:
    await store.start_over(MAILBOX, 7, NOW)
    raw = resident_mail("<m2@resident.test>")
    assert await handlers.ingest(deps, uidvalidity=7, uid=4, raw=raw, now=NOW) == "message"
    await store.start_over(MAILBOX, 8, NOW)  # the server rebuilt the mailbox
    assert await handlers.ingest(deps, uidvalidity=7, uid=5, raw=raw, now=NOW) == "already_ingested", \
        "a UID of the old generation is not ingested under the new one"
    assert await handlers.ingest(deps, uidvalidity=8, uid=1, raw=raw, now=NOW) == "duplicate"
    kinds = [r["kind"] for r in await pool.fetch("SELECT kind FROM raw_messages ORDER BY id")]
    assert kinds == ["message", "duplicate"]
    assert len(await outbox(pool)) == 1


async def test_mail_that_cannot_be_read_is_kept_and_listed_as_a_problem(
        deps: handlers.Deps, store: repo.MailboxStore, pool: asyncpg.Pool) -> None:
    await store.start_over(MAILBOX, 7, NOW)
    junk = b"\x00\xff\xfe garbage without headers \r\n\r\n\x80\x81"
    assert await handlers.ingest(deps, uidvalidity=7, uid=1, raw=junk, now=NOW) == "unparseable"
    (problem,) = await store.problems(10)
    assert problem["kind"] == "unparseable" and problem["reason"]
    assert await store.raw_bytes(problem["id"]) == junk
    assert await outbox(pool) == []
    assert (await store.cursor(MAILBOX)).last_uid == 1, "a bad mail never blocks the mailbox"


async def test_our_own_mail_coming_back_is_a_loop_not_a_report(
        deps: handlers.Deps, store: repo.MailboxStore, pool: asyncpg.Pool) -> None:
    await store.start_over(MAILBOX, 7, NOW)
    msg = EmailMessage()
    msg["From"] = "City 311 <311@omni311.test>"
    msg["To"] = "311@omni311.test"
    msg["Subject"] = "[DEMO-26-000001] We received your report"
    msg["Message-ID"] = "<ack@omni311.test>"
    msg.set_content("We received your report.")
    assert await handlers.ingest(deps, uidvalidity=7, uid=1, raw=msg.as_bytes(), now=NOW) == "own"
    assert await outbox(pool) == []


async def test_what_is_committed_is_listed_for_flagging_until_marked_flagged(
        deps: handlers.Deps, store: repo.MailboxStore) -> None:
    await store.start_over(MAILBOX, 7, NOW)
    assert await handlers.ingest(deps, uidvalidity=7, uid=3, raw=resident_mail("<m5@resident.test>"), now=NOW) == "message"
    ((row_id, uid),) = await store.unflagged(MAILBOX, 7)
    assert uid == 3 and await store.unflagged(MAILBOX, 8) == []
    await store.mark_flagged([row_id], NOW)
    assert await store.unflagged(MAILBOX, 7) == []
    (listed,) = await store.messages(message_id="<m5@resident.test>", kind=None, limit=10)
    assert listed["flagged_at"] == NOW


def dsn(failed: list[str], action: str = "failed", status: str = "5.1.1") -> bytes:
    blocks = "".join(f"\r\nFinal-Recipient: rfc822; {a}\r\nAction: {action}\r\nStatus: {status}\r\n" for a in failed)
    return (
        "From: Mail Delivery System <MAILER-DAEMON@mx.resident.test>\r\nTo: 311@omni311.test\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\nMessage-ID: <dsn-" + action + "@mx.resident.test>\r\n"
        'MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain\r\n\r\nDelivery failed.\r\n"
        "--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.resident.test\r\n" + blocks +
        "\r\n--b--\r\n"
    ).encode()


async def test_a_bounce_announces_each_failed_recipient_and_a_delay_announces_nothing(
        deps: handlers.Deps, store: repo.MailboxStore, pool: asyncpg.Pool) -> None:
    await store.start_over(MAILBOX, 7, NOW)
    assert await handlers.ingest(deps, uidvalidity=7, uid=1, raw=dsn(["a@resident.test", "b@resident.test"]),
                                 now=NOW) == "bounce"
    assert await handlers.ingest(deps, uidvalidity=7, uid=2, raw=dsn(["c@resident.test"], "delayed", "4.4.1"),
                                 now=NOW) == "bounce"
    bounces = [e.payload(BounceReceived) for e in await outbox(pool)]
    assert sorted(b.pii.email for b in bounces) == ["a@resident.test", "b@resident.test"]
    assert {b.status for b in bounces} == {"5.1.1"} and len({b.contact_key for b in bounces}) == 2


# --- the notifier side ------------------------------------------------------------------------------------


@pytest.fixture
async def notifier_pool(database: str):  # noqa: ANN201
    schema = f"it_n_{uuid4().hex[:8]}"
    await migrate(database, schema, "services.notifier")
    p = await create_pool(database, schema, application_name="it-notifier", max_size=2)
    yield p
    await p.close()


async def test_the_notifier_sends_nothing_more_to_an_address_that_bounced(notifier_pool: asyncpg.Pool) -> None:
    sent: list[EmailMessage] = []

    async def send(message: EmailMessage) -> None:
        sent.append(message)

    def record_uow(env: Envelope, now: datetime) -> PgUnitOfWork[NotifierRepository]:
        return PgUnitOfWork(notifier_pool, service="notifier", repository=NotifierRepository, now=now, envelope=env)

    table = notifier.handlers(notifier.Sending(
        notifier.Senders(send_email=send, mail_from="311@omni311.test", mail_from_name="City 311"), record_uow))

    async def consume(env: Envelope, topic: str, offset: int) -> str | None:
        return await dispatch(table, env, lambda: PgUnitOfWork(
            notifier_pool, service="notifier", repository=NotifierRepository, now=NOW, envelope=env,
            delivery=Delivery(topic, 0, offset, "notifier")))

    bounce = BounceReceived(channel="email", channel_message_id="<dsn@mx.resident.test>", contact_key="ck_x",
                            received_at=NOW, reason="delivery status notification", status="5.1.1",
                            pii={"email": "Gone@Resident.test"})
    env = Envelope.new_flow(bounce, subject="ck_x", producer="intake_email", now=NOW)
    assert await consume(env, "intake.messages", 1) == "marked_undeliverable"
    assert await consume(env, "intake.messages", 1) == "duplicate"

    async def opened(address: str, offset: int) -> str | None:
        case = CaseOpened(case_id=uuid4(), service_request_id=f"DEMO-26-00000{offset}", jurisdiction_id="demo",
                          channel="email", channel_message_id=f"<m{offset}@resident.test>", contact_key="ck",
                          requested_datetime=NOW, pii={"email": address})
        e = Envelope.new_flow(case, subject=str(case.case_id), producer="case", now=NOW)
        return await consume(e, "cases.lifecycle", offset)

    assert await opened("gone@resident.test", 1) == "suppressed"
    assert sent == []
    assert await opened("still@resident.test", 2) == "sending,sent"  # claimed in the event's transaction, then sent
    assert len(sent) == 1 and sent[0]["In-Reply-To"] == "<m2@resident.test>"
    reasons = [json.loads(r["payload"])["data"]["reason"] for r in await notifier_pool.fetch("SELECT payload FROM outbox ORDER BY id")]
    assert reasons[0].startswith("undeliverable: ")
    rows = await notifier_pool.fetch("SELECT status, provider_message_id, finished_at FROM deliveries ORDER BY id")
    assert [r["status"] for r in rows] == ["suppressed", "sent"]
    assert rows[1]["provider_message_id"] == sent[0]["Message-ID"] and rows[1]["finished_at"] == NOW


def mail_with_photo(message_id: str) -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(buf, "JPEG")
    msg = EmailMessage()
    msg["From"] = "Ana Silva <ana@resident.test>"
    msg["To"] = "311@omni311.test"
    msg["Subject"] = "Nid-de-poule"
    msg["Message-ID"] = message_id
    msg.set_content("Un nid-de-poule profond devant le 40 rue Principale, appelez-moi au 613-555-0142.")
    msg.add_attachment(buf.getvalue(), maintype="image", subtype="jpeg", filename="trou.jpg")
    return msg.as_bytes()


async def test_a_cases_personal_data_erasure_empties_its_mail_media_and_published_payloads_once(
        deps: handlers.Deps, store: repo.MailboxStore, pool: asyncpg.Pool) -> None:
    from services.intake_email.service_layer import erasure
    from shared.events import CasePersonalDataErased

    await store.start_over(MAILBOX, 9, NOW)
    assert await handlers.ingest(deps, uidvalidity=9, uid=1, raw=mail_with_photo("<e1@resident.test>"), now=NOW) == "message"
    assert await handlers.ingest(deps, uidvalidity=9, uid=2, raw=resident_mail("<keep@resident.test>"), now=NOW) == "message"
    (media_id,) = [r["media_id"] for r in await pool.fetch("SELECT media_id FROM media")]
    assert await store.publishable_media(media_id) is not None
    await pool.execute("UPDATE outbox SET published_at = $1", NOW)  # the relay's part

    event = CasePersonalDataErased(case_id=uuid4(), service_request_id="DEM-2026-000042", jurisdiction_id="demo",
                                   contact_keys=["ck_ana"], channel_message_ids=["<e1@resident.test>", "SMabc"],
                                   closed_at=NOW, policy_days=365)
    env = Envelope.new_flow(event, subject=str(event.case_id), producer="case", now=NOW)
    table = erasure.handlers()

    async def consume(offset: int) -> str | None:
        return await dispatch(table, env, lambda: PgUnitOfWork(
            pool, service="intake_email", repository=repo.MailRepository, now=NOW, envelope=env,
            delivery=Delivery("cases.lifecycle", 0, offset, "intake_email")))

    assert await consume(1) == "erased 1 messages, 1 media of DEM-2026-000042"
    assert await consume(2) == "duplicate", "a redelivered erasure is claimed already"

    rows = {r["message_id"]: r for r in await pool.fetch(
        "SELECT message_id, raw, size, reason, attachments, erased_at, event_ids FROM raw_messages")}
    gone, kept = rows["<e1@resident.test>"], rows["<keep@resident.test>"]
    assert (bytes(gone["raw"]), gone["size"], gone["reason"], gone["erased_at"]) == (b"", 0, "erased", NOW)
    assert gone["attachments"] in ([], "[]")
    assert b"jeanne@resident.test" in bytes(kept["raw"]) and kept["erased_at"] is None
    assert await store.publishable_media(media_id) is None
    assert await store.raw_bytes((await pool.fetchval("SELECT id FROM raw_messages WHERE message_id = $1",
                                                      "<e1@resident.test>"))) == b""
    payloads = {r["event_id"]: bytes(r["payload"]) for r in await pool.fetch("SELECT event_id, payload FROM outbox")}
    assert payloads[gone["event_ids"][0]] == b""
    assert b"jeanne@resident.test" in payloads[kept["event_ids"][0]]
    (audit,) = await pool.fetch("SELECT * FROM erasures")
    assert (audit["event_id"], audit["messages"], audit["media"], audit["mode"]) == (env.event_id, 1, 1, "erase")
