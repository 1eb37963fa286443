"""Keep one process of `make run` running: start it, and when it exits on its own (a crash, a kill -9,
an exit), log it and start it again after a backoff, instead of leaving the stack without it.

    supervise.py NAME -- COMMAND [ARG...]

Started by `deploy/local/bin/services.sh` as the leader of its own process group (``setsid``), with the
command as its child in that group: SIGTERM (or SIGINT) to the supervisor stops both (passed on to the
child once, which gets 20 s to stop gracefully, then SIGKILL) and nothing is restarted. A supervisor that
dies without that (``kill -9`` of the pid in ``var/run/NAME.pid``) takes its child with it: on Linux the
child is started with ``prctl(PR_SET_PDEATHSIG, SIGTERM)`` (`die_with_parent`), so no orphan keeps serving
the port; ``services.sh stop`` also stops a child left in ``var/run/NAME.child.pid``. Files, under the repository's ``var/``:
``run/NAME.log`` (the child's output, and each restart line), ``run/NAME.child.pid`` (the child's pid),
``run/NAME.restarts`` (restarts so far), ``logs/supervisor.log`` (every supervisor's restart lines: run.sh
shows them on the terminal). The backoff is `next_delay`. Standard library only.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

BASE_DELAY_S = 1.0
MAX_DELAY_S = 30.0
STABLE_AFTER_S = 60.0
STOP_GRACE_S = 20.0
ROOT = Path(__file__).resolve().parents[3]


def next_delay(previous_s: float | None, uptime_s: float, *, base_s: float = BASE_DELAY_S,
               cap_s: float = MAX_DELAY_S, stable_after_s: float = STABLE_AFTER_S) -> float:
    """Seconds to wait before restarting a process that ran `uptime_s` seconds and exited, when the wait
    before its previous start was `previous_s` (None: it had never been restarted).

    1 s, 2 s, 4 s, ... doubling up to `cap_s` while it keeps crashing; back to `base_s` once it had
    stayed up `stable_after_s` seconds or more (a crash an hour later is a new crash, not a crash loop).
    """
    if previous_s is None or uptime_s >= stable_after_s:
        return base_s
    return min(max(previous_s, base_s) * 2, cap_s)


def describe_exit(returncode: int) -> str:
    """A child's end in words: ``exit status 1`` or ``killed by signal 9 (SIGKILL)``."""
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = "?"
        return f"killed by signal {-returncode} ({name})"
    return f"exit status {returncode}"


PR_SET_PDEATHSIG = 1
"""prctl(2) option: the signal the calling process gets when the thread that forked it dies (Linux)."""


def die_with_parent(parent: int, sig: int = signal.SIGTERM) -> None:
    """In a child between fork and exec (`subprocess.Popen(preexec_fn=...)`): ask Linux to send `sig` when
    the supervisor (pid `parent`) dies, however it dies (``kill -9`` included), and exit at once if it is
    already gone (it died between the fork and this call). Does nothing off Linux (no prctl: `services.sh stop` kills
    the child from its pid file there)."""
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
    if os.getppid() != parent:
        os._exit(1)


class Supervisor:
    """Runs `command` as `name`, restarting it with `next_delay` until asked to stop."""

    def __init__(self, name: str, command: list[str], root: Path = ROOT) -> None:
        self.name, self.command = name, command
        self.run_dir, self.logs_dir = root / "var" / "run", root / "var" / "logs"
        self.stopping = threading.Event()
        self.child: subprocess.Popen[bytes] | None = None

    def log(self, message: str) -> None:
        """One line in the child's log and in var/logs/supervisor.log."""
        line = f"{datetime.now(UTC).isoformat(timespec='seconds')} supervisor: {self.name} {message}\n"
        for path in (self.run_dir / f"{self.name}.log", self.logs_dir / "supervisor.log"):
            with path.open("a", encoding="utf-8") as out:
                out.write(line)

    def stop(self, _signum: int = 0, _frame: object = None) -> None:
        """Stop restarting, and pass SIGTERM to the child."""
        self.stopping.set()
        if self.child is not None and self.child.poll() is None:
            self.child.send_signal(signal.SIGTERM)

    def _write(self, suffix: str, text: str) -> None:
        """Write ``run/NAME<suffix>`` whole (a temporary file renamed over it): services.sh reads these
        while the supervisor writes them, and a file being truncated reads empty."""
        path = self.run_dir / f"{self.name}{suffix}"
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text)
        tmp.replace(path)

    def run(self) -> int:
        """Supervise until stopped; returns 0."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        delay: float | None = None
        restarts = 0
        self._write(".restarts", "0\n")
        while not self.stopping.is_set():
            started = time.monotonic()
            with (self.run_dir / f"{self.name}.log").open("ab") as out:
                self.child = subprocess.Popen(self.command, stdin=subprocess.DEVNULL, stdout=out,
                                              stderr=subprocess.STDOUT, preexec_fn=functools.partial(die_with_parent, os.getpid()))
            self._write(".child.pid", f"{self.child.pid}\n")
            if restarts:
                self.log(f"restarted (pid {self.child.pid}, restart {restarts})")
            if self.stopping.is_set():  # a stop that came while it was starting
                self.child.send_signal(signal.SIGTERM)
            returncode = self._wait()
            if self.stopping.is_set():
                break
            uptime = time.monotonic() - started
            delay = next_delay(delay, uptime)
            restarts += 1
            self._write(".restarts", f"{restarts}\n")
            self.log(f"exited ({describe_exit(returncode)}) after {uptime:.1f} s; restarting in {delay:g} s")
            self.stopping.wait(delay)
        (self.run_dir / f"{self.name}.child.pid").unlink(missing_ok=True)
        return 0

    def _wait(self) -> int:
        """The child's return code; once stopping, SIGKILL after `STOP_GRACE_S`."""
        assert self.child is not None
        deadline: float | None = None
        while True:
            try:
                return self.child.wait(timeout=0.5)
            except subprocess.TimeoutExpired:
                if self.stopping.is_set():
                    deadline = deadline or time.monotonic() + STOP_GRACE_S
                    if time.monotonic() >= deadline:
                        self.child.kill()


def main(argv: list[str]) -> int:
    """``supervise.py NAME -- COMMAND...``; exit status 2 for a bad command line."""
    if len(argv) < 3 or argv[1] != "--":
        print("usage: supervise.py NAME -- COMMAND [ARG...]", file=sys.stderr)
        return 2
    supervisor = Supervisor(argv[0], argv[2:])
    signal.signal(signal.SIGTERM, supervisor.stop)
    signal.signal(signal.SIGINT, supervisor.stop)
    return supervisor.run()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
