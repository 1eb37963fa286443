"""`deploy/local/bin/services.sh` (what `make run` starts) starts every service of the one port table and
every fake, and the fakes' ports do not collide with the services'."""

from __future__ import annotations

import re

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
