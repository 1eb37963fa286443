"""The demo city's gazetteer (jurisdictions/demo/addresses.csv, invented streets): a report that gives only a
written address gets a point in the right district; a near miss is a place to confirm; a street alone is
no place; and no answer is the City Hall fallback point."""

from __future__ import annotations

import csv
from collections.abc import Iterator

import pytest

from shared.geocode import GeocodeAnswer, Gazetteer, gazetteer_for, geocoder_for
from shared.jurisdiction import Jurisdiction, load_jurisdiction


@pytest.fixture(scope="module")
def demo() -> Jurisdiction:
    return load_jurisdiction("demo")


@pytest.fixture(scope="module")
def gazetteer(demo: Jurisdiction) -> Gazetteer:
    return gazetteer_for(demo)


def _status(demo: Jurisdiction, answer: GeocodeAnswer | None) -> str:
    """The router's reading of an answer (docs/judgement.md, "Places from words")."""
    if answer is None or demo.fallback_location(answer.lat, answer.long) is not None:
        return "not_found"
    if answer.confidence >= demo.geocoding.accept_from:
        return "placed"
    return "confirm" if answer.confidence >= demo.geocoding.confirm_from else "not_found"


def _rows(demo: Jurisdiction) -> Iterator[dict[str, str]]:
    with demo.resolve("./addresses.csv").open(encoding="utf-8") as f:
        yield from csv.DictReader(f)


def test_every_address_point_lies_in_the_demo_district_it_names_and_none_near_city_hall(demo: Jurisdiction) -> None:
    rows = list(_rows(demo))
    assert len(rows) > 300
    assert demo.districts is not None
    for row in rows:
        lat, long = float(row["lat"]), float(row["long"])
        district = demo.districts.locate(lat, long)
        assert district is not None and district.id == row["district"], row["id"]
        assert demo.fallback_location(lat, long) is None, row["id"]


def test_the_gazetteer_is_wired_in_the_demo_jurisdiction(gazetteer: Gazetteer) -> None:
    assert gazetteer.counts["addresses"] > 300 and gazetteer.counts["intersections"] >= 9
    assert gazetteer.counts["streets"] == 7


@pytest.mark.parametrize(("text", "language", "matched", "district"), [
    ("There is a deep pothole in front of 40 Elm Street, the right lane.", "en", "40 ELM ST", "centre"),
    ("Pothole in front of 1200 Main St", "en", "1200 MAIN ST", "centre"),
    ("tree down at 12 Oak Ave. please help", "en", "12 OAK AVE", "sud"),
    ("Streetlight out at the corner of Maple Avenue and Main Street", "en", "MAPLE AVE & MAIN ST", "nord"),
    ("Nid-de-poule devant le 1234 rue Principale", "fr", "1234 RUE PRINCIPALE", "sud"),
    ("coin de la rue Principale et de la rue de l'Église", "fr", "RUE PRINCIPALE & RUE DE L'ÉGLISE", "sud"),
])
async def test_a_written_address_is_placed_in_its_district(
        demo: Jurisdiction, text: str, language: str, matched: str, district: str) -> None:
    answer = await geocoder_for(demo).geocode(text, language=language)
    assert answer is not None and answer.matched == matched
    assert _status(demo, answer) == "placed", answer
    assert demo.districts is not None
    found = demo.districts.locate(answer.lat, answer.long)
    assert found is not None and found.id == district


@pytest.mark.parametrize(("text", "matched"), [
    ("pothole at 40 Elmm Street", "40 ELM ST"),      # a typo in the name
    ("Pothole at 40 Elm Ave", "40 ELM ST"),           # the wrong street type
    ("1200 Mian Street", "1200 MAIN ST"),
    ("5000 Elm Street", "5000 ELM ST"),               # beyond the last known number
])
def test_a_near_miss_is_a_place_to_confirm(demo: Jurisdiction, gazetteer: Gazetteer, text: str, matched: str) -> None:
    answer = gazetteer.find(text)
    assert answer is not None and answer.matched == matched
    assert _status(demo, answer) == "confirm", answer


@pytest.mark.parametrize("text", [
    "Streetlight out on Elm Street",                      # a street 5 km long is no place
    "Big pothole on Elm Street in front of number 40",
    "The street light is out, very dark at night",
    "corner of Bank and Somerset",                        # no such streets in Demoville
    "12 rue Exemple",
    "Centre",                                             # the district's point is City Hall's
])
def test_a_street_alone_an_unknown_street_or_a_district_name_is_no_place(
        demo: Jurisdiction, gazetteer: Gazetteer, text: str) -> None:
    assert _status(demo, gazetteer.find(text)) == "not_found"
