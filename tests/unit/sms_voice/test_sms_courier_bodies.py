"""Every real Twilio webhook body in courier's fixtures gives the right outcome through our webhooks:
a message, a media message, a status update, or ignored/invalid, with nothing published for the last."""

from __future__ import annotations

from typing import Any

import pytest

from conftest import make_harness, twilio_data
from services.intake_sms_voice.domain.contacts import contact_key

BODIES = twilio_data("courier_twilio_sms_whatsapp_webhook_bodies.json")["bodies"]
SID = "SMe287d7109a5a925f182f0e07fe5b223b"
PHONE = "+14133881111"

# name: (route, outcome, expectations)
TABLE: dict[str, tuple[str, str, dict[str, Any]]] = {
    "receiveValid": ("/twilio/sms", "message", {"channel": "sms", "description": "Msg", "phone": PHONE}),
    "receiveButtonIgnored": ("/twilio/sms", "message", {"channel": "sms", "description": "Msg"}),
    "receiveMedia": ("/twilio/sms", "media message",
                     {"channel": "sms", "description": "", "media_url": ["cat.jpg", "dog.jpg"]}),
    "receiveMediaWithMsg": ("/twilio/sms", "media message",
                            {"channel": "sms", "description": "Msg", "media_url": ["cat.jpg", "dog.jpg"]}),
    "receiveBase64": ("/twilio/sms", "message",
                      {"description": "Bannon Explains The World ...\n\u201cThe Camp of the Saints"}),
    "statusStop": ("/twilio/status", "status update",
                   {"status": "failed", "error_code": 21610, "opt_out_phone": "+12028831111"}),
    "statusInvalid": ("/twilio/status", "invalid", {}),
    "statusValid": ("/twilio/status", "status update", {"status": "delivered", "outcome": "delivered"}),
    "statusRead": ("/twilio/status", "status update", {"status": "read", "outcome": "read"}),
    "statusRateLimit": ("/twilio/status", "status update", {"status": "failed", "error_code": 63018}),
    "tmsStatusExtra": ("/twilio/status", "status update",
                       {"status": "sent", "provider_message_id": "SM0b6e2697aae04182a9f5b5c7a8994c7f"}),
    "tmsReceiveExtra": ("/twilio/sms", "message",
                        {"description": "John Cruz", "channel_message_id": "SMbbf29aeb9d380ce2a1c0ae4635ff9dab"}),
    "waReceiveValid": ("/twilio/whatsapp", "message", {"channel": "whatsapp", "phone": PHONE, "handle": None}),
    "waReceiveBSUIDValid": ("/twilio/whatsapp", "message", {"channel": "whatsapp", "phone": PHONE,
                                                            "handle": "US.1234"}),
    "waReceiveFromBSUID": ("/twilio/whatsapp", "message", {"channel": "whatsapp", "phone": None,
                                                           "handle": "US.1234"}),
    "waReceiveBSUIDInvalid": ("/twilio/whatsapp", "message", {"channel": "whatsapp", "phone": PHONE,
                                                              "handle": None}),
    "waReceiveButtonValid": ("/twilio/whatsapp", "message", {"channel": "whatsapp", "description": "Confirm"}),
    "waReceivePrefixlessURN": ("/twilio/whatsapp", "message",
                               {"channel": "whatsapp", "phone": PHONE,
                                "channel_message_id": "SM681a1f26d9ec591431ce406e8f399525"}),
}


def test_the_table_covers_every_body_in_the_fixture_file() -> None:
    assert set(TABLE) == set(BODIES)


@pytest.mark.parametrize("name", sorted(TABLE))
async def test_each_courier_body_gives_its_outcome(name: str) -> None:
    route, outcome, want = TABLE[name]
    h = make_harness()
    response = await h.post(route, BODIES[name]["raw"])
    published = h.publisher.published

    if outcome == "invalid":
        assert response.status_code == 400 and "unknown status 'huh'" in response.text
        assert published == []
        return

    assert response.status_code in (200, 204), response.text
    if outcome in ("message", "media message"):
        assert [e.event_type for e in published] == ["intake.message_received"]
        data = published[0].data
        assert data["channel"] == want.get("channel", "sms")
        assert data["channel_message_id"] == want.get("channel_message_id", SID)
        assert data["media_url"] == want.get("media_url", [])
        assert (outcome == "media message") is bool(data["media_url"])
        if "description" in want:
            assert data["description"] == want["description"]
        if "phone" in want:
            assert data["pii"]["phone"] == want["phone"]
        if "handle" in want:
            assert data["pii"]["handle"] == want["handle"]
        assert published[0].subject == data["contact_key"]
        assert PHONE not in data["contact_key"] and "1234" not in data["contact_key"]
        assert response.headers["content-type"].startswith("application/xml")
        assert response.text.startswith("<?xml") and "<Response" in response.text
        # FromCity/FromZip say where the number was registered, not where the problem is.
        assert data["zipcode"] is None and data["address"] is None
        return

    assert outcome == "status update"
    assert response.status_code == 204
    statuses = [e for e in published if e.event_type == "intake.message_status_received"]
    assert len(statuses) == 1
    status = statuses[0].data
    assert status["status"] == want["status"]
    assert status["provider_message_id"] == want.get("provider_message_id", SID)
    assert status["error_code"] == want.get("error_code")
    if "outcome" in want:
        assert status["outcome"] == want["outcome"]
    opt_outs = [e for e in published if e.event_type == "intake.opt_out_received"]
    if "opt_out_phone" in want:
        assert len(opt_outs) == 1
        data = opt_outs[0].data
        assert data["source"] == "provider_error" and data["error_code"] == 21610
        assert data["pii"]["phone"] == want["opt_out_phone"]
        assert data["contact_key"] == contact_key(phone=want["opt_out_phone"], handle=None, fallback="", channel="")
    else:
        assert opt_outs == []
    assert not [e for e in published if e.event_type == "intake.message_received"]


async def test_a_status_callback_without_sid_or_status_is_ignored() -> None:
    h = make_harness()
    response = await h.post("/twilio/status", " ")
    assert response.status_code == 204 and h.publisher.published == []


async def test_a_message_without_sid_or_sender_is_refused_and_an_empty_one_ignored() -> None:
    h = make_harness()
    no_sid = await h.post("/twilio/sms", {"From": PHONE, "Body": "hi", "To": "+12028831111"})
    assert no_sid.status_code == 400 and "MessageSid" in no_sid.text
    empty = await h.post("/twilio/sms", {"MessageSid": SID, "From": PHONE, "To": "+12028831111", "Body": " ",
                                         "NumMedia": "0"})
    assert empty.status_code == 200 and "<Message>" not in empty.text
    assert h.publisher.published == []
