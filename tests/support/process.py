"""A service that is not part of `Stack.SERVICES`, run as its own process next to a running stack
with the stack's database, topics, jurisdiction and case API (e.g. the SMS and social adapters)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator

import httpx

from support.infra import free_port
from support.stack import REPO, Stack
from support.wait import eventually


class ExtraService:
    """`python -m services.<service>` on a free port; `extra_env` adds its own settings."""

    def __init__(self, stack: Stack, service: str, extra_env: dict[str, str]) -> None:
        self.service = service
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = stack.env("intake_web") | {"OMNI311_HTTP_PORT": str(self.port)} | extra_env
        self.log_path = stack.log_dir / f"{stack.run_id}-{service}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the process
        self.proc = subprocess.Popen([sys.executable, "-m", f"services.{self.service}"], cwd=REPO, env=self.env,
                                     stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    async def ready(self, timeout: float = 30.0) -> None:
        """Wait until `/readyz` answers 200; fails with the log tail if the process exits."""
        async with httpx.AsyncClient(timeout=2.0) as client:
            async def up() -> bool:
                assert self.proc is not None
                if self.proc.poll() is not None:
                    raise AssertionError(f"{self.service} exited with {self.proc.returncode}:\n"
                                         + self.log_path.read_text(errors="replace")[-3000:])
                try:
                    return (await client.get(self.url + "/readyz")).status_code == 200
                except httpx.HTTPError:
                    return False
            await eventually(up, timeout=timeout, interval=0.1, what=f"{self.service} ready")

    @contextlib.asynccontextmanager
    async def started(self) -> AsyncIterator[ExtraService]:
        """Start, wait until ready, and stop on the way out (a fixture's whole life)."""
        self.start()
        try:
            await self.ready()
            yield self
        finally:
            self.stop()

    def stop(self) -> None:
        """SIGTERM (graceful), SIGKILL after 20 s."""
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
