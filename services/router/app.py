"""Router bootstrap: wires the decision log, the handlers and the subscription.

Consumes `cases.lifecycle` (`case.opened`; `case.message_added` re-routes a case that gained its location);
produces `routing.decisions` through the outbox. Owns the routing rules (versioned jurisdiction files)
and the `router` schema's decision log.
"""

from __future__ import annotations

from typing import Any

from services.router.adapters.repository import RouterRepository
from services.router.config import SERVICE
from services.router.entrypoints import kafka
from services.router.service_layer import handlers
from shared.jurisdiction import load_jurisdiction
from shared.service import Runtime
from shared.service_layer import Handlers
from shared.settings import Settings


def create_app(settings: Settings | None = None) -> Any:
    """The router's FastAPI app (probes `/healthz`, `/readyz`, `/metrics`), whose lifespan runs the service:
    `settings` (default: `Settings()` from the `OMNI311_` environment). Nothing is opened here; on start
    the `router` schema is migrated, the pool, outbox relay and consumer are started and the jurisdiction
    (`settings.jurisdiction`) is loaded. Starting raises `JurisdictionConfigError` for a jurisdiction that
    cannot be loaded, `OSError`/`asyncpg.PostgresError`/Kafka errors when the infrastructure cannot be
    reached."""
    s = settings or Settings()
    rt = Runtime(s, SERVICE, schema_package="services.router")
    table: dict[str, Handlers] = {}

    async def start() -> None:
        table["h"] = handlers.handlers(load_jurisdiction(s.jurisdiction))

    rt.on_start.append(start)
    kafka.subscribe(rt, rt.event_handler(lambda: table["h"], RouterRepository))
    return rt.app
