"""Every real GeoReport v2 payload in the shared corpus parses, with the values the files hold."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from shared.open311 import (
    Open311FormatError,
    parse_errors,
    parse_post_response,
    parse_requests,
    parse_service_definition,
    parse_services,
)
from support.data import shared_data


def _open311_dir() -> Path:
    return shared_data() / "open311"


def _read(name: str) -> bytes:
    return (_open311_dir() / name).read_bytes()


def test_giessen_services_keep_umlauts_and_ignore_is_array():
    services = parse_services(_read("giessen_services.xml"), "xml")

    assert len(services) == 8
    by_code = {s.service_code: s for s in services}
    assert by_code["012"].service_name == "Verkehrsschild beschädigt"
    assert by_code["011"].service_name == "Straßen- und Gehwegschäden"
    assert by_code["017"].service_name == "Wilde Müllkippe, Sperrmüll"
    assert by_code["014"].service_name == "Grünflächen und Spielplätze"
    assert by_code["015"].description is None
    assert by_code["015"].keywords == []
    assert by_code["011"].keywords == ["litter", "trash", "garbage"]
    assert all(s.type == "realtime" and s.metadata is False for s in services)


def test_sf_services_parse_despite_soap_namespace_declarations():
    services = parse_services(_read("sf311_services.xml"), "xml")

    assert len(services) == 36
    first = services[0]
    assert first.service_code == "001"
    assert first.service_name == "Cans_Left_Out_24x7"
    assert first.group == "Litter Receptacles"
    # multi-line description: the trailing newline is trimmed, the text kept
    assert first.description == (
        "Garbage or recycling cans that have been left out for more than 24 hours after "
        "collection. Violators will be cited."
    )
    assert services[-1].service_code == "379"
    assert {s.group for s in services} >= {"Graffiti", "Sewer Issues", "Tree Maintenance"}


def test_spec_example_service_list_json_splits_keywords():
    services = parse_services(_read("spec_example_service_list.json"), "json")

    assert [s.service_code for s in services] == ["001", "002", "003"]
    assert services[0].keywords == ["lorem", "ipsum", "dolor"]
    assert services[0].metadata is True
    assert services[1].group == "street"


def test_toronto_empty_elements_are_none_and_intersection_address_is_kept():
    requests = parse_requests(_read("toronto_requests_many.xml"), "xml")

    assert len(requests) == 2
    first = requests[0]
    assert first.service_request_id == "101005420892"
    assert first.description is None
    assert first.updated_datetime is None
    assert first.service_notice is None
    assert first.zipcode is None
    assert first.media_url is None
    assert first.address == "Warden Ave / Freeman St, Scarborough"
    assert first.address_id == "13459430"
    assert first.status_notes == "In progress - The request has been scheduled."
    assert first.requested_datetime == datetime(2018, 7, 30, 0, 1, tzinfo=ZoneInfo("America/Toronto"))
    assert first.expected_datetime == datetime(2018, 8, 3, 4, 1, tzinfo=UTC)
    assert (first.lat, first.long) == (43.691104288, -79.272306875)
    assert requests[1].address == "Parkette Pl / Danforth Ave, Scarborough"


def test_sf_requests_convert_minus_eight_hours_to_utc_and_trim_media_url():
    requests = parse_requests(_read("cfa_gem_service_requests_sf.xml"), "xml")

    closed, still_open = requests
    assert closed.status == "closed"
    assert closed.status_notes == "Duplicate request."
    assert closed.requested_datetime == datetime(2010, 4, 14, 14, 37, 38, tzinfo=UTC)
    assert closed.requested_datetime.utcoffset().total_seconds() == 0
    assert closed.expected_datetime == datetime(2010, 4, 15, 14, 37, 38, tzinfo=UTC)
    assert closed.media_url == "http://open311.city.gov.s3.amazonaws.com/requests/media/638344.rss"
    assert closed.service_code == "006"
    assert closed.description is None and closed.agency_responsible is None
    assert closed.zipcode == "94122"
    assert still_open.status == "open"
    assert still_open.status_notes is None


def test_chicago_json_keeps_hex_service_codes_and_status_notes():
    requests = parse_requests(_read("chicago_requests_small.json"), "json")

    assert [r.service_request_id for r in requests] == ["14-01100669", "14-01100627"]
    assert requests[0].service_code == "4ffa9cad6018277d4000007b"
    assert requests[0].status_notes is None
    assert requests[1].status_notes == "Locked"
    assert requests[1].agency_responsible == "DOB - Conservation"
    assert requests[1].requested_datetime == datetime(2014, 7, 12, 15, 48, 56, tzinfo=UTC)
    assert requests[0].lat == pytest.approx(41.858724777757864)


def test_service_definition_singlevaluelist_has_its_values():
    definition = parse_service_definition(_read("cfa_gem_service_definition.xml"), "xml")

    assert definition.service_code == "DMV66"
    (attribute,) = definition.attributes
    assert attribute.code == "WHISHETN"
    assert attribute.datatype == "singlevaluelist"
    assert attribute.variable is True and attribute.required is True
    assert attribute.order == 1
    assert attribute.datatype_description is None
    assert attribute.description == "What is the ticket/tag/DL number?"
    assert [(v.key, v.name) for v in attribute.values] == [("123", "Ford"), ("124", "Chrysler")]


def test_post_response_has_trimmed_service_notice_and_no_account_id():
    (item,) = parse_post_response(_read("cfa_gem_post_service_request_response.xml"), "xml")

    assert item.service_request_id == "293944"
    assert item.token is None
    assert item.account_id is None
    assert item.service_notice.startswith("The City will inspect and require the responsible party")
    assert item.service_notice.endswith("Public Works Code")


def test_not_found_error_body():
    (error,) = parse_errors(_read("cfa_gem_error_404_not_found.xml"), "xml")

    assert error.code == 404
    assert error.description == "Service request not found with id or token not-an-id"


def test_forbidden_body_with_http_status_line_takes_its_code_from_that_line():
    (error,) = parse_errors(_read("cfa_gem_error_403_with_http_status_line.txt"), "xml")

    assert error.code == 403
    assert error.description == "Invalid api_key received -- can't proceed with create_request."


def test_bare_error_without_status_line_needs_a_status_code():
    body = b'<?xml version="1.0"?><error>Invalid api_key</error>'

    with pytest.raises(Open311FormatError, match="no code and no HTTP status"):
        parse_errors(body, "xml")
    assert parse_errors(body, "xml", status_code=403)[0].code == 403


def test_error_body_with_headers_after_status_line():
    body = (
        b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/xml\r\n\r\n"
        b"<errors><error><code>400</code><description>lat is missing</description></error></errors>"
    )

    (error,) = parse_errors(body, "xml")
    assert (error.code, error.description) == (400, "lat is missing")
