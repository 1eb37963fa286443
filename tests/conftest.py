"""Session set-up shared by every test folder.

`make test` starts the real infrastructure before pytest. On a host with a Docker daemon where nothing
is configured or listening, testcontainers starts the same three services instead (support.containers).
"""

from __future__ import annotations

import pytest

from support import containers

_started: list = []


SHARED_PORTS_MODULES = ("tests/e2e/test_e2e_simulate_channels.py", "tests/e2e/test_e2e_bring_your_own_city.py")
"""Modules that run `make run` on the fixed ports of `shared.settings.SERVICE_PORTS` and `tools.fakes.PORTS`:
never two at once, so `make test`'s workers (pytest-xdist) take them as one group."""


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist's own hook reads the groups into the test ids
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """One pytest-xdist group per module (`--dist loadgroup`): a module's tests run in one worker, so its
    module-scoped stack starts once, and the modules that need the fixed ports share one group."""
    for item in items:
        module = item.nodeid.split("::", 1)[0]
        item.add_marker(pytest.mark.xdist_group("make-run" if module in SHARED_PORTS_MODULES else module))


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
