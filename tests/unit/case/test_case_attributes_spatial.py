"""Open311 answers kept on the case (from the Open311 and portal channels only, carried on case.opened, shown
to staff with their labels) and the spatial filters of `GET /cases/requests` (parsed, 400 naming a bad one,
always SQL arguments)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import httpx
import pytest
from fastapi import FastAPI

from services.case.adapters.reads import RequestQuery, requests_sql
from services.case.domain import records
from services.case.domain.staff import attribute_view
from services.case.entrypoints.http import CaseApi, mount
from shared.events import MessageReceived
from shared.jurisdiction import load_jurisdiction
from shared.open311 import BoundingBox, Circle

T0 = datetime(2026, 11, 29, 15, 0, tzinfo=UTC)
CASE_ID = UUID("00000000-0000-0000-0000-0000000000c1")


def message(channel: str, attributes: dict[str, Any]) -> MessageReceived:
    return MessageReceived(channel=channel, channel_message_id="tok-1", contact_key="ck:1", received_at=T0,
                           service_code="pothole", lat=45.42, long=-75.69, attributes=attributes)


def test_open311_answers_are_kept_on_the_new_case_and_carried_on_case_opened() -> None:
    msg = message("open311", {"size": "large", "surface": ["road", "sidewalk"]})
    row = records.new_case_row(msg, case_id=CASE_ID, number="DEMO-26-000001", jurisdiction_id="demo",
                               correlation_id=CASE_ID, now=T0)
    opened = records.case_opened(msg, case_id=CASE_ID, number="DEMO-26-000001", jurisdiction_id="demo")
    assert row["attributes"] == opened.attributes == {"size": "large", "surface": ["road", "sidewalk"]}


@pytest.mark.parametrize(("channel", "attributes", "kept"), [
    ("web", {"size": "small"}, {"size": "small"}),
    ("sms", {"awaiting_location": True, "location_source": "text"}, {}),
    ("voice", {"transcript_of_call": "CA1", "problem": "pothole"}, {}),
    ("open311", {"size": "small", "ward": 7, "odd": [1, 2]}, {"size": "small"}),
])
def test_only_the_open311_and_portal_channels_answers_are_the_cases(channel: str, attributes: dict, kept: dict) -> None:
    assert records.open311_answers(message(channel, attributes)) == kept


def test_staff_read_the_answers_with_the_attribute_description_and_the_value_names_in_definition_order() -> None:
    demo = load_jurisdiction("demo")
    case = {"service_code": "pothole", "attributes": {"in_traffic_lane": "yes", "size": "large", "surface": ["wall"]}}
    assert attribute_view(case, demo) == [
        {"code": "size", "label": "How big is the hole? / Quelle est la taille du trou ?", "value": "large",
         "display": "Larger than a car tyre / Plus grand qu'un pneu"},
        {"code": "in_traffic_lane", "label": "Is it in a traffic lane? / Est-il dans une voie de circulation ?",
         "value": "yes", "display": "Yes / Oui"},
        # Answered under graffiti before a recategorisation: still labelled from the service that asks it.
        {"code": "surface", "label": "What is it painted on? / Sur quoi est-ce peint ?", "value": ["wall"],
         "display": "Wall or building / Mur ou bâtiment"},
    ]
    assert attribute_view({"service_code": None, "attributes": {"zz": "1"}}, demo) == [
        {"code": "zz", "label": "zz", "value": "1", "display": "1"}]
    assert attribute_view({"service_code": "pothole"}, demo) == []


def test_the_search_sql_takes_the_box_and_the_circle_as_arguments_only() -> None:
    sql, args = requests_sql(RequestQuery(statuses=["open"], bbox=BoundingBox(-75.7, 45.41, -75.68, 45.43),
                                          near=Circle(45.42, -75.69, 250.0), limit=7))
    assert ("ST_Intersects(point, ST_MakeEnvelope($2::float8, $3::float8, $4::float8, $5::float8, 4326))"
            in sql)
    assert ("ST_DWithin(point::geography, ST_SetSRID(ST_MakePoint($6::float8, $7::float8), 4326)::geography, "
            "$8::float8)") in sql
    assert args == [["open"], -75.7, 45.41, -75.68, 45.43, -75.69, 45.42, 250.0, 7]
    assert "45.4" not in sql and "-75" not in sql


class Reads:
    def __init__(self) -> None:
        self.query: RequestQuery | None = None

    async def requests(self, q: RequestQuery) -> list[dict[str, Any]]:
        self.query = q
        return []


async def ask(params: dict[str, str]) -> tuple[httpx.Response, Reads]:
    reads, app = Reads(), FastAPI()
    mount(app, CaseApi(reads=lambda: reads, unit_of_work=lambda: None, jurisdiction=lambda: load_jurisdiction("demo"),
                       now=lambda: T0))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://case") as client:
        return await client.get("/cases/requests", params=params), reads


async def test_the_case_api_reads_the_spatial_filters_into_the_query() -> None:
    r, reads = await ask({"bbox": "-75.7,45.41,-75.68,45.43", "lat": "45.42", "long": "-75.69", "radius": "250"})
    assert r.status_code == 200 and reads.query is not None
    assert reads.query.bbox == BoundingBox(-75.7, 45.41, -75.68, 45.43)
    assert reads.query.near == Circle(45.42, -75.69, 250.0)


@pytest.mark.parametrize(("params", "named"), [
    ({"bbox": "1,2,3"}, "bbox"), ({"lat": "45", "long": "-75"}, "radius missing"),
    ({"lat": "45", "long": "-75", "radius": "60000"}, "radius must be between"),
])
async def test_a_malformed_spatial_filter_is_a_400_naming_it(params: dict[str, str], named: str) -> None:
    r, reads = await ask(params)
    assert r.status_code == 400 and named in r.json()["detail"] and reads.query is None
