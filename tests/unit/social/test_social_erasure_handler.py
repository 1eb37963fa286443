"""intake_social's consumer of `case.personal_data_erased` on an in-memory unit of work: the published
copies of the case's mentions are emptied, the raw unsupported items and conversations naming the case's
messages (or, before it closed, its reporters) are erased, the erasure is recorded once even when nothing
was kept (Meta messages are never stored), and other case events are left alone."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from services.intake_social.service_layer import erasure
from shared.events import CaseOpened, CasePersonalDataErased, Envelope
from shared.events.declaration import declaration_of
from support.uow import T0, FakeStore

CASE_ID = UUID("7b0b7d36-1111-4c4c-9a9a-000000000043")


class FakeErasureRepository:
    """`ErasureRepository` in memory: published payloads by channel message id, and the erasure log."""

    def __init__(self) -> None:
        self.payloads: dict[str, bytes] = {"mastodon:109": b'{"pii": {"handle": "@ana@city.social"}}',
                                           "mastodon:110": b'{"pii": {"handle": "@bo@city.social"}}'}
        self.erasures: list[dict[str, Any]] = []
        # unsupported items: message id -> (contact key, received_at, raw); conversations: contact -> report id
        self.unsupported: dict[str, tuple[str, datetime, Any]] = {
            "wamid.POLL": ("ck_ana", datetime(2024, 12, 1, tzinfo=T0.tzinfo), {"from": "15145550000"}),
            "wamid.ORDER": ("ck_bo", datetime(2024, 12, 2, tzinfo=T0.tzinfo), {"from": "15145550001"}),
            "wamid.LATER": ("ck_bo", datetime(2025, 6, 1, tzinfo=T0.tzinfo), {"from": "15145550001"}),
        }
        self.conversations: dict[str, str] = {"ck_ana": "m_abc123", "ck_cy": "m_other"}
        self.media: dict[str, list[str]] = {"photo-1": ["wamid.HBgL"], "photo-2": ["m_other"]}

    async def erase_unsupported(self, ids: list[str], contact_keys: list[str], closed_at: datetime,
                                now: datetime) -> int:
        hit = [mid for mid, (ck, at, raw) in self.unsupported.items()
               if raw is not None and (mid in ids or (ck in contact_keys and at <= closed_at))]
        for mid in hit:
            ck, at, _ = self.unsupported[mid]
            self.unsupported[mid] = (ck, at, None)
        return len(hit)

    async def erase_media(self, ids: list[str]) -> int:
        gone = [media_id for media_id, carried in self.media.items() if set(carried) & set(ids)]
        for media_id in gone:
            del self.media[media_id]
        return len(gone)

    async def forget_conversations(self, ids: list[str]) -> int:
        gone = [ck for ck, report in self.conversations.items() if report in ids]
        for ck in gone:
            del self.conversations[ck]
        return len(gone)

    async def erase_published_payloads(self, channel_message_ids: list[str]) -> int:
        hit = [i for i in channel_message_ids if self.payloads.get(i)]
        for i in hit:
            self.payloads[i] = b""
        return len(hit)

    async def record_erasure(self, **row: Any) -> None:
        self.erasures.append(row)


def erased_event(ids: list[str], contact_keys: tuple[str, ...] = ()) -> Envelope:
    data = CasePersonalDataErased(case_id=CASE_ID, service_request_id="DEM-2026-000043", jurisdiction_id="demo",
                                  channel_message_ids=ids, contact_keys=list(contact_keys), closed_at=datetime(2025, 1, 5, tzinfo=T0.tzinfo),
                                  policy_days=365)
    return Envelope.new_flow(data, subject=str(CASE_ID), producer="case", now=T0)


async def test_the_published_copy_of_the_cases_mention_is_emptied_and_others_kept() -> None:
    store = FakeStore(FakeErasureRepository(), "intake_social")
    env = erased_event(["mastodon:109", "<a@mail.example.org>"])
    assert await store.handle(erasure.handlers(), env) == (
        "erased 1 published payloads, 0 unsupported items, 0 conversations and 0 media files of DEM-2026-000043")
    assert store.repo.payloads == {"mastodon:109": b"", "mastodon:110": b'{"pii": {"handle": "@bo@city.social"}}'}
    assert store.repo.erasures == [{"event_id": env.event_id, "case_id": CASE_ID,
                                    "service_request_id": "DEM-2026-000043", "mode": "erase", "events": 1, "now": T0}]
    assert store.outbox == []


async def test_a_case_of_meta_messages_only_is_recorded_with_nothing_erased_and_only_once() -> None:
    store = FakeStore(FakeErasureRepository(), "intake_social")
    env = erased_event(["m_abc123", "wamid.HBgL"])
    await store.handle(erasure.handlers(), env)
    await store.handle(erasure.handlers(), env)
    # the conversation whose report was m_abc123, and the photo wamid.HBgL carried
    assert [e["events"] for e in store.repo.erasures] == [2]
    assert store.repo.conversations == {"ck_cy": "m_other"} and list(store.repo.media) == ["photo-2"]


async def test_raw_unsupported_items_of_the_cases_messages_and_of_its_reporters_before_it_closed_are_erased() -> None:
    store = FakeStore(FakeErasureRepository(), "intake_social")
    env = erased_event(["wamid.POLL"], contact_keys=("ck_bo",))
    assert await store.handle(erasure.handlers(), env) == (
        "erased 0 published payloads, 2 unsupported items, 0 conversations and 0 media files of DEM-2026-000043")
    raw = {mid: row[2] for mid, row in store.repo.unsupported.items()}
    # the reporter's item sent after the case closed (2025-01-05) is not this case's: kept
    assert raw == {"wamid.POLL": None, "wamid.ORDER": None, "wamid.LATER": {"from": "15145550001"}}


async def test_other_case_events_are_not_acted_on() -> None:
    store = FakeStore(FakeErasureRepository(), "intake_social")
    opened = CaseOpened.model_validate(declaration_of(CaseOpened).example)
    env = Envelope.new_flow(opened, subject=str(opened.case_id), producer="case", now=T0)
    assert await store.handle(erasure.handlers(), env) is None and store.repo.erasures == []
