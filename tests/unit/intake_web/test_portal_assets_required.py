"""intake_web refuses to start without the front-end libraries (`make assets`), as the workbench does; an
app built without them (every other unit test) still builds and serves."""

from __future__ import annotations

from pathlib import Path

import pytest

import shared.web
from portal_fakes import MemoryPortalStore
from services.intake_web.entrypoints import portal
from services.intake_web.service_layer.deps import Deps
from shared.service import Runtime
from shared.settings import Settings
from shared.web import AssetsMissing
from web_fakes import FakePublisher, demo


async def test_the_portal_does_not_start_without_its_front_end_libraries(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shared.web, "VENDOR_DIR", tmp_path / "vendor")
    rt = Runtime(Settings(jurisdiction="demo"), "intake_web")
    deps = Deps(publisher=FakePublisher(), case_api=None, console_case_api=None,  # type: ignore[arg-type]
                clock=lambda: None, log=rt.log, api_keys=(), agent=None)  # type: ignore[arg-type]
    deps.use(demo())
    portal.mount(rt, deps, store=MemoryPortalStore(), reads=object())  # type: ignore[arg-type]
    try:
        with pytest.raises(AssetsMissing, match="make assets"):
            for hook in rt.on_start:
                await hook()
    finally:
        for hook in rt.on_stop:
            await hook()
