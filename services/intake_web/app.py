"""intake_web bootstrap: the resident portal, the Open311 GeoReport v2 API and the call-agent console on
one intake edge.

Produces `intake.message_received`, `intake.follow_requested`, `intake.survey_answered` and
`intake.help_deflected` on `intake.messages` (through `shared.intake.KafkaIntakePublisher`, acknowledged by
every in-sync replica before a POST answers); consumes `case.personal_data_erased` on `cases.lifecycle`
(group `intake_web`: the photos of the case's reports are deleted, `entrypoints/kafka.py`); owns schema
`intake_web` (the portal's photos and which report used them, answered survey invitations, the refusal log); reads go to the case service's API through `shared.intake.CaseApiClient`. Routes:
`entrypoints/portal.py` (pages), `entrypoints/open311.py`, `entrypoints/console.py` (the agent API takes a
staff bearer JWT, verified by `shared.auth`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from services.intake_web.adapters.edge import case_api_clients, intake_publisher
from services.intake_web.adapters.refusals import RefusalLog
from services.intake_web.config import SERVICE, AgentSettings
from services.intake_web.adapters.erasure import PhotoErasureRepository
from services.intake_web.entrypoints import abuse, console, kafka, open311, portal
from services.intake_web.service_layer import erasure
from services.intake_web.service_layer.deps import CaseReads, Deps, PortalStore
from shared.auth import TokenVerifier, install_auth
from shared.intake import CaseApi, CaseApiClient, IntakePublisher
from shared.jurisdiction import Jurisdiction, load_jurisdiction
from shared.service import Runtime
from shared.settings import Settings


def create_app(settings: Settings | None = None, *, agent_settings: AgentSettings | None = None,
               jurisdiction: Jurisdiction | None = None, publisher: IntakePublisher | None = None,
               case_api: CaseApi | None = None, clock: Callable[[], datetime] | None = None,
               refusals: RefusalLog | None = None, portal_store: PortalStore | None = None,
               portal_reads: CaseReads | None = None) -> Any:
    """Build intake_web: a FastAPI app whose lifespan migrates schema `intake_web`, opens its pool and runs
    the Kafka producer and the case-API clients. Real dependencies by default; tests pass a `jurisdiction`,
    a fake `publisher` and `case_api` (the Open311 reads and the console alike), a `clock` (aware UTC), a
    refusal log (`entrypoints/abuse.protect`: the limits of every public route), and the portal's
    `portal_store` (photos, survey answers) and `portal_reads` (its reads of the case service).
    """
    s = settings or Settings()
    rt = Runtime(s, SERVICE, schema_package="services.intake_web", title="omni311 Open311 GeoReport v2")
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
    abuse.protect(rt, refusals)
    install_auth(rt.app, TokenVerifier(s))
    for exc, handler in open311.EXCEPTION_HANDLERS.items():
        rt.app.add_exception_handler(exc, handler)
    portal.mount(rt, deps, store=portal_store, reads=portal_reads, dependencies=[abuse.PUBLIC])
    rt.app.include_router(open311.router, dependencies=[abuse.PUBLIC])
    rt.app.include_router(console.router)
    kafka.subscribe(rt, rt.event_handler(erasure.handlers, PhotoErasureRepository))
    return rt.app
