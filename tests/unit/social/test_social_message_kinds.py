"""Meta deliveries of the kinds issue 12 names, read by the pure parser (`domain/meta.py`) against the demo
jurisdiction's boundary: a shared location goes through the one location check (0,0 and impossible points
leave no point but keep the check; swapped axes are read swapped); a WhatsApp contact card is a message
with the card's text; every kind we cannot read is `Unsupported` with the raw item (never dropped);
an unsent Instagram or Messenger message is `Withdrawn`, never a message; receipts, echoes and reactions
to a message stay ignored."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from services.intake_social.domain.meta import MetaAccounts, parse_delivery
from services.intake_social.domain.outcomes import Inbound, Unsupported, Withdrawn, contact_key
from shared.jurisdiction import load_jurisdiction

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
ACCOUNTS = MetaAccounts(graph_url="https://graph.test/v21.0")
PAGE = "1234567890"
PARLIAMENT = (45.4215, -75.6972)  # inside the demo jurisdiction


@pytest.fixture(scope="module")
def contains() -> Any:
    return load_jurisdiction("demo").contains


def messenger(message: dict[str, Any] | None = None, *, obj: str = "page", sender: str = "5678",
              **extra: Any) -> dict[str, Any]:
    item: dict[str, Any] = {"sender": {"id": sender}, "recipient": {"id": PAGE}, "timestamp": 1764417600000}
    if message is not None:
        item["message"] = message
    item.update(extra)
    return {"object": obj, "entry": [{"id": PAGE, "time": 1764417600000, "messaging": [item]}]}


def location_attachment(lat: Any, long: Any) -> dict[str, Any]:
    return {"type": "location", "title": "Pinned location", "payload": {"coordinates": {"lat": lat, "long": long}}}


def whatsapp(message: dict[str, Any]) -> dict[str, Any]:
    m = {"from": "15145550000", "id": "wamid.K1", "timestamp": "1764417600"} | message
    value = {"messaging_product": "whatsapp", "metadata": {"display_phone_number": "+1 555 0100",
                                                           "phone_number_id": "99"},
             "contacts": [{"profile": {"name": "Ana"}, "wa_id": "15145550000"}], "messages": [m]}
    return {"object": "whatsapp_business_account",
            "entry": [{"id": "1", "changes": [{"field": "messages", "value": value}]}]}


def only(payload: dict[str, Any], contains: Any) -> Any:
    (outcome,) = parse_delivery(payload, accounts=ACCOUNTS, now=NOW, contains=contains)
    return outcome


# --- kind 1: one location check ------------------------------------------------------------------------------


@pytest.mark.parametrize("payload", [
    messenger({"mid": "m.zero", "attachments": [location_attachment(0, 0)]}),
    messenger({"mid": "m.zero", "attachments": [location_attachment(0.0, 0.0)]}, obj="instagram"),
    whatsapp({"type": "location", "location": {"latitude": 0, "longitude": 0}}),
], ids=["messenger", "instagram", "whatsapp"])
def test_a_shared_location_of_0_0_is_no_place_and_says_so(payload: dict[str, Any], contains: Any) -> None:
    outcome = only(payload, contains)
    assert isinstance(outcome, Inbound), "kept: the acknowledgement asks the resident where it is"
    m = outcome.message
    assert (m.lat, m.long) == (None, None)
    check = m.attributes["location_check"]
    assert check["verdict"] == "placeholder" and check["given"] == {"lat": 0.0, "long": 0.0}


@pytest.mark.parametrize("payload", [
    messenger({"mid": "m.swap", "text": "Pothole here", "attachments": [location_attachment(-75.6972, 45.4215)]}),
    whatsapp({"type": "location", "location": {"latitude": -75.6972, "longitude": 45.4215, "name": "Parliament"}}),
], ids=["messenger", "whatsapp"])
def test_a_shared_location_with_swapped_axes_is_read_swapped(payload: dict[str, Any], contains: Any) -> None:
    m = only(payload, contains).message
    assert (m.lat, m.long) == PARLIAMENT
    assert m.attributes["location_check"]["verdict"] == "swapped"


@pytest.mark.parametrize("payload", [
    messenger({"mid": "m.far", "text": "Streetlight out", "attachments": [location_attachment(123.4, -75.7)]}),
    whatsapp({"type": "location", "location": {"latitude": 45.42, "longitude": 512.0}}),
], ids=["messenger-latitude-123", "whatsapp-longitude-512"])
def test_an_out_of_range_location_is_no_place_and_the_message_is_kept(payload: dict[str, Any],
                                                                      contains: Any) -> None:
    outcome = only(payload, contains)
    assert isinstance(outcome, Inbound)
    assert (outcome.message.lat, outcome.message.long) == (None, None)
    assert outcome.message.attributes["location_check"]["verdict"] == "out_of_range"


def test_coordinates_that_are_not_numbers_are_out_of_range_not_a_lost_message(contains: Any) -> None:
    # Our own input: an app that sends empty strings and null for a point it does not have. Before, the
    # whole message was rejected (lost); now it is kept without a point, its words with it.
    payload = whatsapp({"type": "location", "location": {"latitude": "", "longitude": None,
                                                         "name": "Corner of Elgin and Laurier"}})
    m = only(payload, contains).message
    assert (m.lat, m.long) == (None, None) and m.address == "Corner of Elgin and Laurier"
    assert m.attributes["location_check"]["verdict"] == "out_of_range"
    assert m.attributes["location_check"]["given"] == {"lat": "nan", "long": "nan"}


def test_a_point_inside_carries_no_check_and_one_outside_is_kept(contains: Any) -> None:
    inside = only(messenger({"mid": "m.in", "attachments": [location_attachment(*PARLIAMENT)]}), contains).message
    assert (inside.lat, inside.long) == PARLIAMENT and "location_check" not in inside.attributes
    outside = only(whatsapp({"type": "location", "location": {"latitude": 40.7128, "longitude": -74.006}}),
                   contains).message
    assert (outside.lat, outside.long) == (40.7128, -74.006)
    assert outside.attributes["location_check"]["verdict"] == "outside"


def titled(title: str, lat: Any, long: Any) -> dict[str, Any]:
    return {"type": "location", "title": title, "url": "https://l.facebook.com/l.php?u=https%3A%2F%2Fwww.bing.com%2Fmaps",
            "payload": {"coordinates": {"lat": lat, "long": long}}}


@pytest.mark.parametrize("obj", ["page", "instagram"])
@pytest.mark.parametrize("title", ["Pinned Location", "Pinned location", "Jane Doe's Location", "Location",
                                   "Current Location", "Position épinglée", "Parliament Hill"])
def test_a_0_0_pin_with_a_title_is_no_place_and_has_no_address(obj: str, title: str, contains: Any) -> None:
    # The README walk: 'Pinned Location' stored as the address kept the acknowledgement from asking where,
    # and the case showed address 'Pinned Location'.
    m = only(messenger({"mid": "m.pin0", "attachments": [titled(title, 0, 0)]}, obj=obj), contains).message
    assert (m.lat, m.long, m.address) == (None, None, None)
    assert m.attributes["location_check"]["verdict"] == "placeholder"


@pytest.mark.parametrize("title", ["Pinned Location", "Jane Doe's Location", "Location partagée", "Ma position"])
def test_a_generic_pin_title_is_never_an_address(title: str, contains: Any) -> None:
    m = only(messenger({"mid": "m.pin", "attachments": [titled(title, *PARLIAMENT)]}), contains).message
    assert (m.lat, m.long) == PARLIAMENT and m.address is None
    assert title not in str(m.attributes), "a generic title says nothing (and may name the resident)"


def test_a_place_named_by_a_pin_is_its_address_and_kept_beside_a_placeholder(contains: Any) -> None:
    placed = only(messenger({"mid": "m.hill", "attachments": [titled("Parliament Hill", *PARLIAMENT)]}), contains).message
    assert (placed.lat, placed.long, placed.address) == (*PARLIAMENT, "Parliament Hill")
    nowhere = only(messenger({"mid": "m.hill0", "attachments": [titled("Parliament Hill", 0, 0)]}), contains).message
    assert nowhere.address is None and nowhere.attributes["location_title"] == "Parliament Hill"


# --- kind 6: every message kind kept -------------------------------------------------------------------------

CARD = {"name": {"formatted_name": "Marc Tremblay", "first_name": "Marc", "last_name": "Tremblay"},
        "org": {"company": "Gestion Immobilière Rideau", "title": "Building manager"},
        "phones": [{"phone": "+1 613 555 0142", "wa_id": "16135550142", "type": "WORK"}],
        "emails": [{"email": "marc@rideau.example", "type": "WORK"}]}


def test_a_whatsapp_contact_card_is_a_message_with_the_cards_text(contains: Any) -> None:
    outcome = only(whatsapp({"type": "contacts", "contacts": [CARD]}), contains)
    assert isinstance(outcome, Inbound)
    m = outcome.message
    assert m.description == ("Contact: Marc Tremblay\nOrganisation: Gestion Immobilière Rideau, Building manager\n"
                             "Phone: +1 613 555 0142 (WORK)\nEmail: marc@rideau.example (WORK)")
    assert m.attributes["shared_contact"] == {"cards": 1} and m.attributes["whatsapp_type"] == "contacts"
    # the sender is the resident, not the card's person
    assert m.pii.phone == "+15145550000" and m.contact_key == contact_key("whatsapp", "15145550000")


def test_two_cards_one_of_them_only_a_name_are_both_read(contains: Any) -> None:
    # Our own input: a second card with only a first name (WhatsApp sends what the phone's address book has).
    m = only(whatsapp({"type": "contacts", "contacts": [CARD, {"name": {"first_name": "Lise"}}]}), contains).message
    assert m.description.endswith("\n\nContact: Lise") and m.attributes["shared_contact"] == {"cards": 2}


@pytest.mark.parametrize(("message", "kind"), [
    ({"type": "unsupported", "errors": [{"code": 131051, "title": "Unsupported message type"}]}, "unsupported"),
    ({"type": "order", "order": {"catalog_id": "1", "product_items": [{"product_retailer_id": "A", "quantity": 1}]}},
     "order"),
    ({"type": "system", "system": {"body": "Ana changed their number", "type": "user_changed_number"}}, "system"),
    ({"type": "poll", "poll": {"name": "Which day?", "options": ["Mon", "Tue"]}}, "poll"),
    ({"type": "reaction", "reaction": {"emoji": "👍"}}, "reaction"),
    ({"type": "interactive", "interactive": {"type": "payment_method", "payment_method": {}}},
     "interactive_payment_method"),
    ({"type": "contacts", "contacts": [{"addresses": []}]}, "contacts"),
    ({"text": {"body": "no type at all"}}, "unknown"),
], ids=["unsupported", "order", "system", "poll", "reaction-on-nothing", "payment", "empty-card", "no-type"])
def test_every_whatsapp_kind_we_cannot_read_is_kept_raw(message: dict[str, Any], kind: str, contains: Any) -> None:
    payload = whatsapp(message)
    outcome = only(payload, contains)
    assert isinstance(outcome, Unsupported)
    u = outcome.message
    assert (u.channel, u.channel_message_id, u.kind) == ("whatsapp", "wamid.K1", kind)
    assert u.contact_key == contact_key("whatsapp", "15145550000") and u.pii.phone == "+15145550000"
    assert outcome.raw == payload["entry"][0]["changes"][0]["value"]["messages"][0]


@pytest.mark.parametrize("obj", ["page", "instagram"])
def test_a_messenger_attachment_of_a_type_we_do_not_know_is_kept_raw(obj: str, contains: Any) -> None:
    payload = messenger({"mid": "m.poll", "attachments": [{"type": "poll", "payload": {"question": "Which?"}}]},
                        obj=obj)
    outcome = only(payload, contains)
    assert isinstance(outcome, Unsupported) and outcome.message.kind == "poll"
    assert outcome.raw == payload["entry"][0]["messaging"][0]


def test_text_with_an_attachment_we_do_not_know_is_a_message_that_names_it(contains: Any) -> None:
    # Our own input: the words are readable, so they are the report; the odd attachment is named in it.
    m = only(messenger({"mid": "m.mix", "text": "Broken bench in the park",
                        "attachments": [{"type": "avatar", "payload": {}}]}), contains).message
    assert m.description == "Broken bench in the park\n[avatar]" and m.attributes["attachment_types"] == ["avatar"]


def test_a_reaction_to_nothing_is_kept_and_one_to_a_message_is_ignored(contains: Any) -> None:
    lone = only(messenger(None, reaction={"action": "react", "emoji": "😡"}), contains)
    assert isinstance(lone, Unsupported) and lone.message.kind == "reaction"
    assert lone.message.channel_message_id == "reaction:5678:1764417600000"
    to_ours = only(messenger(None, reaction={"mid": "m.ours", "action": "react", "emoji": "👍"}), contains)
    assert (to_ours.kind, to_ours.reason) == ("ignored", "reaction")
    wa_to_ours = only(whatsapp({"type": "reaction", "reaction": {"message_id": "wamid.OURS", "emoji": "👍"}}), contains)
    assert (wa_to_ours.kind, wa_to_ours.reason) == ("ignored", "reaction")


def test_receipts_echoes_and_a_first_opening_stay_ignored(contains: Any) -> None:
    echo = only(messenger({"mid": "m.e", "is_echo": True, "attachments": [{"type": "poll"}]}), contains)
    assert (echo.kind, echo.reason) == ("ignored", "echo")
    read = only(messenger(None, read={"watermark": 1764417600000}), contains)
    assert (read.kind, read.reason) == ("receipt", "read")
    welcome = only(whatsapp({"type": "request_welcome"}), contains)
    assert (welcome.kind, welcome.reason) == ("ignored", "request_welcome")


@pytest.mark.parametrize(("obj", "channel"), [("instagram", "instagram"), ("page", "messenger")])
def test_an_unsent_message_is_withdrawn_never_a_message(obj: str, channel: str, contains: Any) -> None:
    # Instagram Messaging "messages" webhook: the same mid again with is_deleted (and sometimes its text).
    outcome = only(messenger({"mid": "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlE", "is_deleted": True,
                              "text": "my neighbour at 12 Elm is a thief"}, obj=obj), contains)
    assert isinstance(outcome, Withdrawn)
    w = outcome.message
    assert (w.channel, w.channel_message_id) == (channel, "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlE")
    assert w.contact_key == contact_key(channel, "5678") and "thief" not in w.model_dump_json()


def test_an_unsent_message_without_a_sender_is_rejected_not_guessed(contains: Any) -> None:
    # Our own input: whose message to withdraw cannot be told without the sender.
    payload = messenger({"mid": "m.x", "is_deleted": True})
    del payload["entry"][0]["messaging"][0]["sender"]
    outcome = only(payload, contains)
    assert (outcome.kind, outcome.reason) == ("rejected", "no_sender")
