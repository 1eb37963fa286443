"""Dedup bootstrap: wires the projection, the handlers and the subscription.

Consumes `cases.lifecycle` (`case.routed`, `case.merged`, `case.unmerged`, `case.status_changed`); produces
`dedup.decisions` (`dedup.decided`, `dedup.suggested`) through the outbox. Owns the `dedup` schema (PostGIS projection of cases, decision log).
"""

from __future__ import annotations

from typing import Any

from services.dedup.adapters.repository import DedupRepository
from services.dedup.config import SERVICE, jurisdiction_rules
from services.dedup.entrypoints import kafka
from services.dedup.service_layer import handlers
from shared.jurisdiction import load_jurisdiction
from shared.service import Runtime
from shared.service_layer import Handlers
from shared.settings import Settings


def create_app(settings: Settings | None = None) -> Any:
    """The duplicate detector's FastAPI app (probes `/healthz`, `/readyz`, `/metrics`), whose lifespan runs
    the service: `settings` (default: `Settings()` from the `OMNI311_` environment). Nothing is opened here;
    on start the `dedup` schema is migrated, the pool, outbox relay and consumer are started and the
    jurisdiction's rules (`settings.jurisdiction`) are loaded. Starting raises `JurisdictionConfigError`
    for a jurisdiction that cannot be loaded, `OSError`/`asyncpg.PostgresError`/Kafka errors when the
    infrastructure cannot be reached."""
    s = settings or Settings()
    rt = Runtime(s, SERVICE, schema_package="services.dedup")
    table: dict[str, Handlers] = {}

    async def start() -> None:
        table["h"] = handlers.handlers(*jurisdiction_rules(load_jurisdiction(s.jurisdiction)))

    rt.on_start.append(start)
    kafka.subscribe(rt, rt.event_handler(lambda: table["h"], DedupRepository))
    return rt.app
