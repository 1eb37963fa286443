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


IDF_TEXTS = 10_000
"""The text measure's IDF is fitted at start on at most this many of the projection's latest texts."""


def create_app(settings: Settings | None = None) -> Any:
    """The duplicate detector's FastAPI app (probes `/healthz`, `/readyz`, `/metrics`), whose lifespan runs
    the service: `settings` (default: `Settings()` from the `OMNI311_` environment). Nothing is opened here;
    on start the `dedup` schema is migrated, the pool, outbox relay and consumer are started, the
    jurisdiction's rules (`settings.jurisdiction`) are loaded and the text measure's IDF is fitted on the
    projection's latest `IDF_TEXTS` texts (the unfitted hashing form while it holds fewer than 50). Starting raises `JurisdictionConfigError`
    for a jurisdiction that cannot be loaded, `OSError`/`asyncpg.PostgresError`/Kafka errors when the
    infrastructure cannot be reached."""
    s = settings or Settings()
    rt = Runtime(s, SERVICE, schema_package="services.dedup")
    table: dict[str, Handlers] = {}

    async def start() -> None:
        rules = jurisdiction_rules(load_jurisdiction(s.jurisdiction))
        similarity = await handlers.text_measure(rt.unit_of_work(DedupRepository), limit=IDF_TEXTS)
        rt.log.info("text_measure_fitted", texts=similarity.fitted_on, form_labels=len(similarity.labels))
        table["h"] = handlers.handlers(*rules, similarity=similarity)

    rt.on_start.append(start)
    kafka.subscribe(rt, rt.event_handler(lambda: table["h"], DedupRepository, prepare=handlers.lock_categories))
    return rt.app
