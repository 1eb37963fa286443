"""intake_social's conversation and unsupported-message tables against real PostgreSQL (migrations
003-005): a report starts a conversation, a follow-up moves its time forward only, a new report moves it;
an unsupported item is kept once with its raw JSON and listed newest first; the media table is the one
shared.media stores into."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from services.intake_social.adapters.conversations import PgConversations
from services.intake_social.adapters.unsupported import PgUnsupported
from shared.media import Cleaned, MediaStore

T0 = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


@pytest.fixture
def migrated_package() -> str:
    return "services.intake_social"


@pytest.fixture
def pool(service_pool: asyncpg.Pool) -> asyncpg.Pool:
    """The conftest's pool on a fresh schema migrated with this service's migrations."""
    return service_pool


async def test_a_conversation_starts_moves_forward_and_moves_to_a_new_report(pool: asyncpg.Pool) -> None:
    store = PgConversations(lambda: pool)
    assert await store.thread_of("ck_ana", "messenger") is None
    await store.opened("ck_ana", "messenger", "m.report", "pothole", T0)
    await store.touched("ck_ana", "messenger", T0 + timedelta(hours=2))
    await store.touched("ck_ana", "messenger", T0 + timedelta(hours=1))  # a late retry never moves it back
    thread = await store.thread_of("ck_ana", "messenger")
    assert thread is not None
    assert (thread.report_id, thread.service_code, thread.last_at) == ("m.report", "pothole", T0 + timedelta(hours=2))
    assert await store.thread_of("ck_ana", "instagram") is None
    await store.opened("ck_ana", "messenger", "m.new", None, T0 + timedelta(hours=3))
    thread = await store.thread_of("ck_ana", "messenger")
    assert thread is not None and (thread.report_id, thread.service_code) == ("m.new", None)
    assert await pool.fetchval("SELECT count(*) FROM conversations") == 1


async def test_an_unsupported_item_is_kept_once_raw_and_listed_newest_first(pool: asyncpg.Pool) -> None:
    store = PgUnsupported(lambda: pool)
    raw = {"from": "16135550100", "id": "wamid.O", "type": "order", "order": {"catalog_id": "1"}}
    await store.keep(channel="whatsapp", message_id="wamid.O", contact_key="ck_bo", kind="order", raw=raw,
                     received_at=T0)
    await store.keep(channel="whatsapp", message_id="wamid.O", contact_key="ck_bo", kind="order",
                     raw={"changed": True}, received_at=T0 + timedelta(seconds=30))  # Meta's retry
    await store.keep(channel="messenger", message_id="m.poll", contact_key="ck_cy", kind="poll",
                     raw={"message": {"attachments": [{"type": "poll"}]}}, received_at=T0 + timedelta(minutes=1))
    rows = await store.recent(10)
    assert [(r["channel"], r["message_id"], r["kind"]) for r in rows] == [
        ("messenger", "m.poll", "poll"), ("whatsapp", "wamid.O", "order")]
    assert rows[1]["raw"] == raw and rows[1]["received_at"] == T0.isoformat() and rows[1]["erased_at"] is None
    assert len(await store.recent(1)) == 1


async def test_the_media_table_is_the_one_shared_media_stores_into(pool: asyncpg.Pool, fresh_schema_name: str) -> None:
    media = MediaStore(pool, fresh_schema_name)
    cleaned = Cleaned(content=b"%PDF-1.4 test", content_type="application/pdf", filename="plan.pdf",
                      sha256="ab" * 32)
    media_id = await media.put(cleaned, channel_message_id="wamid.DOC", now=T0)
    stored = await media.get(media_id)
    assert stored is not None and stored.channel_message_ids == ("wamid.DOC",)


async def test_an_item_postgresql_could_not_hold_is_kept_all_the_same(pool: asyncpg.Pool) -> None:
    # Our own input: Python's JSON reads NaN, and a string may hold NUL; refused by jsonb and text, they
    # would fail the webhook with 503 and Meta would resend the batch forever.
    store = PgUnsupported(lambda: pool)
    await store.keep(channel="whatsapp", message_id="wamid.\x00N", contact_key="ck_x", kind="poll\x00",
                     raw={"poll": {"score": float("nan"), "name": "a\x00b"}}, received_at=T0)
    (row,) = await store.recent(5)
    assert (row["message_id"], row["kind"]) == ("wamid.\ufffdN", "poll\ufffd")
    assert row["raw"] == {"poll": {"score": "nan", "name": "a\ufffdb"}}
    conversations = PgConversations(lambda: pool)
    await conversations.opened("ck_x", "whatsapp", "wamid.\x00R", None, T0)
    thread = await conversations.thread_of("ck_x", "whatsapp")
    assert thread is not None and thread.report_id == "wamid.\ufffdR"
