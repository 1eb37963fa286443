"""intake_sms_voice's erasure against real PostgreSQL (migrations 002 and 003): an MMS photo kept for a
message is served at `GET /media/{id}` until the case's `case.personal_data_erased` is consumed, then
answers 404; another message's photo stays; the event is claimed and recorded once."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from services.intake_sms_voice.service_layer import erasure
from shared.db.unit_of_work import PgUnitOfWork
from shared.events import CasePersonalDataErased, Envelope
from shared.kafka import Delivery
from shared.media import Cleaned, MediaStore, mount_media
from shared.media.erasure import MediaErasureRepository
from shared.service_layer import dispatch

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def migrated_package() -> str:
    return "services.intake_sms_voice"


def jpeg(tag: str) -> Cleaned:
    return Cleaned(content=b"\xff\xd8" + tag.encode(), content_type="image/jpeg", filename=None,
                   sha256=tag.encode().hex().ljust(64, "0")[:64])


async def test_a_cases_mms_photo_answers_404_once_the_case_is_erased(service_pool: asyncpg.Pool,
                                                                      fresh_schema_name: str) -> None:
    media = MediaStore(service_pool, fresh_schema_name)
    photo = await media.put(jpeg("ana"), channel_message_id="MM1", now=NOW)
    other = await media.put(jpeg("bo"), channel_message_id="MM2", now=NOW)
    app = FastAPI()
    mount_media(app, lambda _request: MediaStore(service_pool, fresh_schema_name))
    event = CasePersonalDataErased(case_id=uuid4(), service_request_id="DEM-2026-000044", jurisdiction_id="demo",
                                   channel_message_ids=["MM1", "<a@mail.example.org>"], contact_keys=["ck_ana"],
                                   closed_at=NOW, policy_days=30)
    env = Envelope.new_flow(event, subject=str(event.case_id), producer="case", now=NOW)

    async def consume(offset: int) -> str | None:
        return await dispatch(erasure.handlers(), env, lambda: PgUnitOfWork(
            service_pool, service="intake_sms_voice", repository=MediaErasureRepository, now=NOW, envelope=env,
            delivery=Delivery("cases.lifecycle", 0, offset, "intake_sms_voice")))

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sms") as client:
        assert (await client.get(f"/media/{photo}")).status_code == 200
        assert await consume(1) == "erased 1 media files of DEM-2026-000044"
        assert await consume(2) == "duplicate"
        gone, kept = await client.get(f"/media/{photo}"), await client.get(f"/media/{other}")
    assert gone.status_code == 404
    assert kept.status_code == 200 and kept.content == b"\xff\xd8bo"
    (audit,) = await service_pool.fetch("SELECT event_id, events, mode, erased_at FROM erasures")
    assert tuple(audit) == (env.event_id, 1, "erase", NOW)
