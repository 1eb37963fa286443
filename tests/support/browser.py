"""What the browser tests share: Debian's Chromium (launched by Playwright, no network of its own), an
axe-core check injected into the page, and screenshots kept as test artefacts under
``var/test-logs/screenshots``."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from playwright.async_api import Browser, Page, async_playwright

from shared.web import NODE_MODULES, VENDOR_DIR
from support.stack import REPO

CHROMIUM = os.environ.get("OMNI311_CHROMIUM", "/usr/bin/chromium")
# This machine's closed network refuses Chromium's background connections: keep it from making any.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
AXE = NODE_MODULES / "axe-core" / "axe.min.js"
SCREENSHOTS = REPO / "var" / "test-logs" / "screenshots"


def check_assets() -> None:
    """Fail (never skip) when `make assets` has not built the front-end libraries."""
    assert (VENDOR_DIR / ".installed").is_file(), "run `make assets` (npm ci in shared/web)"


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    """Debian's Chromium, headless, through Playwright."""
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


async def axe_clean(page: Page, name: str) -> None:
    """Run axe-core on the page (injected by the test; the context bypasses the page's CSP for it) and
    fail on any serious or critical violation."""
    await page.add_script_tag(path=str(AXE))
    found = await page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
        ".filter(v => v.impact === 'serious' || v.impact === 'critical')"
        ".map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}))")
    assert found == [], f"axe-core on the {name} page: {json.dumps(found, indent=1)}"


async def screenshot(page: Page, name: str) -> None:
    """Save a full-page screenshot as ``var/test-logs/screenshots/<name>.png``."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
