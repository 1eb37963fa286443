"""The workbench shows how the router judged a case (docs/judgement.md): the case page lists the
classifier's suggestions with their probabilities and the model version, and the place found from words
(status, confidence, matched form); the queue list shows the top suggestion of a case sent to triage; EN/FR."""

from __future__ import annotations

import re
from typing import Any

from services.workbench.domain.case_page import routing_view, top_suggestion
from shared.auth import Role
from workbench_fakes import FakeStaffApi, a_case, signed_in, workbench

NAMES = {"pothole": "Pothole", "streetlight": "Street light out", "unclassified": "General request"}
FACTS = {"district": "centre", "district_name": "Centre", "queue": "311-triage", "rule_id": "fallback",
         "category_source": "fallback", "classifier_method": "model", "classifier_probability": 0.41,
         "model_version": "demo-3f2a9c81d0e4",
         "suggestions": [{"service_code": "pothole", "probability": 0.41},
                         {"service_code": "streetlight", "probability": 0.33},
                         {"service_code": "graffiti", "probability": 0.1}],
         "location_status": "confirm", "location_source": "gazetteer", "location_confidence": 0.62,
         "location_matched": "1200 MAIN ST"}


def triaged(sid: str, **kw: Any) -> dict[str, Any]:
    return a_case(sid, service_code="unclassified", service_name="General request", queue="311-triage",
                  extended_attributes=FACTS, **kw)


def test_the_routing_view_names_each_suggestion_with_its_percentage() -> None:
    view = routing_view(triaged("D-9"), NAMES)
    assert view is not None
    assert view["suggestions"] == [{"service_code": "pothole", "name": "Pothole", "percent": 41},
                                   {"service_code": "streetlight", "name": "Street light out", "percent": 33},
                                   {"service_code": "graffiti", "name": "graffiti", "percent": 10}]
    assert view["location"] == {"status": "confirm", "percent": 62, "matched": "1200 MAIN ST", "source": "gazetteer"}
    assert (view["method"], view["model_version"]) == ("model", "demo-3f2a9c81d0e4")
    assert top_suggestion(triaged("D-9"), NAMES) == view["suggestions"][0]


def test_nothing_is_shown_without_facts_and_no_suggestion_for_a_classified_case() -> None:
    assert routing_view(a_case("D-1"), NAMES) is None
    empty = {k: None for k in FACTS} | {"suggestions": []}
    assert routing_view(a_case("D-1", extended_attributes=empty), NAMES) is None
    classified = a_case("D-1", extended_attributes={**FACTS, "category_source": "keywords"})
    assert top_suggestion(classified, NAMES) is None
    assert routing_view(classified, NAMES)["location"]["status"] == "confirm"  # type: ignore[index]


async def test_the_case_page_shows_suggestions_model_version_and_the_place_to_confirm(test_issuer) -> None:
    staff = FakeStaffApi(cases={"D-9": triaged("D-9")})
    async with workbench(test_issuer, staff) as client:
        page = await signed_in(client, test_issuer.token(Role.SUPERVISOR)).get("/cases/D-9")
        client.cookies.set("lang", "fr")
        fr = await client.get("/cases/D-9")
    assert page.status_code == 200
    section = page.text[page.text.index('id="case-routing"'):page.text.index('id="place-h"')]
    rows = re.findall(r'<tr data-service-code="([^"]+)"><th scope="row">([^<]+)</th><td>([^<]+)</td>', section)
    assert rows[:2] == [("pothole", "Pothole", "41%"), ("streetlight", "Street light out", "33%")]
    assert rows[2][0] == "graffiti" and rows[2][2] == "10%" and len(rows) == 3
    assert 'id="routing-model-version">demo-3f2a9c81d0e4<' in section and ">Probability</th>" in section
    assert "nothing sure enough: triage" in section
    assert 'id="routing-location-status">to be confirmed by the reporter<' in section
    assert 'id="routing-location-matched">1200 MAIN ST<' in section
    assert 'id="routing-location-confidence">62%<' in section
    assert "Lieu tiré du texte" in fr.text and "62 %" in fr.text and "à confirmer par le signaleur" in fr.text


async def test_keyword_suggestions_are_scores_not_probabilities(test_issuer) -> None:
    keywords = {**FACTS, "classifier_method": "keywords", "model_version": None, "category_source": "keywords"}
    staff = FakeStaffApi(cases={"D-1": a_case("D-1", extended_attributes=keywords)})
    async with workbench(test_issuer, staff) as client:
        page = await signed_in(client, test_issuer.token(Role.SUPERVISOR)).get("/cases/D-1")
    assert ">Keyword score</th>" in page.text and ">Probability</th>" not in page.text
    assert 'id="routing-model-version"' not in page.text


async def test_the_triage_queue_shows_the_top_suggestion(test_issuer) -> None:
    staff = FakeStaffApi(cases={"D-9": triaged("D-9"), "D-1": a_case("D-1")})
    async with workbench(test_issuer, staff) as client:
        page = await signed_in(client, test_issuer.token(Role.SUPERVISOR)).get("/queue?view=all")
    assert page.status_code == 200
    assert page.text.count('class="wb-suggested"') == 1
    assert 'data-suggested="pothole">Suggested: Pothole (41%)</span>' in page.text
