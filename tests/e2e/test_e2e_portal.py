"""End to end in Debian Chromium (Playwright) on the demo stack (real Kafka, PostgreSQL, the case service):
the resident portal. A resident reports a pothole in French with a pin, a question answered and a photo
(uploaded from the form: its GPS is gone when it is served); the case opens and its tracking page shows the
photo and the public history; a second resident pinning the same category 20 m away is shown that case and
follows it; a survey link is answered once; the help search answers. Every page passes axe-core (no serious
or critical violation) at desktop (1280 px) and mobile (390 px) widths; screenshots ``portal-*.png`` are kept
in var/test-logs/screenshots/."""

from __future__ import annotations

import io
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
from PIL import Image
from playwright.async_api import Browser, Page

from shared.settings import Settings
from shared.surveys import survey_token
from support.browser import axe_clean, check_assets, chromium, screenshot
from support.stack import Stack

MIN_FILL_S = Settings().portal_min_fill_s
GPS_IFD = 0x8825


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    check_assets()
    async with chromium() as b:
        yield b


async def page_for(browser: Browser, stack: Stack, *, mobile: bool = False, locale: str = "fr-CA") -> Page:
    context = await browser.new_context(
        base_url=stack.url("intake_web"), bypass_csp=True, locale=locale,
        viewport={"width": 390, "height": 844} if mobile else {"width": 1280, "height": 900},
        extra_http_headers={"Accept-Language": f"{locale},{locale[:2]};q=0.9"})
    return await context.new_page()


def photo_with_gps() -> bytes:
    img = Image.new("RGB", (2400, 1800), (90, 90, 90))
    img.paste((30, 30, 30), (800, 600, 1600, 1200))
    exif = Image.Exif()
    exif.get_ifd(GPS_IFD).update({1: "N", 2: (45.0, 25.0, 17.0), 3: "W", 4: (75.0, 41.0, 49.0)})
    out = io.BytesIO()
    img.save(out, format="JPEG", exif=exif)
    return out.getvalue()


async def check(page: Page, name: str) -> None:
    await axe_clean(page, name)
    await screenshot(page, f"portal-{name}")


async def test_a_resident_reports_tracks_and_a_neighbour_follows_on_the_portal(stack: Stack, browser: Browser) -> None:
    page = await page_for(browser, stack)
    await page.goto("/")
    assert await page.get_attribute("html", "lang") == "fr"
    await check(page, "home")

    await page.click("#start-report")
    await page.wait_for_selector("#report-map .leaflet-interactive")
    served = datetime.now(UTC)
    await page.fill("#category-search", "poule")
    assert await page.input_value("#service_code") == "pothole"
    await page.wait_for_selector("#attr-size")
    await page.select_option("#attr-size", "large")
    await page.fill("#description", "Un nid-de-poule profond devant l'école, une roue de vélo y est restée.")
    box = await page.locator("#report-map").bounding_box()
    assert box is not None
    await page.locator("#report-map").click(position={"x": box["width"] / 2, "y": box["height"] / 2})
    await page.wait_for_function("document.getElementById('lat').value !== ''")
    lat, long = float(await page.input_value("#lat")), float(await page.input_value("#long"))
    await page.set_input_files("#photo", files=[{"name": "IMG_0042.jpg", "mimeType": "image/jpeg",
                                                  "buffer": photo_with_gps()}])
    await page.wait_for_selector("#photo-list img")
    await page.click("label[for=notify-email]")
    await page.fill("#email", "anne.tremblay@example.org")
    await check(page, "report")
    await page.wait_for_timeout(max(0.0, MIN_FILL_S + 0.5 - (datetime.now(UTC) - served).total_seconds()) * 1000)
    await page.click("#submit-report")
    token = (await page.text_content("#submitted-token") or "").strip()
    assert token.startswith("web-")
    await check(page, "submitted")
    link = page.locator("#case-number-link")
    await link.wait_for(timeout=30_000)  # the page asks every 2 s until the case is open
    sid = (await link.text_content() or "").strip()
    await screenshot(page, "portal-submitted-open")
    await page.goto(f"/track?q={token}")
    assert page.url.endswith(f"/cases/{sid}")
    await page.wait_for_selector("#history li")
    assert await page.text_content("#case-category") == "Nid-de-poule"
    src = await page.get_attribute(".pt-photo--case", "src")
    assert src and re.fullmatch(r"/media/[0-9a-f-]{36}\.jpg", src)
    async with httpx.AsyncClient(base_url=stack.url("intake_web")) as http:
        jpeg = (await http.get(src)).content
    stored = Image.open(io.BytesIO(jpeg))
    assert stored.size == (1600, 1200) and not stored.getexif().get_ifd(GPS_IFD)
    await check(page, "case")

    # A neighbour pins the same category 20 m north: the open case is offered to follow instead.
    neighbour = await page_for(browser, stack, mobile=True)
    await neighbour.goto("/report")
    await neighbour.select_option("#service_code", "pothole")
    await neighbour.wait_for_selector("#attr-size")
    await neighbour.fill("#lat", f"{lat + 0.00018:.6f}")
    await neighbour.fill("#long", f"{long:.6f}")
    await neighbour.press("#long", "Tab")
    follow = neighbour.locator(f"#follow-{sid}")
    await follow.wait_for()
    assert "20 m" in (await neighbour.text_content(f"#nearby-{sid}") or "")
    await neighbour.click("label[for=notify-email]")
    await neighbour.fill("#email", "voisin@example.org")
    await check(neighbour, "nearby-mobile")
    await follow.click()
    await neighbour.wait_for_selector(f"#nearby-{sid} .pt-followed")
    await neighbour.goto(f"/cases/{sid}")
    await check(neighbour, "case-mobile")

    # The survey link the notifier writes (same secret): answered once.
    survey = survey_token(Settings().survey_secret, service_request_id=sid, contact_key="ck_e2e_portal",
                          language="fr", now=datetime.now(UTC), ttl_s=3600)
    await page.goto(f"/survey/{survey}")
    await check(page, "survey")
    await page.click("label[for=rating-4]")
    await page.fill("#comment", "Réparé vite, merci.")
    await page.click("#survey-submit")
    await page.wait_for_selector("#survey-thanks")
    again = await page.request.post(f"/survey/{survey}", form={"rating": "1"})
    assert again.status == 409

    await page.goto("/report/help?q=encombrants")
    await page.wait_for_selector("#article-bulky-items")
    await check(page, "help")
    await page.click("#answered-bulky-items")
    await page.wait_for_selector("#help-thanks")

    english = await page_for(browser, stack, mobile=True, locale="en-US")
    await english.goto("/report")
    assert await english.get_attribute("html", "lang") == "en"
    await check(english, "report-mobile")
    await english.goto("/?lang=fr")
    assert await english.get_attribute("html", "lang") == "fr"
