"""Every HTTP service's OpenAPI document (``GET /openapi.json``, docs/integrations.md section 4) is valid against
the OpenAPI specification (`openapi-spec-validator`), and documents what each operation answers: a 2xx response
with a schema that says something (a model, or a media type of its own such as XML, TwiML, CSV or an image),
never only FastAPI's default "Successful Response" with an empty or free-form schema."""

from __future__ import annotations

import json
from typing import Any

import pytest
from openapi_spec_validator import validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError

from shared.events.asyncapi import service_names

from documents_support import http_get, service_apps as _apps

SERVICES = ["case", "dedup", "forwarder", "insights", "intake_email", "intake_sms_voice", "intake_social",
            "intake_web", "notifier", "router", "webhooks", "workbench"]
"""Every HTTP service, named here so that a missing one fails (not only those the checkout happens to have)."""
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


@pytest.fixture(scope="module")
def service_apps() -> dict[str, Any]:
    return _apps()


def test_every_service_is_checked() -> None:
    assert set(service_names()) == set(SERVICES), "a service was added or removed: list it in SERVICES"


def free_form(schema: dict[str, Any]) -> bool:
    """True for a schema that says nothing about the answer: empty, an object with no properties that admits
    any (``dict[str, Any]``), or an array of such."""
    if not schema:
        return True
    if schema.get("type") == "array":
        return free_form(schema.get("items", {}))
    return (schema.get("type") == "object" and not schema.get("properties")
            and schema.get("additionalProperties", True) is not False
            and not any(k in schema for k in ("$ref", "anyOf", "oneOf", "allOf")))


def undocumented(document: dict[str, Any]) -> list[str]:
    """``METHOD path`` of each operation of `document` without a documented 2xx response."""
    missing = []
    for path, item in document.get("paths", {}).items():
        for method, operation in item.items():
            if method not in METHODS:
                continue
            documented = False
            for code, response in operation.get("responses", {}).items():
                if not code.startswith("2"):
                    continue
                content = response.get("content")
                if code in ("204", "205") and not content:
                    documented = True
                for media_type, spec in (content or {}).items():
                    if media_type != "application/json" or not free_form(spec.get("schema", {})):
                        documented = True
            if not documented:
                missing.append(f"{method.upper()} {path}")
    return missing


def test_the_check_tells_a_documented_answer_from_the_default() -> None:
    default = {"200": {"description": "Successful Response", "content": {"application/json": {"schema": {}}}}}
    any_dict = {"200": {"content": {"application/json": {"schema": {"type": "object", "additionalProperties": True}}}}}
    model = {"200": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Case"}}}}}
    xml = {"200": {"content": {"application/xml": {"schema": {"type": "string"}}}}}
    paths = {"/a": {"get": {"responses": default}}, "/b": {"get": {"responses": any_dict}},
             "/c": {"get": {"responses": model}}, "/d": {"post": {"responses": xml}},
             "/e": {"delete": {"responses": {"204": {"description": "gone"}}}}}
    assert undocumented({"paths": paths}) == ["GET /a", "GET /b"]


@pytest.mark.parametrize("name", SERVICES)
def test_the_openapi_document_is_valid(service_apps: dict[str, Any], name: str) -> None:
    assert name in service_apps, f"services/{name} has no app.py"
    response = http_get(service_apps[name], "/openapi.json")
    assert response.status_code == 200
    try:
        validate(response.json())
    except OpenAPIValidationError as exc:
        pytest.fail(f"{name}'s /openapi.json is not valid OpenAPI: {str(exc)[:1500]}")


@pytest.mark.parametrize("name", SERVICES)
def test_every_operation_documents_its_answer(service_apps: dict[str, Any], name: str) -> None:
    assert name in service_apps, f"services/{name} has no app.py"
    document = service_apps[name].openapi()
    missing = undocumented(document)
    assert not missing, (f"{name}: operations whose 2xx answer is not documented (add a response_model, or "
                         f"`responses` with the media type): {json.dumps(missing, indent=1)}")
    assert document["paths"].get("/healthz"), f"{name}: the probes are not documented"
