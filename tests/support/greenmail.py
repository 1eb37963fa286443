"""A private GreenMail (SMTP + IMAP) for tests that stop, restart or freeze the mail server, so that the
shared one started by `make infra-up` is never touched. Same jar as deploy/local/bin/mail.sh, other
ports; mailboxes live in memory (a restart empties them and gives them a new UIDVALIDITY)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from support.infra import free_port

REPO = Path(__file__).resolve().parents[2]
JAR_DIR = REPO / "deploy" / "local" / "lib" / "greenmail"


def _greets(port: int, prefix: bytes, timeout: float = 2.0) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            line = sock.recv(200)
            ok = line.startswith(prefix)
            sock.sendall(b"QUIT\r\n" if prefix == b"220" else b"a1 LOGOUT\r\n")
            return ok
    except OSError:
        return False


@dataclass
class GreenMail:
    """`start()`/`stop()`/`freeze()`/`thaw()` one GreenMail JVM; ports are picked once and kept across
    restarts (a mail client reconnects to the same address)."""

    users: str = "city:secret@omni311.test"
    smtp_port: int = field(default_factory=free_port)
    imap_port: int = field(default_factory=free_port)
    api_port: int = field(default_factory=free_port)
    log_path: Path = field(default_factory=lambda: REPO / "var" / "test-logs" / f"greenmail-{os.getpid()}.log")
    proc: subprocess.Popen | None = None

    def jar(self) -> Path:
        jars = sorted(JAR_DIR.glob("greenmail-standalone-*.jar"))
        assert jars, f"no GreenMail jar in {JAR_DIR}; run `deploy/local/bin/mail.sh install` (make infra-up does)"
        assert shutil.which("java"), "java is not installed (GreenMail needs Java 11+)"
        return jars[-1]

    def start(self, timeout: float = 60.0) -> None:
        """Start the JVM and return once SMTP and IMAP greet; raises AssertionError otherwise."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the process
        self.proc = subprocess.Popen(
            ["java", "-Xms32m", "-Xmx128m", "-XX:+UseSerialGC", "-Djava.awt.headless=true",
             f"-Dgreenmail.smtp.port={self.smtp_port}", f"-Dgreenmail.imap.port={self.imap_port}",
             "-Dgreenmail.hostname=127.0.0.1", f"-Dgreenmail.users={self.users}",
             "-Dgreenmail.api.hostname=127.0.0.1", f"-Dgreenmail.api.port={self.api_port}",
             "-jar", str(self.jar())],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"GreenMail exited with {self.proc.returncode}; see {self.log_path}")
            if _greets(self.smtp_port, b"220") and _greets(self.imap_port, b"* OK"):
                return
            time.sleep(0.2)
        self.stop()
        raise AssertionError(f"GreenMail did not greet within {timeout}s; see {self.log_path}")

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 15 s; the ports are free when this returns."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.thaw()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=15)

    def freeze(self) -> None:
        """SIGSTOP: the server keeps its sockets open but answers nothing (a hung server)."""
        assert self.proc is not None and self.proc.poll() is None
        self.proc.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
