"""One running stack (every service as a process) for the end-to-end tests of a session."""

from __future__ import annotations

import pytest

from support.infra import SMTP, IMAP, check_kafka, check_port, check_postgres
from support.stack import Stack


REPLAY_KEYS = '["demo-key", "replay-a", "replay-b", "replay-c"]'


async def _infra() -> None:
    await check_kafka()
    await check_postgres()
    check_port(*SMTP, "SMTP server")
    check_port(*IMAP, "IMAP server")


@pytest.fixture(scope="session")
async def stack():
    """The demo city (written from scratch in the repo)."""
    await _infra()
    s = Stack(jurisdiction="demo")
    await s.up()
    try:
        yield s
    finally:
        await s.down()


@pytest.fixture(scope="module")
async def boston_stack():
    """Boston, configured from the real records and ward boundaries in ../shared/data."""
    await _infra()
    s = Stack(jurisdiction="boston", extra_env={"OMNI311_OPEN311_API_KEYS": REPLAY_KEYS})
    await s.up()
    try:
        yield s
    finally:
        await s.down()


@pytest.fixture(scope="module")
async def nyc_stack():
    """New York City, configured from the real records and community districts in ../shared/data."""
    await _infra()
    s = Stack(jurisdiction="nyc", extra_env={"OMNI311_OPEN311_API_KEYS": REPLAY_KEYS})
    await s.up()
    try:
        yield s
    finally:
        await s.down()
