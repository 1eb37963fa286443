"""intake_web's photos on real PostgreSQL (schema `intake_web`): a published report's photos are recorded as
used, `case.personal_data_erased` deletes those of the case's tokens (once: the inbox claims the event),
and the sweep deletes only old photos no report used; a photo kept again under its id stays one photo."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import asyncpg
import pytest

from services.intake_web.adapters.erasure import PhotoErasureRepository
from services.intake_web.adapters.portal import PgPortalStore
from services.intake_web.service_layer import erasure
from shared.db.unit_of_work import PgUnitOfWork
from shared.events import CasePersonalDataErased, Envelope
from shared.kafka import Delivery
from shared.service_layer import dispatch

NOW = datetime(2026, 11, 29, 15, 0, tzinfo=UTC)
JPEG = b"\xff\xd8\xff\xe0" + bytes(range(64)) + b"\xff\xd9"


@pytest.fixture
def migrated_package() -> str:
    return "services.intake_web"


async def test_the_case_erasure_deletes_the_photos_of_its_reports_once(service_pool: asyncpg.Pool,
                                                                        fresh_schema_name: str) -> None:
    store = PgPortalStore(lambda: service_pool)
    web_a, web_b, open311, other = uuid4(), uuid4(), uuid4(), uuid4()
    for pid in (web_a, web_b, open311, other):
        await store.add_photo(photo_id=pid, jpeg=JPEG, width=8, height=8, now=NOW)
    assert await store.use_photos(token="web-aaa", photo_ids=[web_a, web_b, uuid4()], now=NOW) == 2
    assert await store.use_photos(token="0b5e-token", photo_ids=[open311], now=NOW) == 1
    assert await store.use_photos(token="web-other", photo_ids=[other], now=NOW) == 1
    assert await store.use_photos(token="web-aaa", photo_ids=[web_a], now=NOW) == 0  # recorded before

    event = CasePersonalDataErased(case_id=uuid4(), service_request_id="DEMO-26-000042", jurisdiction_id="demo",
                                   channel_message_ids=["web-aaa", "0b5e-token", "<a@mail.example.org>"],
                                   closed_at=NOW, policy_days=365)
    env = Envelope.new_flow(event, subject=str(event.case_id), producer="case", now=NOW)

    async def consume(offset: int) -> str | None:
        return await dispatch(erasure.handlers(), env, lambda: PgUnitOfWork(
            service_pool, service=fresh_schema_name, repository=PhotoErasureRepository, now=NOW, envelope=env,
            delivery=Delivery("cases.lifecycle", 0, offset, "intake_web")))

    assert await consume(1) == "erased 3 photos of DEMO-26-000042"
    assert await consume(2) == "duplicate"
    assert [await store.photo(pid) for pid in (web_a, web_b, open311)] == [None, None, None]
    assert await store.photo(other) == JPEG
    audit = await service_pool.fetchrow("SELECT service_request_id, photos FROM photo_erasures WHERE event_id = $1",
                                        env.event_id)
    assert dict(audit) == {"service_request_id": "DEMO-26-000042", "photos": 3}
    assert await service_pool.fetchval("SELECT count(*) FROM photo_uses") == 1


async def test_the_sweep_deletes_only_old_photos_no_report_used(service_pool: asyncpg.Pool) -> None:
    store = PgPortalStore(lambda: service_pool)
    old_unused, old_used, young = uuid4(), uuid4(), uuid4()
    await store.add_photo(photo_id=old_unused, jpeg=JPEG, width=8, height=8, now=NOW - timedelta(days=2))
    await store.add_photo(photo_id=old_used, jpeg=JPEG, width=8, height=8, now=NOW - timedelta(days=2))
    await store.add_photo(photo_id=young, jpeg=JPEG, width=8, height=8, now=NOW)
    await store.use_photos(token="web-used", photo_ids=[old_used], now=NOW)
    assert await store.delete_unused_photos(created_before=NOW - timedelta(days=1)) == 1
    assert await store.photo(old_unused) is None
    assert await store.photo(old_used) == JPEG and await store.photo(young) == JPEG


async def test_a_photo_kept_again_under_its_id_stays_one_photo(service_pool: asyncpg.Pool) -> None:
    store = PgPortalStore(lambda: service_pool)
    pid = uuid4()
    await store.add_photo(photo_id=pid, jpeg=JPEG, width=8, height=8, now=NOW)
    await store.add_photo(photo_id=pid, jpeg=JPEG, width=8, height=8, now=NOW + timedelta(seconds=5))
    assert await service_pool.fetchval("SELECT count(*) FROM photos WHERE id = $1", pid) == 1
