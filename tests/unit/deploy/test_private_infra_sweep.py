"""The private instances of tests/support/private_infra.py outlive a test process killed outright (SIGKILL:
no teardown, no atexit); the next run's sweep kills them and removes their data, and leaves alone those
of a test process still running."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from support import private_infra
from support.stack import REPO

# A test process that starts a private "server" (a sleep in its own session, as the real ones run) and is
# then SIGKILLed before any teardown.
KILLED_OWNER = r"""
import os, signal, subprocess, sys
from pathlib import Path
sys.path[:0] = [sys.argv[1], sys.argv[2]]
from support import private_infra
private_infra.PID_DIR = Path(sys.argv[3])
data = Path(sys.argv[4])
data.mkdir()
proc = private_infra._track(subprocess.Popen(["sleep", "600"], start_new_session=True, stdout=subprocess.DEVNULL,
                                             stderr=subprocess.DEVNULL), remove=[data])
print(proc.pid, flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def _gone(pid: int, start: int | None, timeout_s: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while private_infra._started(pid) == start:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_a_sweep_kills_what_a_killed_test_process_left_and_spares_a_live_ones(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pid_dir = tmp_path / "pids"
    monkeypatch.setattr(private_infra, "PID_DIR", pid_dir)
    left_data = tmp_path / "left-data"
    owner = subprocess.run([sys.executable, "-c", KILLED_OWNER, str(REPO), str(REPO / "tests"), str(pid_dir),
                            str(left_data)], capture_output=True, text=True, timeout=60, check=False)
    assert owner.returncode == -9, owner.stderr
    left = int(owner.stdout)
    left_start = private_infra._started(left)
    assert left_start is not None, "the killed owner's server still runs"
    live_data = tmp_path / "live-data"
    live_data.mkdir()
    live = private_infra._track(subprocess.Popen(["sleep", "600"], start_new_session=True), remove=[live_data])
    try:
        assert private_infra.sweep_stale() == [left]

        assert _gone(left, left_start), "the stale server was killed"
        assert not left_data.exists() and not (pid_dir / f"{left}.json").exists()
        assert live.poll() is None and live_data.is_dir() and (pid_dir / f"{live.pid}.json").is_file()
        assert private_infra.sweep_stale() == []
    finally:
        private_infra._kill(live)
    assert not (pid_dir / f"{live.pid}.json").exists(), "a process killed at teardown leaves no record"


def test_a_record_of_a_pid_now_someone_elses_kills_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(private_infra, "PID_DIR", tmp_path)
    bystander = subprocess.Popen(["sleep", "600"], start_new_session=True)
    try:
        start = private_infra._started(bystander.pid)
        assert start is not None
        # The recorded server died long ago and its pid went to another process; its owner is dead too.
        (tmp_path / f"{bystander.pid}.json").write_text(
            f'{{"pid": {bystander.pid}, "start": {start - 1}, "owner": 1, "owner_start": -1, "remove": []}}')
        assert private_infra.sweep_stale() == []
        assert bystander.poll() is None
        assert not (tmp_path / f"{bystander.pid}.json").exists()
    finally:
        bystander.kill()
        bystander.wait()
