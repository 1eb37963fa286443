"""shared.media's store on real PostgreSQL: the table made by a service migration that is the verbatim
`MEDIA_TABLE_SQL` (applied by shared.db.migrate as the service's role), the same bytes kept twice are one
row carried by both messages, erasure deletes the bytes of the messages named, and `GET /media/{id}`
serves them from the store."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from shared.media import MEDIA_TABLE_SQL, Cleaned, MediaStore, mount_media
from shared.media.store import media_id_of

NOW = datetime(2026, 11, 30, 7, 30, tzinfo=UTC)


@pytest.fixture
def migrated_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A service package whose only migration is `python -m shared.media`'s output, as a service keeps it."""
    package = tmp_path / "media_service_pkg"
    (package / "migrations").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "migrations" / "001_media.sql").write_text(MEDIA_TABLE_SQL, "utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    return "media_service_pkg"


@pytest.fixture
def store(service_pool: asyncpg.Pool, fresh_schema_name: str) -> MediaStore:
    return MediaStore(service_pool, fresh_schema_name)


def cleaned(content: bytes, content_type: str = "application/pdf", filename: str | None = "plan.pdf") -> Cleaned:
    import hashlib

    return Cleaned(content=content, content_type=content_type, filename=filename,
                   sha256=hashlib.sha256(content).hexdigest())


async def test_the_same_bytes_kept_twice_are_one_row_carried_by_both_messages(store: MediaStore,
                                                                               service_pool: asyncpg.Pool,
                                                                               fresh_schema_name: str) -> None:
    pdf = cleaned(b"%PDF-1.4 one")
    first = await store.put(pdf, channel_message_id="SM1", now=NOW)
    again = await store.put(pdf, channel_message_id="SM1")
    other = await store.put(cleaned(b"%PDF-1.4 one", filename="other-name.pdf"), channel_message_id="wamid.2")
    assert first == again == other == media_id_of(pdf.sha256)
    assert await service_pool.fetchval(f'SELECT count(*) FROM "{fresh_schema_name}".media') == 1
    kept = await store.get(first)
    assert kept is not None
    assert (kept.content, kept.content_type, kept.filename, kept.size) == (b"%PDF-1.4 one", "application/pdf",
                                                                            "plan.pdf", 12)
    assert (kept.sha256, kept.width, kept.height, kept.created_at) == (pdf.sha256, None, None, NOW)
    assert kept.channel_message_ids == ("SM1", "wamid.2")


async def test_a_picture_keeps_its_size_and_an_unknown_id_is_none(store: MediaStore) -> None:
    photo = Cleaned(content=b"\xff\xd8jpeg", content_type="image/jpeg", filename=None, sha256="0" * 64,
                    width=1600, height=1200)
    media_id = await store.put(photo, channel_message_id="mid.1")
    kept = await store.get(media_id)
    assert kept is not None and (kept.width, kept.height, kept.filename) == (1600, 1200, None)
    assert kept.created_at.tzinfo is not None
    assert await store.get(uuid.uuid4()) is None


async def test_erasure_deletes_every_file_the_messages_carried_once(store: MediaStore) -> None:
    a = await store.put(cleaned(b"%PDF a"), channel_message_id="SM-a")
    shared_ = await store.put(cleaned(b"%PDF shared"), channel_message_id="SM-a")
    await store.put(cleaned(b"%PDF shared"), channel_message_id="SM-b")
    b = await store.put(cleaned(b"%PDF b"), channel_message_id="SM-b")
    kept = await store.put(cleaned(b"%PDF c"), channel_message_id="SM-c")
    assert await store.erase_for(["SM-a", "SM-unknown"]) == 2
    assert await store.get(a) is None and await store.get(shared_) is None  # the bytes go with the first erasure
    assert await store.get(b) is not None and await store.get(kept) is not None
    assert await store.erase_for(["SM-a"]) == 0
    assert await store.erase_for([]) == 0
    assert await store.erase_for(("SM-b", "SM-c")) == 2


async def test_a_store_on_a_connection_follows_its_transaction(service_pool: asyncpg.Pool,
                                                               fresh_schema_name: str) -> None:
    async with service_pool.acquire() as conn:
        tx = conn.transaction()
        await tx.start()
        media_id = await MediaStore(conn, fresh_schema_name).put(cleaned(b"%PDF tx"), channel_message_id="SM-tx")
        assert await MediaStore(conn, fresh_schema_name).get(media_id) is not None
        await tx.rollback()
    assert await MediaStore(service_pool, fresh_schema_name).get(media_id) is None


async def test_the_route_serves_the_kept_bytes(store: MediaStore) -> None:
    media_id = await store.put(cleaned(b"%PDF-1.4 served", filename="rue Sainte-Catherine.pdf"), channel_message_id="SM9")
    app = FastAPI()
    mount_media(app, lambda request: store)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://svc") as client:
        served = await client.get(f"/media/{media_id}")
        missing = await client.get(f"/media/{uuid.uuid4()}")
        odd = await client.get("/media/%00%FF")
    assert served.status_code == 200 and served.content == b"%PDF-1.4 served"
    assert served.headers["content-type"] == "application/pdf"
    assert served.headers["content-disposition"] == "inline; filename*=UTF-8''rue%20Sainte-Catherine.pdf"
    assert (missing.status_code, odd.status_code) == (404, 404)


async def test_a_schema_name_that_is_not_an_identifier_is_refused(service_pool: asyncpg.Pool) -> None:
    with pytest.raises(ValueError):
        MediaStore(service_pool, 'x"; DROP TABLE media; --')


async def test_a_store_before_its_migration_raises(database: str) -> None:
    conn = await asyncpg.connect(database)
    try:
        with pytest.raises(asyncpg.UndefinedTableError):
            await MediaStore(conn, "no_media_here").get(uuid.uuid4())
    finally:
        await conn.close()
