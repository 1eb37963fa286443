"""Opt-outs and pending questions (docs/channels.md): after STOP (or a carrier's error 21610) an opted-out
number's reports still open cases but the webhook sends it nothing except STOP's confirmation and HELP's
answer; STOP and START both forget the conversation, so the next report opens its own case; the
intersection reader keeps both streets whole."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import timedelta

import pytest

from conftest import NOW, make_harness, sms_form, state_of
from services.intake_sms_voice.domain import conversation
from services.intake_sms_voice.domain.location import find_location
from shared.geocode import extract_place

PHONE = "+15145550123"


def _messages(xml: str) -> list[str]:
    return [m.text or "" for m in ET.fromstring(xml).iter("Message")]


def _sid(n: int) -> str:
    return f"SM{n:032d}"


async def test_after_stop_a_report_is_published_but_nothing_is_sent_back() -> None:
    h = make_harness()
    stop = await h.post("/twilio/sms", sms_form(sid=_sid(1), body="STOP"))
    assert "unsubscribed" in _messages(stop.text)[0]
    r = await h.post("/twilio/sms", sms_form(sid=_sid(2), body="Big pothole, my tire blew"))
    assert r.status_code == 200 and _messages(r.text) == []
    report = h.publisher.published[-1].data
    assert report["channel_message_id"] == _sid(2) and report["attributes"]["awaiting_location"] is True
    assert state_of(r.cookies.get(conversation.COOKIE)).pending is None, "no question asked, none awaited"
    help_ = await h.post("/twilio/sms", sms_form(sid=_sid(3), body="HELP"))
    assert "STOP" in _messages(help_.text)[0], "HELP is still answered"


async def test_a_carrier_opt_out_21610_silences_the_webhook_too() -> None:
    h = make_harness()
    await h.post("/twilio/status", {"MessageSid": "SM" + "e" * 32, "MessageStatus": "undelivered",
                                    "ErrorCode": "21610", "To": PHONE})
    r = await h.post("/twilio/sms", sms_form(sid=_sid(2), body="Big pothole, my tire blew"))
    assert _messages(r.text) == [] and h.publisher.published[-1].data["channel_message_id"] == _sid(2)


async def test_stop_then_start_forget_the_question_and_the_next_report_opens_its_own_case() -> None:
    h = make_harness()
    asked = await h.post("/twilio/sms", sms_form(sid=_sid(1), body="Big pothole, my tire blew"))
    question = asked.cookies.get(conversation.COOKIE)
    assert state_of(question).pending.sid == _sid(1)

    stop = await h.post("/twilio/sms", sms_form(sid=_sid(2), body="STOP"), cookies={conversation.COOKIE: question})
    assert "Max-Age=0" in stop.headers["set-cookie"]
    # Twilio may still send the old cookie (it keeps the last value it was given until told otherwise).
    start = await h.post("/twilio/sms", sms_form(sid=_sid(3), body="START"), cookies={conversation.COOKIE: question})
    assert "Max-Age=0" in start.headers["set-cookie"] and "subscribed again" in _messages(start.text)[0]

    r = await h.post("/twilio/sms", sms_form(sid=_sid(4), body="Pothole at 5th Ave and W 42nd St"))
    report = h.publisher.published[-1].data
    assert report["in_reply_to"] == [] and "completes_location_of" not in report["attributes"]
    assert report["address"] == "5th Ave and W 42nd St"
    assert r.status_code == 200


async def test_start_answers_again_and_a_late_stop_cannot_undo_a_newer_start() -> None:
    h = make_harness()
    await h.post("/twilio/sms", sms_form(sid=_sid(1), body="STOP"))
    await h.post("/twilio/sms", sms_form(sid=_sid(2), body="START"))
    r = await h.post("/twilio/sms", sms_form(sid=_sid(3), body="Big pothole, my tire blew"))
    assert "Where exactly" in _messages(r.text)[0]
    key = next(iter(h.opt_outs.state))
    await h.opt_outs.record(key, opted_out=True, at=NOW - timedelta(minutes=5))
    assert await h.opt_outs.opted_out(key) is False


async def test_a_french_stop_is_confirmed_in_french_and_then_silence() -> None:
    h = make_harness()
    stop = await h.post("/twilio/sms", sms_form(sid=_sid(1), body="ARRÊT"))
    assert "désabonné" in _messages(stop.text)[0]
    r = await h.post("/twilio/sms", sms_form(sid=_sid(2), body="Il y a un nid de poule devant chez moi"))
    assert _messages(r.text) == []


async def test_when_the_opt_out_store_cannot_tell_the_report_is_published_and_nothing_sent() -> None:
    h = make_harness()

    async def broken(_key: str) -> bool:
        raise OSError("database down")

    h.opt_outs.opted_out = broken  # type: ignore[method-assign]
    r = await h.post("/twilio/sms", sms_form(sid=_sid(1), body="Big pothole, my tire blew"))
    assert r.status_code == 200 and _messages(r.text) == []
    assert h.publisher.published[-1].data["channel_message_id"] == _sid(1)


@pytest.mark.parametrize(("text", "address"), [
    ("Pothole at 5th Ave and W 42nd St", "5th Ave and W 42nd St"),
    ("Broken light at Main St and 2nd Ave", "Main St and 2nd Ave"),
    ("Pothole on Bank St and Somerset today", "Bank St and Somerset"),
    ("5th and Main", "5th and Main"),
])
def test_the_intersection_reader_keeps_both_streets_whole(text: str, address: str) -> None:
    found = find_location(text)
    assert found is not None and found.address == address


def test_the_place_reader_finds_the_same_corner() -> None:
    assert extract_place("Pothole at 5th Ave and W 42nd St", "en") == "5th Ave & W 42nd St"
    assert extract_place("Broken light at Main St and 2nd Ave", "en") == "Main St & 2nd Ave"


async def test_after_stop_a_status_question_gets_no_text_either() -> None:
    # Only STOP's confirmation and HELP's answer may go to an opted-out number (docs/channels.md); a STATUS
    # answer was still sent (Twilio would refuse it with error 21610 anyway).
    h = make_harness()
    await h.post("/twilio/sms", sms_form(sid=_sid(1), body="STOP"))
    r = await h.post("/twilio/sms", sms_form(sid=_sid(2), body="STATUS DEMO-26-000001"))
    assert r.status_code == 200 and _messages(r.text) == []
    await h.post("/twilio/sms", sms_form(sid=_sid(3), body="START"))
    r = await h.post("/twilio/sms", sms_form(sid=_sid(4), body="STATUS DEMO-26-000001"))
    assert "DEMO-26-000001" in _messages(r.text)[0]
