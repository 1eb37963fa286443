"""A whole omni311 stack for end-to-end tests: every service as its own process, on its own ports,
with its own topic prefix and database, against the real Kafka, PostgreSQL and mail server.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
from aiokafka.admin import AIOKafkaAdminClient

from shared.kafka import topic_partitions
from shared.settings import Settings
from support.infra import IMAP, KAFKA, PG_DSN, free_port
from support.wait import eventually

REPO = Path(__file__).resolve().parents[2]
SERVICES = ("case", "router", "dedup", "notifier", "intake_web", "intake_email")
WIDE_LIMITS = {f"OMNI311_LIMIT_{name}": "1000000/minute" for name in (
    "REPORTS_PER_CLIENT", "REPORTS_PER_API_KEY", "UPLOADS_PER_CLIENT", "FOLLOWS_PER_CLIENT", "READS_PER_CLIENT")}
"""Stacks replay whole files and poll from one address: their rate limits are out of the way unless a test
sets its own in `extra_env` (tests/e2e/test_e2e_flood.py)."""


def _dsn_with_db(dsn: str, db: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path=f"/{db}"))


@dataclass
class Stack:
    """Running services. `url(name)` is a service's base URL; `kill`/`start` drive one process."""

    jurisdiction: str = "demo"
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    extra_env: dict[str, str] = field(default_factory=dict)
    services: tuple[str, ...] = SERVICES
    imap: tuple[str, int] = IMAP
    ports: dict[str, int] = field(default_factory=dict)
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)
    log_dir: Path = field(default_factory=lambda: REPO / "var" / "test-logs")
    kafka: str = KAFKA
    """Bootstrap servers; a private cluster's (support.private_infra) for a test that restarts the broker."""
    pg_dsn: str = PG_DSN
    """The server's DSN (any database); a private server's for a test that restarts PostgreSQL."""

    @property
    def database(self) -> str:
        return f"omni311_t{self.run_id}"

    @property
    def dsn(self) -> str:
        return _dsn_with_db(self.pg_dsn, self.database)

    @property
    def topic_prefix(self) -> str:
        return f"t{self.run_id}."

    @property
    def city_address(self) -> str:
        """This stack's own 311 mailbox: intake_email reads it and the notifier sends from it, so that
        stacks sharing one mail server never read each other's mail (GreenMail creates the mailbox on
        first delivery, with the address as login and password)."""
        return f"city-{self.run_id}@omni311.test"

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    def env(self, service: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("OMNI311_")}
        env.update({
            "OMNI311_KAFKA_BOOTSTRAP": self.kafka,
            "OMNI311_PG_DSN": self.dsn,
            "OMNI311_TOPIC_PREFIX": self.topic_prefix,
            "OMNI311_JURISDICTION": self.jurisdiction,
            "OMNI311_HTTP_PORT": str(self.ports[service]),
            "OMNI311_CASE_API_URL": self.url("case"),
            "OMNI311_NOTIFIER_API_URL": self.url("notifier"),
            "OMNI311_OUTBOX_POLL_INTERVAL_S": "0.5",
            "OMNI311_MAIL_FROM": self.city_address,
            "OMNI311_IMAP_HOST": self.imap[0],
            "OMNI311_IMAP_PORT": str(self.imap[1]),
            "OMNI311_IMAP_USER": self.city_address,
            "OMNI311_IMAP_PASSWORD": self.city_address,
            "OMNI311_IMAP_RECONNECT_MAX_S": "2",
            "OMNI311_IMAP_TIMEOUT_S": "5",
            "PYTHONUNBUFFERED": "1",
        })
        for key in ("OMNI311_SHARED_DATA", "OMNI311_SMTP_HOST", "OMNI311_SMTP_PORT"):
            if key in os.environ:
                env[key] = os.environ[key]
        env.update(WIDE_LIMITS)
        env.update(self.extra_env)
        return env

    async def create_database(self) -> None:
        """The stack's own database with PostGIS. Its commits do not wait for the WAL to reach the disk
        (``synchronous_commit = off``): a test kills service processes, never PostgreSQL or the machine,
        and what a killed process committed is kept all the same; the flush was about 9 ms of every
        commit on the shared CI disk, several commits per case on the pipeline's path."""
        conn = await asyncpg.connect(self.pg_dsn)
        try:
            await conn.execute(f'CREATE DATABASE "{self.database}"')
            await conn.execute(f'ALTER DATABASE "{self.database}" SET synchronous_commit = off')
        finally:
            await conn.close()
        conn = await asyncpg.connect(self.dsn)
        try:
            await conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        finally:
            await conn.close()

    async def drop_database(self) -> None:
        conn = await asyncpg.connect(self.pg_dsn)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
        finally:
            await conn.close()

    def start(self, service: str) -> None:
        """Start `service`'s process, or a replica of it named ``<service>-<n>`` (``case-2``): a process of
        its own, on a port and a log of its own, in the service's consumer group."""
        self.ports.setdefault(service, free_port())
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_dir / f"{self.run_id}-{service}.log", "ab")  # noqa: SIM115 - owned by the process
        self.procs[service] = subprocess.Popen(
            [sys.executable, "-m", f"services.{service.partition('-')[0]}"], cwd=REPO, env=self.env(service),
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )

    async def wait_ready(self, service: str, timeout: float = 60.0) -> None:
        async with httpx.AsyncClient(timeout=2.0) as client:
            async def ready() -> bool:
                proc = self.procs[service]
                if proc.poll() is not None:
                    raise AssertionError(f"{service} exited with {proc.returncode}; see {self.log_path(service)}:\n"
                                         + self.log_tail(service))
                try:
                    return (await client.get(self.url(service) + "/readyz")).status_code == 200
                except httpx.HTTPError:
                    return False
            await eventually(ready, timeout=timeout, what=f"{service} ready")

    def log_path(self, service: str) -> Path:
        return self.log_dir / f"{self.run_id}-{service}.log"

    def log_tail(self, service: str, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path(service).read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def kill(self, service: str, sig: int = signal.SIGKILL) -> None:
        proc = self.procs[service]
        os.killpg(proc.pid, sig)
        proc.wait(timeout=30)

    async def up(self) -> Stack:
        for s in SERVICES:
            self.ports.setdefault(s, free_port())
        await self.create_database()
        for s in self.services:
            self.start(s)
        await asyncio.gather(*(self.wait_ready(s) for s in self.services))
        return self

    async def down(self) -> None:
        for s, proc in self.procs.items():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for proc in self.procs.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        await self.drop_database()
        await self.drop_topics()

    async def drop_topics(self) -> None:
        """Ask the broker to delete this stack's topics (the registry's and their DLQs, under its prefix),
        without waiting for it to finish: a run leaves no topics behind. Every stack makes twelve topics of
        forty-two partitions, and a broker holding thousands of partitions answers every stack after it
        slower (topic creation, group joins, its controller's heartbeats: the shared development broker,
        holding 4,000 topics of earlier runs, timed its own heartbeats out)."""
        admin = AIOKafkaAdminClient(bootstrap_servers=self.kafka, client_id="omni311-test-stack")
        await admin.start()
        try:
            ours = set(topic_partitions(Settings(topic_prefix=self.topic_prefix))) & set(await admin.list_topics())
            if ours:
                await admin.delete_topics(sorted(ours))
        finally:
            await admin.close()

    async def case_db(self) -> asyncpg.Connection:
        """A connection that sees the case schema (for assertions only)."""
        return await asyncpg.connect(self.dsn, server_settings={"search_path": '"case", public'})

    async def db(self, schema: str) -> asyncpg.Connection:
        """A connection that sees one service's schema (for assertions only)."""
        return await asyncpg.connect(self.dsn, server_settings={"search_path": f'"{schema}", public'})
