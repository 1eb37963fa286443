"""The issue's acceptance story, end to end in Debian Chromium (Playwright) on the demo stack (real Kafka,
PostgreSQL, GreenMail; every service, the insights service and the staff workbench).

A supervisor has the dashboard open. A resident reports a pothole in French on the portal with a pin, a
question answered and a photo (uploaded from the form: its GPS is gone when it is served); the dashboard
counts the new case within 5 seconds. The tracking page shows the photo and the public history. A second
resident pinning the same category 20 m away is shown that case and follows it by email. A staff member
resolves the case in the workbench; both residents hear it by email, and the reporter's survey invitation
carries a link; the reporter answers the survey in the browser (once: a second answer is 409); the answer
is on the case's timeline and the dashboard counts it. The help search answers and counts a deflection.
Every portal page passes axe-core (no serious or critical violation) at desktop (1280 px) and mobile
(390 px) widths; screenshots ``portal-*.png`` and ``story-*.png`` are kept in var/test-logs/screenshots/."""

from __future__ import annotations

import io
import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from email.message import EmailMessage

import httpx
import pytest
from PIL import Image
from playwright.async_api import Browser, Page

from shared.settings import Settings
from support.browser import (SCREENSHOTS, axe_clean, check_assets, chromium, figure, figure_rises, screenshot,
                             sign_in)
from support.mail import inbox, text_of
from support.process import ExtraService
from support.stack import Stack
from support.wait import eventually

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


async def mails_with(address: str, needle: str) -> list[EmailMessage]:
    return [m for m in await inbox(address) if needle in text_of(m)]


async def test_a_resident_reports_a_neighbour_follows_staff_resolve_and_the_reporter_answers_the_survey(
        stack: Stack, browser: Browser, staff_workbench: ExtraService) -> None:
    run = uuid.uuid4().hex[:8]
    anne, voisin = f"anne-{run}@resident.test", f"voisin-{run}@resident.test"

    # A supervisor has the dashboard open (htmx refreshes its figures every 2 s).
    dashboard = await sign_in(browser, staff_workbench.url, "supervisor", "/dashboard")
    await dashboard.wait_for_selector("#figure-requests")
    before = await figure(dashboard, "#figure-requests")

    page = await page_for(browser, stack)
    await page.goto("/")
    assert await page.get_attribute("html", "lang") == "fr"
    await check(page, "home")

    await page.click("#start-report")
    await page.wait_for_selector("#report-map .leaflet-interactive")
    served = datetime.now(UTC)
    await page.fill("#category-search", "CHAUSSEE abimee")  # a keyword of the category, not its label
    assert await page.input_value("#service_code") == "pothole"
    await page.wait_for_selector("#attr-size")
    await page.select_option("#attr-size", "large")
    await page.fill("#description", f"Un nid-de-poule profond devant l'école, une roue de vélo y est restée ({run}).")
    box = await page.locator("#report-map").bounding_box()
    assert box is not None
    await page.locator("#report-map").click(position={"x": box["width"] / 2, "y": box["height"] / 2})
    await page.wait_for_function("document.getElementById('lat').value !== ''")
    lat, long = float(await page.input_value("#lat")), float(await page.input_value("#long"))
    await page.set_input_files("#photo", files=[{"name": "IMG_0042.jpg", "mimeType": "image/jpeg",
                                                  "buffer": photo_with_gps()}])
    await page.wait_for_selector("#photo-list img")
    await page.click("label[for=notify-email]")
    await page.fill("#email", anne)
    await check(page, "report")
    await page.wait_for_timeout(max(0.0, MIN_FILL_S + 0.5 - (datetime.now(UTC) - served).total_seconds()) * 1000)
    await page.click("#submit-report")
    token = (await page.text_content("#submitted-token") or "").strip()
    assert token.startswith("web-")
    await check(page, "submitted")

    # The case opens; within 5 seconds the dashboard counts it.
    async with httpx.AsyncClient(base_url=stack.url("intake_web"), timeout=10) as web:
        async def case_number() -> str | None:
            found = await web.get(f"/tokens/{token}.json")
            return found.json()[0].get("service_request_id") if found.status_code == 200 else None
        sid = await eventually(case_number, timeout=30, interval=0.2, what="the report's case number")
    await figure_rises(dashboard, "#figure-requests", before, what="the new case on the dashboard")
    await screenshot(dashboard, "story-dashboard")

    # The tracking page: the photo (GPS gone, resized) and the public history.
    await page.goto(f"/track?q={token}")
    await page.wait_for_url(f"**/cases/{sid}")
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
    neighbour_served = datetime.now(UTC)  # the follow carries the report form's spam guard
    await neighbour.select_option("#service_code", "pothole")
    await neighbour.wait_for_selector("#attr-size")
    await neighbour.fill("#lat", f"{lat + 0.00018:.6f}")
    await neighbour.fill("#long", f"{long:.6f}")
    await neighbour.press("#long", "Tab")
    follow = neighbour.locator(f"#follow-{sid}")
    await follow.wait_for()
    assert "20 m" in (await neighbour.text_content(f"#nearby-{sid}") or "")
    await neighbour.click("label[for=notify-email]")
    await neighbour.fill("#email", voisin)
    await check(neighbour, "nearby-mobile")
    await neighbour.wait_for_timeout(
        max(0.0, MIN_FILL_S + 0.5 - (datetime.now(UTC) - neighbour_served).total_seconds()) * 1000)
    await follow.click()
    await neighbour.wait_for_selector(f"#nearby-{sid} .pt-followed")
    await eventually(lambda: mails_with(voisin, sid), timeout=30, what="the follower's confirmation")
    await neighbour.goto(f"/cases/{sid}")
    await check(neighbour, "case-mobile")

    # A staff member resolves the case in the workbench (once it is routed to its queue).
    staff = await sign_in(browser, staff_workbench.url, "supervisor", f"/cases/{sid}")

    async def routed() -> bool:
        await staff.goto(f"/cases/{sid}")
        options = await staff.locator("#transition-to option").evaluate_all("os => os.map(o => o.value)")
        return "resolved" in options
    await eventually(routed, timeout=30, interval=0.5, what="the case routed, resolvable in the workbench")
    mails_before = {who: len(await inbox(who)) for who in (anne, voisin)}
    await staff.select_option("#transition-to", "resolved")
    await staff.click("#transition-submit")
    await staff.wait_for_selector("#alert-done, #alert-error", timeout=20_000)
    assert await staff.locator("#alert-error").count() == 0, await staff.inner_text("#alert-error")
    await screenshot(staff, "story-workbench-resolved")

    # Both residents hear it on their channel; the reporter's survey invitation carries its link.
    for who in (anne, voisin):
        async def told(who: str = who) -> bool:
            return len(await inbox(who)) > mails_before[who]
        await eventually(told, timeout=30, what=f"{who} told of the resolution")
    invitations = await eventually(lambda: mails_with(anne, "/survey/"), timeout=30,
                                   what="the reporter's survey invitation")
    assert len(invitations) == 1
    link = re.search(r"https?://\S+/survey/([A-Za-z0-9._-]+)", text_of(invitations[0]))
    assert link, text_of(invitations[0])
    assert not await mails_with(voisin, "/survey/"), "a follower got a survey invitation"

    # The reporter answers the survey in the browser, once.
    await page.goto(f"/survey/{link.group(1)}")
    await check(page, "survey")
    await page.click("label[for=rating-5]")
    await page.fill("#comment", f"Réparé vite, merci ({run}).")
    await page.click("#survey-submit")
    await page.wait_for_selector("#survey-thanks")
    again = await page.request.post(f"/survey/{link.group(1)}", form={"rating": "1"})
    assert again.status == 409

    # The answer is on the case's timeline, and the dashboard counts it.
    async def on_timeline() -> bool:
        await staff.goto(f"/cases/{sid}")
        return await staff.locator('#timeline li[data-kind="survey_answered"]').count() > 0
    await eventually(on_timeline, timeout=20, interval=0.5, what="the survey answer on the case's timeline")
    assert "5/5" in await staff.inner_text('#timeline li[data-kind="survey_answered"]')
    await dashboard.goto("/dashboard")

    async def survey_counted() -> bool:
        text = await dashboard.inner_text("#figure-survey-count")
        return any(int(n) >= 1 for n in re.findall(r"\d+", text))
    await eventually(survey_counted, timeout=10, interval=0.3, what="the survey answer on the dashboard")
    await screenshot(dashboard, "story-dashboard-survey")
    await dashboard.locator("#hotspot-map").scroll_into_view_if_needed()
    await dashboard.wait_for_timeout(300)  # the heat layer draws on the next animation frame
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await dashboard.locator("#hotspot-map").screenshot(path=str(SCREENSHOTS / "story-hotspots.png"))

    # Help: the search answers, and "this answered my question" counts as a deflection.
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
