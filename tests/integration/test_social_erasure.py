"""intake_social's erasure against real PostgreSQL: the published outbox rows of a case's Mastodon mentions
lose their payload (handle and text), unpublished and other rows are kept, and an erasure is claimed and
recorded once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import asyncpg
import pytest

from services.intake_social.adapters.erasure import ErasureRepository
from services.intake_social.service_layer import erasure
from shared.db.migrate import migrate
from shared.db.outbox import enqueue
from shared.db.pool import create_pool
from shared.db.unit_of_work import PgUnitOfWork
from shared.events import CasePersonalDataErased, Envelope, MessageReceived
from shared.kafka import Delivery
from shared.service_layer import dispatch

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
async def pool(database: str, fresh_schema_name: str):  # noqa: ANN201
    await migrate(database, fresh_schema_name, "services.intake_social")
    p = await create_pool(database, fresh_schema_name, application_name="it-intake-social", max_size=2)
    yield p
    await p.close()


def mention(status_id: str, handle: str) -> Envelope:
    msg = MessageReceived(channel="mastodon", channel_message_id=f"mastodon:{status_id}", contact_key=f"ck_{status_id}",
                          received_at=NOW, description=f"@city pothole on Main St, {handle}", pii={"handle": handle})
    return Envelope.new_flow(msg, subject=msg.contact_key, producer="intake_social", now=NOW)


async def test_a_cases_published_mentions_lose_their_payload_once(pool: asyncpg.Pool, fresh_schema_name: str) -> None:
    gone, kept, pending = mention("1", "@ana@city.social"), mention("2", "@bo@city.social"), mention("3", "@cy@city.social")
    async with pool.acquire() as conn, conn.transaction():
        for env in (gone, kept, pending):
            await enqueue(conn, env, schema=fresh_schema_name, notify=False)
    await pool.execute("UPDATE outbox SET published_at = $1 WHERE event_id <> $2", NOW, pending.event_id)

    event = CasePersonalDataErased(case_id=uuid4(), service_request_id="DEM-2026-000043", jurisdiction_id="demo",
                                   channel_message_ids=["mastodon:1", "mastodon:3", "<a@mail.example.org>"],
                                   closed_at=NOW, policy_days=30)
    env = Envelope.new_flow(event, subject=str(event.case_id), producer="case", now=NOW)

    async def consume(offset: int) -> str | None:
        return await dispatch(erasure.handlers(), env, lambda: PgUnitOfWork(
            pool, service="intake_social", repository=ErasureRepository, now=NOW, envelope=env,
            delivery=Delivery("cases.lifecycle", 0, offset, "intake_social")))

    assert await consume(1) == ("erased 1 published payloads, 0 unsupported items, 0 conversations and 0 media "
                                "files of DEM-2026-000043")
    assert await consume(2) == "duplicate"
    payloads = {r["event_id"]: bytes(r["payload"]) for r in await pool.fetch("SELECT event_id, payload FROM outbox")}
    assert payloads[gone.event_id] == b""
    assert b"@bo@city.social" in payloads[kept.event_id]
    assert b"@cy@city.social" in payloads[pending.event_id], "an unpublished row is the relay's"
    (audit,) = await pool.fetch("SELECT event_id, events, mode FROM erasures")
    assert tuple(audit) == (env.event_id, 1, "erase")


async def test_a_cases_raw_unsupported_items_conversation_and_media_are_erased(pool: asyncpg.Pool,
                                                                                fresh_schema_name: str) -> None:
    from services.intake_social.adapters.conversations import PgConversations
    from services.intake_social.adapters.unsupported import PgUnsupported
    from shared.media import Cleaned, MediaStore

    unsupported, conversations = PgUnsupported(lambda: pool), PgConversations(lambda: pool)
    before, after = NOW - timedelta(days=40), NOW + timedelta(days=1)
    await unsupported.keep(channel="whatsapp", message_id="wamid.POLL", contact_key="ck_ana", kind="poll",
                           raw={"from": "15145550000"}, received_at=before)
    await unsupported.keep(channel="whatsapp", message_id="wamid.LATER", contact_key="ck_ana", kind="order",
                           raw={"from": "15145550000"}, received_at=after)
    await conversations.opened("ck_ana", "whatsapp", "wamid.REPORT", None, before)
    await conversations.opened("ck_bo", "whatsapp", "wamid.OTHER", None, before)
    media = MediaStore(pool, fresh_schema_name)
    photo = await media.put(Cleaned(content=b"\xff\xd8photo", content_type="image/jpeg", filename=None,
                                    sha256="cd" * 32), channel_message_id="wamid.REPORT")
    event = CasePersonalDataErased(case_id=uuid4(), service_request_id="DEM-2026-000044", jurisdiction_id="demo",
                                   channel_message_ids=["wamid.REPORT"], contact_keys=["ck_ana"],
                                   closed_at=NOW, policy_days=30)
    env = Envelope.new_flow(event, subject=str(event.case_id), producer="case", now=NOW)
    outcome = await dispatch(erasure.handlers(), env, lambda: PgUnitOfWork(
        pool, service="intake_social", repository=ErasureRepository, now=NOW, envelope=env,
        delivery=Delivery("cases.lifecycle", 0, 7, "intake_social")))
    assert outcome == ("erased 0 published payloads, 1 unsupported items, 1 conversations and 1 media files of "
                       "DEM-2026-000044")
    raw = {r["message_id"]: (r["raw"], r["erased_at"]) for r in await pool.fetch(
        "SELECT message_id, raw, erased_at FROM unsupported_messages")}
    assert raw["wamid.POLL"] == (None, NOW)
    assert raw["wamid.LATER"][0] == {"from": "15145550000"}, "sent after the case closed: not this case's"
    assert [r["contact_key"] for r in await pool.fetch("SELECT contact_key FROM conversations")] == ["ck_bo"]
    assert await media.get(photo) is None
