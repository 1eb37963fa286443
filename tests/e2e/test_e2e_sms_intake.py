"""End to end on real Kafka and PostgreSQL: intake_sms_voice runs as its own process next to the demo
stack, behind a public URL that differs from its local one (as behind a load balancer). A signed
inbound SMS opens a case; the same MessageSid posted three times (Twilio retries) is still one case; a
STOP opens nothing, forgets the pending question, and silences the webhook (reports still open cases, no
question is asked) until START; a text with no location gets one question and the answer joins the same
case; an MMS photo is downloaded from Twilio (basic auth) at intake and its case links to our copy, served
without its EXIF."""

from __future__ import annotations

import base64
import io
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import httpx
import pytest
from PIL import Image

from support.infra import free_port
from support.process import ExtraService
from support.twilio import post_signed, sms_form, twiml_messages
from support.stack import Stack
from support.wait import eventually

TOKEN = "e2e-twilio-token"
PUBLIC = "https://sms.e2e.example"


def SmsVoiceProcess(stack: Stack) -> ExtraService:  # noqa: N802 - reads as the process it starts
    """intake_sms_voice as its own process, behind a public URL unlike its local one; Twilio's media here
    come from a local server (private addresses allowed, as under `make run`)."""
    return ExtraService(stack, "intake_sms_voice", {
        "OMNI311_TWILIO_AUTH_TOKEN": TOKEN,
        "OMNI311_TWILIO_PUBLIC_BASE_URL": PUBLIC,
        "OMNI311_TWILIO_PROGRAM_NAME": "Demoville 311",
        "OMNI311_TWILIO_PUBLIC_MEDIA_BASE_URL": PUBLIC + "/media",
        "OMNI311_TWILIO_MEDIA_ALLOW_PRIVATE": "true",
    })


def _photo_with_gps() -> bytes:
    image = Image.new("RGB", (40, 30), (30, 120, 200))
    exif = Image.Exif()
    exif[0x8825] = {1: "N", 2: (45.0, 25.0, 17.0)}  # GPSInfo: where the resident stood
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif)
    return out.getvalue()


@pytest.fixture
def twilio_media() -> Iterator[tuple[str, bytes, list[str | None]]]:
    """Twilio's media host for one photo: (its URL, its bytes, the Authorization headers it saw)."""
    photo, seen = _photo_with_gps(), []

    class Media(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            seen.append(self.headers.get("Authorization"))
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Content-Length", str(len(photo)))
            self.end_headers()
            self.wfile.write(photo)

        def log_message(self, *_args: Any) -> None:
            return None

    server = HTTPServer(("127.0.0.1", free_port()), Media)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/2010-04-01/Accounts/AC0/Messages/MM1/Media/ME1", photo, seen
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
async def sms_voice(stack: Stack) -> Any:
    async with SmsVoiceProcess(stack).started() as proc:
        yield proc


def _sid() -> str:
    return "SM" + uuid.uuid4().hex


def _form(sid: str, body: str, from_: str) -> dict[str, str]:
    return sms_form(sid, body, from_)


async def _twilio_post(client: httpx.AsyncClient, form: dict[str, str],
                       cookies: dict[str, str] | None = None) -> httpx.Response:
    """POST as Twilio does: signed for the public URL, not the local one."""
    return await post_signed(client, PUBLIC + "/twilio/sms", form, token=TOKEN, public_base=PUBLIC,
                             cookies=cookies)


def _texts(response: httpx.Response) -> list[str]:
    return twiml_messages(response)


async def test_signed_sms_opens_one_case_across_retries_stop_silences_until_start_and_an_answer_joins_it(
        stack: Stack, sms_voice: ExtraService, twilio_media: tuple[str, bytes, list[str | None]]) -> None:
    phone = f"+1613555{uuid.uuid4().int % 10000:04d}"
    async with httpx.AsyncClient(base_url=sms_voice.url, timeout=10) as sms, \
            httpx.AsyncClient(base_url=stack.url("case"), timeout=10) as case_api:

        async def case_of(message_sid: str) -> str | None:
            r = await case_api.get(f"/cases/tokens/{message_sid}", params={"channel": "sms"})
            return r.json()["service_request_id"] if r.status_code == 200 else None

        unsigned = await sms.post("/twilio/sms", data=_form(_sid(), "Pothole at 12 Oak Ave", phone))
        assert unsigned.status_code == 403

        # A question is pending when the resident opts out.
        asked_sid = _sid()
        asked = await _twilio_post(sms, _form(asked_sid, "Big pothole, my tire blew", phone))
        assert "Where exactly" in _texts(asked)[0]
        pending = asked.cookies.get("omni311_pending")
        assert pending

        # STOP: it must open nothing, and (same reporter, same partition) it is consumed before the report
        # that follows, so once that report has its case the STOP has had its chance. It forgets the question.
        stop_sid = _sid()
        stop = await _twilio_post(sms, _form(stop_sid, "STOP", phone), cookies={"omni311_pending": pending})
        assert stop.status_code == 200 and "unsubscribed" in _texts(stop)[0]
        assert "Max-Age=0" in stop.headers["set-cookie"]

        sid = _sid()
        form = _form(sid, "Deep pothole in the right lane in front of 123 Main St", phone)
        answers = [await _twilio_post(sms, form) for _ in range(3)]
        assert [r.status_code for r in answers] == [200, 200, 200]
        number = await eventually(lambda: case_of(sid), timeout=20, what="the SMS has a case")
        request = (await case_api.get(f"/cases/requests/{number}")).json()
        assert request["status"] == "open" and request["address"] == "123 Main St"
        assert "Deep pothole" in request["description"]
        assert await case_of(stop_sid) is None

        # Opted out: a report without a place still opens a case, and nothing is texted back.
        # (The client keeps cookies as Twilio does; this is a new conversation, as after Twilio's four hours.)
        sms.cookies.clear()
        silent_sid = _sid()
        silent = await _twilio_post(sms, _form(silent_sid, "The sidewalk is broken, someone will trip", phone))
        assert silent.status_code == 200 and _texts(silent) == []
        silent_case = await eventually(lambda: case_of(silent_sid), timeout=20, what="the opted-out report has a case")
        assert silent_case != number

        # START (Twilio may still send the old cookie): the next report opens its own case, both streets whole.
        start = await _twilio_post(sms, _form(_sid(), "START", phone), cookies={"omni311_pending": pending})
        assert "subscribed again" in _texts(start)[0] and "Max-Age=0" in start.headers["set-cookie"]
        corner_sid = _sid()
        corner = await _twilio_post(sms, _form(corner_sid, "Pothole at 5th Ave and W 42nd St", phone))
        assert corner.status_code == 200
        corner_case = await eventually(lambda: case_of(corner_sid), timeout=20, what="the corner report has a case")
        asked_case = await eventually(lambda: case_of(asked_sid), timeout=20, what="the asked report has a case")
        assert corner_case != asked_case
        corner_request = (await case_api.get(f"/cases/requests/{corner_case}")).json()
        assert corner_request["address"] == "5th Ave and W 42nd St"

        # A text with no location: one question back, and the answer threads onto the same case.
        vague_sid = _sid()
        # In the corner report's conversation: NEW asks for a case of its own.
        vague = await _twilio_post(sms, _form(vague_sid, "NEW The street light is out, very dark at night", phone))
        assert "Where exactly" in _texts(vague)[0]
        cookie = vague.cookies.get("omni311_pending")
        assert cookie
        answer_sid = _sid()
        answer = await _twilio_post(sms, _form(answer_sid, "corner of Bank and Somerset", phone),
                                    cookies={"omni311_pending": cookie})
        assert "location is added" in _texts(answer)[0]
        vague_case = await eventually(lambda: case_of(vague_sid), timeout=20, what="the vague SMS has a case")
        assert await eventually(lambda: case_of(answer_sid), timeout=20, what="the answer is on a case") == vague_case
        assert vague_case != number

        # An MMS photo: downloaded from Twilio with the account's credentials, the case links to our copy.
        media_url, photo, seen = twilio_media
        mms_sid = _sid()
        mms = await _twilio_post(sms, _form(mms_sid, "NEW Graffiti on the wall at 45 Elm St", phone) | {
            "NumMedia": "1", "MediaUrl0": media_url, "MediaContentType0": "image/jpeg"})
        assert mms.status_code == 200
        mms_case = await eventually(lambda: case_of(mms_sid), timeout=20, what="the MMS has a case")
        ours = (await case_api.get(f"/cases/requests/{mms_case}")).json()["media_url"]
        assert ours.startswith(PUBLIC + "/media/") and seen == ["Basic " + base64.b64encode(
            f"{'AC' + '0' * 32}:{TOKEN}".encode()).decode()]
        kept = await sms.get(ours[len(PUBLIC):])
        assert kept.status_code == 200 and kept.headers["content-type"] == "image/jpeg"
        assert b"Exif" in photo and b"Exif" not in kept.content

        conn = await stack.case_db()
        try:
            assert await conn.fetchval(
                "SELECT count(*) FROM messages WHERE channel = 'sms' AND channel_message_id = $1", sid) == 1
            assert await conn.fetchval(
                "SELECT count(*) FROM cases WHERE channel = 'sms' AND contact_key = "
                "(SELECT contact_key FROM cases WHERE service_request_id = $1)", number) == 6
            assert await conn.fetchval(
                "SELECT count(*) FROM messages m JOIN cases c USING (case_id) WHERE c.service_request_id = $1",
                vague_case) == 2
        finally:
            await conn.close()
