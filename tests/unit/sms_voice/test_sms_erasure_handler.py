"""intake_sms_voice's consumer of `case.personal_data_erased` on an in-memory unit of work: the media the
case's messages carried (an MMS photo, a call's recording) are deleted and others kept, the erasure is
recorded once even when nothing was kept (a text without media), and other case events are left alone."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from services.intake_sms_voice.service_layer import erasure
from shared.events import CaseOpened, CasePersonalDataErased, Envelope
from shared.events.declaration import declaration_of
from support.uow import T0, FakeStore

CASE_ID = UUID("7b0b7d36-2222-4c4c-9a9a-000000000044")


class FakeMediaErasures:
    """`MediaErasureRepository` in memory: kept files (media id -> the messages that carried it) and the log."""

    def __init__(self) -> None:
        self.media: dict[str, list[str]] = {"photo-1": ["MM1"], "recording-1": ["CA1", "RE1"],
                                            "photo-2": ["MM_other"]}
        self.erasures: list[dict[str, Any]] = []

    async def erase_media(self, ids: list[str]) -> int:
        gone = [media_id for media_id, carried in self.media.items() if set(carried) & set(ids)]
        for media_id in gone:
            del self.media[media_id]
        return len(gone)

    async def record_erasure(self, **row: Any) -> None:
        self.erasures.append(row)


def erased_event(ids: list[str], mode: str = "erase") -> Envelope:
    data = CasePersonalDataErased(case_id=CASE_ID, service_request_id="DEM-2026-000044", jurisdiction_id="demo",
                                  channel_message_ids=ids, contact_keys=["ck_ana"],
                                  closed_at=datetime(2025, 1, 5, tzinfo=T0.tzinfo), policy_days=365, mode=mode)
    return Envelope.new_flow(data, subject=str(CASE_ID), producer="case", now=T0)


async def test_the_photo_and_the_recording_of_the_cases_messages_are_deleted_and_others_kept() -> None:
    store = FakeStore(FakeMediaErasures(), "intake_sms_voice")
    env = erased_event(["MM1", "CA1", "<a@mail.example.org>"])
    assert await store.handle(erasure.handlers(), env) == "erased 2 media files of DEM-2026-000044"
    assert list(store.repo.media) == ["photo-2"]
    assert store.repo.erasures == [{"event_id": env.event_id, "case_id": CASE_ID,
                                    "service_request_id": "DEM-2026-000044", "mode": "erase", "events": 2, "now": T0}]
    assert store.outbox == []


async def test_a_case_of_texts_without_media_is_recorded_with_nothing_erased_and_only_once() -> None:
    store = FakeStore(FakeMediaErasures(), "intake_sms_voice")
    env = erased_event(["SM1"], mode="pseudonymise")
    assert await store.handle(erasure.handlers(), env) == "erased 0 media files of DEM-2026-000044"
    assert await store.handle(erasure.handlers(), env) == "duplicate"
    assert [(e["events"], e["mode"]) for e in store.repo.erasures] == [(0, "pseudonymise")]
    assert len(store.repo.media) == 3


async def test_other_case_events_are_not_acted_on() -> None:
    store = FakeStore(FakeMediaErasures(), "intake_sms_voice")
    opened = CaseOpened.model_validate(declaration_of(CaseOpened).example)
    env = Envelope.new_flow(opened, subject=str(opened.case_id), producer="case", now=T0)
    assert await store.handle(erasure.handlers(), env) is None and store.repo.erasures == []


def test_the_erasure_log_is_the_same_table_as_intake_socials() -> None:
    """`shared.media.erasure.MediaErasureRepository` writes both services' `erasures`: their tables agree."""
    from pathlib import Path

    services = Path(__file__).resolve().parents[3] / "services"

    def table(path: str) -> str:
        sql = (services / path).read_text("utf-8")
        return sql[sql.index("CREATE TABLE"):]

    assert table("intake_sms_voice/migrations/003_erasures.sql") == table("intake_social/migrations/002_erasures.sql")
