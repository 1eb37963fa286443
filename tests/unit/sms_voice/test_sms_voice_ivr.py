"""The voice menu: TwiML of every step in English and French (snapshots that parse as XML with the right
verbs), and a call walked from the language choice to the transcription callback.

Refresh the snapshots after a deliberate wording change with ``OMNI311_UPDATE_SNAPSHOTS=1``.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest

from conftest import PUBLIC, make_harness

SNAPSHOTS = Path(__file__).parent / "snapshots"
CALL = {"CallSid": "CA" + "5" * 32, "From": "+15145550123", "To": "+15145559999", "AccountSid": "AC" + "0" * 32,
        "CallStatus": "in-progress"}
LANGS = {"en": "en-US", "fr": "fr-CA"}


def _snapshot(name: str, xml: str) -> None:
    path = SNAPSHOTS / f"{name}.xml"
    pretty = ET.tostring(ET.fromstring(xml), encoding="unicode")
    if os.environ.get("OMNI311_UPDATE_SNAPSHOTS") == "1":
        path.write_text(pretty + "\n", "utf-8")
    assert path.exists(), f"no snapshot {path}; write it with OMNI311_UPDATE_SNAPSHOTS=1 and review it"
    assert pretty + "\n" == path.read_text("utf-8"), f"TwiML of {name} changed; see {path}"


def _verbs(xml: str) -> list[str]:
    root = ET.fromstring(xml)
    assert root.tag == "Response"
    return [child.tag for child in root]


async def _step(h, path: str, **params: str):  # noqa: ANN001, ANN202
    url = PUBLIC + path
    r = await h.post(path, {**CALL, **params}, signed_url=url)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/xml")
    return r.text


def _next(xml: str, tag: str = "Gather") -> str:
    """The path and query of the action URL of the first `tag` (what Twilio requests next)."""
    node = next(ET.fromstring(xml).iter(tag))
    parts = urlsplit(node.attrib["action"])
    assert f"{parts.scheme}://{parts.netloc}" == PUBLIC
    return parts.path + (f"?{parts.query}" if parts.query else "")


async def test_the_call_opens_with_a_bilingual_language_menu() -> None:
    h = make_harness()
    xml = await _step(h, "/twilio/voice")
    _snapshot("voice_language_menu", xml)
    assert _verbs(xml) == ["Gather", "Redirect"]
    gather = ET.fromstring(xml).find("Gather")
    assert gather.attrib["input"] == "dtmf speech" and gather.attrib["numDigits"] == "1"
    says = gather.findall("Say")
    assert [s.attrib["language"] for s in says] == ["en-US", "fr-CA"]
    assert "press 1" in says[0].text and "appuyez sur le 2" in says[1].text


@pytest.mark.parametrize(("lang", "digits"), [("en", "1"), ("fr", "2")])
async def test_each_step_of_the_menu_in_english_and_french(lang: str, digits: str) -> None:
    h = make_harness()
    problem = await _step(h, "/twilio/voice/language", Digits=digits)
    _snapshot(f"voice_problem_{lang}", problem)
    assert _verbs(problem) == ["Gather", "Redirect"]
    gather = ET.fromstring(problem).find("Gather")
    assert gather.attrib["input"] == "speech dtmf" and gather.attrib["language"] == LANGS[lang]
    assert gather.attrib["actionOnEmptyResult"] == "true"
    menu = [s.text for s in gather.findall("Say")][1:]
    assert len(menu) == 9, "one keypad digit per service, nine at most"
    assert ("Pour nid-de-poule, appuyez sur le 7." if lang == "fr" else "For Pothole, press 7.") in menu

    place = await _step(h, _next(problem), Digits="7")
    _snapshot(f"voice_place_{lang}", place)
    assert _verbs(place) == ["Gather", "Redirect"]
    gather = ET.fromstring(place).find("Gather")
    assert gather.attrib["input"] == "speech dtmf" and gather.attrib["language"] == LANGS[lang]
    assert dict(parse_qsl(urlsplit(gather.attrib["action"]).query))["service_code"] == "pothole"

    record = await _step(h, _next(place), SpeechResult="corner of Bank and Somerset")
    _snapshot(f"voice_record_{lang}", record)
    assert _verbs(record) == ["Say", "Record", "Redirect"]
    rec = ET.fromstring(record).find("Record")
    assert rec.attrib["transcribe"] == "true" and rec.attrib["maxLength"] == "120"
    assert urlsplit(rec.attrib["transcribeCallback"]).path == "/twilio/voice/transcription"
    assert urlsplit(rec.attrib["recordingStatusCallback"]).path == "/twilio/voice/recording"
    state = dict(parse_qsl(urlsplit(rec.attrib["action"]).query))
    assert state == {"lang": lang, "service_code": "pothole", "problem": "nid-de-poule" if lang == "fr" else "Pothole",
                     "place": "corner of Bank and Somerset"}

    bye = await _step(h, _next(record, "Record"), RecordingSid="RE" + "6" * 32, RecordingDuration="14",
                      RecordingUrl="https://api.twilio.com/2010-04-01/Accounts/AC/Recordings/RE6")
    _snapshot(f"voice_goodbye_{lang}", bye)
    assert _verbs(bye) == ["Say", "Hangup"]
    assert ET.fromstring(bye).find("Say").attrib["language"] == LANGS[lang]


async def test_a_call_makes_one_report_and_the_transcript_is_threaded_onto_it() -> None:
    h = make_harness()
    problem = await _step(h, "/twilio/voice/language", Digits="2")
    place = await _step(h, _next(problem), SpeechResult="un gros nid-de-poule")
    record = await _step(h, _next(place), SpeechResult="45 rue Rideau")
    rec = ET.fromstring(record).find("Record")
    recording = {"RecordingSid": "RE" + "6" * 32, "RecordingUrl": "https://api.twilio.com/rec/RE6",
                 "RecordingDuration": "20"}
    await _step(h, _next(record, "Record"), **recording)
    # Twilio's recording status callback repeats the report: same event, so still one case.
    status_path = urlsplit(rec.attrib["recordingStatusCallback"])
    r = await h.post(status_path.path + "?" + status_path.query, {**CALL, **recording, "RecordingStatus": "completed"},
                     signed_url=rec.attrib["recordingStatusCallback"])
    assert r.status_code == 204
    tr = urlsplit(rec.attrib["transcribeCallback"])
    r = await h.post(tr.path + "?" + tr.query, {**CALL, **recording, "TranscriptionStatus": "completed",
                                                "TranscriptionText": "Il y a un trou profond devant le numéro 45."},
                     signed_url=rec.attrib["transcribeCallback"])
    assert r.status_code == 204

    reports = h.publisher.of_type("intake.message_received")
    assert len({e.event_id for e in reports}) == 2 and len(reports) == 3
    call, again, transcript = (e.data for e in reports)
    assert call == again
    assert call["channel"] == "voice" and call["channel_message_id"] == CALL["CallSid"]
    assert call["description"] == "un gros nid-de-poule" and call["address"] == "45 rue Rideau"
    assert call["media_url"] == ["https://api.twilio.com/rec/RE6"] and call["language"] == "fr"
    assert call["pii"]["phone"] == "+15145550123"
    assert transcript["channel_message_id"] == recording["RecordingSid"]
    assert transcript["in_reply_to"] == [CALL["CallSid"]]
    assert transcript["description"] == "Il y a un trou profond devant le numéro 45."
    assert transcript["contact_key"] == call["contact_key"]


async def test_a_failed_transcription_or_a_silent_call_publishes_nothing_more() -> None:
    h = make_harness()
    r = await h.post("/twilio/voice/transcription?lang=en", {**CALL, "RecordingSid": "RE" + "7" * 32,
                                                              "TranscriptionStatus": "failed"},
                     signed_url=PUBLIC + "/twilio/voice/transcription?lang=en")
    assert r.status_code == 204
    bye = await _step(h, "/twilio/voice/recorded?lang=en")
    assert "did not get your report" in bye
    assert h.publisher.published == []


async def test_a_withheld_caller_id_still_reports_under_a_key_of_its_own() -> None:
    h = make_harness()
    await _step(h, "/twilio/voice/recorded?lang=en&problem=graffiti", From="+266696687",
                RecordingSid="RE" + "8" * 32, RecordingUrl="https://api.twilio.com/rec/RE8")
    data = h.publisher.published[0].data
    assert data["pii"]["phone"] is None and data["contact_key"].startswith("ck_anon_")
    assert data["attributes"]["awaiting_location"] is True


async def test_a_single_language_city_skips_the_language_menu() -> None:
    from conftest import FakeCaseApi, FakePublisher
    from services.intake_sms_voice.app import create_app
    from services.intake_sms_voice.config import TwilioSettings
    from shared.jurisdiction import load_jurisdiction
    from shared.settings import Settings

    jur = load_jurisdiction("demo").model_copy(update={"locales": ("en",)})
    app = create_app(Settings(), twilio=TwilioSettings(auth_token="test-auth-token", public_base_url=PUBLIC),
                     publisher=FakePublisher(), case_api=FakeCaseApi(), jurisdiction=jur)
    h = make_harness()
    h.app = app
    xml = await _step(h, "/twilio/voice")
    gather = ET.fromstring(xml).find("Gather")
    assert gather.attrib["language"] == "en-US" and urlsplit(gather.attrib["action"]).path == "/twilio/voice/problem"


RECORDING = "https://api.twilio.com/2010-04-01/Accounts/AC" + "0" * 32 + "/Recordings/RE" + "6" * 32


async def _recorded_call(h, *, transcribed: bool = False):  # noqa: ANN001, ANN202
    """A French call walked to its end: the Record action, then Twilio's recording status callback (and its
    transcription); the TwiML of the record step."""
    problem = await _step(h, "/twilio/voice/language", Digits="2")
    place = await _step(h, _next(problem), SpeechResult="un gros nid-de-poule")
    record = await _step(h, _next(place), SpeechResult="45 rue Rideau")
    rec = ET.fromstring(record).find("Record")
    recording = {"RecordingSid": "RE" + "6" * 32, "RecordingUrl": RECORDING, "RecordingDuration": "20"}
    await _step(h, _next(record, "Record"), **recording)
    status = urlsplit(rec.attrib["recordingStatusCallback"])
    r = await h.post(status.path + "?" + status.query, {**CALL, **recording, "RecordingStatus": "completed"},
                     signed_url=rec.attrib["recordingStatusCallback"])
    assert r.status_code == 204
    if transcribed:
        tr = urlsplit(rec.attrib["transcribeCallback"])
        r = await h.post(tr.path + "?" + tr.query, {**CALL, **recording, "TranscriptionStatus": "completed",
                                                    "TranscriptionText": "Un trou profond devant le 45."},
                         signed_url=rec.attrib["transcribeCallback"])
        assert r.status_code == 204
    return [e.data for e in h.publisher.of_type("intake.message_received")]


async def test_the_calls_recording_is_downloaded_at_intake_and_the_case_links_to_our_copy() -> None:
    # The provider's recording URL names the account SID and needs its credentials: it must not be the
    # public Open311 media_url. Downloaded as MP3 (Twilio serves WAV without an extension, a type we do not
    # keep) with the account SID's basic auth, as MMS media are.
    h = make_harness(media={RECORDING + ".mp3": b"\xff\xfb\x90\x64" + bytes(413)})
    call, again, transcript = await _recorded_call(h, transcribed=True)
    assert call == again, "the Record action and the status callback publish one report"
    for message in (call, transcript):
        assert message["media_url"] and message["media_url"][0].startswith("https://sms.city.example/media/")
        assert "media_failed" not in message["attributes"] and "AC" + "0" * 32 not in str(message["media_url"])
    assert {(url, sid) for url, sid, _mid in h.media.kept} == {(RECORDING + ".mp3", CALL["AccountSid"])}
    assert {mid for *_x, mid in h.media.kept} == {CALL["CallSid"], "RE" + "6" * 32}


async def test_a_recording_that_cannot_be_downloaded_keeps_its_link_and_says_why() -> None:
    h = make_harness()  # Twilio answers 404 (the recording is not ready yet, or gone)
    call, _again = await _recorded_call(h)
    assert call["media_url"] == [RECORDING], "the report is never lost to a download"
    assert call["attributes"]["media_failed"] == ["media answered 404"]


def test_a_recording_is_fetched_as_mp3() -> None:
    from services.intake_sms_voice.domain.ivr import recording_file_url

    assert recording_file_url(RECORDING) == RECORDING + ".mp3"
    assert recording_file_url(RECORDING + ".mp3") == RECORDING + ".mp3"
    assert recording_file_url(RECORDING + ".wav") == RECORDING + ".mp3", "WAV is no type we keep"
    assert recording_file_url("https://media.example/r/RE1?x=1") == "https://media.example/r/RE1.mp3?x=1"
