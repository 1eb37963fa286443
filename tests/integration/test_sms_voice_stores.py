"""intake_sms_voice's state against real PostgreSQL: the opt-out store (migration 001, `PgOptOuts`): a
number is opted in until it opts out; STOP and START flip it; a change older than the one kept (a retry, a
late 21610 status callback) never undoes a newer one. The media kept at intake (migration 002,
`TwilioMedia.keep`): an MMS photo downloaded with Twilio's basic auth, kept without its EXIF, served at
`GET /media/{id}`; a call's recording kept by the Record action, the status callback and the transcript is
one file."""

from __future__ import annotations

import base64
import io
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from PIL import Image

from services.intake_sms_voice.adapters.opt_outs import PgOptOuts
from services.intake_sms_voice.adapters.twilio_media import TwilioMedia
from shared.media import MediaStore, mount_media

T0 = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


@pytest.fixture
def migrated_package() -> str:
    return "services.intake_sms_voice"


@pytest.fixture
def pool(service_pool: asyncpg.Pool) -> asyncpg.Pool:
    """The conftest's pool on a fresh schema migrated with this service's migrations."""
    return service_pool


async def test_stop_and_start_flip_a_number_and_a_late_change_never_undoes_a_newer_one(pool: asyncpg.Pool) -> None:
    store = PgOptOuts(lambda: pool)
    assert await store.opted_out("ck_ana") is False
    await store.record("ck_ana", opted_out=True, at=T0)
    assert await store.opted_out("ck_ana") is True and await store.opted_out("ck_bo") is False
    await store.record("ck_ana", opted_out=False, at=T0 + timedelta(minutes=5))
    assert await store.opted_out("ck_ana") is False
    await store.record("ck_ana", opted_out=True, at=T0 + timedelta(minutes=1))  # a late 21610 callback
    assert await store.opted_out("ck_ana") is False
    await store.record("ck_ana", opted_out=True, at=T0 + timedelta(minutes=5))  # a retry of the same instant
    assert await store.opted_out("ck_ana") is True
    rows = await pool.fetch("SELECT contact_key, opted_out, changed_at FROM opt_outs")
    assert [tuple(r) for r in rows] == [("ck_ana", True, T0 + timedelta(minutes=5))]


async def _public(_host: str, _port: int) -> list[str]:
    """Every host resolves to a public address (one of Twilio's), so the SSRF check lets the fake through."""
    return ["54.172.60.1"]


def _keeper(pool: asyncpg.Pool, schema: str, answer: Callable[[httpx.Request], httpx.Response]) -> TwilioMedia:
    """The Twilio media keeper on `schema`'s media table, Twilio's media server played by `answer`."""
    return TwilioMedia("tok", store=lambda: MediaStore(pool, schema), base_url="https://311.city.example/sms/media",
                       transport=httpx.MockTransport(answer), resolve=_public)


def _photo_with_gps() -> bytes:
    image = Image.new("RGB", (32, 24), (200, 30, 30))
    exif = Image.Exif()
    exif[0x8825] = {1: "N", 2: (45.0, 25.0, 17.0)}  # GPSInfo: where the resident stood
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif)
    return out.getvalue()


async def test_an_mms_photo_is_downloaded_with_twilios_auth_kept_without_exif_and_served(
        pool: asyncpg.Pool, fresh_schema_name: str) -> None:
    photo = _photo_with_gps()
    assert b"Exif" in photo
    url = "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1"
    seen: list[str | None] = []

    def twilio(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("authorization"))
        return httpx.Response(200, content=photo, headers={"content-type": "image/jpeg"})

    keeper = _keeper(pool, fresh_schema_name, twilio)
    await keeper.start()
    try:
        ours = await keeper.keep(url, account_sid="AC1", channel_message_id="MM1")
        again = await keeper.keep(url, account_sid="AC1", channel_message_id="MM1")  # Twilio's retry
    finally:
        await keeper.stop()
    assert ours == again and ours.startswith("https://311.city.example/sms/media/")
    assert seen == ["Basic " + base64.b64encode(b"AC1:tok").decode()] * 2
    assert await pool.fetchval("SELECT count(*) FROM media") == 1

    app = FastAPI()
    mount_media(app, lambda _request: MediaStore(pool, fresh_schema_name))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sms") as client:
        served = await client.get("/media/" + ours.rsplit("/", 1)[1])
        missing = await client.get("/media/not-an-id")
    assert served.status_code == 200 and served.headers["content-type"] == "image/jpeg"
    assert b"Exif" not in served.content and Image.open(io.BytesIO(served.content)).size == (32, 24)
    assert missing.status_code == 404


async def test_a_calls_recording_kept_by_the_record_action_and_the_status_callback_is_one_file(
        pool: asyncpg.Pool, fresh_schema_name: str) -> None:
    from services.intake_sms_voice.domain.ivr import recording_file_url

    mp3 = bytes.fromhex("fffb9064") + bytes(413)  # one silent MPEG audio frame
    recording = "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1"
    asked: list[str] = []

    def twilio(request: httpx.Request) -> httpx.Response:
        asked.append(str(request.url))
        return httpx.Response(200, content=mp3, headers={"content-type": "audio/mpeg"})

    keeper = _keeper(pool, fresh_schema_name, twilio)
    await keeper.start()
    try:
        url = recording_file_url(recording)
        action = await keeper.keep(url, account_sid="AC1", channel_message_id="CA1")  # the Record action
        callback = await keeper.keep(url, account_sid="AC1", channel_message_id="CA1")  # the status callback
        transcript = await keeper.keep(url, account_sid="AC1", channel_message_id="RE1")  # the transcription
    finally:
        await keeper.stop()
    assert action == callback == transcript and asked == [recording + ".mp3"] * 3
    rows = await pool.fetch("SELECT content_type FROM media")
    assert [r["content_type"] for r in rows] == ["audio/mpeg"]
