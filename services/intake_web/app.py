"""intake_web bootstrap: the Open311 GeoReport v2 API and the call-agent console on one intake edge.

Produces `intake.message_received` on `intake.messages` (through `shared.intake.KafkaIntakePublisher`,
acknowledged by every in-sync replica before a POST answers); owns nothing durable: reads go to the case
service's API through `shared.intake.CaseApiClient`. Routes: `entrypoints/open311.py`, `entrypoints/console.py`
(the agent API takes a staff bearer JWT, verified by `shared.auth`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from services.intake_web.adapters.edge import case_api_clients, intake_publisher
from services.intake_web.config import SERVICE, AgentSettings
from services.intake_web.entrypoints import console, open311
from services.intake_web.service_layer.deps import Deps
from shared.auth import TokenVerifier, install_auth
from shared.intake import CaseApi, CaseApiClient, IntakePublisher
from shared.jurisdiction import Jurisdiction, load_jurisdiction
from shared.service import Runtime
from shared.settings import Settings


def create_app(settings: Settings | None = None, *, agent_settings: AgentSettings | None = None,
               jurisdiction: Jurisdiction | None = None, publisher: IntakePublisher | None = None,
               case_api: CaseApi | None = None, clock: Callable[[], datetime] | None = None) -> Any:
    """Build intake_web: a FastAPI app whose lifespan runs the Kafka producer and the case-API clients.

    Real dependencies by default; tests pass a `jurisdiction`, a fake `publisher` and `case_api` (used by
    the Open311 reads and the console alike; then no route needs Kafka or the case service) and a `clock`
    (aware UTC).
    """
    s = settings or Settings()
    rt = Runtime(s, SERVICE, title="omni311 Open311 GeoReport v2")
    rt.clock = clock or rt.clock
    clients: tuple[CaseApiClient, ...] = case_api_clients(s) if case_api is None else ()
    open311_reads, console_lookups = clients if case_api is None else (case_api, case_api)
    deps = Deps(publisher=publisher or intake_publisher(rt), case_api=open311_reads, console_case_api=console_lookups,
                clock=lambda: rt.clock(), log=rt.log, api_keys=s.open311_api_keys,
                agent=agent_settings or AgentSettings())
    if jurisdiction is not None:
        deps.use(jurisdiction)

    async def start() -> None:
        if jurisdiction is None:
            deps.use(load_jurisdiction(s.jurisdiction))

    rt.on_start.append(start)
    for client in clients:
        rt.on_start.append(client.start)
        rt.on_stop.append(client.stop)
    rt.app.state.deps = deps
    install_auth(rt.app, TokenVerifier(s))
    for exc, handler in open311.EXCEPTION_HANDLERS.items():
        rt.app.add_exception_handler(exc, handler)
    rt.app.include_router(open311.router)
    rt.app.include_router(console.router)
    return rt.app
