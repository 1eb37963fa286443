"""STOP/START/HELP and their French forms never open a case: they publish an opt-out/opt-in for the
notifier and are confirmed once; ``STATUS <case>`` answers from the case API."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from conftest import make_harness, sms_form
from services.intake_sms_voice.domain.keywords import keyword_of, status_query_of
from shared.intake import CaseApiRefused


def _messages(xml: str) -> list[str]:
    root = ET.fromstring(xml)
    assert root.tag == "Response"
    return [m.text or "" for m in root.iter("Message")]


@pytest.mark.parametrize(("body", "kind", "language"), [
    ("STOP", "opt_out", "en"), ("stop", "opt_out", "en"), (" Stop. ", "opt_out", "en"), ("STOPALL", "opt_out", "en"),
    ("unsubscribe", "opt_out", "en"), ("CANCEL", "opt_out", "en"), ("End", "opt_out", "en"), ("quit!", "opt_out", "en"),
    ("ARRET", "opt_out", "fr"), ("Arrêt", "opt_out", "fr"), ("ARRÊTER", "opt_out", "fr"), ("arreter", "opt_out", "fr"),
    ("ＳＴＯＰ", "opt_out", "en"),
    ("START", "opt_in", "en"), ("unstop", "opt_in", "en"), ("DÉBUT", "opt_in", "fr"), ("debut", "opt_in", "fr"),
    ("HELP", "help", "en"), ("info", "help", "en"), ("AIDE", "help", "fr"), ("Aide ?", "help", "fr"),
])
def test_keywords_are_recognised_in_english_and_french(body: str, kind: str, language: str) -> None:
    match = keyword_of(body)
    assert match is not None and (match.kind, match.language) == (kind, language)


@pytest.mark.parametrize("body", ["stop the flooding on Elm St", "please stop", "STOP sign knocked down at 5th and Main",
                                  "yes", "Arrêt de bus brisé", "helpful", ""])
def test_a_keyword_inside_a_report_is_a_report(body: str) -> None:
    assert keyword_of(body) is None


@pytest.mark.parametrize(("body", "kind", "reply_has", "event_type"), [
    ("STOP", "opt_out", "unsubscribed", "intake.opt_out_received"),
    ("ARRÊT", "opt_out", "désabonné", "intake.opt_out_received"),
    ("START", "opt_in", "subscribed again", "intake.opt_in_received"),
    ("DÉBUT", "opt_in", "de nouveau abonné", "intake.opt_in_received"),
    ("HELP", "help", "Reply STOP", None),
    ("AIDE", "help", "Répondez ARRET", None),
])
async def test_keywords_publish_their_event_answer_once_and_open_no_case(body: str, kind: str, reply_has: str,
                                                                          event_type: str | None) -> None:
    h = make_harness()
    response = await h.post("/twilio/sms", sms_form(body=body))
    assert response.status_code == 200
    texts = _messages(response.text)
    assert len(texts) == 1 and reply_has in texts[0] and texts[0].startswith("Demoville 311")
    assert not h.publisher.of_type("intake.message_received"), "a keyword never opens a case"
    if event_type is None:
        assert h.publisher.published == []
    else:
        [env] = h.publisher.published
        assert env.event_type == event_type
        assert env.data["contact_key"] == env.subject
        assert env.data["pii"]["phone"] == "+15145550123"
        assert env.data["channel"] == "sms" and env.data["channel_message_id"] == "SM" + "a" * 32


async def test_with_provider_opt_out_handling_keywords_get_an_empty_response_but_still_publish() -> None:
    h = make_harness(keyword_replies="provider")
    for body in ("STOP", "START", "HELP"):
        response = await h.post("/twilio/sms", sms_form(body=body))
        assert response.status_code == 200 and _messages(response.text) == []
    assert [e.event_type for e in h.publisher.published] == ["intake.opt_out_received", "intake.opt_in_received"]


async def test_a_whatsapp_stop_is_an_opt_out_on_whatsapp() -> None:
    h = make_harness()
    await h.post("/twilio/whatsapp", sms_form(body="stop", from_="whatsapp:+15145550123",
                                              to="whatsapp:+15145559999"))
    [env] = h.publisher.published
    assert env.event_type == "intake.opt_out_received" and env.data["channel"] == "whatsapp"


def test_status_queries_read_the_case_number_in_any_width() -> None:
    q = status_query_of("status demo-26-000042")
    assert q is not None and q.case_number == "DEMO-26-000042" and q.language == "en"
    q = status_query_of("ÉTAT: ＤＥＭＯ-２６-０００１２３")
    assert q is not None and q.case_number == "DEMO-26-000123" and q.language == "fr"
    assert status_query_of("STATUS") is not None and status_query_of("STATUS").case_number is None
    assert status_query_of("the status of the light at 5th") is None


async def test_status_answers_with_the_case_status_and_publishes_nothing() -> None:
    h = make_harness(requests={"DEMO-26-000042": {"service_request_id": "DEMO-26-000042", "status": "closed",
                                                  "status_notes": "Pothole filled.", "service_name": "Pothole"}})
    r = await h.post("/twilio/sms", sms_form(body="STATUS DEMO-26-000042"))
    assert _messages(r.text) == ["Demoville 311: case DEMO-26-000042 (Pothole) is closed. Pothole filled."]
    r = await h.post("/twilio/sms", sms_form(body="statut DEMO-26-000042", sid="SM" + "b" * 32))
    assert _messages(r.text) == ["Demoville 311 : le dossier DEMO-26-000042 (Pothole) est fermé. Pothole filled."]
    r = await h.post("/twilio/sms", sms_form(body="STATUS DEMO-26-999999", sid="SM" + "c" * 32))
    assert "no case DEMO-26-999999" in _messages(r.text)[0]
    r = await h.post("/twilio/sms", sms_form(body="status?", sid="SM" + "d" * 32))
    assert "send STATUS and your case number" in _messages(r.text)[0]
    assert h.case_api.asked == ["DEMO-26-000042", "DEMO-26-000042", "DEMO-26-999999"]
    assert h.publisher.published == []


async def test_a_status_query_the_case_service_refuses_is_answered_as_no_such_case() -> None:
    h = make_harness()

    async def refuses(service_request_id: str) -> None:
        raise CaseApiRefused(422, "unprocessable")

    h.case_api.request = refuses  # type: ignore[method-assign]
    r = await h.post("/twilio/sms", sms_form(body="STATUS DEMO-26-000042"))
    assert r.status_code == 200 and "no case DEMO-26-000042" in _messages(r.text)[0]
