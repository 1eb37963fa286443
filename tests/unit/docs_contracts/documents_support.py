"""What the tests of the documents integrators read (docs/integrations.md, section 4) share: every service's
app, built once per session in-process (nothing started, nothing connected), the AsyncAPI 3.0 specification's
validator, and an in-process GET. A plain module, not a conftest: other folders import their own `conftest`."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import anyio
import httpx
from jsonschema import Draft7Validator

from shared.events.asyncapi import build_apps
from shared.web import NODE_MODULES

ASYNCAPI_SCHEMA = NODE_MODULES / "@asyncapi" / "specs" / "schemas" / "3.0.0.json"
"""The official AsyncAPI 3.0.0 JSON Schema (npm `@asyncapi/specs`, installed by `make assets`)."""


@cache
def service_apps() -> dict[str, Any]:
    """Service name → its FastAPI app, built once by `shared.events.asyncapi.build_apps` (the settings the
    committed AsyncAPI document is built with)."""
    return build_apps()


@cache
def asyncapi_validator() -> Draft7Validator:
    """A validator of the AsyncAPI 3.0.0 specification schema (draft-07; the bindings' schemas are bundled in
    it under their `$id`s, so nothing is fetched). Fails when ``make assets`` has not installed it."""
    assert ASYNCAPI_SCHEMA.is_file(), f"{ASYNCAPI_SCHEMA} is missing: run `make assets` (npm ci in shared/web)"
    return Draft7Validator(json.loads(ASYNCAPI_SCHEMA.read_text("utf-8")))


def http_get(app: Any, path: str) -> httpx.Response:
    """``GET path`` on `app` in-process (its lifespan is not run: the document routes need no resource)."""

    async def go() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://testserver") as client:
            return await client.get(path)

    return anyio.run(go)
