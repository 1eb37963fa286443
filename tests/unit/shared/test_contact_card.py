"""A shared contact card reads the same on every channel and is bounded (`shared.intake.contact_card`)."""

from __future__ import annotations

from datetime import UTC, datetime

from services.intake_social.domain.meta import MetaAccounts, parse_delivery
from services.intake_social.domain.outcomes import Inbound
from shared.intake.contact_card import MAX_CARDS, MAX_ITEMS, MAX_VALUE, SharedContact, cards_attribute, cards_text

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def test_a_card_reads_as_lines_with_each_type() -> None:
    card = SharedContact.of(name="Marc  Tremblay", organisation="Gestion ABC",
                            phones=[("+1 613 555 0142", "WORK"), ("", "HOME")], emails=[("m@abc.example", None)])
    assert card is not None
    assert card.as_text() == ("Contact: Marc Tremblay\nOrganisation: Gestion ABC\nPhone: +1 613 555 0142 (WORK)\n"
                              "Email: m@abc.example")
    assert cards_attribute([card]) == {"cards": 1}  # how many, never what they say


def test_a_card_naming_nobody_with_no_phone_or_email_is_no_card() -> None:
    assert SharedContact.of(name="  ", phones=[(None, "CELL")]) is None


def test_every_value_and_count_is_bounded() -> None:
    card = SharedContact.of(name="A" * 1_000_000, phones=[(f"+1 613 555 {i:04}", None) for i in range(500)])
    assert card is not None and card.name is not None
    assert len(card.name) == MAX_VALUE and len(card.phones) == MAX_ITEMS
    assert cards_text([card] * 50).count("Contact: ") == MAX_CARDS


def _whatsapp_contacts(contacts: list[dict]) -> dict:
    return {"object": "whatsapp_business_account", "entry": [{"id": "WABA", "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp", "metadata": {"phone_number_id": "PNID"},
        "contacts": [{"wa_id": "15145550123", "profile": {"name": "Resident"}}],
        "messages": [{"from": "15145550123", "id": "wamid.CARDS", "timestamp": str(int(NOW.timestamp())),
                      "type": "contacts", "contacts": contacts}]}}]}]}


def test_a_whatsapp_cloud_card_of_a_megabyte_name_stays_a_small_message() -> None:
    # A 1 MB name became a 1 MB description, above what one Kafka message may carry by default.
    huge = {"name": {"formatted_name": "B" * 1_000_000}, "phones": [{"phone": "+1 613 555 0100", "type": "CELL"}]}
    [outcome] = parse_delivery(_whatsapp_contacts([huge] * 60), accounts=MetaAccounts(), now=NOW)
    assert isinstance(outcome, Inbound)
    assert len(outcome.message.description) < 10_000
    assert outcome.message.attributes["shared_contact"] == {"cards": MAX_CARDS}
