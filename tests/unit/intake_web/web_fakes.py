"""Fakes the intake_web unit tests share: a publisher that keeps what it is given, the demo
jurisdiction loaded once, and a test identity provider whose staff tokens the app built with `settings()`
trusts."""

from __future__ import annotations

import tempfile
from functools import cache
from typing import Any

from shared.auth import Role
from shared.events import Envelope
from shared.jurisdiction import Jurisdiction, load_jurisdiction
from shared.settings import Settings
from support.auth import TestIssuer


class FakePublisher:
    """`shared.intake.IntakePublisher` in memory: `published` in the order given."""

    def __init__(self) -> None:
        self.published: list[Envelope] = []

    async def publish(self, env: Envelope) -> None:
        self.published.append(env)


@cache
def demo() -> Jurisdiction:
    return load_jurisdiction("demo")


@cache
def _issuer_dir() -> tempfile.TemporaryDirectory[str]:
    return tempfile.TemporaryDirectory(prefix="intake-web-issuer-")


@cache
def issuer() -> TestIssuer:
    """One test identity provider for these tests (keys made on first use, removed at exit)."""
    return TestIssuer(_issuer_dir().name)


def settings(**over: Any) -> Settings:
    """Demo settings that trust `issuer()`."""
    return issuer().settings(jurisdiction="demo", **over)


def bearer(role: Role | str = Role.CALL_AGENT, subject: str = "agent-ana", **kwargs: Any) -> dict[str, str]:
    """An Authorization header with a token of `issuer()` (a call agent by default)."""
    return issuer().headers(role, subject=subject, **kwargs)
