"""Running stacks (every service as a process) for the end-to-end tests: demo, Boston and NYC."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import pytest

from support.infra import IMAP, SMTP, check_kafka, check_port, check_postgres
from support.stack import Stack

REPLAY_KEYS = '["demo-key", "replay-a", "replay-b", "replay-c"]'


@contextlib.asynccontextmanager
async def running(jurisdiction: str, auth_env: dict[str, str]) -> AsyncIterator[Stack]:
    """Check the infrastructure (failing, never skipping, when it is missing), then run a stack whose
    services trust the test identity provider (`auth_env`: `test_issuer.env()`)."""
    await check_kafka()
    await check_postgres()
    check_port(*SMTP, "SMTP server")
    check_port(*IMAP, "IMAP server")
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
    """Boston, configured from the real records and ward boundaries in ../shared/data."""
    async with running("boston", test_issuer.env()) as s:
        yield s


@pytest.fixture(scope="module")
async def nyc_stack(test_issuer) -> AsyncIterator[Stack]:
    """New York City, configured from the real records and community districts in ../shared/data."""
    async with running("nyc", test_issuer.env()) as s:
        yield s
