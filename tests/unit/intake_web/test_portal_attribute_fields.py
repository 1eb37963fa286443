"""An attribute's problem is shown by the field of the attribute it is about, told by its code (never by
looking for a code among the words of the sentence: a value sent may be another attribute's code)."""

from __future__ import annotations

import pytest
from starlette.datastructures import FormData

from portal_fakes import Portal
from services.intake_web.domain.portal import FormProblem
from services.intake_web.service_layer.portal import read_report
from shared.open311 import AttributeProblem, ServiceDefinition, attribute_problems

FORM = {"service_code": "pothole", "description": "Deep hole", "lat": "45.4216", "long": "-75.6973", "notify": "none"}


def test_attribute_problems_name_the_code_they_are_about() -> None:
    definition = ServiceDefinition.model_validate({"service_code": "x", "attributes": [
        {"code": "size", "datatype": "singlevaluelist", "required": True, "order": 1, "description": "How big?",
         "values": [{"key": "small", "name": "Small"}]},
        {"code": "lane", "datatype": "singlevaluelist", "order": 2, "description": "In a lane?",
         "values": [{"key": "yes", "name": "Yes"}]}]})
    problems, _ = attribute_problems(definition, {"size": "small", "lane": "size", "colour": "red"})
    assert [p.code for p in problems] == ["lane", "colour"]
    assert all(isinstance(p, AttributeProblem) and p.code in p.sentence for p in problems)


def test_a_value_naming_another_attribute_is_shown_by_its_own_field() -> None:
    deps = Portal().web._transport.app.state.deps  # type: ignore[attr-defined]
    form = FormData([*FORM.items(), ("attribute[size]", "large"), ("attribute[in_traffic_lane]", "size"),
                     ("attribute[colour]", "red")])
    with pytest.raises(FormProblem) as refused:
        read_report(deps, form, photo_urls=[])
    assert set(refused.value.problems) == {"attribute[in_traffic_lane]", "attributes"}
