"""Case rules for messages that complete a report: the answer to the SMS location question or a call's
place gives a case without a location its location; a call's transcript replaces what the voice menu guessed."""

from __future__ import annotations

from typing import Any

from services.case.domain.rules import location_added, transcript_description

ANSWER = {"completes_location_of": "SM123"}
CALL = {"transcript_of_call": "CA123", "problem": "Pothole"}


def _case(**kw: Any) -> dict[str, Any]:
    return {"lat": None, "long": None, "address": None, "zipcode": None} | kw


def test_a_location_answer_gives_a_case_without_location_its_point_and_address() -> None:
    got = location_added(_case(), ANSWER, address="Bank St & Somerset St", zipcode=None, lat=45.41, long=-75.69)
    assert got == {"lat": 45.41, "long": -75.69, "address": "Bank St & Somerset St"}


def test_an_answer_as_written_gives_the_address_only() -> None:
    assert location_added(_case(), ANSWER, address=" by the school ", zipcode=None, lat=None, long=None) == {
        "address": "by the school"}


def test_a_case_with_a_point_keeps_it() -> None:
    assert location_added(_case(lat=1.0, long=2.0), ANSWER, address="x", zipcode="K1A", lat=3.0, long=4.0) == {}


def test_a_case_with_an_address_but_no_point_gains_the_point_and_keeps_its_address() -> None:
    got = location_added(_case(address="12 Oak Ave"), ANSWER, address="elsewhere", zipcode=None, lat=3.0, long=4.0)
    assert got == {"lat": 3.0, "long": 4.0}


def test_a_closed_case_is_not_moved() -> None:
    assert location_added(_case(status="closed"), ANSWER, address="x", zipcode=None, lat=3.0, long=4.0) == {}
    assert location_added(_case(status="open"), ANSWER, address=None, zipcode=None, lat=3.0, long=4.0) == {
        "lat": 3.0, "long": 4.0}


def test_a_lone_coordinate_is_no_point() -> None:
    assert location_added(_case(), ANSWER, address=None, zipcode=None, lat=3.0, long=None) == {}


def test_a_call_place_and_zip_complete_a_call_case_without_place() -> None:
    assert location_added(_case(), CALL, address="Main and First", zipcode="10001", lat=None, long=None) == {
        "address": "Main and First", "zipcode": "10001"}


def test_an_ordinary_follow_up_mentioning_a_place_changes_no_location() -> None:
    assert location_added(_case(), {}, address="123 Main St", zipcode=None, lat=1.0, long=2.0) == {}


def test_a_transcript_replaces_the_voice_menus_answer_or_nothing() -> None:
    assert transcript_description("Pothole", CALL, " A deep pothole by the bakery. ") == "A deep pothole by the bakery."
    assert transcript_description("", CALL, "A deep pothole") == "A deep pothole"
    assert transcript_description(None, {"transcript_of_call": "CA1"}, "Noise") == "Noise"


def test_a_description_written_by_a_person_is_kept() -> None:
    assert transcript_description("Caller says the light flickers", CALL, "The light is out") is None


def test_only_a_transcript_and_only_a_non_empty_one_changes_the_description() -> None:
    assert transcript_description("", ANSWER, "corner of Bank and Somerset") is None
    assert transcript_description("Pothole", CALL, "   ") is None
    assert transcript_description("Same words", {"transcript_of_call": "CA1"}, "Same words") is None
