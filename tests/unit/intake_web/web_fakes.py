"""Fakes the intake_web unit tests share: a publisher that keeps what it is given, and the demo
jurisdiction loaded once."""

from __future__ import annotations

from functools import cache

from shared.events import Envelope
from shared.jurisdiction import Jurisdiction, load_jurisdiction


class FakePublisher:
    """`shared.intake.IntakePublisher` in memory: `published` in the order given."""

    def __init__(self) -> None:
        self.published: list[Envelope] = []

    async def publish(self, env: Envelope) -> None:
        self.published.append(env)


@cache
def demo() -> Jurisdiction:
    return load_jurisdiction("demo")
