"""Open311 `extended_attributes` (the routing facts, docs/judgement.md): rendered only when present, nested
under `<extended_attributes>` in XML with each suggestion a `<suggestion>`, and parsed back to the same
model from both formats; another server's extra keys are kept."""

from __future__ import annotations

import json

import pytest
from lxml import etree

from shared.open311 import (
    EXTENDED_ATTRIBUTE_KEYS,
    ExtendedAttributes,
    Open311FormatError,
    ServiceRequest,
    parse_requests,
    render_requests,
)

FACTS = {"district": "D7", "district_name": "Ward 7", "queue": "pw-streets", "rule_id": "r-12",
         "category_source": "keywords", "classifier_method": "model", "classifier_probability": 0.92,
         "model_version": "boston-3f2a9c81d0e4",
         "suggestions": [{"service_code": "pothole", "probability": 0.92},
                         {"service_code": "road-damage", "probability": 0.05}],
         "location_status": "placed", "location_source": "gazetteer", "location_confidence": 0.93,
         "location_matched": "1200 MAIN ST"}


def request(**kw: object) -> ServiceRequest:
    return ServiceRequest.model_validate({"service_request_id": "DEMO-26-000001", "status": "open", **kw})


@pytest.mark.parametrize("fmt", ["json", "xml"])
@pytest.mark.parametrize("facts", [FACTS, {**dict.fromkeys(EXTENDED_ATTRIBUTE_KEYS), "suggestions": []},
                                   {**FACTS, "suggestions": FACTS["suggestions"][:1]}])
def test_extended_attributes_round_trip(fmt: str, facts: dict[str, object]) -> None:
    original = request(extended_attributes=facts)
    [back] = parse_requests(render_requests([original], fmt), fmt)  # type: ignore[arg-type]
    assert back == original
    assert back.extended_attributes is not None
    assert back.extended_attributes.model_dump() == facts


def test_xml_nests_them_under_extended_attributes() -> None:
    root = etree.fromstring(render_requests([request(extended_attributes=FACTS)], "xml"))
    [ext] = root.findall("request/extended_attributes")
    assert [e.tag for e in ext] == list(EXTENDED_ATTRIBUTE_KEYS)
    assert [s.findtext("service_code") for s in ext.findall("suggestions/suggestion")] == ["pothole", "road-damage"]
    assert ext.findtext("location_matched") == "1200 MAIN ST"


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_a_request_without_them_renders_as_before(fmt: str) -> None:
    body = render_requests([request()], fmt)  # type: ignore[arg-type]
    assert b"extended_attributes" not in body
    if fmt == "json":
        assert list(json.loads(body)[0])[-1] == "media_url"


def test_another_servers_keys_are_kept_and_bad_numbers_refused() -> None:
    parsed = ExtendedAttributes.model_validate({**FACTS, "channel": "phone"})
    assert parsed.model_extra == {"channel": "phone"}
    body = json.dumps([{"service_request_id": "X-1", "status": "open",
                        "extended_attributes": {"location_confidence": "1.5"}}]).encode()
    with pytest.raises(Open311FormatError, match="location_confidence"):
        parse_requests(body, "json")
