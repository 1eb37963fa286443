"""End to end on real Kafka and PostgreSQL: a call agent signed in with a staff token (the test identity
provider every stack service trusts) logs a phone request through the console page in headless Debian
Chromium driven by Playwright (place picked on the district map); the case opens with channel `phone` at
that place and the agent (the token's subject) on it. A request with a tampered, expired or
department-staff token is refused and publishes nothing; the caller look-up reaches the case service with
the agent's own token."""

from __future__ import annotations

import hashlib
import os
import random
import uuid

import httpx
import pytest
from playwright.async_api import async_playwright

from shared.auth import Role
from support.auth import TestIssuer
from support.stack import Stack
from support.wait import eventually

AGENT_ID = "agent-e2e"
CHROMIUM = os.environ.get("OMNI311_CHROMIUM", "/usr/bin/chromium")
# This machine's closed network refuses Chromium's background connections: keep it from making any.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


def _contact_key(e164: str) -> str:
    """The caller's contact key, as the SMS/voice intake computes it."""
    return "ck_" + hashlib.sha256(f"phone:{e164}".encode()).hexdigest()[:32]


async def test_an_agent_logs_a_phone_request_in_the_console_and_the_case_opens_with_channel_phone(
        stack: Stack, test_issuer: TestIssuer) -> None:
    web_url = stack.url("intake_web")
    token = test_issuer.token(Role.CALL_AGENT, subject=AGENT_ID)
    local = f"613-555-{random.randrange(10000):04d}"
    e164 = "+1" + local.replace("-", "")
    lat, long = 45.42, -75.69

    async with httpx.AsyncClient(base_url=web_url, timeout=10) as api:
        for headers, status in ((test_issuer.headers(Role.CALL_AGENT, subject=AGENT_ID, tamper=True), 401),
                                (test_issuer.headers(Role.CALL_AGENT, subject=AGENT_ID, expired=True), 401),
                                ({"authorization": "Bearer not-a-token"}, 401),
                                (test_issuer.headers(Role.DEPARTMENT_STAFF), 403)):
            wrong = await api.post("/agent/requests", headers=headers,
                                   json={"request_id": "e2e-" + uuid.uuid4().hex, "caller_phone": local,
                                         "service_code": "pothole", "description": "wrong token", "lat": lat,
                                         "long": long})
            assert wrong.status_code == status, wrong.text

    async with async_playwright() as pw:
        # Playwright gives every launch a fresh, empty profile of its own (no --user-data-dir needed).
        browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page()
            await page.goto(web_url + "/agent")
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
            assert "latitude must be within -90..90" in await page.inner_text("#errors")

            # The place is picked on the district map: the click becomes lat/long inside the city.
            await page.click('#district-map path[data-district="centre"]')
            lat, long = float(await page.input_value("#lat")), float(await page.input_value("#long"))
            assert 45.39 < lat < 45.45 and -75.73 < long < -75.62, (lat, long)
            await page.click("#submit")
            await page.wait_for_selector("#case-number", timeout=30_000)
            sid = (await page.inner_text("#case-number")).strip()
            assert await page.inner_text("#errors") == ""

            async with httpx.AsyncClient(base_url=stack.url("case"), timeout=10,
                                         headers=test_issuer.headers(Role.ADMINISTRATOR)) as case_api:
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
