"""The gazetteer: exact, interpolated, fuzzy and typo matches, intersections in either order, streets,
district names, and rows left out with `exclude`."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from shared.geocode import CONFIDENCE, Gazetteer, GeocodeAnswer, Geocoder
from shared.jurisdiction import distance_m


@dataclass(frozen=True)
class Row:
    source_id: str
    address_string: str | None
    lat: float | None
    long: float | None


# A small made-up street grid near 40.70 N, -73.99 W: MAIN ST runs north (numbers 100-300),
# 5 AVE crosses it at 200 MAIN ST, rue Saint-Denis and avenue du Mont-Royal meet further east.
ROWS = [
    Row("1", "100 MAIN STREET, BROOKLYN 11201", 40.7000, -73.9900),
    Row("2", "300 MAIN STREET, BROOKLYN 11201", 40.7020, -73.9900),
    Row("3", "101 MAIN STREET", 40.7000, -73.9902),
    Row("4", "301 MAIN STREET", 40.7020, -73.9902),
    Row("5", "MAIN STREET & 5 AVENUE, BROOKLYN", 40.7010, -73.9901),
    Row("6", "150 FIFTH AVENUE", 40.7010, -73.9880),
    Row("7", "rue Saint-Denis & avenue du Mont-Royal", 40.7100, -73.9800),
    Row("8", "rue Saint-Denis", 40.7105, -73.9800),
    Row("9", "rue Saint-Denis", 40.7095, -73.9800),
    Row("10", "200 WEST 96 STREET", 40.7200, -73.9700),
    Row("11", "300 MAIN STREET", None, None),        # no point: left out
    Row("12", None, 40.7, -73.99),                     # no address: left out
]


@pytest.fixture(scope="module")
def gazetteer() -> Gazetteer:
    return Gazetteer.build(ROWS, places=[("Le Plateau-Mont-Royal", 40.71, -73.98)])


def test_it_is_a_geocoder(gazetteer: Gazetteer) -> None:
    assert isinstance(gazetteer, Geocoder)
    assert gazetteer.counts == {"addresses": 6, "intersections": 2, "streets": 5, "places": 1}


def test_a_known_address_is_found_exactly(gazetteer: Gazetteer) -> None:
    answer = gazetteer.lookup("300 Main St")
    assert isinstance(answer, GeocodeAnswer)
    assert (answer.lat, answer.long, answer.kind, answer.matched) == (40.7020, -73.9900, "address", "300 MAIN ST")
    assert answer.confidence == CONFIDENCE["address"]
    assert answer.source == "gazetteer" and answer.query == "300 Main St"


def test_an_unknown_number_is_interpolated_on_its_side_of_the_street_and_is_less_sure(gazetteer: Gazetteer) -> None:
    answer = gazetteer.lookup("200 Main Street")
    assert answer.kind == "address" and answer.matched == "200 MAIN ST"
    assert distance_m(answer.lat, answer.long, 40.7010, -73.9900) < 1
    assert answer.confidence == CONFIDENCE["address_interpolated"] < CONFIDENCE["address"]
    odd = gazetteer.lookup("201 Main Street")
    assert abs(odd.long - -73.9902) < 1e-9  # the odd side
    beyond = gazetteer.lookup("900 Main Street")
    assert beyond.confidence == CONFIDENCE["address_nearest"] < answer.confidence


def test_a_typo_in_the_street_is_matched_fuzzily_with_less_confidence(gazetteer: Gazetteer) -> None:
    answer = gazetteer.lookup("300 Mian Street")
    assert answer is not None and answer.matched == "300 MAIN ST"
    assert answer.confidence < CONFIDENCE["address"]


def test_a_fuzzy_match_never_changes_a_street_number_or_direction(gazetteer: Gazetteer) -> None:
    assert gazetteer.lookup("200 West 97 Street") is None
    assert gazetteer.lookup("200 East 96 Street") is None
    assert gazetteer.lookup("200 W 96th St").matched == "200 W 96 ST"


def test_an_intersection_is_found_in_either_order_and_language(gazetteer: Gazetteer) -> None:
    one = gazetteer.lookup("Main St & 5th Ave")
    other = gazetteer.lookup("Fifth Avenue and Main Street")
    assert one.kind == other.kind == "intersection"
    assert (one.lat, one.long) == (other.lat, other.long) == (40.7010, -73.9901)
    assert one.confidence == CONFIDENCE["intersection"]
    french = gazetteer.find("coin de la rue Saint-Denis et de l'avenue du Mont-Royal", language="fr")
    assert (french.lat, french.long, french.kind) == (40.7100, -73.9800, "intersection")


def test_a_street_alone_is_weak(gazetteer: Gazetteer) -> None:
    answer = gazetteer.find("Il y a des rats sur la rue St-Denis", language="fr")
    assert answer.kind == "street" and answer.matched == "RUE SAINT-DENIS"
    assert answer.confidence == CONFIDENCE["street"] < 0.8


def test_the_matched_form_of_a_french_street_is_french_and_of_an_english_one_as_before() -> None:
    # The matched form is public (Open311 location_matched, "Vouliez-vous dire … ?"): it was the matching
    # key, "PAS LOUP ST" for "rue du Pas du Loup" and "GAUCHETIERE ST O" for "rue de la Gauchetière Ouest".
    rows = [
        Row("1", "rue du Pas du Loup", 45.50, -73.60), Row("2", "RUE DU PAS DU LOUP", 45.50, -73.60),
        Row("3", "rue du Pas du Loup", 45.50, -73.60),
        Row("4", "1234 rue de la Gauchetière Ouest", 45.50, -73.56),
        Row("5", "1200 rue Ontario Est", 45.52, -73.56), Row("6", "1300 Ontario St E", 45.52, -73.55),
        Row("7", "rue Ontario Est & rue Saint-Denis", 45.52, -73.56), Row("8", "rue Saint-Denis", 45.52, -73.561),
        Row("9", "100 Main Street", 45.50, -73.50), Row("10", "AVENUE X & Main Street", 45.50, -73.51),
    ]
    gazetteer = Gazetteer.build(rows)
    assert gazetteer.lookup("rue du Pas-du-Loup").matched == "RUE DU PAS DU LOUP"  # the most common spelling
    assert gazetteer.lookup("1234 rue de la Gauchetiere O").matched == "1234 RUE DE LA GAUCHETIÈRE OUEST"
    assert gazetteer.lookup("1234 Ontario St E").matched == "1234 RUE ONTARIO EST"
    assert gazetteer.lookup("Ontario E & St Denis").matched == "RUE ONTARIO EST & RUE SAINT-DENIS"
    assert gazetteer.lookup("100 Main St").matched == "100 MAIN ST"
    # AVENUE leads English names too (New York's "AVENUE X"): in a city without RUE it stays as before.
    english = Gazetteer.build([r for r in rows if r.source_id in {"9", "10"}])
    assert english.lookup("Avenue X & Main St").matched == "X AVE & MAIN ST"


def test_a_district_name_is_a_place(gazetteer: Gazetteer) -> None:
    answer = gazetteer.lookup("le plateau mont royal")
    assert (answer.kind, answer.matched, answer.lat) == ("place", "Le Plateau-Mont-Royal", 40.71)


def test_nothing_matches_gives_none(gazetteer: Gazetteer) -> None:
    assert gazetteer.lookup("12 Nowhere Boulevard") is None
    assert gazetteer.find("my bin was not collected") is None


def test_excluded_rows_are_not_in_the_gazetteer() -> None:
    full = Gazetteer.build(ROWS)
    without = Gazetteer.build(ROWS, exclude={"2"})
    assert full.lookup("300 Main St").confidence == CONFIDENCE["address"]
    answer = without.lookup("300 Main St")
    assert answer.confidence < CONFIDENCE["address"]  # only reachable from its neighbours now
    assert without.counts["addresses"] == full.counts["addresses"] - 1


def test_fallback_points_are_left_out() -> None:
    gazetteer = Gazetteer.build(ROWS, ignore_point=lambda lat, long: lat == 40.7020)
    assert gazetteer.lookup("300 Main St").matched == "300 MAIN ST"
    assert gazetteer.lookup("300 Main St").confidence < CONFIDENCE["address"]


async def test_geocode_is_the_async_interface(gazetteer: Gazetteer) -> None:
    answer = await gazetteer.geocode("pothole in front of 100 Main St", language="en")
    assert answer.matched == "100 MAIN ST" and answer.query == "100 Main St"
