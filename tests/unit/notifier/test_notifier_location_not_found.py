"""The question after a written place the router could not find (README: "elsewhere the resident is asked
where the problem is"): an SMS, WhatsApp, Messenger, Instagram or Mastodon reporter whose report wrote a
place that matched nothing (`routing.location.status` ``not_found``) is asked once per case, on their
channel and in their language, to reply with the address or the nearest corner; not by email, web, voice
or Open311, not when the acknowledgement already asked "Where is it?" (nothing written), not for a placed
case, a case with a point, a staff decision or a follower."""

from __future__ import annotations

from typing import Any

import pytest
from notifier_fakes import PHONE, Sent, handle, opened, recorded

from services.notifier.domain.channels import sms_segments, short_text
from services.notifier.domain.messages import Notice
from services.notifier.domain.notices import place_question_cause
from services.notifier.domain.outcomes import recorded_kind
from shared.events import CaseOpened, CaseRouted, RoutingFields
from support.uow import T0, event

NOT_FOUND = {"status": "not_found", "query": "99 Nowhere Rd"}
ASKED_EN = "We could not find 99 Nowhere Rd. Where is it? Reply with the address or the nearest corner."
ASKED_FR = ("Nous n'avons pas trouvé 99 Nowhere Rd. Où est-ce ? Répondez avec l'adresse ou le coin de rue le "
            "plus proche.")


def routed(case: CaseOpened, location: dict[str, Any] | None = NOT_FOUND, *, source: str = "automatic",
           lat: float | None = None, long: float | None = None) -> CaseRouted:
    routing = RoutingFields(service_code="pothole", service_name="Pothole", category_source="keywords",
                            agency_responsible="Roads", queue="roads", priority=3, rule_id="r1", config_version="v1",
                            source=source, location=location)  # type: ignore[arg-type]
    return CaseRouted(case_id=case.case_id, service_request_id=case.service_request_id, jurisdiction_id="demo",
                      routing=routing, description="Pothole at 99 Nowhere Rd", lat=lat, long=long,
                      requested_datetime=T0)


def chat(channel: str = "messenger", **kw: Any) -> CaseOpened:
    case = opened(channel, handle="2456", **kw)
    return case.model_copy(update={"channel_message_id": "m_report", "address": "99 Nowhere Rd"})


async def test_an_sms_reporter_whose_place_was_not_found_is_asked_once_in_the_conversation(
        store: Any, table: Any, sent: Sent) -> None:
    case = opened("sms", phone=PHONE).model_copy(update={"address": "99 Nowhere Rd"})
    await handle(store, table, case)
    env = event(routed(case), subject=case.case_id)

    assert await store.handle(table, env) == "sending,sent"

    channel, to, text = sent.texts[-1]
    assert (channel, to) == ("sms", PHONE)
    assert text == f"City 311, case {case.service_request_id}: {ASKED_EN}"
    row = store.repo.deliveries[-1]
    assert row["kind"] == "location_not_found" and row["cause_event_id"] == place_question_cause(case.case_id)
    note = recorded(store)[-1]
    assert (note.kind, note.notice, note.outcome) == ("acknowledgement", None, "sent")

    # Routed again without a place (a second decision, another event): the resident is not asked twice
    before = sent.count()
    assert await store.handle(table, event(routed(case), subject=case.case_id)) == "already_attempted"
    assert sent.count() == before


@pytest.mark.parametrize("channel", ["messenger", "instagram", "mastodon"])
async def test_a_chat_reporter_is_asked_on_their_channel(store: Any, table: Any, sent: Sent, channel: str) -> None:
    case = chat(channel)
    await handle(store, table, case)

    assert await handle(store, table, routed(case)) == "sending,sent"

    sender, to, text = sent.texts[-1]
    assert sender == channel and ASKED_EN in text


async def test_a_french_whatsapp_reporter_is_asked_in_french(store: Any, table: Any, sent: Sent) -> None:
    case = opened("whatsapp", phone=PHONE, language="fr").model_copy(update={"address": "99 Nowhere Rd"})
    await handle(store, table, case)

    assert await handle(store, table, routed(case)) == "sending,sent"

    assert ASKED_FR in sent.texts[-1][2]


@pytest.mark.parametrize(("why", "case_of", "decision"), [
    ("email", lambda: opened(), {}),
    ("web", lambda: opened("web"), {}),
    ("open311", lambda: opened("open311"), {}),
    ("voice", lambda: opened("voice", phone=PHONE), {}),
    ("the acknowledgement asked where (nothing written)", lambda: chat(), {"location": {"status": "not_found"}}),
    ("the SMS conversation asked where (nothing written)", lambda: opened("sms", phone=PHONE),
     {"location": {"status": "not_found"}}),
    ("placed", lambda: chat(), {"location": {**NOT_FOUND, "status": "placed", "lat": 45.42, "long": -75.69}}),
    ("no location", lambda: chat(), {"location": None}),
    ("staff recategorised", lambda: chat(), {"source": "manual"}),
    ("already has a point", lambda: chat(), {"lat": 45.4, "long": -75.7}),
])
async def test_nobody_else_is_asked(store: Any, table: Any, sent: Sent, why: str, case_of: Any,
                                    decision: dict[str, Any]) -> None:
    case = case_of()
    await handle(store, table, case)
    before = sent.count()
    assert await handle(store, table, routed(case, **decision)) == "not_asked", why
    assert sent.count() == before


def test_the_question_keeps_a_long_written_place_whole_within_four_segments() -> None:
    place = "coin de la rue Saint-Denis et de l'avenue du Mont-Royal Est, près du métro"
    text = short_text(Notice(kind="location_not_found", service_request_id="MTL-26-000001", language="fr",
                             matched=place))
    assert place in text and sms_segments(text).count <= 4


def test_notification_recorded_v1_names_it_as_an_acknowledgement() -> None:
    assert recorded_kind("location_not_found") == ("acknowledgement", None)
