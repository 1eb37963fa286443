"""Insights bootstrap: wires the projection, the handlers, the subscriptions, the metrics loop and the routes.

Consumes `cases.lifecycle` (opened, routed, status changed, merged, unmerged, recategorised, SLA breached,
followed, survey answered, personal data erased) and `intake.messages` (`intake.help_deflected`); produces
nothing. Owns the `insights` schema (the public projection of cases, survey ratings, deflections) and serves
the dashboard API, the open-data exports (rate-limited per client by `shared.abuse`) and the Prometheus
figures (`/metrics`).
"""

from __future__ import annotations

from typing import Any

from services.insights.adapters.reads import ExportPool, InsightsReads
from services.insights.adapters.repository import InsightsRepository
from services.insights.config import SERVICE, InsightsSettings, department_of, phone_region
from services.insights.entrypoints import http, kafka
from services.insights.service_layer import handlers
from services.insights.service_layer.metrics import InsightsMetrics, RefreshLoop
from shared.abuse import Abuse, RefusalRecorder
from shared.auth import TokenVerifier, install_auth
from shared.jurisdiction import Jurisdiction, load_jurisdiction
from shared.service import Runtime
from shared.service_layer import Handlers
from shared.settings import Settings


def create_app(settings: Settings | None = None) -> Any:
    """The insights FastAPI app (probes, `/metrics`, the dashboard API, open data), whose lifespan runs the
    service: `settings` default to `Settings()` from the `OMNI311_` environment. Nothing is opened here but
    the token verifier (keys are read on the first request). On start the `insights` schema is migrated, the
    pools opened (the service's, and the open-data exports' own), the jurisdiction loaded (time zone, departments, phone region), the counters seeded from
    the projection, the gauges' loop started, then the consumer. Starting raises `JurisdictionConfigError`
    for a jurisdiction that cannot be loaded, `OSError`/`asyncpg.PostgresError`/Kafka errors when the
    infrastructure cannot be reached."""
    s, cfg = settings or Settings(), InsightsSettings()
    rt = Runtime(s, SERVICE, schema_package="services.insights")
    metrics = InsightsMetrics(rt.metrics)
    table: dict[str, Handlers] = {}
    loaded: dict[str, Jurisdiction] = {}
    loop = RefreshLoop(metrics, lambda: InsightsReads(rt.db), rt.clock, cfg.refresh_interval_s)
    exports = ExportPool(s.pg_dsn, SERVICE, cfg.export_connections)

    async def start() -> None:
        jur = loaded["j"] = load_jurisdiction(s.jurisdiction)
        table["h"] = handlers.handlers(region=phone_region(jur, cfg.phone_region), department_of=department_of(jur),
                                       meter=metrics)
        await metrics.seed(InsightsReads(rt.db))
        await exports.open()
        loop.start()

    rt.on_start.append(start)
    rt.on_stop.extend([loop.stop, exports.close])
    kafka.subscribe(rt, rt.event_handler(lambda: table["h"], InsightsRepository))
    install_auth(rt.app, TokenVerifier(s))
    abuse = Abuse.from_settings(s, RefusalRecorder(rt.metrics, service=SERVICE), clock=rt.clock, routes={})
    http.mount(rt.app, http.InsightsApi(reads=lambda: InsightsReads(rt.db), export_reads=exports.reads,
                                        jurisdiction=lambda: loaded["j"], now=rt.clock,
                                        prefetch=cfg.export_prefetch), abuse)
    return rt.app
