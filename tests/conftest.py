"""Session set-up shared by every test folder.

`make test` starts the real infrastructure before pytest. On a host with a Docker daemon where nothing
is configured or listening, testcontainers starts the same three services instead (support.containers).
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from pathlib import Path

import pytest

from support import containers

_started: list = []
REPO = Path(__file__).resolve().parents[1]


SHARED_PORTS_MODULES = ("tests/e2e/test_e2e_simulate_channels.py", "tests/e2e/test_e2e_bring_your_own_city.py")
"""Modules that run `make run` on the fixed ports of `shared.settings.SERVICE_PORTS` and `tools.fakes.PORTS`."""


@pytest.fixture(scope="module", autouse=True)
def one_make_run_at_a_time(request: pytest.FixtureRequest) -> Iterator[None]:
    """`make test` runs two pytest-xdist workers, each taking whole modules (`--dist loadfile`); a module of
    `SHARED_PORTS_MODULES` holds an exclusive lock on ``var/test-logs/make-run.lock`` from before its own
    fixtures start until they stop, so two never serve the same ports at once (the other waits). Autouse,
    so it is set up before the module's other fixtures."""
    module = request.node.nodeid.split("::", 1)[0]
    if module not in SHARED_PORTS_MODULES:
        yield
        return
    lock_path = REPO / "var" / "test-logs" / "make-run.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def pytest_configure(config: pytest.Config) -> None:
    if hasattr(config, "workerinput"):  # a pytest-xdist worker: the controller started what is needed
        return
    unit_only = config.args and all(str(a).replace("\\", "/").lstrip("./").startswith("tests/unit") for a in config.args)
    if not unit_only and containers.should_use_containers():
        _started.extend(containers.start_containers())


@pytest.fixture(scope="session")
def require_shared_data() -> None:
    """Fails (never skips) a test that reads the real records when the shared data folder is missing."""
    from support.data import shared_data

    assert (shared_data() / "INDEX.md").is_file(), "shared test data has no INDEX.md (set OMNI311_SHARED_DATA)"


@pytest.fixture(scope="session")
def test_issuer(tmp_path_factory: pytest.TempPathFactory):
    """A test identity provider (support.auth.TestIssuer) with keys in a temporary folder: `.token(role)`
    for in-process apps built with `.settings()`, `.env()` for service processes."""
    from support.auth import TestIssuer

    return TestIssuer(tmp_path_factory.mktemp("issuer"))


def pytest_unconfigure(config: pytest.Config) -> None:
    for container in reversed(_started):
        container.stop()
