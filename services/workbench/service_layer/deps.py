"""What the workbench's handlers work with: the API clients (case staff API, intake_web's agent and staff
routes, the insights service, the notifier's profile API), the token verifier, the city's identity provider (when configured), the jurisdiction
(districts, services, departments), the configuration and the clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

from services.workbench.adapters.http_api import AgentApi, CaseStaffApi, InsightsApi, IntakeStaffApi, ProfileApi
from services.workbench.adapters.oidc import OidcClient
from services.workbench.config import WorkbenchConfig
from services.workbench.domain.district_map import districts_geojson
from shared.auth import TokenVerifier
from shared.jurisdiction import Jurisdiction


@dataclass
class Deps:
    """Built once by `app.create_app`; `jurisdiction` is set at start (`use`)."""

    case_api: CaseStaffApi
    agent_api: AgentApi
    verifier: TokenVerifier
    config: WorkbenchConfig
    clock: Callable[[], datetime]
    log: Any
    oidc: OidcClient | None = None
    insights_api: InsightsApi | None = None
    intake_staff_api: IntakeStaffApi | None = None
    profile_api: ProfileApi | None = None
    _jurisdiction: Jurisdiction | None = field(default=None, repr=False)

    def use(self, jurisdiction: Jurisdiction) -> None:
        """Set the jurisdiction the pages show (loaded at start)."""
        self._jurisdiction = jurisdiction
        self.__dict__.pop("districts", None)

    @property
    def jurisdiction(self) -> Jurisdiction:
        """The loaded jurisdiction. Raises `RuntimeError` before start."""
        if self._jurisdiction is None:
            raise RuntimeError("the workbench's jurisdiction is not loaded yet")
        return self._jurisdiction

    @cached_property
    def districts(self) -> dict[str, Any] | None:
        """The district polygons (GeoJSON, WGS84) the maps draw; None without districts."""
        return districts_geojson(self.jurisdiction)
