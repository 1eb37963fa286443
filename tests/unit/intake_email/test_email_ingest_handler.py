"""intake_email's ingest on an in-memory unit of work: each UID once, each Message-ID published once,
automatic mail kept without an event, and a failure that leaves nothing behind (the message is fetched
again and ingested then)."""

from __future__ import annotations

from datetime import datetime
from email.message import EmailMessage
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

import pytest

from services.intake_email.service_layer import handlers
from shared.events import Envelope, MessageReceived
from support.uow import T0, FakeStore

MAILBOX = "city@imap.test:143/INBOX"


class FakeMailRepository:
    """`MailRepository` in memory: the cursor per mailbox, the stored messages, media and outbox rows."""

    def __init__(self) -> None:
        self.cursors: dict[str, tuple[int, int]] = {}
        self.raw: dict[int, dict[str, Any]] = {}
        self.media: dict[UUID, dict[str, Any]] = {}
        self.outbox: list[Envelope] = []
        self.fail_on_outcome = False

    async def claim_uid(self, mailbox: str, uidvalidity: int, uid: int) -> bool:
        cursor = self.cursors.get(mailbox)
        return cursor is not None and cursor[0] == uidvalidity and uid > cursor[1]

    async def advance(self, mailbox: str, uid: int, now: datetime) -> None:
        self.cursors[mailbox] = (self.cursors[mailbox][0], uid)

    async def store_raw(self, mailbox: str, uidvalidity: int, uid: int, raw: bytes, now: datetime) -> int:
        row_id = len(self.raw) + 1
        self.raw[row_id] = {"uid": uid, "raw": raw, "kind": "pending", "message_id": None}
        return row_id

    async def earlier_with_message_id(self, message_id: str, row_id: int) -> int | None:
        return next((i for i, r in sorted(self.raw.items())
                     if r["message_id"] == message_id and i != row_id and r["kind"] != "pending"), None)

    async def record_outcome(self, row_id: int, **outcome: Any) -> None:
        if self.fail_on_outcome:
            raise ConnectionError("database went away")
        self.raw[row_id].update(outcome)

    async def store_media(self, *, media_id: UUID, **media: Any) -> None:
        self.media.setdefault(media_id, media)

    async def add_to_outbox(self, envelope: Envelope) -> None:
        if all(e.event_id != envelope.event_id for e in self.outbox):
            self.outbox.append(envelope)


@pytest.fixture
def store() -> FakeStore[FakeMailRepository]:
    s = FakeStore(FakeMailRepository(), "intake_email")
    s.repo.cursors[MAILBOX] = (7, 0)
    return s


def deps(store: FakeStore[FakeMailRepository]) -> handlers.Deps:
    return handlers.Deps(mailbox=MAILBOX, authserv_id="mx.omni311.test",
                         own_addresses=frozenset({"311@omni311.test"}),
                         media_url=lambda media_id: f"https://311.example.org/media/{media_id}",
                         unit_of_work=lambda now: store.uow(now=now))


def mail(message_id: str, *, sender: str = "Jeanne Roy <jeanne@resident.test>", subject: str = "Nid-de-poule",
         headers: dict[str, str] | None = None) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = "311@omni311.test"
    msg["Subject"] = subject
    msg["Message-ID"] = message_id
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content("Bonjour, il y a un nid-de-poule devant le 12 rue des Érables depuis une semaine.")
    return msg.as_bytes()


async def ingest(store: FakeStore[FakeMailRepository], uid: int, raw: bytes, uidvalidity: int = 7) -> str:
    return await handlers.ingest(deps(store), uidvalidity=uidvalidity, uid=uid, raw=raw, now=T0)


async def test_a_residents_mail_is_kept_published_once_and_its_uid_never_ingested_twice(
        store: FakeStore[FakeMailRepository]) -> None:
    raw = mail("<m1@resident.test>")
    assert await ingest(store, 1, raw) == "message"
    assert await ingest(store, 1, raw) == "already_ingested"

    repo = store.repo
    (row,) = repo.raw.values()
    assert row["raw"] == raw and row["kind"] == "message" and row["message_id"] == "<m1@resident.test>"
    (env,) = repo.outbox
    assert env.event_id == uuid5(NAMESPACE_URL, "omni311:email:<m1@resident.test>")
    assert row["event_ids"] == [env.event_id]
    msg = env.payload(MessageReceived)
    assert msg.channel == "email" and msg.channel_message_id == "<m1@resident.test>"
    assert env.subject == msg.contact_key and env.producer == "intake_email" and env.occurred_at == T0
    assert env.correlation_id == env.event_id, "intake starts a flow"
    assert repo.cursors[MAILBOX] == (7, 1)
    assert store.commits == 2 and store.rollbacks == 0


async def test_a_message_id_already_ingested_is_kept_as_a_duplicate_and_publishes_nothing(
        store: FakeStore[FakeMailRepository]) -> None:
    raw = mail("<m2@resident.test>")
    assert await ingest(store, 1, raw) == "message"
    assert await ingest(store, 2, raw) == "duplicate"
    assert [r["kind"] for r in store.repo.raw.values()] == ["message", "duplicate"]
    assert store.repo.raw[2]["reason"] == "Message-ID already ingested (raw message 1)"
    assert store.repo.raw[2]["event_ids"] == []
    assert len(store.repo.outbox) == 1
    assert store.repo.cursors[MAILBOX] == (7, 2)


async def test_a_uid_of_another_mailbox_generation_is_not_ingested(store: FakeStore[FakeMailRepository]) -> None:
    assert await ingest(store, 3, mail("<m3@resident.test>"), uidvalidity=6) == "already_ingested"
    assert store.repo.raw == {} and store.repo.outbox == [] and store.repo.cursors[MAILBOX] == (7, 0)


async def test_automatic_and_own_mail_are_kept_without_an_event(store: FakeStore[FakeMailRepository]) -> None:
    assert await ingest(store, 1, mail("<ooo@resident.test>", subject="Out of office",
                                       headers={"Auto-Submitted": "auto-replied"})) == "auto_reply"
    assert await ingest(store, 2, mail("<ack@omni311.test>", sender="City 311 <311@omni311.test>")) == "own"
    assert [r["kind"] for r in store.repo.raw.values()] == ["auto_reply", "own"]
    assert store.repo.outbox == []
    assert store.repo.cursors[MAILBOX] == (7, 2)


async def test_a_failure_leaves_nothing_behind_and_the_message_is_ingested_when_fetched_again(
        store: FakeStore[FakeMailRepository]) -> None:
    raw = mail("<m4@resident.test>")
    store.repo.fail_on_outcome = True
    with pytest.raises(ConnectionError):
        await ingest(store, 1, raw)
    assert store.rollbacks == 1
    assert store.repo.raw == {} and store.repo.outbox == [] and store.repo.cursors[MAILBOX] == (7, 0)

    store.repo.fail_on_outcome = False
    assert await ingest(store, 1, raw) == "message"
    assert len(store.repo.outbox) == 1 and store.repo.cursors[MAILBOX] == (7, 1)
