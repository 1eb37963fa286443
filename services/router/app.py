"""Router bootstrap: wires the decision log, the judges (learned model, geocoder), the handlers, the
subscription and the staff API.

Consumes `cases.lifecycle` (`case.opened`; `case.message_added` re-routes a case that gained its location
or confirmed its place; `case.recategorised`); produces `routing.decisions` through the outbox. Owns the
routing rules (versioned jurisdiction files) and the `router` schema's decision log; serves
`/routing/versions` and `/routing/replay` to staff.
"""

from __future__ import annotations

import asyncio
from typing import Any

from services.router.adapters.repository import RouterReads, RouterRepository
from services.router.config import SERVICE
from services.router.entrypoints import http, kafka
from services.router.service_layer import handlers
from shared.auth import TokenVerifier, install_auth
from shared.jurisdiction import Jurisdiction, load_jurisdiction
from shared.service import Runtime
from shared.service_layer import Handlers
from shared.settings import Settings


def create_app(settings: Settings | None = None) -> Any:
    """The router's FastAPI app (probes `/healthz`, `/readyz`, `/metrics`; the staff API), whose lifespan
    runs the service: `settings` (default: `Settings()` from the `OMNI311_` environment). Nothing is opened
    here but the token verifier (keys are read on the first request); on start the `router` schema is
    migrated, the pool, outbox relay and consumer are started, the jurisdiction (`settings.jurisdiction`)
    is loaded, and with it, once, its learned model (`shared.judgement.model_for`, from
    `settings.model_dir`, trained there when missing) and its geocoder (`shared.geocode.geocoder_for`),
    both built in a worker thread. Starting raises `JurisdictionConfigError` for a jurisdiction that
    cannot be loaded, `OSError`/`asyncpg.PostgresError`/Kafka errors when the infrastructure cannot be
    reached."""
    s = settings or Settings()
    rt = Runtime(s, SERVICE, schema_package="services.router")
    table: dict[str, Handlers] = {}
    live: dict[str, Any] = {}

    async def start() -> None:
        from shared.geocode import extract_place, geocoder_for  # noqa: PLC0415 - their libraries load at start
        from shared.judgement import model_for  # noqa: PLC0415

        jurisdiction = load_jurisdiction(s.jurisdiction)
        model = await asyncio.to_thread(model_for, jurisdiction, s.model_dir)
        geocoder = await asyncio.to_thread(geocoder_for, jurisdiction)
        if (close := getattr(geocoder, "aclose", None)) is not None:  # a server geocoder's HTTP client
            rt.on_stop.append(close)
        live.update(jurisdiction=jurisdiction, model=model, geocoder=jurisdiction.geocoding.provider)
        rt.log.info("judges_loaded", config_version=jurisdiction.config_version,
                    model_version=model.version if model is not None else None, geocoder=live["geocoder"])
        judges = handlers.Judges(model=model, geocoder=geocoder, extract_place=extract_place)
        table["h"], live["judges"] = handlers.handlers(jurisdiction, judges), judges

    def jurisdiction() -> Jurisdiction:
        return live["jurisdiction"]

    rt.on_start.append(start)
    kafka.subscribe(rt, rt.event_handler(lambda: table["h"], RouterRepository),
                    lambda: (table["h"], live["jurisdiction"], live["judges"]))
    install_auth(rt.app, TokenVerifier(s))
    http.mount(rt.app, http.RouterApi(reads=lambda: RouterReads(rt.db), jurisdiction=jurisdiction,
                                      model=lambda: live["model"], geocoder=lambda: live["geocoder"], now=rt.clock))
    return rt.app
