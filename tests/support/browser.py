"""What the browser tests share: Debian's Chromium (launched by Playwright, no network of its own), an
axe-core check injected into the page, and screenshots kept as test artefacts under
``var/test-logs/screenshots``."""

from __future__ import annotations

import json
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from playwright.async_api import Browser, Page, async_playwright

from shared.web import NODE_MODULES, VENDOR_DIR
from support.stack import REPO
from support.wait import eventually

CHROMIUM = os.environ.get("OMNI311_CHROMIUM", "/usr/bin/chromium")
# This machine's closed network refuses Chromium's background connections: keep it from making any.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
AXE = NODE_MODULES / "axe-core" / "axe.min.js"
SCREENSHOTS = REPO / "var" / "test-logs" / "screenshots"
NEW_CASE_WITHIN_S = 5.0
"""The issue's acceptance: the dashboard shows a new case within 5 seconds."""


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
    await page.screenshot(path=str(screenshot_path(name)), full_page=True)


def screenshot_path(name: str) -> Path:
    """Where `screenshot` keeps `name` (``var/test-logs/screenshots/<name>.png``, the folder made), for a
    screenshot of one element (``locator.screenshot(path=...)``)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS / f"{name}.png"


async def sign_in(browser: Browser, base: str, user: str, next_path: str) -> Page:
    """A workbench page (1280×900, en-CA) signed in through the development sign-in as `user` (``staff``,
    ``supervisor``...) at `next_path`, in a context of its own that bypasses the page's CSP (for axe)."""
    context = await browser.new_context(base_url=base, bypass_csp=True, viewport={"width": 1280, "height": 900},
                                        locale="en-CA")
    page = await context.new_page()
    await page.goto(f"/sign-in?user={user}&next={next_path}")
    await page.wait_for_selector("#signed-in-as")
    return page


async def figure(page: Page, selector: str) -> int:
    """The whole number the element at `selector` shows (e.g. a dashboard card)."""
    return int((await page.inner_text(selector)).strip())


async def figure_rises(page: Page, selector: str, above: int, *, what: str,
                       within_s: float = NEW_CASE_WITHIN_S) -> float:
    """Wait until the figure at `selector` exceeds `above` and return how many seconds that took, counted
    from the call to the poll that first saw it. Fails when it took more than `within_s`: `eventually` alone
    would not, as its last poll may come up to one interval after its deadline."""
    started = time.monotonic()
    seen: list[float] = []

    async def risen() -> bool:
        if await figure(page, selector) > above:
            seen.append(time.monotonic())
            return True
        return False
    await eventually(risen, timeout=within_s, interval=0.2, what=what)
    took = seen[0] - started
    assert took <= within_s, f"{what}: {took:.2f} s, more than {within_s} s"
    return took
