"""End to end on real Kafka and PostgreSQL: a call agent logs a phone request through the console page in
headless Debian Chromium driven by Playwright (place picked on the district map); the case opens with
channel `phone` at that place. A request with a
wrong agent token is refused and publishes nothing. intake_web runs as its own process beside the demo
stack, with agent tokens configured (the stack's own intake_web has none)."""

from __future__ import annotations

import hashlib
import json
import os
import random
import secrets
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from playwright.async_api import async_playwright

from support.process import ExtraService
from support.stack import Stack
from support.wait import eventually

AGENT_ID = "agent-e2e"
CHROMIUM = os.environ.get("OMNI311_CHROMIUM", "/usr/bin/chromium")
# This machine's closed network refuses Chromium's background connections: keep it from making any.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


@pytest.fixture
async def console(stack: Stack) -> AsyncIterator[tuple[ExtraService, str]]:
    token = "e2e-" + secrets.token_urlsafe(24)
    proc = ExtraService(stack, "intake_web", {"OMNI311_AGENT_TOKENS": json.dumps({token: AGENT_ID})})
    proc.start()
    try:
        await proc.ready()
        yield proc, token
    finally:
        proc.stop()


def _contact_key(e164: str) -> str:
    """The caller's contact key, as the SMS/voice intake computes it."""
    return "ck_" + hashlib.sha256(f"phone:{e164}".encode()).hexdigest()[:32]


async def test_an_agent_logs_a_phone_request_in_the_console_and_the_case_opens_with_channel_phone(
        stack: Stack, console: tuple[ExtraService, str]) -> None:
    web, token = console
    local = f"613-555-{random.randrange(10000):04d}"
    e164 = "+1" + local.replace("-", "")
    lat, long = 45.42, -75.69

    async with httpx.AsyncClient(base_url=web.url, timeout=10) as api:
        wrong = await api.post("/agent/requests", headers={"authorization": "Bearer not-" + token},
                               json={"request_id": "e2e-" + uuid.uuid4().hex, "caller_phone": local,
                                     "service_code": "pothole", "description": "wrong token", "lat": lat,
                                     "long": long})
        assert wrong.status_code == 401, wrong.text

    async with async_playwright() as pw:
        # Playwright gives every launch a fresh, empty profile of its own (no --user-data-dir needed).
        browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page()
            await page.goto(web.url + "/agent")
            await page.fill("#agent-token", token)
            await page.fill("#caller-phone", local)
            await page.click("#look-up-caller")
            await page.wait_for_selector("#earlier[data-state]", timeout=10_000)
            assert await page.get_attribute("#earlier", "data-state") in ("none", "unavailable")

            await page.select_option("#service-code", "pothole")
            await page.fill("#description", "Caller reports a deep pothole in the right lane")
            await page.fill("#lat", "200")
            await page.fill("#long", str(long))
            await page.click("#submit")
            await page.wait_for_selector("#errors li", timeout=10_000)
            assert "lat must be within" in await page.inner_text("#errors")

            # The place is picked on the district map: the click becomes lat/long inside the city.
            await page.click('#district-map path[data-district="centre"]')
            lat, long = float(await page.input_value("#lat")), float(await page.input_value("#long"))
            assert 45.39 < lat < 45.45 and -75.73 < long < -75.62, (lat, long)
            await page.click("#submit")
            await page.wait_for_selector("#case-number", timeout=30_000)
            sid = (await page.inner_text("#case-number")).strip()
            assert await page.inner_text("#errors") == ""

            async with httpx.AsyncClient(base_url=stack.url("case"), timeout=10) as case_api:
                timeline = (await case_api.get(f"/cases/{sid}/timeline")).json()
                assert timeline["channel"] == "phone", timeline
                by_contact = await case_api.get(f"/cases/by-contact/{_contact_key(e164)}")

            await page.click("#look-up-caller")
            if by_contact.status_code == 200:
                await page.wait_for_selector(f'#earlier li[data-service-request-id="{sid}"]', timeout=10_000)
            else:  # the case service does not offer the look-up yet: the console says so and still works
                await page.wait_for_selector('#earlier[data-state="unavailable"]', timeout=10_000)
                assert "earlier cases unavailable" in await page.inner_text("#earlier")
        finally:
            await browser.close()

    conn = await stack.case_db()
    try:
        async def one_case() -> int:
            return await conn.fetchval("SELECT count(*) FROM cases WHERE contact_key = $1", _contact_key(e164))
        assert await eventually(one_case, timeout=5, what="the caller's case") == 1
        row = await conn.fetchrow("SELECT m.channel, c.lat, c.long FROM messages m JOIN cases c USING (case_id) "
                                  "WHERE c.service_request_id = $1", sid)
    finally:
        await conn.close()
    # The wrong-token request (same caller, so the same partition, sent first) published nothing.
    assert row["channel"] == "phone"
    assert (round(row["lat"], 6), round(row["long"], 6)) == (lat, long)
