"""Forwarder bootstrap: wires the forwards' repository, the Open311 client, the case API client, the
handlers, the subscription, the background loop and the admin API.

Consumes `cases.lifecycle` (`case.routed`; `case.opened` for its attribute answers); produces `forwarding.case_forwarded`, `forwarding.forward_failed`
and `forwarding.status_reported` on `forwarding.outcomes` through the outbox. Owns the `forwarder` schema
(one row per case and endpoint: the send, its attempts, the external id or token, the last status read;
the attribute answers of cases to send).
Sends and polls outside Open311 GeoReport v2 endpoints (the jurisdiction's `forwarding`); serves
`/admin/forwards` to supervisors and administrators. docs/integrations.md, "Open311 forwarding".
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from services.forwarder.adapters.open311 import Open311Client
from services.forwarder.adapters.repository import ForwarderReads, ForwarderRepository
from services.forwarder.config import SERVICE, ForwarderSettings
from services.forwarder.entrypoints import http, kafka
from services.forwarder.entrypoints.loop import ForwardLoop
from services.forwarder.service_layer import handlers
from shared.auth import TokenVerifier, install_auth
from shared.intake import CaseApiClient
from shared.jurisdiction import load_jurisdiction
from shared.service import Runtime
from shared.service_layer import Handlers
from shared.settings import Settings


def create_app(settings: Settings | None = None, *, forwarder: ForwarderSettings | None = None,
               client: Open311Client | None = None) -> Any:
    """The forwarder's FastAPI app (probes `/healthz`, `/readyz`, `/metrics`; the admin API), whose lifespan
    runs the service: `settings` (default: `Settings()`), `forwarder` (API keys, URL overrides, timing;
    default: `ForwarderSettings()`), both from the `OMNI311_` environment, and `client` (default: a real
    `Open311Client`). Nothing is opened here but the token verifier; on start the `forwarder` schema is
    migrated, the pool, outbox relay and consumer are started, the jurisdiction is loaded, the HTTP clients
    opened and the loop started. Starting raises `JurisdictionConfigError` for a jurisdiction that cannot be
    loaded, `OSError`/`asyncpg.PostgresError`/Kafka errors when the infrastructure cannot be reached."""
    s = settings or Settings()
    fs = forwarder or ForwarderSettings()
    rt = Runtime(s, SERVICE, schema_package="services.forwarder")
    table: dict[str, Handlers] = {}
    start = _starter(rt, fs, table, client or Open311Client(fs.forwarder_timeout_s))
    rt.on_start.append(start)
    kafka.subscribe(rt, rt.event_handler(lambda: table["h"], ForwarderRepository))
    install_auth(rt.app, TokenVerifier(s))
    http.mount(rt.app, http.ForwarderApi(reads=lambda: ForwarderReads(rt.db),
                                         unit_of_work=lambda: rt.unit_of_work(ForwarderRepository)))
    return rt.app


def _starter(rt: Runtime, fs: ForwarderSettings, table: dict[str, Handlers], open311: Open311Client
             ) -> Callable[[], Awaitable[None]]:
    """The start hook: load the jurisdiction's `forwarding`, fill `table` with the handlers, open the Open311
    and case API clients and start the loop; each is stopped (the loop first) before the pool closes."""
    cases = CaseApiClient(rt.settings.case_api_url, fs.forwarder_timeout_s)

    async def start() -> None:
        jurisdiction = load_jurisdiction(rt.settings.jurisdiction)
        spec = jurisdiction.forwarding
        urls = {e.name: fs.forwarding_urls.get(e.name, e.base_url).rstrip("/") for e in spec.endpoints}
        table["h"] = handlers.handlers(spec)
        await open311.start()
        await cases.start()
        rt.on_stop.append(cases.stop)
        rt.on_stop.append(open311.stop)
        loop = ForwardLoop(handlers.Forwarding(
            forwarding=spec, urls=urls, api_key=fs.api_key, client=open311, cases=cases,
            unit_of_work=lambda: rt.unit_of_work(ForwarderRepository), clock=rt.clock,
            retry_base_s=fs.forwarder_retry_base_s, retry_max_s=fs.forwarder_retry_max_s,
            lease_s=fs.forwarder_lease_s, batch=fs.forwarder_batch, region=jurisdiction.phone_region),
            tick_s=fs.forwarder_tick_s)
        loop.start()
        rt.on_stop.insert(0, loop.stop)  # stopped before the clients and the pool
        rt.log.info("forwarding_loaded", endpoints=[e.name for e in spec.endpoints])

    return start
