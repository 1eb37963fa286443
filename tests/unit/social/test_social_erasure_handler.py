"""intake_social's consumer of `case.personal_data_erased` on an in-memory unit of work: the published
copies of the case's mentions are emptied, the erasure is recorded once even when nothing was kept (Meta
messages are never stored), and other case events are left alone."""

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

    async def erase_published_payloads(self, channel_message_ids: list[str]) -> int:
        hit = [i for i in channel_message_ids if self.payloads.get(i)]
        for i in hit:
            self.payloads[i] = b""
        return len(hit)

    async def record_erasure(self, **row: Any) -> None:
        self.erasures.append(row)


def erased_event(ids: list[str]) -> Envelope:
    data = CasePersonalDataErased(case_id=CASE_ID, service_request_id="DEM-2026-000043", jurisdiction_id="demo",
                                  channel_message_ids=ids, closed_at=datetime(2025, 1, 5, tzinfo=T0.tzinfo),
                                  policy_days=365)
    return Envelope.new_flow(data, subject=str(CASE_ID), producer="case", now=T0)


async def test_the_published_copy_of_the_cases_mention_is_emptied_and_others_kept() -> None:
    store = FakeStore(FakeErasureRepository(), "intake_social")
    env = erased_event(["mastodon:109", "<a@mail.example.org>"])
    assert await store.handle(erasure.handlers(), env) == "erased 1 published payloads of DEM-2026-000043"
    assert store.repo.payloads == {"mastodon:109": b"", "mastodon:110": b'{"pii": {"handle": "@bo@city.social"}}'}
    assert store.repo.erasures == [{"event_id": env.event_id, "case_id": CASE_ID,
                                    "service_request_id": "DEM-2026-000043", "mode": "erase", "events": 1, "now": T0}]
    assert store.outbox == []


async def test_a_case_of_meta_messages_only_is_recorded_with_nothing_erased_and_only_once() -> None:
    store = FakeStore(FakeErasureRepository(), "intake_social")
    env = erased_event(["m_abc123", "wamid.HBgL"])
    await store.handle(erasure.handlers(), env)
    await store.handle(erasure.handlers(), env)
    assert [e["events"] for e in store.repo.erasures] == [0]


async def test_other_case_events_are_not_acted_on() -> None:
    store = FakeStore(FakeErasureRepository(), "intake_social")
    opened = CaseOpened.model_validate(declaration_of(CaseOpened).example)
    env = Envelope.new_flow(opened, subject=str(opened.case_id), producer="case", now=T0)
    assert await store.handle(erasure.handlers(), env) is None and store.repo.erasures == []
