"""Answers to a service's Open311 attributes checked against its definition (GeoReport v2, POST Service
Request ``attribute[CODE]``), and the discovery document (GeoReport v2, Service Discovery). Pure."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, NamedTuple

from pydantic import BeforeValidator, Field

from shared.open311.models import DECIMAL_TEXT, Open311Error, ServiceDefinition, _clean_text, _Open311Model
from shared.open311.post import DESCRIPTION_MAX_CHARS, InvalidPostServiceRequest

__all__ = [
    "DISCOVERY_FORMATS",
    "GEOREPORT_V2_SPECIFICATION",
    "AttributeAnswers",
    "AttributeProblem",
    "Discovery",
    "DiscoveryEndpoint",
    "attribute_problems",
    "validate_attributes",
]

GEOREPORT_V2_SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
"""The `specification` of a GeoReport v2 endpoint in a discovery document."""
DISCOVERY_FORMATS = ("text/xml", "application/json")
"""The formats every endpoint of ours answers in."""

AttributeAnswers = dict[str, str | list[str]]
"""Answers by attribute code: one value (text), or the list of values of a ``multivaluelist``."""

_LISTS = ("singlevaluelist", "multivaluelist")

MAX_ANSWER_CHARS = {"text": DESCRIPTION_MAX_CHARS, "string": 500, "number": 500, "datetime": 500}
"""The longest answer by datatype, in characters (after stripping): a ``text`` as long as a description
(4000), a ``string`` (and a number or date written out) 500."""
MAX_LIST_VALUE_CHARS = 200
"""The longest value of a ``singlevaluelist``/``multivaluelist`` answer, in characters (no key is longer)."""


class AttributeProblem(NamedTuple):
    """One problem of the answers: the attribute `code` it is about (a form field can be told from it,
    never from the words) and the `sentence` saying it, naming the code (an Open311 error description)."""

    code: str
    sentence: str


def _as_list(value: str | list[str]) -> list[str]:
    return list(value) if isinstance(value, list | tuple) else [value]


def _blank(value: str | list[str] | None) -> bool:
    return value is None or all(not (v or "").strip() for v in _as_list(value))


def attribute_problems(definition: ServiceDefinition, given: Mapping[str, str | list[str] | None]
                       ) -> tuple[list[AttributeProblem], AttributeAnswers]:
    """Check `given` (attribute code → the value of ``attribute[CODE]``, or the list of ``attribute[CODE][]``;
    as `shared.open311.parse_post_form` gives them) against `definition`.

    Returns ``(problems, answers)``: one `AttributeProblem` (code, sentence naming the code) per problem,
    in the definition's order then unknown codes; and the kept answers (blank optional answers dropped, text
    stripped, a ``multivaluelist`` always a list with each key once in the order sent; ``number`` and
    ``datetime`` kept as the text sent). Problems (GeoReport v2, POST Service Request: "attribute" and
    GET Service Definition's datatypes; docs/residents-and-insights.md "Validation on POST"):

      * a ``required`` attribute missing or blank;
      * a ``singlevaluelist``/``multivaluelist`` value that is not one of its keys;
      * several values for any datatype but ``multivaluelist``;
      * an answer longer than its datatype allows (`MAX_ANSWER_CHARS`: ``string`` 500 characters, ``text``
        4000 as a description; each list value `MAX_LIST_VALUE_CHARS`, 200), said without quoting it;
      * a ``number`` that is not a finite decimal number (ASCII digits, sign, point, exponent);
      * a ``datetime`` that is not ISO 8601 with a UTC offset;
      * a code the definition does not have (``variable: false`` attributes are information only: an
        answer to one is refused too).
    """
    problems: list[AttributeProblem] = []
    answers: AttributeAnswers = {}

    def problem(code: str, sentence: str) -> None:
        problems.append(AttributeProblem(code, sentence))

    known = {a.code: a for a in definition.attributes}
    ordered = sorted(definition.attributes, key=lambda a: (a.order is None, a.order or 0))
    for attr in ordered:
        code = attr.code
        value = given.get(code)
        if not attr.variable:
            if not _blank(value):
                problem(code, f"attribute {code} is information only and takes no answer")
            continue
        if _blank(value):
            if attr.required:
                problem(code, f"attribute {code} is required" + (f" ({attr.description})" if attr.description else ""))
            continue
        assert value is not None
        values = [v.strip() for v in _as_list(value) if (v or "").strip()]
        if attr.datatype != "multivaluelist" and len(values) > 1:
            problem(code, f"attribute {code} takes one value, got {len(values)}")
            continue
        limit = MAX_LIST_VALUE_CHARS if attr.datatype in _LISTS else MAX_ANSWER_CHARS.get(attr.datatype, 500)
        if any(len(v) > limit for v in values):
            problem(code, f"attribute {code} is longer than {limit} characters")
            continue
        if attr.datatype in _LISTS:
            keys = [v.key for v in attr.values]
            outside = [v for v in values if v not in keys]
            if outside:
                problem(code, f"attribute {code}: {outside[0]!r} is not one of its values ({', '.join(keys)})")
                continue
            answers[code] = list(dict.fromkeys(values)) if attr.datatype == "multivaluelist" else values[0]
            continue
        text = values[0]
        if attr.datatype == "number" and not _is_number(text):
            problem(code, f"attribute {code} must be a number, got {text!r}")
            continue
        if attr.datatype == "datetime" and not _is_datetime(text):
            problem(code, f"attribute {code} must be an ISO 8601 date and time with a UTC offset, got {text!r}")
            continue
        answers[code] = text
    for code in given:
        if code not in known:
            problem(code, f"attribute {code} is not an attribute of service {definition.service_code}")
    return problems, answers


def validate_attributes(definition: ServiceDefinition, given: Mapping[str, str | list[str] | None]
                        ) -> AttributeAnswers:
    """The answers `given` as kept on the case (see `attribute_problems`).

    Raises:
        InvalidPostServiceRequest: one ``Open311Error(code=400)`` per problem, each naming its attribute code.
    """
    problems, answers = attribute_problems(definition, given)
    if problems:
        raise InvalidPostServiceRequest([Open311Error(code=400, description=p.sentence) for p in problems])
    return answers


def _is_number(text: str) -> bool:
    return bool(DECIMAL_TEXT.match(text)) and math.isfinite(float(text))


def _is_datetime(text: str) -> bool:
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return False
    return parsed.tzinfo is not None and parsed.utcoffset() is not None


Text = Annotated[str | None, BeforeValidator(_clean_text)]
RequiredText = Annotated[str, BeforeValidator(_clean_text)]


def _list_of_text(value: Any) -> Any:
    if value is None:
        return []
    return [value] if isinstance(value, str) else value


class DiscoveryEndpoint(_Open311Model):
    """One endpoint of a discovery document: `specification` (e.g. GeoReport v2's wiki URL), `url` (the
    base URL the API's paths are relative to), `changeset` (when it last changed), `type` (``production``,
    ``test``), `formats` (media types)."""

    specification: RequiredText
    url: RequiredText
    changeset: RequiredText
    type: RequiredText
    formats: Annotated[list[str], BeforeValidator(_list_of_text)] = Field(default_factory=list)


class Discovery(_Open311Model):
    """The discovery document (Open311 GeoReport v2, Service Discovery): `changeset` (text, sortable: an
    ISO 8601 time), `contact` (how to reach the operator), `key_service` (where to get an api_key) and the
    `endpoints`."""

    changeset: RequiredText
    contact: Text = None
    key_service: Text = None
    endpoints: Annotated[list[DiscoveryEndpoint], BeforeValidator(_list_of_text)] = Field(default_factory=list)
