"""Reaching the real Kafka, PostgreSQL and mail server that `make infra-up` starts.

Tests that need them fail (never skip) when they are missing: CI must start them.
"""

from __future__ import annotations

import asyncio
import os
import socket

import asyncpg
from aiokafka.admin import AIOKafkaAdminClient

KAFKA = os.environ.get("OMNI311_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
PG_DSN = os.environ.get("OMNI311_PG_DSN", "postgresql://postgres@127.0.0.1:55432/omni311")
SMTP = (os.environ.get("OMNI311_SMTP_HOST", "127.0.0.1"), int(os.environ.get("OMNI311_SMTP_PORT", "3025")))
IMAP = (os.environ.get("OMNI311_IMAP_HOST", "127.0.0.1"), int(os.environ.get("OMNI311_IMAP_PORT", "3143")))
HINT = "start them with `make infra-up` (make test does this itself)"


async def check_kafka() -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=KAFKA, request_timeout_ms=5000)
    try:
        await asyncio.wait_for(admin.start(), 10)
        await admin.describe_cluster()
    except Exception as exc:  # noqa: BLE001
        raise AssertionError(f"Kafka is not reachable at {KAFKA} ({exc!r}); {HINT}") from exc
    finally:
        await admin.close()


async def check_postgres() -> None:
    try:
        conn = await asyncpg.connect(PG_DSN, timeout=5)
    except Exception as exc:  # noqa: BLE001
        raise AssertionError(f"PostgreSQL is not reachable at {PG_DSN} ({exc!r}); {HINT}") from exc
    try:
        have = await conn.fetchval("SELECT count(*) FROM pg_available_extensions WHERE name = 'postgis'")
        assert have, f"PostGIS is not installed on {PG_DSN}; {HINT}"
    finally:
        await conn.close()


def check_port(host: str, port: int, what: str) -> None:
    try:
        with socket.create_connection((host, port), timeout=5):
            return
    except OSError as exc:
        raise AssertionError(f"{what} is not reachable at {host}:{port} ({exc!r}); {HINT}") from exc


_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A free TCP port on 127.0.0.1, never one this process was given before: the kernel may hand the
    same ephemeral port to two binds in a row once the first socket is closed, and a server told to use
    one port for SMTP and IMAP never starts (seen as GreenMail "Address already in use")."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port


async def check_infra() -> None:
    """Fail (never skip) when Kafka, PostgreSQL or the mail server (SMTP and IMAP) is not running."""
    await check_kafka()
    await check_postgres()
    check_port(*SMTP, "SMTP server")
    check_port(*IMAP, "IMAP server")
