"""Services' Open311 attributes and names per language in `jurisdiction.yaml`: loaded in order, checked,
listed with `metadata: true`, and every demo service named in French."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from shared.jurisdiction import JurisdictionConfigError, load_jurisdiction
from shared.open311 import Service, ServiceDefinition

BASE = {
    "id": "tiny", "name": "Tiny", "timezone": "America/Toronto", "locales": ["en", "fr"],
    "departments": [{"id": "works", "queues": ["roads"]}],
    "unclassified": {"service_code": "unclassified", "service_name": "General", "queue": "roads"},
}


def load(tmp_path: Path, *services: dict) -> object:
    doc = {**BASE, "services": list(services)}
    path = tmp_path / "jurisdiction.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return load_jurisdiction(path, use_cache=False)


def test_attributes_come_in_order_and_an_unordered_one_takes_its_yaml_position(tmp_path: Path) -> None:
    jur = load(tmp_path, {"service_code": "hole", "service_name": "Hole", "queue": "roads",
                          "labels": {"fr": "Trou"},
                          "attributes": [
                              {"code": "b", "datatype": "string", "description": "B", "order": 9},
                              {"code": "a", "datatype": "singlevaluelist", "description": "A", "required": True,
                               "values": [{"key": "x", "name": "X"}]}]})
    hole = jur.service("hole")
    assert [(a.code, a.order) for a in hole.attributes] == [("a", 2), ("b", 9)]
    assert hole.to_open311()["metadata"] is True and hole.name_in("fr-CA") == "Trou" and hole.name_in("de") == "Hole"
    definition = ServiceDefinition.model_validate(hole.definition())
    assert definition.attributes[0].required and definition.attributes[0].values[0].key == "x"
    assert Service.model_validate(hole.to_open311()).metadata is True


def test_a_service_without_attributes_has_no_metadata(tmp_path: Path) -> None:
    jur = load(tmp_path, {"service_code": "hole", "service_name": "Hole", "queue": "roads"})
    assert jur.service("hole").to_open311()["metadata"] is False and jur.service("hole").definition()["attributes"] == []


@pytest.mark.parametrize(("attribute", "words"), [
    ({"code": "a", "datatype": "singlevaluelist", "description": "A"}, "without values"),
    ({"code": "a", "datatype": "string", "description": "A", "values": [{"key": "x", "name": "X"}]}, "only list"),
    ({"code": "a", "datatype": "multivaluelist", "description": "A",
      "values": [{"key": "x", "name": "X"}, {"key": "x", "name": "Y"}]}, "twice"),
    ({"code": "a[0]", "datatype": "string", "description": "A"}, "attribute code"),
    ({"code": "a", "datatype": "color", "description": "A"}, "datatype"),
    ({"code": "a", "datatype": "string"}, "description"),
])
def test_a_malformed_attribute_is_a_configuration_error(tmp_path: Path, attribute: dict, words: str) -> None:
    with pytest.raises(JurisdictionConfigError, match=words):
        load(tmp_path, {"service_code": "hole", "service_name": "Hole", "queue": "roads", "attributes": [attribute]})


def test_an_attribute_code_declared_twice_is_a_configuration_error(tmp_path: Path) -> None:
    twice = [{"code": "a", "datatype": "string", "description": "A"}] * 2
    with pytest.raises(JurisdictionConfigError, match="attribute code twice"):
        load(tmp_path, {"service_code": "hole", "service_name": "Hole", "queue": "roads", "attributes": twice})


def test_the_demo_city_names_every_service_in_french_and_asks_the_size_of_a_pothole() -> None:
    demo = load_jurisdiction("demo")
    assert all(s.labels.get("fr") for s in (*demo.services, demo.unclassified))
    size = demo.service("pothole").attribute("size")
    assert size is not None and size.required and [v.key for v in size.values] == ["small", "medium", "large"]
    assert demo.service("graffiti").attribute("surface").datatype == "multivaluelist"
    assert demo.service("missed-collection").attribute("bin_type") is not None


@pytest.mark.parametrize("city", ["nyc", "boston"])
def test_the_real_cities_have_some_optional_attributes(city: str, require_shared_data) -> None:
    jur = load_jurisdiction(city)
    with_attributes = [s for s in jur.services if s.attributes]
    assert with_attributes
    # Their replays post historical records, which answer no question: none may be required.
    assert not [a.code for s in with_attributes for a in s.attributes if a.required]
