"""The "Did you mean" question (docs/judgement.md, "Places from words"): when the router placed a written
address only with a confidence to confirm, the reporter is asked on their channel and in their language,
once per decision; not for a placed or own point, a staff recategorisation, a follower, or a text reporter
whose SMS conversation asks itself."""

from __future__ import annotations

from typing import Any

import pytest
from notifier_fakes import ADDRESS, PHONE, Sent, handle, opened, recorded

from services.notifier.domain.channels import sms_segments, short_text
from services.notifier.domain.messages import Notice
from shared.events import CaseOpened, CaseRouted, RoutingFields
from support.uow import T0, event

CONFIRM = {"status": "confirm", "source": "gazetteer", "lat": 45.42, "long": -75.69, "confidence": 0.62,
           "matched": "1200 MAIN ST", "kind": "address", "query": "1200 Main"}


def routed(case: CaseOpened, location: dict[str, Any] | None = CONFIRM, *, source: str = "automatic",
           lat: float | None = None, long: float | None = None) -> CaseRouted:
    routing = RoutingFields(service_code="pothole", service_name="Pothole", category_source="keywords",
                            agency_responsible="Roads", queue="roads", priority=3, rule_id="r1", config_version="v1",
                            source=source, location=location)  # type: ignore[arg-type]
    return CaseRouted(case_id=case.case_id, service_request_id=case.service_request_id, jurisdiction_id="demo",
                      routing=routing, description="Pothole", lat=lat, long=long, requested_datetime=T0)


async def test_an_email_reporter_is_asked_did_you_mean_in_the_case_thread(store: Any, table: Any, sent: Sent) -> None:
    case = opened()
    await handle(store, table, case)
    env = event(routed(case), subject=case.case_id)

    assert await store.handle(table, env) == "sending,sent"

    ack, question = sent.emails
    assert question["Subject"] == f"[{case.service_request_id}] Where is the problem?"
    body = question.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Did you mean 1200 MAIN ST? Reply YES, or send the address." in body
    assert question["In-Reply-To"] == ack["Message-ID"] and question["Reply-To"].startswith("City 311 <311+")
    note = recorded(store)[-1]
    assert (note.kind, note.outcome, note.cause_event_id, note.pii.email) == (
        "acknowledgement", "sent", env.event_id, ADDRESS)
    assert store.repo.deliveries[-1]["kind"] == "location_confirm"

    assert await store.handle(table, env) == "duplicate"
    assert len(sent.emails) == 2


async def test_a_french_reporter_is_asked_in_french(store: Any, table: Any, sent: Sent) -> None:
    case = opened(language="fr")
    await handle(store, table, case)
    await handle(store, table, routed(case))
    body = sent.emails[-1].get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Vouliez-vous dire 1200 MAIN ST ? Répondez OUI, ou envoyez l'adresse." in body


async def test_a_caller_is_asked_by_text_with_the_case_number(store: Any, table: Any, sent: Sent) -> None:
    case = opened("voice", phone=PHONE)
    await handle(store, table, case)
    await handle(store, table, routed(case))
    channel, to, text = sent.texts[-1]
    assert (channel, to) == ("sms", PHONE)
    assert text == (f"City 311, case {case.service_request_id}: Did you mean 1200 MAIN ST? Reply YES, or send the "
                    f"address, with your case number.")


@pytest.mark.parametrize(("why", "channel", "decision"), [
    ("placed", "email", {"location": {**CONFIRM, "status": "placed"}}),
    ("no location", "email", {"location": None}),
    ("staff recategorised", "email", {"source": "manual"}),
    ("already has a point", "email", {"lat": 45.4, "long": -75.7}),
    ("asked in the SMS conversation", "sms", {}),
])
async def test_nobody_is_asked_otherwise(store: Any, table: Any, sent: Sent, why: str, channel: str,
                                         decision: dict[str, Any]) -> None:
    case = opened(channel, phone=PHONE) if channel == "sms" else opened()
    await handle(store, table, case)
    before = sent.count()
    assert await handle(store, table, routed(case, **decision)) == "not_asked", why
    assert sent.count() == before


async def test_a_case_the_notifier_never_saw_opened_asks_no_one(store: Any, table: Any) -> None:
    assert await handle(store, table, routed(opened())) == "no_contact"


def test_the_text_keeps_a_long_matched_place_whole_within_four_segments() -> None:
    notice = Notice(kind="location_confirm", service_request_id="MTL-26-000001", language="fr",
                    matched="CÔTE-DES-NEIGES / CHEMIN DE LA CÔTE-SAINTE-CATHERINE ŒUVRE")
    text = short_text(notice)
    assert "CÔTE-DES-NEIGES / CHEMIN DE LA CÔTE-SAINTE-CATHERINE ŒUVRE" in text
    assert sms_segments(text).count <= 4
