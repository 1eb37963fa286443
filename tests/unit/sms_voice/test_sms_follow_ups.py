"""After a report, the resident's next texts in the same Twilio conversation belong to it
(`shared.intake.conversation.follow_up_of`, docs/channels.md "Conversations"): a bare thanks is recorded on
the case without a reply, anything else joins it with one short "Added to your report <number>"; a new case
only after "NEW ...", once the window has passed, when the case is closed, or for another service's problem
at a place of its own. Every message of a conversation is in its language."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import timedelta
from typing import Any

import pytest

from conftest import NOW, Harness, make_harness, sms_form, state_of
from services.intake_sms_voice.domain import conversation

REPORT = "SM" + "1" * 32
CASE = "DEMO-26-000101"


def _messages(xml: str) -> list[str]:
    return [m.text or "" for m in ET.fromstring(xml).iter("Message")]


def _case(status: str = "open", service_code: str = "pothole") -> dict[str, dict[str, Any]]:
    return {CASE: {"service_request_id": CASE, "status": status, "service_code": service_code}}


def _harness(status: str = "open", service_code: str = "pothole", **kw: Any) -> Harness:
    return make_harness(requests=_case(status, service_code), tokens={("sms", REPORT): CASE}, **kw)


async def _report(h: Harness, body: str = "Pothole in front of 123 Main St") -> str:
    r = await h.post("/twilio/sms", sms_form(sid=REPORT, body=body))
    cookie = r.cookies.get(conversation.COOKIE)
    assert cookie and state_of(cookie).thread == REPORT
    return cookie


async def _text(h: Harness, n: int, body: str, cookie: str) -> Any:
    return await h.post("/twilio/sms", sms_form(sid=f"SM{n:032d}", body=body), cookies={conversation.COOKIE: cookie})


async def test_ok_thanks_after_the_report_is_recorded_on_it_without_a_reply() -> None:
    h = _harness()
    r = await _text(h, 2, "ok thanks", await _report(h))
    assert _messages(r.text) == []
    thanks = h.publisher.published[-1].data
    assert thanks["in_reply_to"] == [REPORT] and thanks["attributes"]["conversation"] == "thanks"
    assert "awaiting_location" not in thanks["attributes"]


async def test_a_follow_up_joins_the_report_with_one_short_reply_naming_its_case() -> None:
    h = _harness()
    r = await _text(h, 2, "it's getting bigger, a car lost a tyre in it", await _report(h))
    assert _messages(r.text) == [f"Demoville 311: added to your report {CASE}."]
    follow = h.publisher.published[-1].data
    assert follow["in_reply_to"] == [REPORT] and follow["attributes"]["conversation"] == "follow_up"
    assert "awaiting_location" not in follow["attributes"], "no location question for a follow-up"
    assert follow["description"] == "it's getting bigger, a car lost a tyre in it"
    assert h.case_api.tokens_asked == [(REPORT, "sms")] and h.case_api.asked == [CASE]
    assert state_of(r.cookies.get(conversation.COOKIE)).service_code == "pothole"


async def test_when_the_case_api_cannot_answer_the_follow_up_joins_without_a_number() -> None:
    h = _harness()
    cookie = await _report(h)
    h.case_api.down = True
    r = await _text(h, 2, "it's getting bigger, a car lost a tyre in it", cookie)
    assert _messages(r.text) == ["Demoville 311: added to your report."]
    assert h.publisher.published[-1].data["in_reply_to"] == [REPORT]


async def test_new_asks_for_a_new_case_without_the_word() -> None:
    h = _harness()
    r = await _text(h, 2, "NEW graffiti on the wall at 45 Elm St", await _report(h))
    new = h.publisher.published[-1].data
    assert new["in_reply_to"] == [] and "conversation" not in new["attributes"]
    assert new["description"] == "graffiti on the wall at 45 Elm St" and new["address"] == "45 Elm St"
    assert state_of(r.cookies.get(conversation.COOKIE)).thread == "SM" + "2".rjust(32, "0")


async def test_after_the_window_a_text_is_a_new_report() -> None:
    h = _harness()
    cookie = await _report(h)
    later = _harness(clock=lambda: NOW + timedelta(hours=4, minutes=1))
    r = await _text(later, 2, "it's getting bigger, a car lost a tyre in it", cookie)
    new = later.publisher.published[-1].data
    assert new["in_reply_to"] == [] and "Where exactly" in _messages(r.text)[0]


async def test_once_the_case_is_closed_a_text_is_a_new_report() -> None:
    h = _harness(status="closed")
    r = await _text(h, 2, "it's getting bigger, a car lost a tyre in it", await _report(h))
    new = h.publisher.published[-1].data
    assert new["in_reply_to"] == [] and new["attributes"]["awaiting_location"] is True
    assert "Where exactly" in _messages(r.text)[0]


async def test_another_services_problem_at_a_place_of_its_own_is_a_new_report() -> None:
    h = _harness(service_code="streetlight")
    await _text(h, 2, "Graffiti all over the wall at 45 Elm St", await _report(h, "Light out at 123 Main St"))
    assert h.publisher.published[-1].data["in_reply_to"] == []


async def test_a_pending_location_question_wins_over_a_follow_up() -> None:
    h = _harness()
    cookie = await _report(h, "Big pothole, my tire blew")
    r = await _text(h, 2, "corner of Bank and Somerset", cookie)
    answer = h.publisher.published[-1].data
    assert answer["attributes"]["completes_location_of"] == REPORT and "conversation" not in answer["attributes"]
    assert _messages(r.text) == ["Demoville 311: thank you, the location is added to your report."]
    r = await _text(h, 3, "ok thanks", r.cookies.get(conversation.COOKIE))
    assert _messages(r.text) == [] and h.publisher.published[-1].data["attributes"]["conversation"] == "thanks"


@pytest.mark.parametrize("body", ["thanks!!! 🙏", "Merci 👍", "👍"])
async def test_thanks_with_emoji_and_punctuation_is_a_thanks(body: str) -> None:
    h = _harness()
    r = await _text(h, 2, body, await _report(h))
    assert _messages(r.text) == [] and h.publisher.published[-1].data["attributes"]["conversation"] == "thanks"


async def test_yes_without_a_pending_question_confirms_nothing() -> None:
    h = _harness()
    await _text(h, 2, "YES", await _report(h))
    yes = h.publisher.published[-1].data
    assert yes["in_reply_to"] == [REPORT] and yes["attributes"]["conversation"] == "follow_up"
    assert yes["lat"] is None and "completes_location_of" not in yes["attributes"]


async def test_a_french_conversation_is_answered_in_french_to_the_end() -> None:
    h = _harness()
    r1 = await h.post("/twilio/sms", sms_form(sid=REPORT, body="Il y a un nid de poule devant chez moi"))
    assert "Où est-ce exactement" in _messages(r1.text)[0]
    # "123 Main St" says no language: the conversation's is kept for the closing thank-you.
    r2 = await _text(h, 2, "123 Main St", r1.cookies.get(conversation.COOKIE))
    assert _messages(r2.text) == ["Demoville 311 : merci, l'emplacement est ajouté à votre signalement."]
    assert h.publisher.published[-1].data["language"] == "fr"
    r3 = await _text(h, 3, "it is much bigger now", r2.cookies.get(conversation.COOKIE))
    assert _messages(r3.text) == [f"Demoville 311 : ajouté à votre signalement {CASE}."]
    assert h.publisher.published[-1].data["language"] == "fr"


async def test_a_provider_retry_of_the_report_with_its_own_cookie_is_the_same_report() -> None:
    h = _harness()
    cookie = await _report(h)
    await h.post("/twilio/sms", sms_form(sid=REPORT, body="Pothole in front of 123 Main St"),
                 cookies={conversation.COOKIE: cookie})
    assert len({e.event_id for e in h.publisher.published}) == 1
    assert h.publisher.published[-1].data["in_reply_to"] == []


async def test_a_text_naming_the_reports_own_service_at_a_place_joins_it() -> None:
    h = _harness(service_code="graffiti")
    await _text(h, 2, "Graffiti all over the wall at 45 Elm St", await _report(h, "Graffiti at 123 Main St"))
    assert h.publisher.published[-1].data["in_reply_to"] == [REPORT]


def test_the_conversation_cookie_carries_the_thread_and_is_bound_to_its_contact() -> None:
    state = conversation.State(pending=conversation.Pending("SM1", 45.1, -75.2, "BANK ST"), thread="SM1",
                               thread_at=NOW, service_code="pothole", language="fr")
    value = conversation.state_cookie(b"k", state, contact_key="ck_a", now=NOW)
    assert conversation.read_state(b"k", value, contact_key="ck_a", now=NOW + timedelta(hours=1)) == state
    for secret, key, at in ((b"k", "ck_b", NOW), (b"x", "ck_a", NOW), (b"k", "ck_a", NOW + timedelta(hours=4, seconds=1))):
        assert conversation.read_state(secret, value, contact_key=key, now=at) == conversation.State()
    assert conversation.read_state(b"k", "v2.e30.0123456789abcdef0123456789abcdef", contact_key="ck_a",
                                   now=NOW) == conversation.State()
    older = conversation.pending_cookie(b"k", message_sid="SM9", contact_key="ck_a", now=NOW)
    assert conversation.read_state(b"k", older, contact_key="ck_a", now=NOW).pending == conversation.Pending("SM9")


async def test_new_on_a_first_report_from_a_new_number_is_removed_too() -> None:
    # docs/channels.md: the word is removed from the description, whether or not a conversation came before.
    h = _harness()
    r = await h.post("/twilio/sms", sms_form(sid=REPORT, body="NEW pothole at 3 Elm Street"))
    assert r.status_code == 200
    first = h.publisher.published[-1].data
    assert first["description"] == "pothole at 3 Elm Street" and first["in_reply_to"] == []
    assert first["address"] == "3 Elm Street"


async def test_a_point_shared_after_a_report_whose_place_was_not_found_completes_its_location() -> None:
    # The notifier asks "We could not find <place>..." of a case the router could not place; the resident's
    # shared point (or a written address) then joins the report as its place, as on Meta's channels.
    wa = "whatsapp:+15145550123"
    h = make_harness(requests=_case(), tokens={("whatsapp", REPORT): CASE})
    r = await h.post("/twilio/whatsapp", sms_form(sid=REPORT, body="Pothole in front of 123 Nowhere St", from_=wa))
    cookie = r.cookies.get(conversation.COOKIE)
    r = await h.post("/twilio/whatsapp", sms_form(sid="SM" + "2" * 32, body="", from_=wa, Latitude="45.4215",
                                                  Longitude="-75.6972"), cookies={conversation.COOKIE: cookie})
    follow = h.publisher.published[-1].data
    assert follow["in_reply_to"] == [REPORT] and follow["attributes"]["conversation"] == "follow_up"
    assert (follow["lat"], follow["long"]) == (45.4215, -75.6972)
    assert follow["attributes"]["completes_location_of"] == REPORT
    typed = await h.post("/twilio/whatsapp", sms_form(sid="SM" + "3" * 32, body="it's at 88 Pine St", from_=wa),
                         cookies={conversation.COOKIE: r.cookies.get(conversation.COOKIE)})
    assert typed.status_code == 200
    written = h.publisher.published[-1].data
    assert written["address"] == "88 Pine St" and written["attributes"]["completes_location_of"] == REPORT
