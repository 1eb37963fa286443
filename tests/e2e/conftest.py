"""One running stack (every service as a process) for the end-to-end tests of a session."""

from __future__ import annotations

import pytest

from support.infra import SMTP, IMAP, check_kafka, check_port, check_postgres
from support.stack import Stack


@pytest.fixture(scope="session")
async def stack():
    await check_kafka()
    await check_postgres()
    check_port(*SMTP, "SMTP server")
    check_port(*IMAP, "IMAP server")
    s = Stack(jurisdiction="demo")
    await s.up()
    try:
        yield s
    finally:
        await s.down()
