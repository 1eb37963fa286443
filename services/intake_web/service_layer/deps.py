"""What intake_web's handlers work with: the intake publisher, the case API, the clock, the jurisdiction
and the console's settings. `app.create_app` wires the real ones; tests pass fakes."""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from services.intake_web.config import SERVICE, AgentSettings
from services.intake_web.domain.district_map import district_map
from shared.intake import CaseApi, IntakePublisher
from shared.jurisdiction import Jurisdiction
from shared.open311 import Service


@dataclass
class Deps:
    """`publisher` returns once Kafka acknowledged (acks=all); `case_api` answers the Open311 reads and
    `console_case_api` the console's look-ups (the same case API, each with its own timeout); `clock()`
    gives aware UTC; `new_id()` a random id (a POST's token without `Idempotency-Key`); `api_keys` are the
    Open311 clients' keys; `agent` the console's settings. The jurisdiction is set by `use` (at start-up,
    or by a test) before the first request."""

    publisher: IntakePublisher
    case_api: CaseApi
    console_case_api: CaseApi
    clock: Callable[[], datetime]
    log: Any
    api_keys: Collection[str]
    agent: AgentSettings
    new_id: Callable[[], UUID] = uuid4
    producer: str = SERVICE
    services: list[Service] = field(default_factory=list)
    service_codes: frozenset[str] = frozenset()
    _jurisdiction: Jurisdiction | None = None
    _map: list[dict[str, Any] | None] = field(default_factory=list)

    def use(self, jur: Jurisdiction) -> None:
        """Serve `jur`: its services as Open311 lists them, and their codes."""
        self._jurisdiction = jur
        self.services = [Service.model_validate(sv.to_open311()) for sv in jur.services]
        self.service_codes = frozenset(sv.service_code for sv in jur.services)
        self._map.clear()

    @property
    def jurisdiction(self) -> Jurisdiction:
        """The jurisdiction served. Raises `RuntimeError` before `use`."""
        if self._jurisdiction is None:
            raise RuntimeError("intake_web serves no jurisdiction yet (not started)")
        return self._jurisdiction

    def district_map(self) -> dict[str, Any] | None:
        """The console's district map (`domain.district_map`), drawn once."""
        if not self._map:
            self._map.append(district_map(self.jurisdiction))
        return self._map[0]
