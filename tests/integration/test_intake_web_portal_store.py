"""The resident portal's store on real PostgreSQL (schema `intake_web`): a photo kept is read back byte for
byte and an unknown id is none; only kept photos no report used yet are unused; a survey invitation is
recorded answered once."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import asyncpg
import pytest

from services.intake_web.adapters.portal import PgPortalStore

NOW = datetime(2026, 11, 29, 15, 0, tzinfo=UTC)


@pytest.fixture
def migrated_package() -> str:
    return "services.intake_web"


async def test_a_photo_is_kept_and_read_back(service_pool: asyncpg.Pool) -> None:
    store = PgPortalStore(lambda: service_pool)
    photo_id = uuid4()
    jpeg = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 4 + b"\xff\xd9"
    await store.add_photo(photo_id=photo_id, jpeg=jpeg, width=640, height=480, now=NOW)
    assert await store.photo(photo_id) == jpeg
    assert await store.photo(uuid4()) is None
    row = await service_pool.fetchrow("SELECT width, height, bytes, created_at FROM photos WHERE id = $1", photo_id)
    assert dict(row) == {"width": 640, "height": 480, "bytes": len(jpeg), "created_at": NOW}


async def test_unused_photos_are_the_kept_ones_no_report_used_yet(service_pool: asyncpg.Pool) -> None:
    store = PgPortalStore(lambda: service_pool)
    fresh, used, made_up = uuid4(), uuid4(), uuid4()
    for pid in (fresh, used):
        await store.add_photo(photo_id=pid, jpeg=b"\xff\xd8x\xff\xd9", width=1, height=1, now=NOW)
    await store.use_photos(token=f"web-{uuid4()}", photo_ids=[used], now=NOW)
    assert await store.unused_photos([fresh, used, made_up]) == {fresh}
    assert await store.unused_photos([]) == set()


async def test_a_survey_invitation_is_recorded_answered_once(service_pool: asyncpg.Pool) -> None:
    store = PgPortalStore(lambda: service_pool)
    jti = f"jti-{uuid4().hex}"
    assert await store.survey_answered(jti) is False
    assert await store.claim_survey(jti=jti, service_request_id="DEMO-26-000001", now=NOW) is True
    assert await store.survey_answered(jti) is True
    assert await store.claim_survey(jti=jti, service_request_id="DEMO-26-000001", now=NOW) is False
    assert await store.survey_answered(f"jti-{uuid4().hex}") is False