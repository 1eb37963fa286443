"""workbench bootstrap: the staff UI (sign-in, queues, case page, suggested duplicates, call-agent console).

Consumes and produces no event and owns no data: every read and write is a call of the case service's
staff API (of intake_web's agent API for the console and its staff routes for the refusals, of the insights
service for the dashboard, of the notifier's profile API for the person page) with the signed-in user's
bearer token; the case service stays the single writer
of cases. Routes: `entrypoints/pages.py`; assets under ``/static`` (ours and
the npm libraries of ``shared/web`` at ``/static/vendor``, built by ``make assets``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import httpx

from services.workbench.adapters.http_api import AgentApi, CaseStaffApi, InsightsApi, IntakeStaffApi, ProfileApi
from services.workbench.adapters.oidc import OidcClient
from services.workbench.config import SERVICE, WorkbenchConfig
from services.workbench.entrypoints import pages
from services.workbench.entrypoints.web import PACKAGE
from services.workbench.service_layer.deps import Deps
from shared.auth import TokenVerifier
from shared.jurisdiction import Jurisdiction, load_jurisdiction
from shared.service import Runtime
from shared.settings import Settings
from shared.web import require_vendor


def create_app(settings: Settings | None = None, *, jurisdiction: Jurisdiction | None = None,
               case_transport: httpx.AsyncBaseTransport | None = None,
               agent_transport: httpx.AsyncBaseTransport | None = None,
               oidc_transport: httpx.AsyncBaseTransport | None = None,
               insights_transport: httpx.AsyncBaseTransport | None = None,
               intake_staff_transport: httpx.AsyncBaseTransport | None = None,
               profile_transport: httpx.AsyncBaseTransport | None = None, clock: Callable[[], datetime] | None = None
               ) -> Any:
    """Build the workbench: a FastAPI app whose lifespan opens the API clients and loads the jurisdiction.
    Real dependencies by default; tests pass a `jurisdiction`, httpx transports standing in for the case
    service, intake_web (agent and staff routes), the insights service, the notifier (profiles) and the
    identity provider (e.g. `httpx.ASGITransport` of a fake) and a `clock` (aware UTC). Raises
    `shared.web.AssetsMissing` at start when ``shared/web/static/vendor`` is missing (run ``make assets``)."""
    s = settings or Settings()
    rt = Runtime(s, SERVICE, title="omni311 staff workbench")
    rt.clock = clock or rt.clock
    deps = Deps(case_api=CaseStaffApi(s.case_api_url, transport=case_transport),
                agent_api=AgentApi(s.workbench_intake_web_url, transport=agent_transport),
                verifier=TokenVerifier(s), config=(config := WorkbenchConfig.from_settings(s)),
                clock=lambda: rt.clock(), log=rt.log, oidc=OidcClient.configured(config, oidc_transport),
                insights_api=InsightsApi(s.insights_api_url, transport=insights_transport),
                intake_staff_api=IntakeStaffApi(s.workbench_intake_web_staff_url or s.workbench_intake_web_url,
                                                transport=intake_staff_transport or agent_transport),
                profile_api=ProfileApi(s.notifier_api_url, transport=profile_transport))
    if jurisdiction is not None:
        deps.use(jurisdiction)

    async def start() -> None:
        require_vendor()
        if jurisdiction is None:
            deps.use(load_jurisdiction(s.jurisdiction))
        if not deps.config.dev_sign_in:
            rt.log.info("dev_sign_in_off", detail=f"no private key in {deps.config.dev_issuer_dir}")

    clients = (deps.case_api, deps.agent_api, deps.insights_api, deps.intake_staff_api, deps.profile_api)
    rt.on_start.extend([start, *(c.start for c in clients)])
    rt.on_stop.extend(c.stop for c in clients)
    rt.app.state.deps = deps
    pages.install(rt.app, static_dir=PACKAGE / "static")
    return rt.app
