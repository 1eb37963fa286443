"""Every real Meta webhook payload of the shared test data (`meta_social/courier_meta_testdata`, read
through `support.data.shared_data()`) gives the right outcome: a message (text, location, media), an
ignored echo, a receipt, a status, a rejected item, or something not for us. Plus the shapes those files
do not cover (locations, replies, a bad item among good ones)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from services.intake_social.domain.meta import MetaAccounts, parse_delivery
from services.intake_social.domain.outcomes import Inbound, Rejected, StatusReported, contact_key, event_id_for
from support.data import shared_data

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
GRAPH = "https://graph.test/v21.0"
ACCOUNTS = MetaAccounts(graph_url=GRAPH)
FB_SENT = datetime(2016, 4, 7, 1, 11, 27, 970000, tzinfo=UTC)
WA_SENT = datetime(2016, 1, 30, 1, 57, 9, tzinfo=UTC)


def fixtures_dir() -> Path:
    return shared_data() / "meta_social" / "courier_meta_testdata"


def msg(text: str = "", *, mid: str = "external_id", media: tuple[str, ...] = (), handle: str = "5678",
        phone: str | None = None, name: str | None = None, sent: datetime = FB_SENT, in_reply_to: tuple[str, ...] = (),
        **attributes: Any) -> tuple[str, dict[str, Any]]:
    return ("message", {"text": text, "mid": mid, "media": list(media), "handle": handle, "phone": phone,
                        "name": name, "sent": sent, "in_reply_to": list(in_reply_to), "attributes": attributes})


def wa(text: str = "", **kw: Any) -> tuple[str, dict[str, Any]]:
    kw.setdefault("phone", "+5678")
    kw.setdefault("name", "Kerry Fisher")
    kw.setdefault("sent", WA_SENT)
    return msg(text, **kw)


HELLO = msg("Hello World")
IMAGE = msg("", media=("https://image-url/foo.png",))
CAPTION = "Check out my new phone!"

# file -> the outcomes, in delivery order: ("message", fields) or (kind, reason)
EXPECTED: dict[str, list[tuple[str, Any]]] = {
    "fba__attachment.json": [IMAGE],
    "fba__different_page.json": [("not_for_us", "different_page")],
    "fba__dlr.json": [("receipt", "delivery")],
    "fba__duplicate_msg.json": [HELLO, ("ignored", "duplicate")],
    # a link Meta could not render: kept as text for staff, not as a media URL
    "fba__fallback.json": [msg("[fallback: Foo My Documents/foo.doc]")],
    "fba__hello_msg.json": [HELLO],
    "fba__invalid_urn.json": [("rejected", "invalid_sender")],
    "fba__no_entries.json": [],
    "fba__no_messaging_entries.json": [("ignored", "no_messaging")],
    "fba__not_page.json": [("not_for_us", "unknown_object")],
    "fba__notification_messages_optin.json": [("ignored", "optin")],
    "fba__postback.json": [msg("postback title", mid="postback:5678:1459991487970",
                               postback_payload="postback payload",
                               referral={"ref": "postback ref", "source": "postback source", "type": "postback type"})],
    "fba__postback_get_started.json": [("ignored", "get_started")],
    "fba__postback_referral.json": [("ignored", "get_started")],
    "fba__reel.json": [msg("[ig_reel: /reel/123451234512345/]")],
    "fba__referral.json": [("ignored", "referral")],
    "fba__referral_optin.json": [("ignored", "optin")],
    "fba__referral_optin_user_ref.json": [("ignored", "optin")],
    "fba__referral_seconds.json": [("ignored", "referral")],
    "fba__thumbs_up.json": [msg("👍")],
    "fba__unknown_messaging_entry.json": [("ignored", "unknown_event")],
    "ig__attachment.json": [IMAGE],
    "ig__different_page.json": [("not_for_us", "different_page")],
    "ig__duplicate_msg.json": [HELLO, ("ignored", "duplicate")],
    "ig__echo.json": [("ignored", "echo")],
    "ig__hello_msg.json": [HELLO],
    "ig__icebreaker_get_started.json": [("ignored", "get_started")],
    "ig__invalid_urn.json": [("rejected", "invalid_sender")],
    "ig__like_heart.json": [msg("❤️")],
    "ig__no_entries.json": [],
    "ig__no_messaging_entries.json": [("ignored", "no_messaging")],
    "ig__not_instagram.json": [("not_for_us", "unknown_object")],
    "ig__unknown_messaging_entry.json": [("ignored", "unknown_event")],
    "wac__audio.json": [wa(CAPTION, media=(f"{GRAPH}/id_audio",), whatsapp_type="audio")],
    "wac__button.json": [wa("No", in_reply_to=("gBGGFmkiWVVPAgkgQkwi7IORac0",), whatsapp_type="button",
                            button_payload="No-Button-Payload")],
    "wac__button_reply.json": [wa("Yes", whatsapp_type="interactive", reply_id="id_button_reply")],
    "wac__document.json": [wa("80skaraokesonglistartist", media=(f"{GRAPH}/id_document",), whatsapp_type="document")],
    "wac__duplicate.json": [wa("Hello World", whatsapp_type="text"), ("ignored", "duplicate")],
    "wac__error_errors.json": [("rejected", "platform_error")],
    # WhatsApp could not pass the message on (131051): kept raw, the resident asked for text
    "wac__error_msg.json": [("unsupported", "unsupported")],
    "wac__error_status.json": [("status", "failed")],
    "wac__group_message.json": [("ignored", "group_message")],
    "wac__hello.json": [wa("Hello World", whatsapp_type="text")],
    "wac__hello_bsuid_in_from.json": [wa("Hello World", handle="US.1234", phone=None, whatsapp_type="text")],
    "wac__hello_from_bsuid.json": [wa("Hello World", handle="US.1234", phone=None, whatsapp_type="text")],
    "wac__hello_invalid_user_id.json": [wa("Hello World", whatsapp_type="text")],
    "wac__hello_user_id.json": [wa("Hello World", whatsapp_type="text")],
    "wac__ignore_status.json": [("ignored", "status_deleted")],
    "wac__image.json": [wa(CAPTION, media=(f"{GRAPH}/id_image",), whatsapp_type="image")],
    "wac__invalid_from.json": [("rejected", "invalid_sender")],
    "wac__invalid_status.json": [("rejected", "unknown_status")],
    "wac__invalid_timestamp.json": [("rejected", "invalid_timestamp")],
    "wac__list_reply.json": [wa("Yes", whatsapp_type="interactive", reply_id="id_list_reply")],
    "wac__nfm_reply.json": [wa("Sent", whatsapp_type="interactive", flow={"age": "32"})],
    "wac__nfm_reply_non_object.json": [wa("Sent", whatsapp_type="interactive")],
    "wac__no_from.json": [("rejected", "no_sender")],
    "wac__valid_status.json": [("status", "sent")],
    "wac__video.json": [wa(CAPTION, media=(f"{GRAPH}/id_video",), whatsapp_type="video")],
    "wac__voice.json": [wa("", media=(f"{GRAPH}/id_voice",), whatsapp_type="voice")],
}


def channel_of(name: str) -> str:
    return {"fba": "messenger", "ig": "instagram", "wac": "whatsapp"}[name.split("__")[0]]


def test_the_table_names_every_fixture_file_and_nothing_else() -> None:
    on_disk = {p.name for p in fixtures_dir().glob("*.json")}
    assert len(on_disk) == 59
    assert on_disk == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_courier_payload_gives_its_outcomes(name: str) -> None:
    payload = json.loads((fixtures_dir() / name).read_bytes())
    outcomes = parse_delivery(payload, accounts=ACCOUNTS, now=NOW)
    expected = EXPECTED[name]
    got = [(o.kind, o if o.kind == "message" else o.reason) for o in outcomes]
    assert [k for k, _ in got] == [k for k, _ in expected], got
    channel = channel_of(name)
    for (kind, want), outcome in zip(expected, outcomes, strict=True):
        if kind != "message":
            assert outcome.reason == want
            continue
        assert isinstance(outcome, Inbound)
        m = outcome.message
        assert m.channel == channel
        assert m.channel_message_id == want["mid"]
        assert m.description == want["text"]
        assert m.media_url == want["media"]
        assert m.lat is None and m.long is None
        assert m.pii.handle == want["handle"] and m.pii.phone == want["phone"] and m.pii.name == want["name"]
        assert m.contact_key == contact_key(channel, want["handle"])
        assert want["handle"] not in m.contact_key
        assert m.requested_datetime == want["sent"] and m.received_at == NOW
        assert m.in_reply_to == want["in_reply_to"]
        for key, value in want["attributes"].items():
            assert m.attributes[key] == value
        assert outcome.event_id == event_id_for(channel, want["mid"])


def test_the_same_mid_twice_in_one_delivery_is_one_message() -> None:
    payload = json.loads((fixtures_dir() / "fba__duplicate_msg.json").read_bytes())
    messages = [o for o in parse_delivery(payload, accounts=ACCOUNTS, now=NOW) if isinstance(o, Inbound)]
    assert len(messages) == 1
    # and a second delivery of it (a Meta retry) is the very same event
    again = [o for o in parse_delivery(payload, accounts=ACCOUNTS, now=NOW) if isinstance(o, Inbound)]
    assert again[0].event_id == messages[0].event_id


def test_a_whatsapp_status_is_a_delivery_outcome_with_the_platform_errors_and_window() -> None:
    payload = json.loads((fixtures_dir() / "wac__error_status.json").read_bytes())
    (outcome,) = parse_delivery(payload, accounts=ACCOUNTS, now=NOW)
    assert isinstance(outcome, StatusReported)
    st = outcome.status
    assert (st.channel, st.provider_message_id, st.status) == ("whatsapp", "external_id", "failed")
    assert [(e.code, e.title) for e in st.errors] == [
        ("131014", "Request for url https://URL.jpg failed with error: 404 (Not Found)")]
    assert st.reported_at == WA_SENT and st.conversation_expires_at == WA_SENT
    assert st.conversation_id == "CONVERSATION_ID" and st.pricing_category == "referral_conversion"
    assert st.contact_key == contact_key("whatsapp", "5678") and st.pii.phone == "+5678"


def test_a_whatsapp_flow_answer_fills_the_report_and_keeps_names_under_pii() -> None:
    payload = json.loads((fixtures_dir() / "wac__nfm_reply.json").read_bytes())
    (outcome,) = parse_delivery(payload, accounts=ACCOUNTS, now=NOW)
    assert isinstance(outcome, Inbound)
    assert outcome.message.pii.first_name == "Bob"
    assert "flow_token" not in json.dumps(outcome.message.attributes)
    assert "Bob" not in json.dumps(outcome.message.attributes)


# --- shapes the courier files do not cover -------------------------------------------------------------------


def messenger(*items: dict[str, Any], obj: str = "page", entry_id: str = "1234567890") -> dict[str, Any]:
    return {"object": obj, "entry": [{"id": entry_id, "time": 1, "messaging": list(items)}]}


def item(message: dict[str, Any] | None = None, sender: str = "5678", **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"sender": {"id": sender}, "recipient": {"id": "1234567890"}, "timestamp": 1764417600000}
    if message is not None:
        out["message"] = message
    out.update(extra)
    return out


def whatsapp(*messages: dict[str, Any], statuses: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    value: dict[str, Any] = {"messaging_product": "whatsapp",
                             "metadata": {"display_phone_number": "+1 555 0100", "phone_number_id": "99"},
                             "contacts": [{"profile": {"name": "Ana"}, "wa_id": "15145550000"}],
                             "messages": list(messages)}
    if statuses is not None:
        value["statuses"] = statuses
    return {"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages",
                                                                                     "value": value}]}]}


def test_a_messenger_location_becomes_lat_long_and_a_reply_threads_on_our_message() -> None:
    payload = messenger(item({"mid": "m.loc", "text": "Lampadaire éteint ici",
                              "reply_to": {"mid": "m.ours"},
                              "quick_reply": {"payload": "REPORT_STREETLIGHT"},
                              "attachments": [{"type": "location", "title": "Rue Saint-Denis",
                                               "payload": {"coordinates": {"lat": 45.5152, "long": -73.5619}}}]}))
    (outcome,) = parse_delivery(payload, accounts=ACCOUNTS, now=NOW)
    assert isinstance(outcome, Inbound)
    m = outcome.message
    assert (m.lat, m.long, m.address) == (45.5152, -73.5619, "Rue Saint-Denis")
    assert m.description == "Lampadaire éteint ici" and m.in_reply_to == ["m.ours"]
    assert m.attributes["quick_reply_payload"] == "REPORT_STREETLIGHT"


def test_a_whatsapp_location_becomes_lat_long_and_address() -> None:
    payload = whatsapp({"from": "15145550000", "id": "wamid.LOC", "timestamp": "1764417600", "type": "location",
                        "location": {"latitude": 40.7128, "longitude": -74.006, "name": "City Hall",
                                     "address": "City Hall Park, New York"}})
    (outcome,) = parse_delivery(payload, accounts=ACCOUNTS, now=NOW)
    assert isinstance(outcome, Inbound)
    m = outcome.message
    assert (m.lat, m.long) == (40.7128, -74.006) and m.address == "City Hall City Hall Park, New York"
    assert m.pii.phone == "+15145550000" and m.pii.name == "Ana"


def test_a_bad_item_is_rejected_alone_and_the_rest_of_the_batch_goes_on() -> None:
    payload = messenger(
        item({"mid": "m.1", "text": "pothole on 5th"}),
        item({"mid": "m.2", "text": "x"}, timestamp="yesterday"),
        item({"mid": "m.3", "attachments": {"type": "location"}}),
        "not an object",
        item({"mid": "m.4", "text": "y"}, sender="not-digits"),
        item({"mid": "m.5", "text": "graffiti on the bridge"}),
    )
    outcomes = parse_delivery(payload, accounts=ACCOUNTS, now=NOW)
    assert [o.kind for o in outcomes] == ["message", "rejected", "rejected", "rejected", "rejected", "message"]
    assert [o.reason for o in outcomes if isinstance(o, Rejected)] == [
        "invalid_timestamp", "attachments_not_a_list", "item_not_an_object", "invalid_sender"]
    assert [o.where for o in outcomes if isinstance(o, Rejected)][0] == "entry[0].messaging[1]"


def test_an_echo_of_our_own_message_never_becomes_a_message_whatever_it_contains() -> None:
    payload = messenger(item({"mid": "m.echo", "is_echo": True, "text": "Your case 311-2026-000001 is open"},
                             sender="1234567890"))
    assert [(o.kind, o.reason) for o in parse_delivery(payload, accounts=ACCOUNTS, now=NOW)] == [("ignored", "echo")]


def test_entries_of_pages_and_numbers_that_are_not_the_citys_are_not_for_us() -> None:
    accounts = MetaAccounts(page_ids=frozenset({"42"}), whatsapp_phone_number_ids=frozenset({"42"}))
    assert [o.kind for o in parse_delivery(messenger(item({"mid": "m", "text": "hi"})), accounts=accounts,
                                           now=NOW)] == ["not_for_us"]
    wa_payload = whatsapp({"from": "15145550000", "id": "wamid.X", "timestamp": "1764417600", "type": "text",
                           "text": {"body": "hi"}})
    assert [o.kind for o in parse_delivery(wa_payload, accounts=accounts, now=NOW)] == ["not_for_us"]


def test_a_timestamp_from_the_future_is_taken_as_now_and_a_read_receipt_is_not_a_message() -> None:
    late = parse_delivery(messenger(item({"mid": "m.f", "text": "hi"}, timestamp=4102444800000)), accounts=ACCOUNTS,
                          now=NOW)
    assert isinstance(late[0], Inbound) and late[0].message.requested_datetime == NOW
    read = parse_delivery(messenger(item(None, read={"watermark": 1458668856253})), accounts=ACCOUNTS, now=NOW)
    assert [(o.kind, o.reason) for o in read] == [("receipt", "read")]


def test_whatsapp_statuses_and_messages_in_one_change_each_get_their_outcome() -> None:
    payload = whatsapp({"from": "15145550000", "id": "wamid.M", "timestamp": "1764417600", "type": "text",
                        "text": {"body": "Trash not collected"}},
                       statuses=[{"id": "wamid.S", "status": "read", "timestamp": "1764417600",
                                  "recipient_id": "15145550000"},
                                 {"id": "wamid.T", "status": "delivered", "timestamp": "soon",
                                  "recipient_id": "15145550000"}])
    assert [(o.kind, o.reason) for o in parse_delivery(payload, accounts=ACCOUNTS, now=NOW)] == [
        ("message", "message"), ("status", "read"), ("rejected", "invalid_timestamp")]
