"""`deploy/local/bin/services.sh` (what `make run` starts) starts every service of the one port table and
every fake, and the fakes' ports do not collide with the services'; a second `make run` (run.sh) takes the
services over from the first instead of both stopping and starting them."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from shared.settings import SERVICE_PORTS
from support.stack import REPO
from tools.fakes import PORTS


def _array(name: str) -> list[str]:
    script = (REPO / "deploy/local/bin/services.sh").read_text(encoding="utf-8")
    found = re.search(rf"^{name}=\(([^)]*)\)", script, re.M)
    assert found, name
    return found.group(1).split()


def test_make_run_starts_every_service_and_every_fake() -> None:
    assert sorted(_array("SERVICES")) == sorted(SERVICE_PORTS)
    assert _array("FAKES") == [f"fake_{name}" for name in PORTS]


def test_the_fakes_ports_are_their_own() -> None:
    assert not set(PORTS.values()) & set(SERVICE_PORTS.values())
    assert len(set(PORTS.values())) == len(PORTS)


# A stand-in for services.sh: each "service" a sleeping process with its pid file, as the real one keeps them.
FAKE_SERVICES = r"""#!/usr/bin/env bash
cd "$(dirname "$0")/../../.."
mkdir -p var/run var/logs
case "$1" in
  start) for s in case router; do sleep 600 >/dev/null 2>&1 & echo $! > "var/run/$s.pid"; echo "$s ready"; done ;;
  stop) n=0; for f in var/run/case.pid var/run/router.pid; do
          [[ -f $f ]] || continue; kill "$(cat "$f")" 2>/dev/null; rm -f "$f"; echo "$(basename "$f" .pid) stopped"; n=1
        done; [[ $n == 1 ]] || echo "no service was running" ;;
  status) for f in var/run/case.pid var/run/router.pid; do [[ -f $f ]] && kill -0 "$(cat "$f")" 2>/dev/null || exit 1
          done ;;
esac
"""
# A stand-in for the venv's Python: scale.py runs for real, every module run.sh calls does nothing.
FAKE_PYTHON = f"""#!/usr/bin/env bash
if [[ "${{1:-}}" == *scale.py ]]; then exec {sys.executable} "$@"; fi
exit 0
"""


def _stack_copy(tmp_path: Path) -> Path:
    """A checkout with deploy/local/bin whose infra.sh does nothing and whose services are sleeping processes."""
    bin_copy = tmp_path / "deploy/local/bin"
    shutil.copytree(REPO / "deploy/local/bin", bin_copy)
    (bin_copy / "infra.sh").write_text("#!/bin/sh\nexit 0\n", encoding="utf-8")
    (bin_copy / "services.sh").write_text(FAKE_SERVICES, encoding="utf-8")
    (tmp_path / "python").write_text(FAKE_PYTHON, encoding="utf-8")
    for script in (bin_copy / "infra.sh", bin_copy / "services.sh", tmp_path / "python"):
        script.chmod(0o755)
    (tmp_path / "shared").symlink_to(REPO / "shared")
    return tmp_path


def _alive(pid_file: Path) -> bool:
    try:
        os.kill(int(pid_file.read_text()), 0)
    except (OSError, ValueError):
        return False
    return True


def test_a_second_make_run_ends_the_first_which_leaves_the_new_services_running(tmp_path: Path) -> None:
    """Both used to stop and start the same services: the first, seeing its services gone, stopped the
    second's on its way out."""
    root = _stack_copy(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMNI311_")} | {"PYTHON": str(root / "python")}
    first_out, second_out = tmp_path / "first.out", tmp_path / "second.out"
    with first_out.open("w") as out:
        first = subprocess.Popen([str(root / "deploy/local/bin/run.sh")], cwd=root, env=env, stdout=out,
                                 stderr=subprocess.STDOUT)
    second: subprocess.Popen[bytes] | None = None
    try:
        deadline = time.monotonic() + 60
        while not (_alive(root / "var/run/case.pid") and "Ctrl-C stops the services" in first_out.read_text()):
            assert first.poll() is None and time.monotonic() < deadline, "the first make run did not start"
            time.sleep(0.1)
        first_services = {(root / f"var/run/{s}.pid").read_text() for s in ("case", "router")}

        with second_out.open("w") as out:
            second = subprocess.Popen([str(root / "deploy/local/bin/run.sh")], cwd=root, stdout=out,
                                      stderr=subprocess.STDOUT, env=env | {"RUN_FOREGROUND": "0"})
        # Both waited on here: an exited first run is reaped at once, as make would (a zombie looks alive).
        deadline = time.monotonic() + 120
        while second.poll() is None:
            first.poll()
            assert time.monotonic() < deadline, second_out.read_text()
            time.sleep(0.1)
        assert second.returncode == 0, second_out.read_text()
        assert first.wait(timeout=60) == 0, first_out.read_text()

        for s in ("case", "router"):  # the second run's own, still running once the first is gone
            assert _alive(root / f"var/run/{s}.pid"), s
            assert (root / f"var/run/{s}.pid").read_text() not in first_services
        assert (f"stopping the make run already running (pid {first.pid}) and its services first"
                in second_out.read_text())
        assert "stopping services" in first_out.read_text()
        assert not (root / "var/run/make-run.pid").exists(), "a background run leaves no owner behind"
    finally:
        for run in (first, second):
            if run is not None and run.poll() is None:
                run.kill()
                run.wait()
        subprocess.run([str(root / "deploy/local/bin/services.sh"), "stop"], capture_output=True, timeout=60,
                       check=False)
