"""Running stacks (every service as a process) for the end-to-end tests: demo, Boston, NYC and Montréal."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator

import pytest

from support.auth import TestIssuer
from support.browser import check_assets
from support.fakes import FakeTwilioApi
from support.infra import check_infra
from support.process import ExtraService
from support.stack import Stack

REPLAY_KEYS = '["demo-key", "replay-a", "replay-b", "replay-c"]'


@pytest.fixture(scope="module")
def twilio() -> Iterator[FakeTwilioApi]:
    """Twilio's REST API, faked on a local port, for the module's stack (OMNI311_TWILIO_API_BASE_URL)."""
    fake = FakeTwilioApi().start()
    try:
        yield fake
    finally:
        fake.stop()


@contextlib.asynccontextmanager
async def running(jurisdiction: str, auth_env: dict[str, str]) -> AsyncIterator[Stack]:
    """Check the infrastructure (failing, never skipping, when it is missing), then run a stack whose
    services trust the test identity provider (`auth_env`: `test_issuer.env()`)."""
    await check_infra()
    stack = Stack(jurisdiction=jurisdiction, extra_env={"OMNI311_OPEN311_API_KEYS": REPLAY_KEYS} | auth_env)
    await stack.up()
    try:
        yield stack
    finally:
        await stack.down()


@pytest.fixture(scope="session")
async def stack(test_issuer) -> AsyncIterator[Stack]:
    """The demo city (written from scratch in the repo)."""
    async with running("demo", test_issuer.env()) as s:
        yield s


@pytest.fixture(scope="module")
async def boston_stack(test_issuer) -> AsyncIterator[Stack]:
    """Boston, configured from the real records and ward boundaries under $OMNI311_SHARED_DATA."""
    async with running("boston", test_issuer.env()) as s:
        yield s


@pytest.fixture(scope="module")
async def nyc_stack(test_issuer) -> AsyncIterator[Stack]:
    """New York City, configured from the real records and community districts under $OMNI311_SHARED_DATA."""
    async with running("nyc", test_issuer.env()) as s:
        yield s


@pytest.fixture(scope="module")
async def montreal_stack(test_issuer) -> AsyncIterator[Stack]:
    """Montréal, configured from the City's open data under $OMNI311_SHARED_DATA."""
    async with running("montreal", test_issuer.env()) as s:
        yield s


@pytest.fixture(scope="session")
async def insights_url(stack: Stack) -> AsyncIterator[str]:
    """The insights service of the demo stack (started beside it, once per session)."""
    async with ExtraService(stack, "insights", {}).started() as proc:
        yield proc.url


@pytest.fixture(scope="session")
async def staff_workbench(stack: Stack, insights_url: str, test_issuer: TestIssuer) -> AsyncIterator[ExtraService]:
    """The staff workbench of the demo stack, its dashboard reading `insights_url`; its development sign-in
    signs with the test identity provider's key."""
    check_assets()
    service = ExtraService(stack, "workbench", {
        "OMNI311_AUTH_DEV_ISSUER_DIR": str(test_issuer.dir),
        "OMNI311_WORKBENCH_INTAKE_WEB_URL": stack.url("intake_web"),
        "OMNI311_INSIGHTS_API_URL": insights_url,
    })
    service.env["OMNI311_WORKBENCH_BASE_URL"] = service.url
    async with service.started() as proc:
        yield proc
