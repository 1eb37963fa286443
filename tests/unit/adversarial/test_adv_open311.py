"""Hostile Open311 bodies and forms: every failure is an Open311FormatError / InvalidPostServiceRequest."""

from __future__ import annotations

import json
import random
import time
from datetime import UTC, datetime
from xml.sax.saxutils import escape

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.data import shared_data

from shared.open311 import (
    InvalidPostServiceRequest,
    Open311FormatError,
    ServiceRequest,
    parse_errors,
    parse_post_form,
    parse_post_response,
    parse_requests,
    parse_service_definition,
    parse_services,
    render_requests,
)

PARSERS = (parse_services, parse_service_definition, parse_requests, parse_post_response, parse_errors)
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))


def _request_json(**fields: object) -> bytes:
    return json.dumps([{"service_request_id": "1", "status": "open", **fields}]).encode()


# --------------------------------------------------------------------------- JSON that the json module chokes on


def test_a_json_number_too_long_to_convert_is_a_format_error() -> None:
    huge = b"9" * 5000
    for body in (b'[{"service_request_id":' + huge + b',"status":"open"}]',
                 b'[{"service_request_id":"1","status":"open","lat":' + huge + b"}]"):
        with pytest.raises(Open311FormatError, match="not valid JSON"):
            parse_requests(body, "json")


def test_deeply_nested_json_is_a_format_error_not_a_recursion_error() -> None:
    for body in (b"[" * 100_000 + b"]" * 100_000,
                 b'[{"service_request_id":"1","status":"open","x":' + b"[" * 100_000 + b"]" * 100_000 + b"}]"):
        for parser in PARSERS:
            with pytest.raises(Open311FormatError):
                parser(body, "json")


def test_a_json_object_with_a_repeated_key_is_refused_like_a_repeated_xml_element() -> None:
    body = b'[{"service_request_id":"1","status":"open","status":"closed"}]'
    with pytest.raises(Open311FormatError, match="'status' more than once"):
        parse_requests(body, "json")
    xml = b"<service_requests><request><service_request_id>1</service_request_id>" \
          b"<status>open</status><status>closed</status></request></service_requests>"
    with pytest.raises(Open311FormatError):
        parse_requests(xml, "xml")


def test_a_json_escape_for_a_lone_surrogate_is_refused_at_parse_time() -> None:
    # Accepted, it would only fail later: when rendered as UTF-8 or put on Kafka.
    with pytest.raises(Open311FormatError, match="surrogate"):
        parse_requests(b'[{"service_request_id":"\\ud800","status":"open"}]', "json")
    with pytest.raises(Open311FormatError, match="surrogate"):
        parse_services(b'[{"service_code":"a","service_name":"b","type":"realtime","keywords":["\\udfff"]}]', "json")
    # A proper pair is an ordinary character.
    assert parse_requests(b'[{"service_request_id":"\\ud83d\\ude00","status":"open"}]', "json")[0] \
        .service_request_id == "\U0001f600"


def test_a_str_body_with_a_lone_surrogate_is_a_format_error() -> None:
    for fmt, body in (("json", '[{"service_request_id":"\ud800","status":"open"}]'),
                      ("xml", "<service_requests><request><service_request_id>\ud800</service_request_id>"
                              "<status>open</status></request></service_requests>")):
        with pytest.raises(Open311FormatError):
            parse_requests(body, fmt)  # type: ignore[arg-type]


def test_an_unknown_element_inside_a_list_wrapper_is_an_error_not_silently_dropped() -> None:
    # Items of <values>/<attributes> other than <value>/<attribute> vanished without a word.
    body = (b"<service_definition><service_code>x</service_code><attributes><attribute><code>a</code>"
            b"<datatype>singlevaluelist</datatype><values><value><key>1</key><name>one</name></value>"
            b"<option><key>2</key><name>two</name></option></values></attribute></attributes></service_definition>")
    with pytest.raises(Open311FormatError, match="<option> inside <values>"):
        parse_service_definition(body, "xml")
    extra = (b"<service_definition><service_code>x</service_code><attributes><attribute><code>a</code>"
             b"<datatype>string</datatype></attribute><question/></attributes></service_definition>")
    with pytest.raises(Open311FormatError, match="<question> inside <attributes>"):
        parse_service_definition(extra, "xml")
    # A wrapper holding only other elements is another server's structure: kept, not dropped.
    answers = (b"<service_requests><request><service_request_id>1</service_request_id><status>open</status>"
               b"<attributes><DEPTH>deep</DEPTH><KIND>a</KIND><KIND>b</KIND></attributes></request></service_requests>")
    assert parse_requests(answers, "xml")[0].model_extra == {"attributes": {"DEPTH": "deep", "KIND": ["a", "b"]}}


# --------------------------------------------------------------------------- values


@pytest.mark.parametrize(
    "value",
    ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-12:00", "Wed, 14 Apr 99999999999 06:37:38 -0800"],
)
def test_datetimes_beyond_the_calendar_are_format_errors(value: str) -> None:
    with pytest.raises(Open311FormatError, match="requested_datetime"):
        parse_requests(_request_json(requested_datetime=value), "json")


def test_the_ends_of_the_calendar_in_utc_still_parse() -> None:
    (first,) = parse_requests(_request_json(requested_datetime="0001-01-01T00:00:00Z"), "json")
    assert first.requested_datetime == datetime(1, 1, 1, tzinfo=UTC)


def test_booleans_are_not_coordinates() -> None:
    with pytest.raises(Open311FormatError, match="lat"):
        parse_requests(_request_json(lat=True, long=False), "json")


@pytest.mark.parametrize("value", ["4_0", "\u0664\u0660", "\uff14\uff10", "0x10", "40,5"])
def test_coordinates_are_plain_decimal_numbers(value: str) -> None:
    with pytest.raises(Open311FormatError, match="lat"):
        parse_requests(_request_json(lat=value, long="-73.9"), "json")
    with pytest.raises(InvalidPostServiceRequest, match="lat"):
        parse_post_form({"service_code": "x", "lat": value, "long": "-73.9"})


def test_ordinary_decimal_spellings_of_coordinates_still_parse() -> None:
    for text, expected in ((" 40.5 ", 40.5), ("+40", 40.0), ("-0", 0.0), ("4e1", 40.0), (".5", 0.5), ("40.", 40.0)):
        assert parse_post_form({"service_code": "x", "lat": text, "long": "1"}).lat == expected
        assert parse_requests(_request_json(lat=text, long="1"), "json")[0].lat == expected
    assert parse_requests(_request_json(lat=40.7, long=-73), "json")[0].long == -73.0


# --------------------------------------------------------------------------- rendering


def test_rendered_json_is_always_valid_json() -> None:
    (request,) = parse_requests(b'[{"service_request_id":"1","status":"open","score":NaN}]', "json")
    with pytest.raises(Open311FormatError, match="JSON"):
        render_requests([request], "json")
    odd = ServiceRequest(service_request_id="\ud800", status="open")
    with pytest.raises(Open311FormatError):
        render_requests([odd], "json")


# --------------------------------------------------------------------------- time


def test_a_status_line_followed_by_many_header_lines_is_read_in_linear_time() -> None:
    body = b"HTTP/1.1 403 Forbidden\r\n" + b"X-A: b\r\n" * 300_000 + b"\r\n<errors><error><description>x</description></error></errors>"
    started = time.monotonic()
    (error,) = parse_errors(body, "xml")
    assert error.code == 403 and error.description == "x"
    assert time.monotonic() - started < 3.0


# --------------------------------------------------------------------------- POST form


@pytest.mark.parametrize("field", ["description", "first_name", "last_name", "address_string", "attribute[DEPTH]"])
@pytest.mark.parametrize("char", ["\x00", "\x0b", "\x1b", "\ufffe"])
def test_characters_that_xml_and_postgresql_cannot_store_are_refused_in_a_post(field: str, char: str) -> None:
    # A NUL is refused by PostgreSQL text columns, and none of these can be written in XML 1.0: accepted,
    # the report would get a token but never a case, or a case that GET requests.xml cannot show.
    form = {"service_code": "x", "address_string": "1 Main St", field: f"bad{char}value"}
    with pytest.raises(InvalidPostServiceRequest) as caught:
        parse_post_form(form)
    assert field in str(caught.value) and caught.value.errors[0].code == 400


def test_tabs_and_line_breaks_are_ordinary_text_in_a_post() -> None:
    req = parse_post_form({"service_code": "x", "address_string": "1 Main St", "description": "a\tb\r\nc"})
    assert req.description == "a\tb\r\nc"


def test_a_form_key_that_is_not_text_is_reported_not_crashed() -> None:
    with pytest.raises(InvalidPostServiceRequest, match="parameter name"):
        parse_post_form({1: "x", "service_code": "x", "address_string": "a"})  # type: ignore[dict-item]


def test_the_description_limit_counts_characters_not_bytes() -> None:
    ok = parse_post_form({"service_code": "x", "address_string": "a", "description": "\U0001f600" * 4000})
    assert ok.description is not None and len(ok.description) == 4000
    with pytest.raises(InvalidPostServiceRequest, match="4001 characters"):
        parse_post_form({"service_code": "x", "address_string": "a", "description": "é" * 4001})


# --------------------------------------------------------------------------- fuzzing


def _real_bodies() -> list[tuple[str, bytes, str]]:
    folder = shared_data() / "open311"
    return [(p.name, p.read_bytes(), "json" if p.suffix == ".json" else "xml") for p in sorted(folder.iterdir())]


REAL = _real_bodies()


def _call(parser, body, fmt):  # noqa: ANN001, ANN202
    try:
        parser(body, fmt)
    except Open311FormatError:
        pass


@FUZZ
@given(st.sampled_from(REAL), st.sampled_from(PARSERS), st.floats(0, 1), st.lists(st.tuples(st.floats(0, 1), st.integers(0, 255)), max_size=4))
def test_real_payloads_truncated_or_garbled_parse_or_fail_cleanly(real, parser, cut, flips) -> None:  # noqa: ANN001
    _name, body, fmt = real
    data = bytearray(body[: int(len(body) * cut)] if cut < 1 else body)
    for where, byte in flips:
        if data:
            data[min(len(data) - 1, int(len(data) * where))] = byte
    for variant in (bytes(data), b"\xef\xbb\xbf" + bytes(data)):
        _call(parser, variant, fmt)


JSON_NAMES = st.sampled_from(["service_request_id", "status", "lat", "long", "requested_datetime", "service_code",
                              "service_name", "type", "keywords", "metadata", "attributes", "values", "code",
                              "datatype", "key", "name", "description", "token", "errors", "order", "x"])
JSON_LEAVES = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=12),
                        st.sampled_from(["open", "realtime", "singlevaluelist", "1e400", "nan",
                                         "0001-01-01T00:00:00+01:00", "9999-12-31T23:00:00-05:00"]))
JSON_VALUES = st.recursive(JSON_LEAVES, lambda c: st.one_of(st.lists(c, max_size=4), st.dictionaries(JSON_NAMES, c, max_size=6)),
                           max_leaves=25)


@FUZZ
@given(JSON_VALUES, st.sampled_from(PARSERS))
def test_any_json_value_parses_or_fails_cleanly(value, parser) -> None:  # noqa: ANN001
    _call(parser, json.dumps(value).encode(), "json")
    _call(parser, json.dumps([value]).encode(), "json")


def _xml(node) -> str:  # noqa: ANN001
    if isinstance(node, str):
        return escape(node)
    name, kids = node
    return f"<{name}>" + "".join(_xml(k) for k in kids) + f"</{name}>"


XML_TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cc", "Cs")), max_size=12) | JSON_LEAVES.map(str)
XML_TREES = st.recursive(XML_TEXT, lambda c: st.tuples(JSON_NAMES | st.sampled_from(["request", "service", "error",
                                                                                    "attribute", "value"]),
                                                        st.lists(c, max_size=4)), max_leaves=25)


@FUZZ
@given(st.sampled_from(["services", "service_requests", "service_definition", "errors", "error"]),
       st.lists(XML_TREES, max_size=4), st.sampled_from(PARSERS))
def test_any_xml_tree_parses_or_fails_cleanly(root, kids, parser) -> None:  # noqa: ANN001
    _call(parser, _xml((root, kids)).encode(), "xml")


def test_xml_entity_tricks_are_refused() -> None:
    bomb = (b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">'
            b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;">]><service_requests><request><service_request_id>&c;'
            b"</service_request_id><status>open</status></request></service_requests>")
    xxe = (b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><service_requests>'
           b"<request><service_request_id>&x;</service_request_id><status>open</status></request></service_requests>")
    for body in (bomb, xxe, b'<!DOCTYPE r SYSTEM "http://127.0.0.1:9/x.dtd"><service_requests/>'):
        for parser in PARSERS:
            with pytest.raises(Open311FormatError):
                parser(body, "xml")


def test_random_form_values_never_raise_anything_else() -> None:
    rnd = random.Random(311)
    keys = ["service_code", "lat", "long", "address_string", "description", "email", "media_url", "first_name",
            "attribute[a]", "attribute[a][]", "attribute[]", "attribute[b][c]", "attributes", "unknown"]
    values = ["", " ", "x", "40.7", "nan", "-inf", "1e999", "a@b", "http://x", "\x00", "é" * 4001, "4_0", "\r\n"]
    for _ in range(2000):
        form = [(rnd.choice(keys), rnd.choice(values)) for _ in range(rnd.randint(0, 6))]
        try:
            parse_post_form(form)
        except InvalidPostServiceRequest as exc:
            assert exc.errors and all(e.code == 400 and e.description for e in exc.errors)
