"""Every service's app, built once per session in-process (nothing started, nothing connected), for the tests
of the documents integrators read (docs/integrations.md, section 4): the AsyncAPI and OpenAPI documents."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from jsonschema import Draft7Validator

from shared.events.asyncapi import build_apps
from shared.web import NODE_MODULES

ASYNCAPI_SCHEMA = NODE_MODULES / "@asyncapi" / "specs" / "schemas" / "3.0.0.json"
"""The official AsyncAPI 3.0.0 JSON Schema (npm `@asyncapi/specs`, installed by `make assets`)."""


@pytest.fixture(scope="session")
def service_apps() -> dict[str, Any]:
    """Service name → its FastAPI app, built by `shared.events.asyncapi.build_apps` (the settings the committed
    AsyncAPI document is built with)."""
    return build_apps()


@pytest.fixture(scope="session")
def asyncapi_validator() -> Draft7Validator:
    """A validator of the AsyncAPI 3.0.0 specification schema (draft-07; the bindings' schemas are bundled in
    it under their `$id`s, so nothing is fetched)."""
    assert ASYNCAPI_SCHEMA.is_file(), f"{ASYNCAPI_SCHEMA} is missing: run `make assets` (npm ci in shared/web)"
    return Draft7Validator(json.loads(ASYNCAPI_SCHEMA.read_text("utf-8")))


@pytest.fixture(scope="session")
def http_get() -> Any:
    """``http_get(app, path)``: ``GET path`` on `app` in-process, an `httpx.Response` (the app's lifespan is not
    run: the document routes need no resource)."""
    import anyio

    def get(app: Any, path: str) -> httpx.Response:
        async def go() -> httpx.Response:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://testserver") as client:
                return await client.get(path)

        return anyio.run(go)

    return get
