"""Case bootstrap: wires the case store, the handlers, the subscription, the case API and the staff API.

Consumes `intake.messages`, `routing.decisions`, `dedup.decisions`, `notifications.outcomes`,
`forwarding.outcomes`; produces `cases.lifecycle` through the outbox. Owns the `case` schema (cases,
messages, reporters, timeline, duplicate suggestions, external requests) and serves the case API (`entrypoints/http.py`) and the staff API
(`entrypoints/staff.py`, bearer tokens verified by `shared.auth`). A background loop fires the durable SLA
clocks and runs the retention job (`service_layer/timers.py`, `service_layer/retention.py`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from services.case.adapters.reads import StaffReads
from services.case.adapters.repository import CaseRepository
from services.case.config import SERVICE, TimerSettings
from services.case.entrypoints import http, kafka
from services.case.service_layer import handlers, retention, timers
from shared.auth import TokenVerifier, install_auth
from shared.jurisdiction import Jurisdiction, load_jurisdiction
from shared.service import Runtime
from shared.service_layer import Handlers
from shared.settings import Settings


def create_app(settings: Settings | None = None) -> Any:
    """Build the case service: a FastAPI app (`Runtime.app`) with the case API mounted and the Kafka
    subscription registered; `settings` default to the environment's (`Settings()`).

    Nothing is opened here but the token verifier (it reads its keys on the first request). Its lifespan
    migrates the `case` schema, opens the pool, the producer and the outbox relay, then loads the
    jurisdiction (its id is the case-number prefix, its time zone the year of a case number, its workflow
    the statuses) before the broker starts. Starting raises `JurisdictionConfigError` for a missing or
    invalid jurisdiction, `asyncpg.PostgresError`/`OSError` when PostgreSQL cannot be reached or migrated,
    and the broker's error when Kafka cannot be reached.
    """
    s = settings or Settings()
    rt = Runtime(s, SERVICE, schema_package="services.case")
    table: dict[str, Handlers] = {}
    loaded: dict[str, Jurisdiction] = {}

    async def start() -> None:
        jur = load_jurisdiction(s.jurisdiction)
        loaded["jurisdiction"] = jur
        table["h"] = handlers.handlers(jur, clocks=timers)

    rt.on_start.append(start)
    _background_loop(rt, lambda: loaded["jurisdiction"], TimerSettings())
    kafka.subscribe(rt, rt.event_handler(lambda: table["h"], CaseRepository), lambda: loaded["jurisdiction"], timers)
    install_auth(rt.app, TokenVerifier(s))
    http.mount(rt.app, http.CaseApi(reads=lambda: StaffReads(rt.db),
                                    unit_of_work=lambda: rt.unit_of_work(CaseRepository),
                                    jurisdiction=lambda: loaded["jurisdiction"], now=rt.clock,
                                    clocks=lambda: timers))
    return rt.app


def _background_loop(rt: Runtime, jurisdiction: Callable[[], Jurisdiction], ts: TimerSettings) -> None:
    """Run the SLA timer and retention job (`timers.SlaTimer`) from the jurisdiction's loading to the stop."""
    loop: list[timers.SlaTimer] = []

    async def start() -> None:
        jur = jurisdiction()
        retention.warn_without_key(jur, ts.retention_pseudonym_key)
        timer = timers.SlaTimer(
            unit_of_work=lambda: rt.unit_of_work(CaseRepository), jurisdiction=jur, clock=rt.clock,
            interval_s=ts.sla_timer_interval_s, batch=ts.sla_timer_batch,
            retention_interval_s=ts.retention_interval_s, retention_batch=ts.retention_batch,
            retention=lambda uow, skip: retention.erase_due(uow, jurisdiction=jur, limit=ts.retention_batch,
                                                            skip=skip, key=ts.retention_pseudonym_key))
        timer.start()
        loop.append(timer)

    async def stop() -> None:
        while loop:
            await loop.pop().stop()

    rt.on_start.append(start)
    rt.on_stop.append(stop)
