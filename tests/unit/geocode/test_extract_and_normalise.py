"""The place written in free text (English and French) and street names in one canonical form."""

from __future__ import annotations

import time

import pytest

from shared.geocode import extract_place, normalize_street, parse_place


@pytest.mark.parametrize(
    ("text", "language", "place"),
    [
        ("pothole in front of 1200 Main St", "en", "1200 Main St"),
        ("corner of Main St and 5th Ave", "en", "Main St & 5th Ave"),
        ("Main St & 5th Ave", None, "Main St & 5th Ave"),
        ("The streetlight at the corner of Broadway and West 96th Street is out", "en",
         "Broadway & West 96th Street"),
        ("broken light on Main Street near the school", "en", "Main Street"),
        ("car parked at 45 W 5th St for 3 days", "en", "45 W 5th St"),
        ("coin de la rue Saint-Denis et de l'avenue du Mont-Royal", "fr", "rue Saint-Denis & avenue du Mont-Royal"),
        ("devant le 1234 rue Ontario Est", "fr", "1234 rue Ontario Est"),
        ("Il y a un nid-de-poule sur la rue Ontario depuis hier", "fr", "rue Ontario"),
        ("des rats au 3500 boul. Saint-Laurent, merci", None, "3500 boul. Saint-Laurent"),
    ],
)
def test_the_written_place_is_picked_out_of_free_text(text: str, language: str | None, place: str) -> None:
    assert extract_place(text, language) == place


@pytest.mark.parametrize("text", ["trash everywhere", "dead rat", "Pothole, 2 feet wide", "", "   "])
def test_text_without_a_place_gives_none(text: str) -> None:
    assert extract_place(text, "en") is None


@pytest.mark.parametrize(
    ("written", "canonical"),
    [
        ("Main Street", "MAIN ST"),
        ("MAIN ST.", "MAIN ST"),
        ("West 5th Street", "W 5 ST"),
        ("WEST 5 STREET", "W 5 ST"),
        ("Fifth Avenue", "5 AVE"),
        ("5th Ave", "5 AVE"),
        ("avenue 13e", "13 AVE"),
        ("13e Avenue", "13 AVE"),
        ("rue Saint-Denis", "SAINT DENIS ST"),
        ("RUE ST-DENIS", "SAINT DENIS ST"),
        ("St Denis Street", "SAINT DENIS ST"),
        ("ST MARKS PLACE", "SAINT MARKS PL"),
        ("rue de la Gauchetière Ouest", "GAUCHETIERE ST O"),
        ("boul. Saint-Laurent", "SAINT LAURENT BLVD"),
        ("boulevard Saint-Laurent", "SAINT LAURENT BLVD"),
        ("ch. de la Côte-des-Neiges", "COTE NEIGES CH"),
        ("chemin de la Côte-des-Neiges", "COTE NEIGES CH"),
        ("avenue de l'Hôtel-de-Ville", "HOTEL VILLE AVE"),
        ("Rue Ontario Est", "ONTARIO ST E"),
    ],
)
def test_street_names_have_one_canonical_form(written: str, canonical: str) -> None:
    assert normalize_street(written) == canonical


def test_written_places_are_split_into_number_and_streets() -> None:
    address = parse_place("1200 Main St, Brooklyn 11201")
    assert (address.kind, address.number, address.street) == ("address", "1200", "MAIN ST")
    queens = parse_place("108-20 71 AVENUE, QUEENS 11375")
    assert (queens.kind, queens.number, queens.street) == ("address", "108-20", "71 AVE")
    boston = parse_place("42 Cross St  Boston  MA  02113")
    assert (boston.kind, boston.number, boston.street) == ("address", "42", "CROSS ST")
    corner = parse_place("Intersection Of A St & Binford St, Boston")
    assert (corner.kind, corner.street, corner.cross) == ("intersection", "A ST", "BINFORD ST")
    numbered = parse_place("34 AVENUE & 31 STREET, ASTORIA 11106")
    assert (numbered.kind, numbered.street, numbered.cross) == ("intersection", "34 AVE", "31 ST")
    blockface = parse_place("WEST 5 STREET between AVENUE X and AVENUE Y, BROOKLYN")
    assert (blockface.kind, blockface.street) == ("street", "W 5 ST")
    assert parse_place("rue Ontario").kind == "street"
    assert parse_place("Le Plateau-Mont-Royal").kind == "place"
    assert parse_place("  ") is None


def test_a_unit_letter_after_a_hyphen_is_part_of_the_house_number() -> None:
    # "1200-B Main St Apt 4" was no place at all (its number stopped at the hyphen), and parsed as the
    # street "1200 B MAIN ST".
    assert extract_place("1200-B Main St Apt 4", "en") == "1200-B Main St"
    unit = parse_place("1200-B Main St")
    assert (unit.kind, unit.number, unit.street) == ("address", "1200B", "MAIN ST")
    assert extract_place("1200-Main St", "en") is None  # a hyphen before a word is no unit letter


def test_a_long_message_is_read_in_time_linear_in_its_length() -> None:
    # 20 kB without a place took about 10 s (one long word) and 20 s (French street types repeated):
    # the two-street patterns retried the rest of the text from every character.
    texts = ["a" * 20_000, "Rue " * 5_000, "St " * 7_000, "x " * 10_000 + "pothole at 1200 Main St"]
    started = time.monotonic()
    places = [extract_place(text, language) for text in texts for language in ("en", "fr")]
    assert time.monotonic() - started < 3.0
    assert places[0] is None and places[-1] == "1200 Main St"


@pytest.mark.parametrize(
    ("text", "language", "place"),
    [
        ("pothole in front of 40 Elm Stret", "en", "40 Elm Street"),
        ("trash at 12 Oak Aveneu", "en", "12 Oak Avenue"),                  # a transposition is one edit
        ("corner of Elm Steet and Main Stret", "en", "Elm Street & Main Street"),
        ("rats on Main Sreet", "en", "Main Street"),
        ("devant le 1234 boulevrd Saint-Laurent", "fr", "1234 boulevard Saint-Laurent"),
        ("un trou au 45 chemni de la Côte-des-Neiges", "fr", "45 chemin de la Côte-des-Neiges"),
    ],
)
def test_a_street_type_with_a_typo_is_read_as_the_type(text: str, language: str, place: str) -> None:
    # "40 Elm Stret" was no place: only a correctly spelt type ended a street.
    assert extract_place(text, language) == place


@pytest.mark.parametrize(
    "text",
    [
        "40 people complained",
        "in the street",                                   # a type with no name is no street
        "garbage in the streets for 3 days",
        "12 planes flew over, 40 drivers honked",
        "a stream of water since 3 streaks of rain",
        "40 Allen Terrance complained",                    # names near a type: Allen (ALLEY), Terrance (TERRACE)
        "les voitures circulent, 3 rues se croisent et ça monte",
    ],
)
def test_ordinary_words_near_a_street_type_are_no_place(text: str) -> None:
    assert extract_place(text, "en") is None and extract_place(text, "fr") is None


def test_a_name_before_a_written_type_is_not_taken_for_a_misspelt_type() -> None:
    assert extract_place("rats at 12 Circe Ave", "en") == "12 Circe Ave"
    assert extract_place("pothole at 40 Allen St", "en") == "40 Allen St"
