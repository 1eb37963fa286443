"""Provider retries make one event; a report without a location gets one question, and the answer
completes the same report (threaded by in_reply_to through the conversation cookie)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import timedelta

from conftest import NOW, make_harness, sms_form, state_of
from services.intake_sms_voice.domain import conversation


def _messages(xml: str) -> list[str]:
    return [m.text or "" for m in ET.fromstring(xml).iter("Message")]


def _cookie(response) -> str | None:  # noqa: ANN001
    return response.cookies.get(conversation.COOKIE)


async def test_the_same_message_sid_three_times_is_one_event() -> None:
    h = make_harness()
    form = sms_form(body="Streetlight out at 12 Oak Ave")
    responses = [await h.post("/twilio/sms", form) for _ in range(3)]
    assert {r.status_code for r in responses} == {200}
    assert len({r.text for r in responses}) == 1
    ids = {e.event_id for e in h.publisher.published}
    assert len(h.publisher.published) == 3 and len(ids) == 1
    assert {e.data["channel_message_id"] for e in h.publisher.published} == {form["MessageSid"]}
    other = await h.post("/twilio/sms", {**form, "MessageSid": "SM" + "9" * 32})
    assert other.status_code == 200 and h.publisher.published[-1].event_id not in ids


async def test_the_same_keyword_status_and_call_retried_are_one_event_each() -> None:
    h = make_harness()
    for _ in range(3):
        await h.post("/twilio/sms", sms_form(body="STOP"))
        await h.post("/twilio/status", {"MessageSid": "SM" + "e" * 32, "MessageStatus": "failed",
                                        "ErrorCode": "21610", "To": "+15145550123"})
        await h.post("/twilio/voice/recorded?lang=en&problem=pothole&place=12+Oak+Ave",
                     {"CallSid": "CA" + "3" * 32, "From": "+15145550123", "RecordingSid": "RE" + "4" * 32,
                      "RecordingUrl": "https://api.twilio.com/rec/RE4"},
                     signed_url="https://sms.city.example/twilio/voice/recorded?lang=en&problem=pothole&place=12+Oak+Ave")
    by_type: dict[str, set] = {}
    for env in h.publisher.published:
        by_type.setdefault(env.event_type, set()).add(env.event_id)
    assert {k: len(v) for k, v in by_type.items()} == {
        "intake.opt_out_received": 2,  # the keyword's and the 21610 callback's
        "intake.message_status_received": 1,
        "intake.message_received": 1,
    }
    assert len(h.publisher.published) == 12


async def test_a_report_with_a_location_gets_no_question_back() -> None:
    h = make_harness()
    r = await h.post("/twilio/sms", sms_form(body="Pothole in front of 123 Main St"))
    assert _messages(r.text) == []
    assert state_of(_cookie(r)).pending is None, "no question is waiting"
    [env] = h.publisher.published
    assert env.data["address"] == "123 Main St"
    assert "awaiting_location" not in env.data["attributes"]


async def test_a_shared_map_link_is_a_location() -> None:
    h = make_harness()
    await h.post("/twilio/sms", sms_form(body="Graffiti here https://maps.google.com/?q=45.4215,-75.6972"))
    [env] = h.publisher.published
    assert (env.data["lat"], env.data["long"]) == (45.4215, -75.6972)


async def test_a_whatsapp_shared_location_is_a_location() -> None:
    h = make_harness()
    await h.post("/twilio/whatsapp", sms_form(body="", from_="whatsapp:+15145550123", Latitude="45.4215",
                                              Longitude="-75.6972", Address="Parliament Hill"))
    [env] = h.publisher.published
    assert env.data["lat"] == 45.4215 and env.data["address"] == "Parliament Hill"


async def test_no_location_one_question_and_the_answer_completes_the_same_report() -> None:
    h = make_harness()
    first = sms_form(sid="SM" + "1" * 32, body="Big pothole, my tire blew")
    r1 = await h.post("/twilio/sms", first)
    [question] = _messages(r1.text)
    assert "Where exactly" in question and "intersection" in question
    cookie = _cookie(r1)
    assert state_of(cookie).pending.sid == first["MessageSid"]
    report = h.publisher.published[0].data
    assert report["attributes"]["awaiting_location"] is True and report["address"] is None

    answer = sms_form(sid="SM" + "2" * 32, body="corner of Bank and Somerset")
    r2 = await h.post("/twilio/sms", answer, cookies={conversation.COOKIE: cookie})
    assert _messages(r2.text) == ["Demoville 311: thank you, the location is added to your report."]
    after = state_of(_cookie(r2))
    assert after.pending is None and after.thread == first["MessageSid"], "answered; the conversation goes on"
    completion = h.publisher.published[1]
    assert completion.data["in_reply_to"] == [first["MessageSid"]]
    assert completion.data["address"] == "corner of Bank and Somerset"
    assert completion.data["attributes"]["completes_location_of"] == first["MessageSid"]
    assert completion.subject == h.publisher.published[0].subject, "same reporter, same partition"

    # Only one question: the next text without the cookie is a new report, asked again at most once.
    r3 = await h.post("/twilio/sms", sms_form(sid="SM" + "3" * 32, body="also a dead raccoon"))
    assert h.publisher.published[2].data["in_reply_to"] == []
    assert len(_messages(r3.text)) == 1


async def test_an_answer_that_is_not_an_address_is_still_the_place_we_asked_for() -> None:
    h = make_harness()
    r1 = await h.post("/twilio/sms", sms_form(sid="SM" + "1" * 32, body="Le lampadaire est éteint"))
    assert "Où est-ce exactement" in _messages(r1.text)[0]
    await h.post("/twilio/sms", sms_form(sid="SM" + "2" * 32, body="devant la bibliothèque"),
                 cookies={conversation.COOKIE: _cookie(r1)})
    completion = h.publisher.published[1].data
    assert completion["address"] == "devant la bibliothèque" and completion["attributes"]["location_source"] == "answer"
    assert completion["language"] == "fr"


async def test_a_forged_foreign_or_stale_cookie_completes_nothing() -> None:
    h = make_harness()
    r1 = await h.post("/twilio/sms", sms_form(sid="SM" + "1" * 32, body="dead tree"))
    cookie = _cookie(r1)
    sid, issued, mac = cookie.split(".")
    forged = f"SM{'7' * 32}.{issued}.{mac}"
    await h.post("/twilio/sms", sms_form(sid="SM" + "2" * 32, body="12 Oak Ave"), cookies={conversation.COOKIE: forged})
    # The same cookie replayed from another number is not that number's conversation.
    await h.post("/twilio/sms", sms_form(sid="SM" + "3" * 32, body="12 Oak Ave", from_="+15145550999"),
                 cookies={conversation.COOKIE: cookie})
    assert [e.data["in_reply_to"] for e in h.publisher.published[1:]] == [[], []]

    later = make_harness(clock=lambda: NOW + timedelta(hours=5))
    await later.post("/twilio/sms", sms_form(sid="SM" + "4" * 32, body="12 Oak Ave"),
                     cookies={conversation.COOKIE: cookie})
    assert later.publisher.published[0].data["in_reply_to"] == []


async def test_a_reply_quoting_a_case_number_is_threaded_by_the_case_service_not_asked_again() -> None:
    h = make_harness()
    r = await h.post("/twilio/sms", sms_form(body="DEMO-26-000042 it is still there and worse"))
    assert _messages(r.text) == []
    data = h.publisher.published[0].data
    assert data["case_number_hint"] == "DEMO-26-000042 it is still there and worse"
    assert "awaiting_location" not in data["attributes"]


async def test_when_kafka_is_down_the_webhook_answers_503_for_twilio_to_retry() -> None:
    h = make_harness()
    h.publisher.fail = True
    r = await h.post("/twilio/sms", sms_form())
    assert r.status_code == 503 and r.headers["retry-after"] == "5"
    h.publisher.fail = False
    assert (await h.post("/twilio/sms", sms_form())).status_code == 200


async def test_mms_photos_become_media_urls() -> None:
    h = make_harness()
    await h.post("/twilio/sms", sms_form(body="graffiti at 45 rue Rideau", NumMedia="2",
                                         MediaUrl0="https://api.twilio.com/2010-04-01/Accounts/AC/Messages/MM/Media/ME1",
                                         MediaContentType0="image/jpeg",
                                         MediaUrl1="https://api.twilio.com/2010-04-01/Accounts/AC/Messages/MM/Media/ME2",
                                         MediaContentType1="image/png", MediaUrl2="https://ignored.example/3"))
    data = h.publisher.published[0].data
    assert [u.rsplit("/", 1)[1] for u in data["media_url"]] == ["ME1", "ME2"]
    assert data["attributes"]["media_content_types"] == ["image/jpeg", "image/png"]


async def test_the_handlers_reply_says_what_to_do_with_the_conversation_cookie() -> None:
    from conftest import FakeCaseApi, FakePublisher
    from services.intake_sms_voice.domain.inbound import parse_inbound
    from services.intake_sms_voice.service_layer import handlers

    deps = handlers.Deps(publisher=FakePublisher(), case_api=FakeCaseApi(),
                         config=handlers.Config(conversation_secret=b"k", conversation_window_s=600))

    async def receive(sid: str, body: str, cookie: str | None) -> handlers.TextReply:
        msg = parse_inbound(sms_form(sid=sid, body=body), forced_channel=None, default_region="CA")
        return await handlers.receive_text(msg, pending_cookie=cookie, deps=deps, now=NOW)

    question = await receive("SM" + "1" * 32, "Pothole", None)
    assert question.cookie == conversation.CookieChange(question.pending, 600) and question.pending
    answer = await receive("SM" + "2" * 32, "12 Oak Ave", question.pending)
    assert answer.outcome == "location_answer" and answer.cookie == conversation.CookieChange(answer.pending, 600)
    assert (await receive("SM" + "3" * 32, "HELP", None)).cookie is None, "HELP leaves the conversation as it is"
    assert (await receive("SM" + "4" * 32, "STOP", None)).cookie is None, "no cookie came: nothing to delete"
    assert (await receive("SM" + "5" * 32, "STOP", "x")).cookie == conversation.CookieChange(None)
