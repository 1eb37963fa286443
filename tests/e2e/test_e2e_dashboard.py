"""End to end in Debian Chromium (Playwright) on real Kafka and PostgreSQL: the managers' dashboard in the
workbench, fed by the insights service. A supervisor opens the dashboard; a resident reports graffiti
through Open311 with the category's answers and a photo; within 5 seconds the figures (refreshed by htmx)
count it, and the hotspot map's heat layer gets its point and those of two more reports; the case page
shows the answers labelled with the questions and the photo; the reporter's survey answer reaches the
case's timeline and the dashboard; a body over the limit posted to intake_web appears on the refusals
page. Department staff get 403. axe-core finds no serious or critical violation on the dashboard, the
refusals page or the case page; screenshots are kept in var/test-logs/screenshots/
(workbench-dashboard.png, workbench-hotspots.png, workbench-refusals.png, workbench-case-answers.png).

Runs on the session's demo stack, with the insights service and the
workbench beside it; the workbench's development sign-in signs with the test identity provider's key."""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from PIL import Image

from shared.contacts import contact_key
from shared.settings import Settings
from shared.surveys import survey_token
from support.browser import axe_clean, chromium, figure, figure_rises, screenshot, screenshot_path, sign_in
from support.fakes import FakeApi, Recorded
from support.process import ExtraService
from support.stack import Stack
from support.wait import eventually


class PhotoHost(FakeApi):
    """Where a resident's app keeps the photo it sends as Open311 ``media_url`` (kept as sent): any path
    answers one JPEG."""

    bytes_content_type = "image/jpeg"

    def __init__(self) -> None:
        super().__init__()
        buffer = io.BytesIO()
        Image.new("RGB", (640, 480), (180, 70, 60)).save(buffer, "JPEG")
        self.jpeg = buffer.getvalue()

    def answer(self, req: Recorded) -> tuple[int, Any]:
        return 200, self.jpeg


@pytest.fixture(scope="module")
def photo_host() -> Iterator[PhotoHost]:
    host = PhotoHost().start()
    try:
        yield host
    finally:
        host.stop()


async def test_a_new_report_reaches_the_dashboard_and_its_map_and_staff_see_its_answers_and_refusals(
        stack: Stack, staff_workbench: ExtraService, photo_host: PhotoHost) -> None:
    run = uuid.uuid4().hex[:8]
    photo = f"{photo_host.url}/graffiti-{run}.jpg"
    reporter = f"g-{run}@resident.test"
    async with chromium() as browser:
        staff = await sign_in(browser, staff_workbench.url, "staff", "/queue")
        refused = await staff.goto("/dashboard")
        assert refused is not None and refused.status == 403

        page = await sign_in(browser, staff_workbench.url, "supervisor", "/dashboard")
        await page.wait_for_selector("#figure-requests")
        await page.wait_for_selector("#hotspot-map .leaflet-overlay-pane path")  # the districts, offline
        before = await figure(page, "#figure-requests")
        points_before = int(await page.get_attribute("#hotspot-points", "data-count") or 0)

        async with httpx.AsyncClient(base_url=stack.url("intake_web"), timeout=10) as web:
            posted = await web.post("/requests.json", data={
                "api_key": "demo-key", "service_code": "graffiti", "lat": "45.4213", "long": "-75.6975",
                "description": f"Tags all over the bus shelter ({run})", "email": reporter,
                "media_url": photo, "attribute[surface][]": ["wall", "bus_shelter"], "attribute[offensive]": "no"})
            assert posted.status_code == 200, posted.text
            token = posted.json()[0]["token"]

            async def case_number() -> str | None:
                found = await web.get(f"/tokens/{token}.json")
                return found.json()[0].get("service_request_id") if found.status_code == 200 else None
            sid = await eventually(case_number, timeout=30, what="the graffiti report's case number")

            # The case exists: the dashboard (htmx, every 2 s) counts it within 5 seconds.
            await figure_rises(page, "#figure-requests", before, what="the new case on the dashboard")

            # The per-day table folded under its chart opens from the keyboard and stays open, focused,
            # across the next refresh of the figures.
            await page.focus("#channel-summary")
            await page.keyboard.press("Enter")
            figures = await page.query_selector("#dashboard-figures")
            await page.wait_for_function("el => !el.isConnected", arg=figures, timeout=5000)
            assert await page.evaluate("() => document.getElementById('channel-details').open")
            assert await page.evaluate("() => document.activeElement.id") == "channel-summary"
            assert await page.is_visible("#channel-table")
            await page.keyboard.press("Enter")  # folded again, and unfocused, for the screenshot
            await page.evaluate("() => document.activeElement.blur()")

            # Two more reports (a cluster by the first, one up north; three of the ten a client may send in
            # a minute): the map's points follow, fetched again only because the figures' version changed.
            for lat, long in (("45.4216", "-75.6971"), ("45.4350", "-75.6650")):
                more = await web.post("/requests.json", data={
                    "api_key": "demo-key", "service_code": "graffiti", "lat": lat, "long": long,
                    "description": f"More tags ({run})", "attribute[offensive]": "yes"})
                assert more.status_code == 200, more.text
            await eventually(lambda: page.evaluate(
                f"() => Number(document.getElementById('hotspot-map').dataset.points || 0) >= {points_before + 3}"),
                timeout=15, interval=0.2, what="the three reports' points on the hotspot map")
            assert await page.locator("#hotspot-map canvas.leaflet-heatmap-layer").count() == 1
            await axe_clean(page, "dashboard")
            await screenshot(page, "workbench-dashboard")
            await page.locator("#map-h").scroll_into_view_if_needed()
            await page.wait_for_timeout(300)  # the heat layer draws on the next animation frame
            await page.locator("#hotspot-map").screenshot(path=str(screenshot_path("workbench-hotspots")))

            # Staff see the category's answers, labelled with its questions, and the photo.
            await page.goto(f"/cases/{sid}")
            answers = page.locator("#case-attributes")
            await answers.wait_for()
            text = await answers.inner_text()
            assert "What is it painted on?" in text and "Bus shelter" in text, text
            assert "Is it offensive or hateful?" in text
            thumb = page.locator(f'#case-photos a[href="{photo}"] img')
            assert await thumb.get_attribute("alt") == f"Photo 1 of case {sid}, sent by a reporter"
            assert await thumb.evaluate("img => img.complete && img.naturalWidth > 0")

            # The reporter answers the satisfaction survey (the link the notifier would send): the answer is
            # on the case's timeline, and the dashboard counts it.
            survey = survey_token(Settings.model_fields["survey_secret"].default, service_request_id=sid,
                                  contact_key=contact_key("email", reporter), language="en",
                                  now=datetime.now(UTC), ttl_s=3600)
            answered = await web.post(f"/survey/{survey}", data={"rating": "4", "comment": f"Clean again ({run})"})
            assert answered.status_code == 200, answered.text

            async def on_timeline() -> bool:
                await page.goto(f"/cases/{sid}")
                return await page.locator('#timeline li[data-kind="survey_answered"]').count() > 0
            await eventually(on_timeline, timeout=20, interval=0.5, what="the survey answer on the case's timeline")
            entry = await page.inner_text('#timeline li[data-kind="survey_answered"]')
            assert f"Survey: 4/5 — Clean again ({run})" in entry, entry
            await axe_clean(page, "case")
            await screenshot(page, "workbench-case-answers")

            # A body over the limit is refused by intake_web, and the refusal is on the refusals page.
            too_big = await web.post("/requests.json", content=b"description=" + b"x" * 300_000,
                                     headers={"Content-Type": "application/x-www-form-urlencoded"})
            assert too_big.status_code == 413

        await page.goto("/dashboard")
        await page.wait_for_selector("#figure-survey-count")

        async def survey_counted() -> bool:
            return "Answers: 1" in await page.inner_text("#figure-survey-count")
        await eventually(survey_counted, timeout=10, interval=0.3, what="the survey answer on the dashboard")
        assert (await page.inner_text("#figure-survey")).strip() == "4.0/5"

        async def refusal_listed() -> bool:
            await page.goto("/refusals")
            return await page.locator('#refusals-table tr[data-reason="body_too_large"]').count() > 0
        await eventually(refusal_listed, timeout=15, interval=0.5, what="the 413 on the refusals page")
        await axe_clean(page, "refusals")
        await screenshot(page, "workbench-refusals")
