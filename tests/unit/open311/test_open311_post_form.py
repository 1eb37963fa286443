"""POST requests form validation (Open311 GeoReport v2, POST Service Request) and coordinate checks."""

from __future__ import annotations

import pytest

from shared.open311 import (
    InvalidPostServiceRequest,
    Open311Error,
    coordinate_problem,
    parse_errors,
    parse_post_form,
    render_errors,
    web_point,
)


def _errors(form) -> list[str]:
    with pytest.raises(InvalidPostServiceRequest) as caught:
        parse_post_form(form)
    assert all(isinstance(e, Open311Error) and e.code == 400 for e in caught.value.errors)
    return [e.description for e in caught.value.errors]


def test_a_complete_form_is_accepted_with_attributes_and_list_attributes():
    form = [
        ("api_key", "k"),
        ("service_code", "001"),
        ("lat", "40.6608"),
        ("long", "-73.9986"),
        ("email", "ana@example.org"),
        ("first_name", "Ana"),
        ("description", "Straßenlaterne kaputt "),
        ("media_url", "https://example.org/p.jpg"),
        ("attribute[WHISHETN]", "123"),
        ("attribute[SIDES][]", "north"),
        ("attribute[SIDES][]", "south"),
        ("jurisdiction_id", "nyc.gov"),
        ("unexpected", "ignored"),
    ]

    request = parse_post_form(form)

    assert (request.lat, request.long) == (40.6608, -73.9986)
    assert request.description == "Straßenlaterne kaputt"
    assert request.attributes == {"WHISHETN": "123", "SIDES": ["north", "south"]}
    assert request.jurisdiction_id == "nyc.gov"


def test_free_text_without_service_code_is_accepted_with_an_address():
    request = parse_post_form({"address_string": "186 25 Street, Brooklyn", "description": "loud party"})

    assert request.service_code is None
    assert request.address_string == "186 25 Street, Brooklyn"


def test_address_id_alone_is_a_location():
    assert parse_post_form({"address_id": "545483", "service_code": "006"}).address_id == "545483"


def test_mapping_with_list_values_is_read_like_repeated_keys():
    request = parse_post_form({"service_code": "1", "address_id": "9", "attribute[A][]": ["x", "y"]})

    assert request.attributes == {"A": ["x", "y"]}


def test_a_request_without_location_is_rejected():
    assert _errors({"service_code": "001", "description": "pothole"}) == [
        "a location is required: lat and long, address_string or address_id"
    ]


def test_blank_location_fields_count_as_missing():
    assert _errors({"service_code": "001", "lat": " ", "long": "", "address_string": "  "}) == [
        "a location is required: lat and long, address_string or address_id"
    ]


def test_lat_without_long_is_rejected():
    assert _errors({"service_code": "001", "lat": "40.7", "address_string": "x"}) == [
        "lat and long must be given together"
    ]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("lat", "91", "lat must be between -90 and 90 degrees, got '91'"),
        ("lat", "north", "lat must be a decimal number of degrees, got 'north'"),
        ("long", "-180.5", "long must be between -180 and 180 degrees, got '-180.5'"),
        ("long", "nan", "long must be between -180 and 180 degrees, got 'nan'"),
    ],
)
def test_coordinates_out_of_range_are_rejected(field, value, message):
    form = {"service_code": "1", "lat": "40", "long": "-73"} | {field: value}

    assert _errors(form) == [message]


def test_description_limit_is_four_thousand_characters():
    at_limit = {"service_code": "1", "address_id": "9", "description": "ü" * 4000}

    assert len(parse_post_form(at_limit).description) == 4000
    assert _errors(at_limit | {"description": "ü" * 4001}) == [
        "description is 4001 characters long; the limit is 4000"
    ]


def test_neither_service_code_nor_description_is_rejected():
    assert _errors({"address_id": "9"}) == ["either service_code or a description of the problem is required"]


def test_several_problems_are_all_reported():
    errors = _errors(
        [("service_code", "1"), ("service_code", "2"), ("attribute[X", "1"), ("attribute[Y]", "a"), ("attribute[Y][]", "b")]
    )

    assert errors == [
        "service_code was given more than once",
        "malformed attribute parameter 'attribute[X'; expected attribute[CODE] or attribute[CODE][]",
        "attribute 'Y' is given both as a single value and as a list",
    ]


@pytest.mark.parametrize(
    ("field", "value", "start"),
    [("media_url", "javascript:alert(1)", "media_url must be an absolute http(s) URL"),
     ("email", "not an email", "email is not a valid address")],
)
def test_media_url_and_email_shapes(field, value, start):
    (message,) = _errors({"service_code": "1", "address_id": "9", field: value})

    assert message.startswith(start)


def test_errors_render_as_an_open311_error_body():
    with pytest.raises(InvalidPostServiceRequest) as caught:
        parse_post_form({"service_code": "1"})

    body = render_errors(caught.value.errors, "xml")

    assert parse_errors(body, "xml") == caught.value.errors
    assert b"<code>400</code>" in body


def _inside_nyc(lat: float, long: float) -> bool:
    return 40.49 <= lat <= 40.92 and -74.26 <= long <= -73.70


def test_coordinate_problem_accepts_a_point_inside():
    assert coordinate_problem(40.6608, -73.9986, _inside_nyc) is None


def test_coordinate_problem_names_null_island():
    assert coordinate_problem(0.0, 0.0, _inside_nyc).startswith("coordinates 0,0")


def test_coordinate_problem_detects_swapped_axes():
    # NYC's longitude is outside [-90, 90] so a swap cannot land inside: use a box that can.
    def inside_box(lat: float, long: float) -> bool:
        return 10 <= lat <= 20 and 30 <= long <= 40

    message = coordinate_problem(35.0, 15.0, inside_box)

    assert message.startswith("latitude and longitude appear swapped")


def test_coordinate_problem_reports_outside():
    message = coordinate_problem(42.3594, -71.0587, _inside_nyc)

    assert message.endswith("outside the jurisdiction's boundaries")


def test_a_point_off_the_earth_with_an_address_is_set_aside_for_the_location_check():
    request = parse_post_form({"service_code": "1", "lat": "1e999", "long": "200",
                               "address_string": "1 Main St"})
    assert (request.lat, request.long, request.unusable_point) == (None, None, (float("inf"), 200.0))
    assert parse_post_form({"service_code": "1", "lat": "40", "long": "-73", "address_id": "9"}).unusable_point is None


def test_web_point_ignores_a_placeholder_only_when_an_address_came_with_it():
    check, refusal = web_point(0.0, 0.0, contains=_inside_nyc, has_address=True)
    assert refusal is None and (check.lat, check.long) == (None, None)
    assert check.as_attribute()["verdict"] == "placeholder"
    assert web_point(0.0, 0.0, contains=_inside_nyc, has_address=False)[1].startswith("coordinates 0,0")
    assert web_point(float("nan"), 1.0, contains=_inside_nyc, has_address=True)[1] is None


def test_web_point_refuses_outside_and_swapped_even_with_an_address():
    assert "outside" in web_point(42.3594, -71.0587, contains=_inside_nyc, has_address=True)[1]

    def inside_box(lat: float, long: float) -> bool:
        return 10 <= lat <= 20 and 30 <= long <= 40

    check, refusal = web_point(35.0, 15.0, contains=inside_box, has_address=True)
    assert check.verdict == "swapped" and refusal.endswith("send lat=15.0 and long=35.0")


def test_coordinate_problem_takes_the_one_location_checks_verdict():
    # The rules are check_point's: a value off the Earth is out of range there too, never "outside".
    assert "not a point on Earth" in coordinate_problem(float("nan"), 0.0, _inside_nyc)
    assert coordinate_problem(0.0000001, 0.0, _inside_nyc).startswith("coordinates 0,0")
