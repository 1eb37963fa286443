"""A fresh omni311 stack for the benchmark: every service a process of its own, on free ports, with its own
database and topic prefix, against the running Kafka, PostgreSQL and mail server; and what each process
holds in memory.

The same shape as the end-to-end tests' stack (tests/support/stack.py), without test helpers: the benchmark
runs from `make bench`, not pytest.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
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

REPO = Path(__file__).resolve().parents[1]
SERVICES = ("case", "router", "dedup", "notifier", "intake_web")
"""What a report goes through: intake (HTTP), case, router, duplicate detector, notifier (acknowledgement)."""
KAFKA = os.environ.get("OMNI311_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
PG_DSN = os.environ.get("OMNI311_PG_DSN", "postgresql://postgres@127.0.0.1:55432/omni311")
WIDE_LIMITS = {f"OMNI311_LIMIT_{name}": "100000000/minute" for name in (
    "REPORTS_PER_CLIENT", "REPORTS_PER_API_KEY", "UPLOADS_PER_CLIENT", "FOLLOWS_PER_CLIENT", "READS_PER_CLIENT")}
"""The load comes from one address and one api_key: the abuse limits are out of the way."""


def dsn_with_db(dsn: str, db: str) -> str:
    """`dsn` naming database `db` instead."""
    return urlunsplit(urlsplit(dsn)._replace(path=f"/{db}"))


def free_port() -> int:
    """A TCP port nobody listens on right now (127.0.0.1)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_mib(pid: int) -> float | None:
    """Resident memory of process `pid` and its descendants in MiB (Linux /proc ``VmRSS``); None when it is
    gone."""
    total_kib = 0
    found = False
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            status = Path(f"/proc/{p}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                total_kib += int(line.split()[1])
                found = True
        for task in Path(f"/proc/{p}/task").glob("*/children"):
            try:
                todo += [int(c) for c in task.read_text().split()]
            except OSError:
                continue
    return round(total_kib / 1024, 1) if found else None


@dataclass
class BenchStack:
    """Running services of one benchmark run; `up()` then `down()` (which drops its database and topics)."""

    jurisdiction: str = "nyc"
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    services: tuple[str, ...] = SERVICES
    extra_env: dict[str, str] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)
    log_dir: Path = field(default_factory=lambda: REPO / "var" / "bench-logs")

    @property
    def database(self) -> str:
        return f"omni311_bench_{self.run_id}"

    @property
    def dsn(self) -> str:
        return dsn_with_db(PG_DSN, self.database)

    @property
    def topic_prefix(self) -> str:
        return f"bench{self.run_id}."

    @property
    def settings(self) -> Settings:
        """The stack's Kafka and topic prefix, for producers and watchers."""
        return Settings(kafka_bootstrap=KAFKA, topic_prefix=self.topic_prefix, pg_dsn=self.dsn)

    @property
    def city_address(self) -> str:
        """The stack's own 311 mailbox, so that stacks sharing one mail server never mix their mail."""
        return f"city-bench{self.run_id}@omni311.test"

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    def log_path(self, service: str) -> Path:
        return self.log_dir / f"{self.run_id}-{service}.log"

    def env(self, service: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("OMNI311_")}
        env.update({
            "OMNI311_KAFKA_BOOTSTRAP": KAFKA, "OMNI311_PG_DSN": self.dsn, "OMNI311_TOPIC_PREFIX": self.topic_prefix,
            "OMNI311_JURISDICTION": self.jurisdiction, "OMNI311_HTTP_PORT": str(self.ports[service]),
            "OMNI311_CASE_API_URL": self.url("case"), "OMNI311_NOTIFIER_API_URL": self.url("notifier"),
            "OMNI311_MAIL_FROM": self.city_address, "OMNI311_IMAP_USER": self.city_address,
            "OMNI311_IMAP_PASSWORD": self.city_address, "PYTHONUNBUFFERED": "1",
        })
        for key in ("OMNI311_SHARED_DATA", "OMNI311_SMTP_HOST", "OMNI311_SMTP_PORT"):
            if key in os.environ:
                env[key] = os.environ[key]
        env.update(WIDE_LIMITS)
        env.update(self.extra_env)
        return env

    async def create_database(self) -> None:
        """The stack's own database, with PostGIS (the server's settings: commits wait for the disk)."""
        conn = await asyncpg.connect(PG_DSN)
        try:
            await conn.execute(f'CREATE DATABASE "{self.database}"')
        finally:
            await conn.close()
        conn = await asyncpg.connect(self.dsn)
        try:
            await conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        finally:
            await conn.close()

    async def up(self, timeout: float = 120.0) -> BenchStack:
        """Start every service (in the database `create_database` made); wait until each answers
        ``/readyz``. Raises `RuntimeError` (with the log's tail) when one exits or is not ready in `timeout`
        seconds."""
        for s in self.services:
            self.ports.setdefault(s, free_port())
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for s in self.services:
            with open(self.log_path(s), "ab") as log:
                self.procs[s] = subprocess.Popen([sys.executable, "-m", f"services.{s}"], cwd=REPO, env=self.env(s),
                                                 stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        await asyncio.gather(*(self._ready(s, timeout) for s in self.services))
        return self

    async def _ready(self, service: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(timeout=2.0) as client:
            while True:
                proc = self.procs[service]
                if proc.poll() is not None:
                    raise RuntimeError(f"{service} exited with {proc.returncode}:\n{self.log_tail(service)}")
                try:
                    if (await client.get(self.url(service) + "/readyz")).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{service} not ready in {timeout:.0f} s:\n{self.log_tail(service)}")
                await asyncio.sleep(0.3)

    def log_tail(self, service: str, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path(service).read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def rss(self) -> dict[str, float | None]:
        """Resident memory of each service process (with its children), MiB."""
        return {s: rss_mib(p.pid) for s, p in self.procs.items()}

    async def down(self) -> None:
        """Stop every service (SIGTERM, then SIGKILL after 20 s), drop the database and ask the broker to
        delete the stack's topics."""
        for proc in self.procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for proc in self.procs.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        conn = await asyncpg.connect(PG_DSN)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
        finally:
            await conn.close()
        admin = AIOKafkaAdminClient(bootstrap_servers=KAFKA, client_id="omni311-bench-stack")
        await admin.start()
        try:
            ours = set(topic_partitions(Settings(topic_prefix=self.topic_prefix))) & set(await admin.list_topics())
            if ours:
                await admin.delete_topics(sorted(ours))
        finally:
            await admin.close()
