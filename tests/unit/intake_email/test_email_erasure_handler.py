"""intake_email's consumer of `case.personal_data_erased` on an in-memory unit of work: the case's email
messages and their media are erased once, other channels' ids match nothing, a redelivered event does
nothing twice, and other case events are left alone."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from services.intake_email.adapters.repository import Erased
from services.intake_email.service_layer import erasure
from shared.events import CaseOpened, CasePersonalDataErased, Envelope
from shared.events.declaration import declaration_of
from support.uow import T0, FakeStore

CASE_ID = UUID("7b0b7d36-1111-4c4c-9a9a-000000000042")


class FakeErasureRepository:
    """The erasure half of `MailRepository` in memory: stored messages by row id, media, erasure log."""

    def __init__(self) -> None:
        self.raw: dict[int, dict[str, Any]] = {
            1: {"message_id": "<a@mail.example.org>", "raw": b"From: ana@example.org\r\n\r\nPothole", "erased_at": None},
            2: {"message_id": "<a@mail.example.org>", "raw": b"(the same mail fetched twice)", "erased_at": None},
            3: {"message_id": "<b@mail.example.org>", "raw": b"From: bo@example.org\r\n\r\nReply", "erased_at": None},
            4: {"message_id": "<other@mail.example.org>", "raw": b"From: cy@example.org\r\n\r\nKeep me", "erased_at": None},
        }
        self.media: dict[UUID, int] = {uuid4(): 1, uuid4(): 3, uuid4(): 4}
        self.erasures: list[dict[str, Any]] = []

    async def erase_messages(self, message_ids: list[str], now: datetime) -> Erased:
        hit = [i for i, r in self.raw.items() if r["message_id"] in message_ids and r["erased_at"] is None]
        for i in hit:
            self.raw[i].update(raw=b"", erased_at=now)
        gone = [m for m, row in self.media.items() if row in hit]
        for m in gone:
            del self.media[m]
        return Erased(messages=len(hit), media=len(gone))

    async def record_erasure(self, **row: Any) -> None:
        self.erasures.append(row)


def erased_event(ids: list[str], mode: str = "erase") -> Envelope:
    data = CasePersonalDataErased(case_id=CASE_ID, service_request_id="DEM-2026-000042", jurisdiction_id="demo",
                                  contact_keys=["ck_abc"], channel_message_ids=ids,
                                  closed_at=datetime(2025, 3, 20, 10, tzinfo=T0.tzinfo), policy_days=365, mode=mode)
    return Envelope.new_flow(data, subject=str(CASE_ID), producer="case", now=T0)


async def test_the_cases_email_messages_and_their_media_are_erased_and_others_are_kept() -> None:
    store = FakeStore(FakeErasureRepository(), "intake_email")
    env = erased_event(["<a@mail.example.org>", "<b@mail.example.org>", "SM0123456789abcdef", "mastodon:1234"])
    outcome = await store.handle(erasure.handlers(), env)
    repo = store.repo
    assert outcome == "erased 3 messages, 2 media of DEM-2026-000042"
    assert [i for i, r in repo.raw.items() if r["raw"] == b""] == [1, 2, 3]
    assert repo.raw[4]["raw"].endswith(b"Keep me") and list(repo.media.values()) == [4]
    assert repo.erasures == [{"event_id": env.event_id, "case_id": CASE_ID, "service_request_id": "DEM-2026-000042",
                              "mode": "erase", "erased": Erased(3, 2), "now": T0}]
    assert store.outbox == [], "erasure announces nothing"


async def test_a_redelivered_erasure_does_nothing_twice() -> None:
    store = FakeStore(FakeErasureRepository(), "intake_email")
    env = erased_event(["<a@mail.example.org>"])
    await store.handle(erasure.handlers(), env)
    await store.handle(erasure.handlers(), env)
    assert len(store.repo.erasures) == 1


async def test_pseudonymise_drops_the_raw_mail_as_erase_does() -> None:
    store = FakeStore(FakeErasureRepository(), "intake_email")
    await store.handle(erasure.handlers(), erased_event(["<b@mail.example.org>"], mode="pseudonymise"))
    assert store.repo.raw[3]["raw"] == b"" and store.repo.erasures[0]["mode"] == "pseudonymise"


async def test_other_case_events_are_not_acted_on() -> None:
    store = FakeStore(FakeErasureRepository(), "intake_email")
    opened = CaseOpened.model_validate(declaration_of(CaseOpened).example)
    env = Envelope.new_flow(opened, subject=str(opened.case_id), producer="case", now=T0)
    assert await store.handle(erasure.handlers(), env) is None
    assert store.repo.erasures == [] and all(r["erased_at"] is None for r in store.repo.raw.values())
