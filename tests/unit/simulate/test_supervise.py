"""The supervisor of `make run` (deploy/local/bin/supervise.py): its backoff rule, and a process that
keeps exiting restarted with that backoff, each restart logged, and nothing restarted once stopped."""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import ModuleType

import pytest

from support.stack import REPO


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("supervise", REPO / "deploy/local/bin/supervise.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


supervise = _load()


def test_a_crash_loop_waits_1_2_4_seconds_and_so_on_up_to_the_cap() -> None:
    delays, delay = [], None
    for _ in range(8):
        delay = supervise.next_delay(delay, uptime_s=0.5)
        delays.append(delay)
    assert delays == [1, 2, 4, 8, 16, 30, 30, 30]


def test_a_process_that_stayed_up_a_while_starts_over_at_one_second() -> None:
    assert supervise.next_delay(16.0, uptime_s=59.0) == 30.0
    assert supervise.next_delay(30.0, uptime_s=60.0) == 1.0
    assert supervise.next_delay(None, uptime_s=3600.0) == 1.0


def test_the_backoff_knobs_are_respected() -> None:
    assert supervise.next_delay(3.0, uptime_s=1.0, base_s=0.5, cap_s=5.0) == 5.0
    assert supervise.next_delay(None, uptime_s=1.0, base_s=0.5) == 0.5
    assert supervise.next_delay(0.1, uptime_s=1.0, base_s=0.5) == 1.0  # never below twice the base


def test_an_exit_is_described_by_its_status_or_its_signal() -> None:
    assert supervise.describe_exit(1) == "exit status 1"
    assert supervise.describe_exit(-9) == "killed by signal 9 (SIGKILL)"


def test_the_command_line_wants_a_name_and_a_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert supervise.main(["case"]) == 2
    assert supervise.main(["case", "python"]) == 2
    assert "usage: supervise.py NAME -- COMMAND" in capsys.readouterr().err


def test_a_process_that_keeps_exiting_is_restarted_with_backoff_and_each_restart_is_logged(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(supervise, "next_delay", lambda previous, uptime: 0.1 if previous is None else previous * 2)
    sup = supervise.Supervisor("flaky", [sys.executable, "-c", "import sys; sys.exit(3)"], root=tmp_path)
    runner = threading.Thread(target=sup.run)
    runner.start()
    restarts = tmp_path / "var/run/flaky.restarts"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not (restarts.exists() and int(restarts.read_text() or 0) >= 3):
        time.sleep(0.05)
    sup.stop()
    runner.join(timeout=10)
    assert not runner.is_alive()
    lines = (tmp_path / "var/logs/supervisor.log").read_text().splitlines()
    exits = [line for line in lines if "flaky exited (exit status 3)" in line]
    assert len(exits) >= 3
    assert [line.rsplit("restarting in ", 1)[1] for line in exits[:3]] == ["0.1 s", "0.2 s", "0.4 s"]
    assert any("flaky restarted (pid " in line for line in lines)
    assert "flaky exited" in (tmp_path / "var/run/flaky.log").read_text()
    assert not (tmp_path / "var/run/flaky.child.pid").exists()


def test_a_stop_passes_sigterm_to_the_process_and_restarts_nothing(tmp_path: Path) -> None:
    script = "import signal, sys, time\nsignal.signal(signal.SIGTERM, lambda *a: sys.exit(0))\ntime.sleep(60)\n"
    sup = supervise.Supervisor("steady", [sys.executable, "-c", script], root=tmp_path)
    runner = threading.Thread(target=sup.run)
    runner.start()
    child_pid = tmp_path / "var/run/steady.child.pid"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not child_pid.exists():
        time.sleep(0.05)
    time.sleep(0.3)  # the child installs its SIGTERM handler
    started = time.monotonic()
    sup.stop(signal.SIGTERM)
    runner.join(timeout=10)
    assert not runner.is_alive() and time.monotonic() - started < 5
    assert sup.child is not None and sup.child.returncode == 0
    assert (tmp_path / "var/run/steady.restarts").read_text().strip() == "0"
    assert not (tmp_path / "var/logs/supervisor.log").exists() or "exited" not in (
        tmp_path / "var/logs/supervisor.log").read_text()


def _checkout(tmp_path: Path) -> Path:
    """A temporary checkout with deploy/local/bin's supervisor and services.sh (their var/ is the checkout's)."""
    bin_dir = tmp_path / "deploy/local/bin"
    bin_dir.mkdir(parents=True)
    for name in ("supervise.py", "services.sh"):
        shutil.copy2(REPO / "deploy/local/bin" / name, bin_dir / name)
    return bin_dir


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][:1] != "Z"  # a zombie has exited


def _gone_within(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.05)
    return False


def test_a_supervisor_killed_with_sigkill_takes_its_process_with_it(tmp_path: Path) -> None:
    bin_dir = _checkout(tmp_path)
    supervisor = subprocess.Popen([sys.executable, str(bin_dir / "supervise.py"), "orphan", "--", sys.executable,
                                   "-c", "import time; time.sleep(60)"], start_new_session=True)
    child_pid = tmp_path / "var/run/orphan.child.pid"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not child_pid.exists():
        time.sleep(0.05)
    child = int(child_pid.read_text())
    try:
        supervisor.kill()
        supervisor.wait(timeout=5)
        assert _gone_within(child, 5), "the process outlived its supervisor (an orphan still serving)"
    finally:
        if _alive(child):
            os.kill(child, signal.SIGKILL)


def test_services_stop_also_stops_a_process_whose_supervisor_is_gone(tmp_path: Path) -> None:
    bin_dir = _checkout(tmp_path)
    # Not our child (the shell that started it exits): an orphan, as after a supervisor's kill -9 off Linux.
    started = subprocess.run(["sh", "-c", f"{sys.executable} -c 'import time; time.sleep(60)' >/dev/null 2>&1 & "
                              "echo $!"], capture_output=True, text=True, timeout=10, check=True)
    orphan = int(started.stdout)
    run_dir = tmp_path / "var/run"
    run_dir.mkdir(parents=True)
    (run_dir / "case.child.pid").write_text(f"{orphan}\n")
    try:
        done = subprocess.run([str(bin_dir / "services.sh"), "stop"], capture_output=True, text=True, timeout=60,
                              check=False)
        assert done.returncode == 0, done.stderr
        assert "case stopped" in done.stdout
        assert _gone_within(orphan, 5)
        assert not (run_dir / "case.child.pid").exists()
    finally:
        if _alive(orphan):
            os.kill(orphan, signal.SIGKILL)


def test_a_restart_count_being_written_reads_as_zero_not_a_shell_error(tmp_path: Path) -> None:
    # make run failed at random with "((: >= MAX_START_RESTARTS : syntax error": services.sh read the
    # supervisor's .restarts file while it was truncated and rewritten (empty).
    bin_dir = _checkout(tmp_path)
    run_dir = tmp_path / "var/run"
    run_dir.mkdir(parents=True)
    (run_dir / "case.pid").write_text(f"{os.getpid()}\n")
    (run_dir / "case.restarts").write_text("")
    done = subprocess.run([str(bin_dir / "services.sh"), "status"], capture_output=True, text=True, timeout=30,
                          check=False)
    assert f"case running (supervisor {os.getpid()}, pid ?, restarts 0)" in done.stdout, (done.stdout, done.stderr)
    assert "syntax error" not in done.stderr
