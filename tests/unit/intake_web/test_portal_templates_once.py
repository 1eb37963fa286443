"""The portal's Jinja2 environment is built once, when the app is built, not on every page (a new one
per request compiled every template again)."""

from __future__ import annotations

from typing import Any

import pytest

import services.intake_web.entrypoints.portal as entry
from portal_fakes import Portal


async def test_the_template_environment_is_built_once_for_every_page(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[Any] = []
    real = entry.Environment

    def counting(*args: Any, **kwargs: Any) -> Any:
        built.append(real(*args, **kwargs))
        return built[-1]

    monkeypatch.setattr(entry, "Environment", counting)
    p = Portal()
    async with p.web as web:
        for path in ("/", "/report", "/track", "/cases/DEMO-26-000042", "/"):
            assert (await web.get(path)).status_code == 200
    assert len(built) == 1
