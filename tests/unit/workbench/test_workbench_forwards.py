"""The case page shows where a case was forwarded (docs/integrations.md, "Open311 forwarding": "Forwarded
to county-public-works as COUNTY-26-000042"), from ``external_requests`` of ``GET /staff/cases/{sid}``, and
labels the timeline's ``forwarded``, ``forward_failed`` and ``external_update`` entries with their details,
in English and French."""

from __future__ import annotations

import html
import re
from typing import Any

from services.workbench.entrypoints.web import local_time
from shared.auth import Role
from workbench_fakes import FakeStaffApi, a_case, demo, signed_in, workbench

BY = {"actor": "open311:county-public-works", "actor_name": "open311:county-public-works", "role": "external_system",
      "endpoint": "county-public-works"}


def forwarded_case() -> dict[str, Any]:
    """A case sent to two endpoints: the county gave its id and reported a status; the utility answered a
    token only. Its timeline holds a failed send, the forward and an update that moved nothing."""
    return a_case("D-9", external_requests=[
        {"endpoint": "county-public-works", "external_service_request_id": "COUNTY-26-000042", "token": None,
         "external_service_code": "4fd3b167e750846744000005", "forwarded_at": "2026-11-30T14:10:00+00:00",
         "last_status": "open", "last_agency_responsible": "County Roads",
         "last_updated_datetime": "2026-11-30T14:40:00+00:00", "last_reported_at": "2026-11-30T14:41:00+00:00"},
        {"endpoint": "utility", "external_service_request_id": None, "token": "tok-77", "external_service_code": "WL",
         "forwarded_at": "2026-11-30T14:12:00+00:00", "last_status": None, "last_agency_responsible": None,
         "last_updated_datetime": None, "last_reported_at": None}], timeline=[
        {"kind": "opened", "at": "2026-11-30T14:00:00+00:00", "detail": {}},
        {"kind": "forward_failed", "at": "2026-11-30T14:05:00+00:00",
         "detail": {**BY, "stage": "send", "attempt": 1, "error": "send: HTTP 503",
                    "retry_at": "2026-11-30T14:05:30+00:00"}},
        {"kind": "forwarded", "at": "2026-11-30T14:10:00+00:00",
         "detail": {**BY, "external_service_request_id": "COUNTY-26-000042", "token": None,
                    "external_service_code": "4fd3b167e750846744000005", "service_notice": "Crews within 5 days",
                    "forwarded_at": "2026-11-30T14:10:00+00:00"}},
        {"kind": "forward_failed", "at": "2026-11-30T14:20:00+00:00",
         "detail": {**BY, "endpoint": "utility", "actor": "open311:utility", "actor_name": "open311:utility",
                    "stage": "send", "attempt": 8, "error": "send: HTTP 500", "retry_at": None}},
        {"kind": "external_update", "at": "2026-11-30T14:41:00+00:00",
         "detail": {**BY, "external_service_request_id": "COUNTY-26-000042", "reported_status": "open",
                    "status_notes": "Crew scheduled for Tuesday", "agency_responsible": "County Roads",
                    "updated_datetime": "2026-11-30T14:40:00+00:00", "reported_at": "2026-11-30T14:41:00+00:00",
                    "workflow_status": "assigned"}}])


def text_of(page: str, element_id: str) -> str:
    """The visible text inside the element `element_id` (tags dropped, blanks collapsed, entities read)."""
    start = page.index(f'id="{element_id}"')
    end = page.index("</section>", start)
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page[page.index(">", start) + 1:end]))).strip()


def entries(page: str) -> list[str]:
    """Each timeline entry's text, prefixed with its kind."""
    start = page.index('id="timeline"')
    body = page[start:page.index("</ol>", start)]
    found = re.findall(r'data-kind="([a-z_]+)">(.*?)</li>', body, flags=re.S)
    return [f"{kind} " + html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", inner))).strip()
            for kind, inner in found]


async def pages(test_issuer: Any) -> tuple[str, str]:
    async with workbench(test_issuer, FakeStaffApi(cases={"D-9": forwarded_case()})) as client:
        client = signed_in(client, test_issuer.token(Role.DEPARTMENT_STAFF))
        english = await client.get("/cases/D-9")
        client.cookies.set("lang", "fr")
        french = await client.get("/cases/D-9")
    assert english.status_code == french.status_code == 200
    return english.text, french.text


async def test_the_case_page_says_where_the_case_was_forwarded_and_as_what(test_issuer: Any) -> None:
    english, french = await pages(test_issuer)
    zone = demo().timezone
    forwards = text_of(english, "case-forwards")
    assert forwards.startswith("Forwarded to other systems Forwarded to county-public-works as COUNTY-26-000042")
    assert f"Sent {local_time('2026-11-30T14:10:00+00:00', zone)}" in forwards
    assert "Their service code 4fd3b167e750846744000005" in forwards
    assert (f"Last status reported Open · agency County Roads · updated there "
            f"{local_time('2026-11-30T14:40:00+00:00', zone)} · read {local_time('2026-11-30T14:41:00+00:00', zone)}"
            ) in forwards
    assert "Forwarded to utility, waiting for its id (token tok-77)" in forwards
    assert "Last status reported None reported yet" in forwards
    assert 'data-external-id="COUNTY-26-000042"' in english
    french_forwards = text_of(french, "case-forwards")
    assert "Transmis à county-public-works sous le numéro COUNTY-26-000042" in french_forwards
    assert "Transmis à utility, en attente de son numéro (jeton tok-77)" in french_forwards
    assert "Dernier statut signalé Ouvert · service County Roads" in french_forwards
    assert "Dernier statut signalé Aucun pour l'instant" in french_forwards


async def test_forwarding_entries_of_the_timeline_have_labels_and_details_in_both_languages(test_issuer: Any) -> None:
    english, french = await pages(test_issuer)
    zone = demo().timezone
    timeline = entries(english)
    failed, forwarded, gave_up, update = timeline[1:]
    assert failed.startswith("forward_failed ") and "Forwarding failed" in failed
    assert (f"Sending to county-public-works, attempt 1: send: HTTP 503 "
            f"Next attempt {local_time('2026-11-30T14:05:30+00:00', zone)}.") in failed
    assert "Sending to utility, attempt 8: send: HTTP 500" in gave_up
    assert "No more attempts: a supervisor or administrator can send it again." in gave_up
    assert "Forwarded · by open311:county-public-works · External system" in forwarded
    assert "Forwarded to county-public-works as COUNTY-26-000042 Their notice: Crews within 5 days" in forwarded
    assert "External update" in update and "county-public-works reports: Open · agency County Roads" in update
    assert "Crew scheduled for Tuesday" in update
    assert not any(raw in " ".join(timeline) for raw in ("forward failed ·", "external update ·", "forwarded ·"))
    fr_failed, fr_forwarded, fr_gave_up, fr_update = entries(french)[1:]
    assert "Échec de la transmission" in fr_failed and "Envoi à county-public-works, tentative 1 : send: HTTP 503" in fr_failed
    assert "Prochaine tentative" in fr_failed
    assert "Plus de tentatives : un superviseur ou un administrateur peut le renvoyer." in fr_gave_up
    assert "Transmis · par open311:county-public-works · Système externe" in fr_forwarded
    assert "Transmis à county-public-works sous le numéro COUNTY-26-000042 Leur avis : Crews within 5 days" in fr_forwarded
    assert "Mise à jour externe" in fr_update and "county-public-works signale : Ouvert" in fr_update


async def test_a_case_never_forwarded_has_no_forwarded_section(test_issuer: Any) -> None:
    async with workbench(test_issuer, FakeStaffApi(cases={"D-1": a_case("D-1", external_requests=[])})) as client:
        page = await signed_in(client, test_issuer.token(Role.DEPARTMENT_STAFF)).get("/cases/D-1")
    assert page.status_code == 200 and 'id="case-forwards"' not in page.text


async def test_an_endpoints_words_are_shown_inert(test_issuer: Any) -> None:
    case = forwarded_case()
    case["external_requests"][0]["external_service_request_id"] = '<script>alert("x")</script>'
    case["timeline"][-1]["detail"]["status_notes"] = "<img src=x onerror=alert(1)>"
    async with workbench(test_issuer, FakeStaffApi(cases={"D-9": case})) as client:
        page = await signed_in(client, test_issuer.token(Role.DEPARTMENT_STAFF)).get("/cases/D-9")
    assert "<script>alert" not in page.text and "<img src=x" not in page.text
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page.text
