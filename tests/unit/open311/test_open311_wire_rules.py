"""Round trips of our own renders, datetime rules and the errors raised on bad bodies."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.open311 import (
    AttributeValue,
    Open311Error,
    Open311FormatError,
    PostServiceRequestResponse,
    Service,
    ServiceAttribute,
    ServiceDefinition,
    ServiceRequest,
    parse_errors,
    parse_post_response,
    parse_requests,
    parse_service_definition,
    parse_services,
    render_errors,
    render_post_response,
    render_requests,
    render_service_definition,
    render_services,
)

FORMATS = ["xml", "json"]

# Any text XML 1.0 can carry: no surrogates, no C0/C1 controls except tab and newline.
xml_text = st.text(
    alphabet=st.characters(
        blacklist_categories=("Cs", "Cc"),
        blacklist_characters="\ufffe\uffff",
        whitelist_characters="\t\n",
    ),
    max_size=40,
)
optional_text = st.none() | xml_text
zones = st.sampled_from(
    [UTC, ZoneInfo("America/New_York"), ZoneInfo("Europe/Berlin"), timezone(timedelta(hours=5, minutes=30))]
)
aware = st.datetimes(
    min_value=datetime(1970, 1, 2), max_value=datetime(2100, 1, 1), timezones=zones, allow_imaginary=False
)


@st.composite
def service_requests(draw: st.DrawFn) -> ServiceRequest:
    return ServiceRequest(
        service_request_id=draw(xml_text.filter(str.strip)),
        status=draw(st.sampled_from(["open", "closed"])),
        status_notes=draw(optional_text),
        service_name=draw(optional_text),
        service_code=draw(optional_text),
        description=draw(optional_text),
        agency_responsible=draw(optional_text),
        service_notice=draw(optional_text),
        requested_datetime=draw(st.none() | aware),
        updated_datetime=draw(st.none() | aware),
        expected_datetime=draw(st.none() | aware),
        address=draw(optional_text),
        address_id=draw(optional_text),
        zipcode=draw(optional_text),
        lat=draw(st.none() | st.floats(-90, 90)),
        long=draw(st.none() | st.floats(-180, 180)),
        media_url=draw(optional_text),
    )


@settings(max_examples=200, deadline=None)
@given(requests=st.lists(service_requests(), max_size=4), fmt=st.sampled_from(FORMATS))
def test_rendered_requests_parse_back_to_the_same_models(requests, fmt):
    assert parse_requests(render_requests(requests, fmt), fmt) == requests


@settings(max_examples=100, deadline=None)
@given(
    services=st.lists(
        st.builds(
            Service,
            service_code=xml_text.filter(str.strip),
            service_name=xml_text.filter(str.strip),
            description=optional_text,
            metadata=st.booleans(),
            type=st.sampled_from(["realtime", "batch", "blackbox"]),
            keywords=st.lists(xml_text.filter(lambda k: "," not in k), max_size=3),
            group=optional_text,
        ),
        max_size=3,
    ),
    fmt=st.sampled_from(FORMATS),
)
def test_rendered_services_parse_back_to_the_same_models(services, fmt):
    assert parse_services(render_services(services, fmt), fmt) == services


@pytest.mark.parametrize("fmt", FORMATS)
def test_service_definition_round_trips_with_list_values(fmt):
    definition = ServiceDefinition(
        service_code="POTHOLE",
        attributes=[
            ServiceAttribute(
                code="SIZE",
                datatype="singlevaluelist",
                required=True,
                order=1,
                description="Größe des Schlaglochs?",
                values=[AttributeValue(key="s", name="klein"), AttributeValue(key="l", name="groß")],
            ),
            ServiceAttribute(code="NOTE", datatype="text", description="Anything else?", order=2),
            ServiceAttribute(
                code="WHERE",
                datatype="multivaluelist",
                description="Where?",
                values=[AttributeValue(key="1", name="road")],
            ),
        ],
    )

    assert parse_service_definition(render_service_definition(definition, fmt), fmt) == definition


def test_rendered_service_definition_nests_attributes_as_the_spec_does():
    definition = ServiceDefinition(
        service_code="X",
        attributes=[
            ServiceAttribute(
                code="A", datatype="singlevaluelist", description="?", values=[AttributeValue(key="1", name="one")]
            )
        ],
    )

    body = render_service_definition(definition, "xml")

    assert b"<attributes>\n    <attribute>" in body
    assert b"<values>\n        <value>\n          <key>1</key>" in body
    assert json.loads(render_service_definition(definition, "json"))["attributes"][0]["values"] == [
        {"key": "1", "name": "one"}
    ]


@pytest.mark.parametrize("fmt", FORMATS)
def test_post_response_and_errors_round_trip(fmt):
    receipts = [
        PostServiceRequestResponse(service_request_id="293944", service_notice="Wir prüfen das."),
        PostServiceRequestResponse(token="abc-123", account_id="42"),
    ]
    errors = [Open311Error(code=400, description="lat: out of range"), Open311Error(code=403, description="no key")]

    assert parse_post_response(render_post_response(receipts, fmt), fmt) == receipts
    assert parse_errors(render_errors(errors, fmt), fmt) == errors


def test_rendered_datetimes_are_utc_with_z_and_json_uses_null():
    request = ServiceRequest(
        service_request_id="1",
        status="open",
        requested_datetime=datetime(2011, 3, 13, 1, 30, tzinfo=ZoneInfo("America/New_York")),
    )

    xml = render_requests([request], "xml")
    data = json.loads(render_requests([request], "json"))[0]

    assert b"<requested_datetime>2011-03-13T06:30:00Z</requested_datetime>" in xml
    assert b"<description/>" in xml
    assert data["requested_datetime"] == "2011-03-13T06:30:00Z"
    assert data["description"] is None
    assert data["lat"] is None


def test_xml_render_is_utf8_with_declaration():
    body = render_services([Service(service_code="1", service_name="Müll", type="realtime")], "xml")

    assert body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    assert "<service_name>Müll</service_name>".encode() in body


def test_text_xml_cannot_carry_is_a_format_error_not_a_crash():
    request = ServiceRequest(service_request_id="1", status="open", description="bell \x07 here")

    with pytest.raises(Open311FormatError, match="XML 1.0"):
        render_requests([request], "xml")
    assert parse_requests(render_requests([request], "json"), "json") == [request]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2010-04-14T06:37:38-08:00", datetime(2010, 4, 14, 14, 37, 38, tzinfo=UTC)),
        ("2010-04-14T14:37:38Z", datetime(2010, 4, 14, 14, 37, 38, tzinfo=UTC)),
        ("2010-04-14T06:37:38-0800", datetime(2010, 4, 14, 14, 37, 38, tzinfo=UTC)),
        ("2010-04-14 14:37:38.250+00:00", datetime(2010, 4, 14, 14, 37, 38, 250000, tzinfo=UTC)),
        ("Wed, 14 Apr 2010 06:37:38 -0800", datetime(2010, 4, 14, 14, 37, 38, tzinfo=UTC)),
    ],
)
def test_datetime_forms_seen_in_the_wild_become_aware_utc(text, expected):
    body = json.dumps([{"service_request_id": "1", "status": "open", "requested_datetime": text}]).encode()

    (request,) = parse_requests(body, "json")

    assert request.requested_datetime == expected
    assert request.requested_datetime.tzinfo is UTC


def test_naive_datetime_is_rejected_unless_a_zone_is_assumed():
    body = b"<service_requests><request><service_request_id>7</service_request_id><status>Open</status>" \
        b"<requested_datetime>2011-07-01T09:00:00</requested_datetime></request></service_requests>"

    with pytest.raises(Open311FormatError, match=r"item #1: requested_datetime: .*has no UTC offset"):
        parse_requests(body, "xml")
    (request,) = parse_requests(body, "xml", assume_tz=ZoneInfo("America/New_York"))
    assert request.requested_datetime == datetime(2011, 7, 1, 13, 0, tzinfo=UTC)
    assert request.status == "open"


def test_unknown_fields_are_kept_as_extras():
    body = b"<service_requests><request><service_request_id>7</service_request_id><status>open</status>" \
        b"<priority>high</priority><photo_url/></request></service_requests>"

    (request,) = parse_requests(body, "xml")

    assert request.model_extra == {"priority": "high", "photo_url": None}


@pytest.mark.parametrize(
    ("body", "fmt", "match"),
    [
        (b"<service_requests><request>", "xml", "not well-formed"),
        (b"<services/>", "xml", r"expected root <service_requests>, got <services>"),
        (b"<service_requests><request><status>open</status></request></service_requests>", "xml",
         r"item #1: service_request_id"),
        (b'[{"service_request_id": "1", "status": "pending"}]', "json", r"item #1: status"),
        (b'[{"service_request_id": "1", "status": "open", "lat": 91}]', "json", r"item #1: lat"),
        (b'{"service_request_id": "1"}', "json", "expected an array"),
        (b"not json", "json", "not valid JSON"),
        (b"", "xml", "empty body"),
    ],
)
def test_bad_bodies_raise_format_errors_that_say_what_failed(body, fmt, match):
    with pytest.raises(Open311FormatError, match=match):
        parse_requests(body, fmt)


def test_doctype_and_entities_are_refused():
    body = b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x "boom">]><services>&x;</services>'

    with pytest.raises(Open311FormatError, match="DOCTYPE"):
        parse_services(body, "xml")


def test_list_attribute_without_values_is_rejected():
    body = b"<service_definition><service_code>A</service_code><attributes><attribute><code>C</code>" \
        b"<datatype>multivaluelist</datatype><description>?</description></attribute></attributes>" \
        b"</service_definition>"

    with pytest.raises(Open311FormatError, match="multivaluelist without values"):
        parse_service_definition(body, "xml")


def test_post_response_item_needs_an_id_or_a_token():
    with pytest.raises(Open311FormatError, match="service_request_id or a token"):
        parse_post_response(b'[{"service_notice": "thanks"}]', "json")


def test_unknown_format_name_is_a_value_error():
    with pytest.raises(ValueError, match="'xml' or 'json'"):
        parse_services(b"[]", "yaml")


@pytest.mark.parametrize("fmt", ["xml", "json"])
def test_an_error_quoting_control_characters_or_surrogates_still_renders(fmt):
    # An error quotes what the sender sent (an id in the path): it must render, or the answer is a 500.
    errors = [Open311Error(code=404, description="service_code \x14\x00\ud800\ufffe\t< not found")]

    [parsed] = parse_errors(render_errors(errors, fmt), fmt)

    assert parsed == Open311Error(code=404, description="service_code \ufffd\ufffd\ufffd\ufffd\t< not found")
