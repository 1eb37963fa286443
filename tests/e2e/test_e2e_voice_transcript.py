"""End to end on real Kafka and PostgreSQL: a call walks intake_sms_voice's voice menu (language, kind of
problem, place, recorded details) as Twilio would, signed for the public URL; the recording's end and
the transcription callback (retried, as Twilio does) make one case whose description is the transcript,
its recording downloaded from Twilio (as MP3, with the account's basic auth) and linked as our copy,
and the caller's cases are listed by contact key for the agent console; a transcription that comes
before the call's own report still makes one case (Twilio's host unreachable here: the link is kept)."""

from __future__ import annotations

import base64
import threading
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import httpx
import pytest

from shared.auth import Role
from support.infra import free_port
from support.process import ExtraService
from support.twilio import post_signed
from support.stack import Stack
from support.wait import eventually

TOKEN = "e2e-twilio-token"
PUBLIC = "https://voice.e2e.example"


@pytest.fixture
async def sms_voice(stack: Stack) -> Any:
    async with ExtraService(stack, "intake_sms_voice", {
        "OMNI311_TWILIO_AUTH_TOKEN": TOKEN, "OMNI311_TWILIO_PUBLIC_BASE_URL": PUBLIC,
        "OMNI311_TWILIO_PROGRAM_NAME": "Demoville 311",
        "OMNI311_TWILIO_PUBLIC_MEDIA_BASE_URL": PUBLIC + "/media",
        "OMNI311_TWILIO_MEDIA_ALLOW_PRIVATE": "true",
    }).started() as proc:
        yield proc


SILENT_MP3 = bytes.fromhex("fffb9064") + bytes(413)  # one silent MPEG audio frame


@pytest.fixture
def twilio_recordings() -> Iterator[tuple[str, list[tuple[str, str | None]]]]:
    """Twilio's recordings host: (its base URL, the (path, Authorization) of every download)."""
    seen: list[tuple[str, str | None]] = []

    class Recordings(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            seen.append((self.path, self.headers.get("Authorization")))
            self.send_response(200)
            self.send_header("Content-Type", "audio/mpeg")
            self.send_header("Content-Length", str(len(SILENT_MP3)))
            self.end_headers()
            self.wfile.write(SILENT_MP3)

        def log_message(self, *_args: Any) -> None:
            return None

    server = HTTPServer(("127.0.0.1", free_port()), Recordings)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", seen
    finally:
        server.shutdown()
        server.server_close()


async def _twilio_post(client: httpx.AsyncClient, url: str, form: dict[str, str]) -> httpx.Response:
    """POST as Twilio does to one of our public URLs (with its query), signed for that URL."""
    return await post_signed(client, url, form, token=TOKEN, public_base=PUBLIC)


def _twiml(response: httpx.Response) -> ET.Element:
    assert response.status_code == 200, response.text
    return ET.fromstring(response.text)


def _action(root: ET.Element, verb: str) -> str:
    node = root.find(f".//{verb}")
    assert node is not None, f"no <{verb}> in {ET.tostring(root, encoding='unicode')}"
    return node.attrib["action"]


async def test_a_call_through_the_menu_with_its_transcription_makes_one_case_with_the_transcript(
        stack: Stack, sms_voice: ExtraService, test_issuer,
        twilio_recordings: tuple[str, list[tuple[str, str | None]]]) -> None:
    phone = f"+1613555{uuid.uuid4().int % 10000:04d}"
    call_sid, recording_sid = "CA" + uuid.uuid4().hex, "RE" + uuid.uuid4().hex
    host, downloads = twilio_recordings
    recording_path = f"/2010-04-01/Accounts/AC{'0' * 32}/Recordings/{recording_sid}"
    recording_url = host + recording_path
    transcript = f"There is a deep pothole in the right lane outside the bakery, call {uuid.uuid4().hex[:6]}"
    call = {"CallSid": call_sid, "AccountSid": "AC" + "0" * 32, "From": phone, "Caller": phone,
            "To": "+16135550311", "CallStatus": "in-progress", "Direction": "inbound", "ApiVersion": "2010-04-01"}
    async with httpx.AsyncClient(base_url=sms_voice.url, timeout=10) as tw, \
            httpx.AsyncClient(base_url=stack.url("case"),
                              headers=test_issuer.headers(Role.ADMINISTRATOR), timeout=10) as case_api:
        menu = _twiml(await _twilio_post(tw, PUBLIC + "/twilio/voice", call))
        problem = _twiml(await _twilio_post(tw, _action(menu, "Gather"), call | {"Digits": "1"}))
        place = _twiml(await _twilio_post(tw, _action(problem, "Gather"),
                                          call | {"SpeechResult": "pothole", "Confidence": "0.91"}))
        record = _twiml(await _twilio_post(tw, _action(place, "Gather"),
                                           call | {"SpeechResult": "1700 Main Street", "Confidence": "0.88"}))
        rec = record.find(".//Record")
        assert rec is not None and rec.attrib.get("transcribe") == "true"
        recorded = call | {"RecordingUrl": recording_url, "RecordingSid": recording_sid, "RecordingDuration": "14"}
        bye = _twiml(await _twilio_post(tw, rec.attrib["action"], recorded))
        assert bye.find(".//Hangup") is not None
        done = await _twilio_post(tw, rec.attrib["transcribeCallback"], call | {
            "RecordingSid": recording_sid, "RecordingUrl": recording_url, "TranscriptionSid": "TR" + uuid.uuid4().hex,
            "TranscriptionText": transcript, "TranscriptionStatus": "completed",
            "TranscriptionUrl": f"https://api.twilio.com/2010-04-01/Accounts/AC{'0' * 32}/Transcriptions/x",
            "TranscriptionType": "fast", "url": rec.attrib["transcribeCallback"]})
        assert done.status_code == 204
        # Twilio retries a callback it thinks failed: the same transcription again is still one message.
        retried = await _twilio_post(tw, rec.attrib["transcribeCallback"], call | {
            "RecordingSid": recording_sid, "RecordingUrl": recording_url, "TranscriptionText": transcript,
            "TranscriptionStatus": "completed"})
        assert retried.status_code == 204

        async def case_of(sid: str) -> str | None:
            r = await case_api.get(f"/cases/tokens/{sid}", params={"channel": "voice"})
            return r.json()["service_request_id"] if r.status_code == 200 else None

        number = await eventually(lambda: case_of(call_sid), timeout=20, what="the call has a case")
        on_case = await eventually(lambda: case_of(recording_sid), timeout=20, what="the transcript is on a case")
        assert on_case == number

        async def described() -> dict[str, Any] | None:
            r = (await case_api.get(f"/cases/requests/{number}")).json()
            return r if r["description"] == transcript else None

        request = await eventually(described, timeout=20, what="the transcript is the case's description")
        assert request["address"] == "1700 Main Street" and request["status"] == "open"
        kinds = [e["kind"] for e in (await case_api.get(f"/cases/{number}/timeline")).json()["timeline"]]
        assert kinds.count("described") == 1 and kinds.index("message_added") < kinds.index("described")

        conn = await stack.case_db()
        try:
            contact_key = await conn.fetchval("SELECT contact_key FROM cases WHERE service_request_id = $1", number)
            assert await conn.fetchval("SELECT count(*) FROM cases WHERE contact_key = $1", contact_key) == 1
            assert await conn.fetchval(
                "SELECT count(*) FROM messages m JOIN cases c USING (case_id) WHERE c.service_request_id = $1",
                number) == 2
            # The transcript carries the call's recording again: the case keeps it once, as our copy (Twilio's
            # link names the account and needs its credentials).
            (ours,) = await conn.fetchval("SELECT media_url FROM cases WHERE service_request_id = $1", number)
        finally:
            await conn.close()
        assert ours.startswith(PUBLIC + "/media/")
        auth = "Basic " + base64.b64encode(f"{'AC' + '0' * 32}:{TOKEN}".encode()).decode()
        assert downloads and set(downloads) == {(recording_path + ".mp3", auth)}
        kept = await tw.get(ours[len(PUBLIC):])
        assert kept.status_code == 200 and kept.headers["content-type"] == "audio/mpeg"
        assert kept.content == SILENT_MP3

        # What the agent console shows for this caller: the one case, in Open311 form.
        listed = (await case_api.get(f"/cases/by-contact/{contact_key}")).json()
        assert [r["service_request_id"] for r in listed] == [number]
        assert listed[0]["description"] == transcript
        assert (await case_api.get("/cases/by-contact/nobody-at-all")).json() == []


async def test_a_transcription_that_arrives_before_the_calls_own_report_still_makes_one_case(
        stack: Stack, sms_voice: ExtraService, test_issuer) -> None:
    """Twilio may deliver the transcription before it retries a Record action we could not take (503)."""
    phone = f"+1613557{uuid.uuid4().int % 10000:04d}"
    call_sid, recording_sid = "CA" + uuid.uuid4().hex, "RE" + uuid.uuid4().hex
    recording_url = f"https://api.twilio.com/2010-04-01/Accounts/AC{'0' * 32}/Recordings/{recording_sid}"
    transcript = f"Graffiti all over the wall of the library, reference {uuid.uuid4().hex[:6]}"
    call = {"CallSid": call_sid, "AccountSid": "AC" + "0" * 32, "From": phone, "To": "+16135550311",
            "CallStatus": "in-progress", "Direction": "inbound", "ApiVersion": "2010-04-01"}
    async with httpx.AsyncClient(base_url=sms_voice.url, timeout=10) as tw, \
            httpx.AsyncClient(base_url=stack.url("case"),
                              headers=test_issuer.headers(Role.ADMINISTRATOR), timeout=10) as case_api:
        menu = _twiml(await _twilio_post(tw, PUBLIC + "/twilio/voice", call))
        problem = _twiml(await _twilio_post(tw, _action(menu, "Gather"), call | {"Digits": "1"}))
        place = _twiml(await _twilio_post(tw, _action(problem, "Gather"), call | {"SpeechResult": "graffiti"}))
        record = _twiml(await _twilio_post(tw, _action(place, "Gather"), call | {"SpeechResult": "5 Elm Street"}))
        rec = record.find(".//Record")
        assert rec is not None
        first = await _twilio_post(tw, rec.attrib["transcribeCallback"], call | {
            "RecordingSid": recording_sid, "RecordingUrl": recording_url, "TranscriptionText": transcript,
            "TranscriptionStatus": "completed"})
        assert first.status_code == 204

        async def case_of(sid: str) -> str | None:
            r = await case_api.get(f"/cases/tokens/{sid}", params={"channel": "voice"})
            return r.json()["service_request_id"] if r.status_code == 200 else None

        number = await eventually(lambda: case_of(recording_sid), timeout=20, what="the transcript has a case")
        _twiml(await _twilio_post(tw, rec.attrib["action"], call | {
            "RecordingUrl": recording_url, "RecordingSid": recording_sid, "RecordingDuration": "9"}))
        assert await eventually(lambda: case_of(call_sid), timeout=20, what="the call's report is on a case") == number
        request = (await case_api.get(f"/cases/requests/{number}")).json()
        assert request["description"] == transcript and request["address"] == "5 Elm Street"
        conn = await stack.case_db()
        try:
            assert await conn.fetchval(
                "SELECT count(*) FROM cases WHERE contact_key = "
                "(SELECT contact_key FROM cases WHERE service_request_id = $1)", number) == 1
        finally:
            await conn.close()
