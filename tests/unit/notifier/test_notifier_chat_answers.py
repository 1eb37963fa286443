"""What the notifier answers a chat resident beyond the usual notices (issue 12, kinds 1, 2 and 6): one request
to write as text for a message kind we cannot read (`intake.message_unsupported`, no case), the question
"Where is it?" in the acknowledgement of a chat report without a place, and no reply at all to a follow-up
or a bare thanks (docs/channels.md)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import uuid4

import pytest
from notifier_fakes import PHONE, Sent, handle, opened, opt_out, recorded, table_for

from services.notifier.domain.channels import short_text, sms_segments
from services.notifier.domain.messages import recipient_key
from services.notifier.domain.notices import acknowledgement, asks_where, text_request_cause
from services.notifier.domain.model import contact_of
from services.notifier.service_layer import handlers as h
from shared.events import (
    CaseMessageAdded,
    CaseOpened,
    DeliveryStatusReceived,
    Envelope,
    MessageReceived,
    MessageUnsupported,
)
from support.uow import T0, event

WHERE_EN = "Where is it? Reply with the address or share your location."
WHERE_FR = "Où est-ce ? Répondez avec l'adresse ou partagez votre position."


def unsupported(channel: str = "messenger", *, message_id: str = "m_poll1", language: str | None = "en",
                at: Any = T0, kind: str = "poll", **pii: str) -> MessageUnsupported:
    return MessageUnsupported(channel=channel, channel_message_id=message_id,  # type: ignore[arg-type]
                              contact_key="ck_poll", received_at=at, kind=kind, language=language,
                              pii=pii or {"handle": "2456"})


# --- a message kind we cannot read: one request to write as text --------------------------------------------


async def test_an_unreadable_messenger_message_is_answered_once_with_a_request_for_text(
        store: Any, table: Any, sent: Sent) -> None:
    ev = unsupported()

    assert await handle(store, table, ev, subject="ck_poll") == "sending,sent"

    assert sent.texts == [("messenger", "2456", "City 311: we cannot read this kind of message. "
                                               "Please write your report as text.")]
    [row] = store.repo.deliveries
    assert (row["case_id"], row["kind"], row["channel"], row["status"], row["provider_message_id"]) == (
        None, "text_request", "messenger", "sent", "m_1")
    assert row["cause_event_id"] == text_request_cause("messenger", "m_poll1")
    assert row["recipient_key"] == recipient_key("messenger", "2456")
    # No case to land on: nothing is published (notification.recorded v1 needs a case)
    assert store.emitted() == []


async def test_the_same_unreadable_message_published_twice_is_answered_once(store: Any, table: Any,
                                                                             sent: Sent) -> None:
    # A webhook retried by Meta, or the event republished: two events, one message
    assert await handle(store, table, unsupported(), subject="ck_poll") == "sending,sent"
    assert await handle(store, table, unsupported(kind="unsupported"), subject="ck_poll") == "already_attempted"
    assert await handle(store, table, unsupported("instagram"), subject="ck_poll") == "sending,sent"  # another channel

    assert [c for c, _, _ in sent.texts] == ["messenger", "instagram"]
    assert len(store.repo.deliveries) == 2


@pytest.mark.parametrize(("language", "home", "words"), [
    ("fr", "en", "Écrivez votre signalement en texte."),
    ("fr-CA", "en", "Écrivez votre signalement en texte."),
    (None, "fr", "Écrivez votre signalement en texte."),  # the jurisdiction's first locale (Montréal)
    (None, "en", "Please write your report as text."),
    ("de", "fr", "Écrivez votre signalement en texte."),  # no German texts: the jurisdiction's language
])
async def test_the_request_for_text_is_in_the_residents_language_else_the_jurisdictions(
        store: Any, sent: Sent, language: str | None, home: str, words: str) -> None:
    table = table_for(store, sent, first_locale=lambda jid: home if jid == "mtl" else "en",
                      home_jurisdiction_id="mtl")

    await handle(store, table, unsupported(language=language), subject="ck_poll")

    [(_, _, text)] = sent.texts
    assert text.endswith(words)


@pytest.mark.parametrize(("channel", "message_id", "pii", "sender", "address"), [
    ("whatsapp", "wamid.HBgLMTUx", {"handle": "15145550123", "phone": "+15145550123"}, "whatsapp", "15145550123"),
    ("whatsapp", "SMw1", {"phone": "+15145550123"}, "whatsapp", "+15145550123"),  # through Twilio
    ("sms", "SMs1", {"phone": PHONE}, "sms", PHONE),
    ("instagram", "aWdfZAG1", {"handle": "1789"}, "instagram", "1789"),
])
async def test_the_request_for_text_goes_back_on_the_channel_the_message_came_on(
        store: Any, table: Any, sent: Sent, channel: str, message_id: str, pii: dict[str, str], sender: str,
        address: str) -> None:
    await handle(store, table, unsupported(channel, message_id=message_id, **pii), subject="ck_poll")

    assert [(s, a) for s, a, _ in sent.texts] == [(sender, address)]


async def test_a_mastodon_request_for_text_answers_the_residents_post(store: Any, table: Any, sent: Sent) -> None:
    await handle(store, table, unsupported("mastodon", message_id="110123", handle="@ann@social.test"),
                 subject="ck_poll")

    [(sender, address, text)] = sent.texts
    assert (sender, address) == ("mastodon", "@ann@social.test") and text.endswith("(re 110123)")


async def test_an_opted_out_number_gets_no_request_for_text(store: Any, table: Any, sent: Sent) -> None:
    await handle(store, table, opt_out(PHONE))

    assert await handle(store, table, unsupported("sms", message_id="SMx", phone=PHONE), subject="ck") == "suppressed"

    assert sent.count() == 0 and store.emitted() == []
    [row] = store.repo.deliveries
    assert (row["case_id"], row["status"], row["reason"]) == (None, "suppressed", "opted out (keyword STOP)")


async def test_past_metas_reply_window_the_request_for_text_is_suppressed(store: Any, table: Any,
                                                                          sent: Sent) -> None:
    late = unsupported(at=T0 - timedelta(hours=25))

    assert await handle(store, table, late, subject="ck_poll") == "suppressed"

    assert sent.count() == 0
    assert "24 h reply window" in store.repo.deliveries[0]["reason"]


@pytest.mark.parametrize(("channel", "pii"), [("email", {"email": "ann@resident.test"}), ("messenger", {"phone": PHONE})])
async def test_an_unreadable_message_without_a_chat_address_is_not_answered_elsewhere(
        store: Any, table: Any, sent: Sent, channel: str, pii: dict[str, str]) -> None:
    assert await handle(store, table, unsupported(channel, **pii), subject="ck") == "no_contact"
    assert sent.count() == 0 and store.repo.deliveries == []


async def test_a_failed_request_for_text_is_recorded_failed_in_its_row_only(store: Any, table: Any,
                                                                            sent: Sent) -> None:
    sent.fail = ConnectionError("graph down")

    assert await handle(store, table, unsupported(), subject="ck_poll") == "sending,failed"

    [row] = store.repo.deliveries
    assert (row["status"], row["reason"]) == ("failed", "ConnectionError: graph down")
    assert store.emitted() == []


async def test_a_providers_status_of_a_request_for_text_is_kept_but_not_published(store: Any, table: Any,
                                                                                  sent: Sent) -> None:
    await handle(store, table, unsupported("whatsapp", message_id="wamid.A", handle="1514", phone="+1514"),
                 subject="ck")
    status = DeliveryStatusReceived(channel="whatsapp", provider_message_id="m_1", contact_key="ck", status="read",
                                    reported_at=T0, received_at=T0)

    assert await handle(store, table, status) == "status_read"

    assert store.repo.deliveries[0]["provider_status"] == "read" and store.emitted() == []


async def test_the_sweeper_settles_an_interrupted_request_for_text_without_publishing(store: Any) -> None:
    await store.repo.claim_delivery(case_id=None, cause_event_id=uuid4(), recipient_key="rk", kind="text_request",
                                    channel="messenger", status="sending", reason=None, at=T0)

    async with store.uow(now=T0 + timedelta(hours=1), claim=False) as uow:
        assert await h.settle_interrupted(uow, older_than_s=600) == 1

    assert store.repo.deliveries[0]["status"] == "failed" and store.emitted() == []


# --- the acknowledgement of a chat report without a place asks where it is --------------------------------


def chat_opened(channel: str, *, language: str | None = None, **place: Any) -> CaseOpened:
    message_id = "wamid.HBg9" if channel == "whatsapp" else "m_7"
    return CaseOpened(case_id=uuid4(), service_request_id="DEMO-26-000042", jurisdiction_id="demo",
                      channel=channel, channel_message_id=message_id, contact_key="ck",  # type: ignore[arg-type]
                      description="Pothole", requested_datetime=T0, language=language,
                      pii={"handle": "@ann@social.test" if channel == "mastodon" else "2456"}, **place)


@pytest.mark.parametrize("channel", ["messenger", "instagram", "whatsapp", "mastodon"])
async def test_a_chat_report_without_a_place_is_acknowledged_with_the_question_where(
        store: Any, table: Any, sent: Sent, channel: str) -> None:
    case = chat_opened(channel)

    assert await handle(store, table, case, subject=case.case_id) == "sending,sent"

    [(_, _, text)] = sent.texts
    assert "DEMO-26-000042" in text and WHERE_EN in text


async def test_a_french_chat_report_without_a_place_is_asked_where_in_french(store: Any, table: Any,
                                                                             sent: Sent) -> None:
    case = chat_opened("messenger", language="fr")

    await handle(store, table, case, subject=case.case_id)

    [(_, _, text)] = sent.texts
    assert "DEMO-26-000042" in text and WHERE_FR in text


@pytest.mark.parametrize("place", [
    {"lat": 45.42, "long": -75.69},
    {"address": "111 Wellington St"},
])
async def test_a_chat_report_with_a_place_is_not_asked_where(store: Any, table: Any, sent: Sent,
                                                             place: dict[str, Any]) -> None:
    case = chat_opened("messenger", **place)

    await handle(store, table, case, subject=case.case_id)

    [(_, _, text)] = sent.texts
    assert "Where is it?" not in text and "Reply to add details" in text


def test_only_a_chat_report_with_no_point_and_no_address_is_asked_where() -> None:
    assert asks_where(chat_opened("messenger"))
    assert asks_where(chat_opened("messenger", address="   "))  # a blank address is no place
    assert asks_where(chat_opened("messenger", lat=45.42))  # a lone coordinate is no place
    assert not asks_where(chat_opened("messenger", lat=45.42, long=-75.69))
    # texts through Twilio ask in their own conversation; email and the web have their own forms
    assert not asks_where(opened("sms", phone=PHONE))
    assert not asks_where(opened("whatsapp", phone=PHONE).model_copy(update={"channel_message_id": "SMw"}))
    assert not asks_where(opened("email"))
    assert not asks_where(opened("web"))


@pytest.mark.parametrize("language", ["en", "fr"])
def test_the_question_where_is_never_cut_from_a_long_programs_acknowledgement(language: str) -> None:
    case = chat_opened("messenger", language=language)
    notice = acknowledgement(case, contact_of(case))

    text = short_text(notice, "Ville de Montréal — Service 311 de la Ville")

    assert (WHERE_FR if language == "fr" else WHERE_EN) in text and "DEMO-26-000042" in text
    assert sms_segments(text).count <= 4


# --- a follow-up or a bare thanks gets no reply -----------------------------------------------------------


@pytest.mark.parametrize("conversation", ["thanks", "follow_up"])
async def test_a_thanks_or_a_follow_up_on_the_case_sends_nothing(store: Any, table: Any, sent: Sent,
                                                                 conversation: str) -> None:
    case = chat_opened("messenger", lat=45.42, long=-75.69)
    await handle(store, table, case, subject=case.case_id)
    acknowledged = (sent.count(), len(store.repo.deliveries), len(store.emitted()))
    # the resident's text as the adapter publishes it (the case service's, committed untouched here) ...
    message = MessageReceived(channel="messenger", channel_message_id="m_8", contact_key="ck", received_at=T0,
                              description="ok thanks", in_reply_to=["m_7"],
                              attributes={"conversation": conversation}, pii={"handle": "2456"})
    assert await store.handle(table, Envelope.new_flow(message, subject="ck", producer="intake_social",
                                                       now=T0)) is None
    # ... and as the case service threads it onto the case
    added = CaseMessageAdded(case_id=case.case_id, service_request_id=case.service_request_id,
                             jurisdiction_id="demo", message_id=uuid4(), channel="messenger",
                             channel_message_id="m_8", description="ok thanks", pii={"handle": "2456"})

    assert await store.handle(table, event(added, subject=case.case_id, now=T0 + timedelta(minutes=5)),
                              now=T0 + timedelta(minutes=5)) == "window_moved"

    assert (sent.count(), len(store.repo.deliveries), len(store.emitted())) == acknowledged
    assert recorded(store)[-1].kind == "acknowledgement"
