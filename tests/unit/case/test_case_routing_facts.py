"""Places from words and routing facts in the case service: a case without a point adopts the point the
router placed its written address at (and its `case.routed` carries it), a case with a point never moves,
and the routing facts are read back as Open311 `extended_attributes` (docs/judgement.md)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest

from case_fakes import FakeCaseRepository, demo
from test_case_api import FakeReads, api, case_row

from services.case.domain.records import placed_point
from services.case.domain.rules import district_names, routing_facts
from services.case.domain.staff import staff_case_row
from services.case.service_layer import handlers as h
from shared.events import CaseRouted, MessageReceived, RoutingDecided, RoutingFields
from shared.open311 import EXTENDED_ATTRIBUTE_KEYS, ExtendedAttributes
from support.uow import T0, FakeStore, event

Store = FakeStore[FakeCaseRepository]

PLACED = {"status": "placed", "source": "gazetteer", "lat": 45.42, "long": -75.69, "confidence": 0.93,
          "matched": "1200 MAIN ST", "kind": "address", "query": "1200 Main St"}
CLASSIFIER = {"method": "model", "model_version": "demo-3f2a9c81d0e4",
              "suggestions": [{"service_code": "pothole", "probability": 0.81},
                              {"service_code": "road-damage", "probability": 0.12}]}


def routing(**kw: Any) -> RoutingFields:
    fields: dict[str, Any] = {"service_code": "pothole", "service_name": "Pothole", "category_source": "keywords",
                              "agency_responsible": "Roads", "queue": "roads-east", "priority": 3,
                              "district": "centre", "sla_due_at": T0 + timedelta(days=2), "rule_id": "r1",
                              "config_version": "v1"}
    return RoutingFields(**{**fields, **kw})


@pytest.fixture
def table() -> Any:
    return h.handlers(demo())


@pytest.fixture
def store() -> Store:
    return FakeStore(FakeCaseRepository(), "case")


async def open_case(store: Store, table: Any, **kw: Any) -> dict[str, Any]:
    msg = MessageReceived(**{"channel": "sms", "channel_message_id": "SM1", "contact_key": "k1", "received_at": T0,
                             "description": "pothole in front of 1200 Main St", **kw})
    assert await store.handle(table, event(msg, subject=msg.contact_key)) == "opened"
    [case] = store.repo.cases.values()
    return dict(case)


async def route(store: Store, table: Any, case: dict[str, Any], r: RoutingFields) -> CaseRouted:
    assert await store.handle(table, event(RoutingDecided(case_id=case["case_id"], routing=r))) == "routed"
    return store.emitted("case.routed")[-1].payload(CaseRouted)


async def test_a_case_without_a_point_adopts_the_placed_point_and_keeps_its_address(
        store: Store, table: Any) -> None:
    case = await open_case(store, table, address="1200 Main St")
    assert case["location_source"] is None

    routed = await route(store, table, case, routing(location=PLACED))

    stored = store.repo.cases[case["case_id"]]
    assert (stored["lat"], stored["long"], stored["location_source"]) == (45.42, -75.69, "geocoded")
    assert stored["address"] == "1200 Main St"
    assert (routed.lat, routed.long) == (45.42, -75.69)
    [located] = store.repo.entries(case["case_id"], "located")
    assert located["detail"] == {"fields": ["lat", "long"], "source": "geocoder", "geocoder": "gazetteer",
                                 "matched": "1200 MAIN ST", "kind": "address", "confidence": 0.93}


async def test_a_case_with_a_point_never_moves(store: Store, table: Any) -> None:
    case = await open_case(store, table, lat=45.40, long=-75.70)
    assert case["location_source"] == "report"

    routed = await route(store, table, case, routing(location=PLACED))

    stored = store.repo.cases[case["case_id"]]
    assert (stored["lat"], stored["long"], stored["location_source"]) == (45.40, -75.70, "report")
    assert (routed.lat, routed.long) == (45.40, -75.70)
    assert store.repo.entries(case["case_id"], "located") == []


async def test_a_second_placed_decision_does_not_move_a_case_placed_by_the_first(store: Store, table: Any) -> None:
    case = await open_case(store, table)
    await route(store, table, case, routing(location=PLACED))
    elsewhere = {**PLACED, "lat": 45.5, "long": -75.6, "matched": "1 ELSEWHERE ST"}

    routed = await route(store, table, case, routing(location=elsewhere, source="manual"))

    stored = store.repo.cases[case["case_id"]]
    assert (stored["lat"], stored["long"]) == (45.42, -75.69) == (routed.lat, routed.long)
    assert len(store.repo.entries(case["case_id"], "located")) == 1


async def test_redelivering_the_decision_changes_nothing(store: Store, table: Any) -> None:
    case = await open_case(store, table)
    env = event(RoutingDecided(case_id=case["case_id"], routing=routing(location=PLACED)))
    assert await store.handle(table, env) == "routed"
    before = (dict(store.repo.cases[case["case_id"]]), len(store.repo.timeline), len(store.outbox))

    assert await store.handle(table, env) == "duplicate"

    assert (dict(store.repo.cases[case["case_id"]]), len(store.repo.timeline), len(store.outbox)) == before


@pytest.mark.parametrize("status", ["confirm", "not_found", "point"])
async def test_only_a_placed_decision_gives_a_point(status: str) -> None:
    location = {**PLACED, "status": status}
    assert placed_point({"lat": None, "long": None}, routing(location=location)) == {}
    assert placed_point({"lat": None, "long": None}, routing()) == {}
    assert placed_point({"lat": None, "long": None}, routing(location=PLACED)) == {
        "lat": 45.42, "long": -75.69, "location_source": "geocoded"}


def test_routing_facts_are_the_contracts_keys_from_the_stored_decision() -> None:
    r = routing(classifier=CLASSIFIER, location=PLACED)
    facts = routing_facts({"routing": r.model_dump(mode="json")}, district_names(demo()))

    assert tuple(facts) == EXTENDED_ATTRIBUTE_KEYS
    assert facts == {
        "district": "centre", "district_name": "Centre", "queue": "roads-east", "rule_id": "r1",
        "category_source": "keywords", "classifier_method": "model", "classifier_probability": 0.81,
        "model_version": "demo-3f2a9c81d0e4", "suggestions": CLASSIFIER["suggestions"],
        "location_status": "placed", "location_source": "gazetteer", "location_confidence": 0.93,
        "location_matched": "1200 MAIN ST"}
    ExtendedAttributes.model_validate(facts)
    assert "1200 Main St" not in str(facts), "the resident's own text (the query) is not a public fact"


def test_routing_facts_of_a_case_never_routed_or_routed_before_issue_11() -> None:
    never = routing_facts({"routing": None}, {})
    assert never == {**dict.fromkeys(EXTENDED_ATTRIBUTE_KEYS), "suggestions": []}
    older = routing_facts({"routing": routing(district=None).model_dump(mode="json")}, {})
    assert older["rule_id"] == "r1" and older["classifier_method"] is None and older["location_status"] is None
    keywords = routing_facts({"routing": routing(classifier={"method": "keywords", "suggestions": [
        {"service_code": "pothole", "probability": 1.0}]}).model_dump(mode="json")}, {})
    assert keywords["classifier_probability"] is None and keywords["suggestions"][0]["service_code"] == "pothole"


def test_a_staff_list_row_carries_the_routing_facts() -> None:
    row = case_row(None, "DEMO-26-000009", routing=routing(classifier=CLASSIFIER).model_dump(mode="json"),
                   location_source="geocoded")
    out = staff_case_row(row, demo(), sla_state_="ok", sla_due_at=None)
    assert out["extended_attributes"]["suggestions"][0] == {"service_code": "pothole", "probability": 0.81}
    assert out["location_source"] == "geocoded"


async def test_the_case_api_carries_extended_attributes_only_when_asked() -> None:
    from fastapi import FastAPI

    from services.case.entrypoints.http import mount

    r = routing(classifier=CLASSIFIER, location=PLACED).model_dump(mode="json")
    reads = FakeReads([case_row(None, "DEMO-26-000001", routing=r, contact_key="k1")])
    app = FastAPI()
    mount(app, api(reads, lambda: None))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://case") as c:
        plain = (await c.get("/cases/requests/DEMO-26-000001")).json()
        one = (await c.get("/cases/requests/DEMO-26-000001", params={"extensions": "true"})).json()
        many = (await c.get("/cases/requests", params={"extensions": "true"})).json()
        bad = await c.get("/cases/requests", params={"extensions": "maybe"})

    assert "extended_attributes" not in plain
    assert one["extended_attributes"]["district_name"] == "Centre" and many[0] == one
    assert set(one["extended_attributes"]) == set(EXTENDED_ATTRIBUTE_KEYS)
    assert one["extended_attributes"]["location_matched"] == "1200 MAIN ST"
    assert "k1" not in str(one["extended_attributes"])
    assert bad.status_code == 422
