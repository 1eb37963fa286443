"""Open311 attributes: answers checked against a service definition (every datatype, required, lists, unknown
codes), a definition with attributes round-tripping through XML and JSON, and the discovery document."""

from __future__ import annotations

import pytest

from shared.open311 import (
    DISCOVERY_FORMATS,
    GEOREPORT_V2_SPECIFICATION,
    Discovery,
    DiscoveryEndpoint,
    InvalidPostServiceRequest,
    ServiceDefinition,
    parse_discovery,
    parse_post_form,
    parse_service_definition,
    render_discovery,
    render_service_definition,
    validate_attributes,
)

DEFINITION = ServiceDefinition.model_validate({
    "service_code": "pothole",
    "attributes": [
        {"code": "size", "datatype": "singlevaluelist", "required": True, "order": 1,
         "description": "How big is the hole?",
         "values": [{"key": "small", "name": "Small"}, {"key": "medium", "name": "Medium"},
                    {"key": "large", "name": "Large"}]},
        {"code": "surface", "datatype": "multivaluelist", "order": 2, "description": "On what?",
         "values": [{"key": "road", "name": "Road"}, {"key": "sidewalk", "name": "Sidewalk"}]},
        {"code": "depth_cm", "datatype": "number", "order": 3, "description": "Depth", "datatype_description": "cm"},
        {"code": "seen_at", "datatype": "datetime", "order": 4, "description": "When did you see it?"},
        {"code": "landmark", "datatype": "string", "order": 5, "description": "Nearest landmark"},
        {"code": "details", "datatype": "text", "order": 6, "description": "Anything else"},
        {"code": "note", "datatype": "string", "variable": False, "order": 7, "description": "Crews fill holes in a week"},
    ],
})


def problems(given: dict) -> list[str]:
    with pytest.raises(InvalidPostServiceRequest) as caught:
        validate_attributes(DEFINITION, given)
    assert all(e.code == 400 for e in caught.value.errors)
    return [e.description for e in caught.value.errors]


def test_answers_of_every_datatype_are_kept_as_sent_and_lists_as_lists() -> None:
    answers = validate_attributes(DEFINITION, {
        "size": " large ", "surface": ["road", "sidewalk", "road"], "depth_cm": "12.5",
        "seen_at": "2026-11-29T08:15:00-05:00", "landmark": "bus stop", "details": "deep\nand wide"})
    assert answers == {"size": "large", "surface": ["road", "sidewalk"], "depth_cm": "12.5",
                       "seen_at": "2026-11-29T08:15:00-05:00", "landmark": "bus stop", "details": "deep\nand wide"}


def test_blank_optional_answers_are_dropped_and_a_single_value_for_a_multivaluelist_is_a_list() -> None:
    assert validate_attributes(DEFINITION, {"size": "small", "landmark": "  ", "surface": "road"}) == {
        "size": "small", "surface": ["road"]}


@pytest.mark.parametrize("given", [{}, {"size": ""}, {"size": "   "}, {"size": []}])
def test_a_required_attribute_missing_or_blank_is_refused_naming_its_code(given: dict) -> None:
    assert problems(given) == ["attribute size is required (How big is the hole?)"]


def test_a_value_outside_the_list_is_refused_naming_the_code_and_the_value() -> None:
    [single] = problems({"size": "huge"})
    assert single.startswith("attribute size: 'huge' is not one of its values (small, medium, large)")
    [multi] = problems({"size": "small", "surface": ["road", "lawn"]})
    assert "attribute surface" in multi and "'lawn'" in multi


def test_several_values_for_a_single_value_attribute_are_refused() -> None:
    assert problems({"size": ["small", "large"]}) == ["attribute size takes one value, got 2"]
    assert problems({"size": "small", "landmark": ["a", "b"]}) == ["attribute landmark takes one value, got 2"]


@pytest.mark.parametrize("bad", ["deep", "1_0", "nan", "inf", "١٢", "12cm", "1e999"])
def test_a_number_that_is_not_a_finite_decimal_number_is_refused(bad: str) -> None:
    assert problems({"size": "small", "depth_cm": bad}) == [f"attribute depth_cm must be a number, got {bad!r}"]


@pytest.mark.parametrize("bad", ["yesterday", "2026-11-29", "2026-11-29T08:15:00", "29/11/2026 08:15"])
def test_a_datetime_without_an_offset_or_not_iso_8601_is_refused(bad: str) -> None:
    [problem] = problems({"size": "small", "seen_at": bad})
    assert problem.startswith("attribute seen_at must be an ISO 8601 date and time with a UTC offset")


@pytest.mark.parametrize(("code", "limit"), [("landmark", 500), ("details", 4000), ("depth_cm", 500),
                                           ("seen_at", 500), ("size", 200), ("surface", 200)])
def test_an_answer_longer_than_its_datatype_allows_is_refused_naming_the_code_without_quoting_it(
        code: str, limit: int) -> None:
    given = {"size": "small", code: "x" * (limit + 1)}
    found = problems(given)
    assert found == [f"attribute {code} is longer than {limit} characters"]
    assert problems({"size": "small", "surface": ["road", "y" * 201]}) == [
        "attribute surface is longer than 200 characters"]
    kept = validate_attributes(DEFINITION, {"size": "small", "landmark": "l" * 500, "details": "d" * 4000})
    assert len(kept["landmark"]) == 500 and len(kept["details"]) == 4000


def test_a_text_answer_of_200_000_characters_is_refused() -> None:
    assert problems({"size": "small", "details": "z" * 200_000}) == ["attribute details is longer than 4000 characters"]


def test_an_unknown_code_and_an_answer_to_an_information_only_attribute_are_refused() -> None:
    assert problems({"size": "small", "colour": "red", "note": "hi"}) == [
        "attribute note is information only and takes no answer",
        "attribute colour is not an attribute of service pothole"]


def test_every_problem_is_reported_at_once_in_the_definition_order() -> None:
    found = problems({"depth_cm": "x", "bogus": "1"})
    assert [p.split()[1].rstrip(":") for p in found] == ["size", "depth_cm", "bogus"]


def test_a_parsed_post_form_feeds_the_check_single_and_list_parameters_alike() -> None:
    req = parse_post_form([("api_key", "k"), ("service_code", "pothole"), ("lat", "45.42"), ("long", "-75.69"),
                           ("attribute[size]", "medium"), ("attribute[surface][]", "road"),
                           ("attribute[surface][]", "sidewalk")])
    assert validate_attributes(DEFINITION, req.attributes) == {"size": "medium", "surface": ["road", "sidewalk"]}


@pytest.mark.parametrize("fmt", ["xml", "json"])
def test_a_service_definition_with_attributes_round_trips(fmt: str) -> None:
    body = render_service_definition(DEFINITION, fmt)
    back = parse_service_definition(body, fmt)
    assert back == DEFINITION
    assert [a.code for a in back.attributes] == ["size", "surface", "depth_cm", "seen_at", "landmark", "details", "note"]
    assert back.attributes[0].values[2].key == "large" and back.attributes[0].required is True
    assert back.attributes[6].variable is False


def test_a_definition_in_xml_nests_attributes_and_values_as_the_spec_does() -> None:
    xml = render_service_definition(DEFINITION, "xml").decode()
    assert "<attributes>\n    <attribute>" in xml and "<values>" in xml and "<value>\n" in xml
    assert "<required>true</required>" in xml and "<datatype>singlevaluelist</datatype>" in xml


DISCOVERY = Discovery(
    changeset="2026-11-30T00:00:00Z", contact="Demoville 311, 311@demoville.example",
    key_service="Ask Demoville's 311 office for an api_key",
    endpoints=[DiscoveryEndpoint(specification=GEOREPORT_V2_SPECIFICATION, url="https://311.demoville.example",
                                 changeset="2026-11-30T00:00:00Z", type="production",
                                 formats=list(DISCOVERY_FORMATS))])


@pytest.mark.parametrize("fmt", ["xml", "json"])
def test_the_discovery_document_round_trips(fmt: str) -> None:
    assert parse_discovery(render_discovery(DISCOVERY, fmt), fmt) == DISCOVERY


def test_the_discovery_document_in_xml_lists_endpoints_and_formats() -> None:
    xml = render_discovery(DISCOVERY, "xml").decode()
    assert xml.index("<discovery>") < xml.index("<endpoints>") < xml.index("<endpoint>")
    assert "<specification>http://wiki.open311.org/GeoReport_v2</specification>" in xml
    assert "<formats>\n        <format>text/xml</format>\n        <format>application/json</format>" in xml


def test_a_discovery_document_with_one_endpoint_and_one_format_parses_as_lists() -> None:
    xml = (b"<discovery><changeset>2026-01-01</changeset><endpoints><endpoint>"
           b"<specification>http://wiki.open311.org/GeoReport_v2</specification><url>https://x</url>"
           b"<changeset>2026-01-01</changeset><type>test</type><formats><format>text/xml</format></formats>"
           b"</endpoint></endpoints></discovery>")
    parsed = parse_discovery(xml, "xml")
    assert parsed.endpoints[0].formats == ["text/xml"] and parsed.endpoints[0].type == "test"
