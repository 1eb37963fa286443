"""Case bootstrap: wires the case store, the handlers, the subscription and the case API.

Consumes `intake.messages`, `routing.decisions`, `dedup.decisions`, `notifications.outcomes`; produces
`cases.lifecycle` through the outbox. Owns the `case` schema (cases, messages, reporters, timeline) and
serves the case API (`entrypoints/http.py`).
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from services.case.adapters.reads import CaseReads
from services.case.adapters.repository import CaseRepository
from services.case.config import SERVICE
from services.case.entrypoints import http, kafka
from services.case.service_layer import handlers
from shared.jurisdiction import load_jurisdiction
from shared.service import Runtime
from shared.service_layer import Handlers
from shared.settings import Settings


def create_app(settings: Settings | None = None) -> Any:
    """Build the case service: a FastAPI app (`Runtime.app`) with the case API mounted and the Kafka
    subscription registered; `settings` default to the environment's (`Settings()`).

    Nothing is opened here. Its lifespan migrates the `case` schema, opens the pool, the producer and the
    outbox relay, then loads the jurisdiction (its id is the case-number prefix, its time zone the year of
    a case number) before the broker starts. Starting raises `JurisdictionConfigError` for a missing or
    invalid jurisdiction, `asyncpg.PostgresError`/`OSError` when PostgreSQL cannot be reached or migrated,
    and the broker's error when Kafka cannot be reached.
    """
    s = settings or Settings()
    rt = Runtime(s, SERVICE, schema_package="services.case")
    table: dict[str, Handlers] = {}

    async def start() -> None:
        jur = load_jurisdiction(s.jurisdiction)
        table["h"] = handlers.handlers(jur.id, ZoneInfo(jur.timezone))

    rt.on_start.append(start)
    kafka.subscribe(rt, rt.event_handler(lambda: table["h"], CaseRepository))
    http.mount(rt.app, http.CaseApi(reads=lambda: CaseReads(rt.db),
                                    unit_of_work=lambda: rt.unit_of_work(CaseRepository)))
    return rt.app
