"""What intake_web's handlers work with: the intake publisher, the case API, the clock, the jurisdiction
and the console's settings. `app.create_app` wires the real ones; tests pass fakes."""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID, uuid4

from services.intake_web.config import SERVICE, AgentSettings
from services.intake_web.domain.district_map import district_map, districts_geojson
from services.intake_web.service_layer.photo_gate import PhotoGate
from shared.intake import CaseApi, IntakePublisher
from shared.jurisdiction import Jurisdiction
from shared.jurisdiction.help import HelpArticle
from shared.open311 import Service, ServiceRequest
from shared.settings import Settings


class PortalStore(Protocol):
    """The portal's own state (schema `intake_web`): photos and answered survey invitations."""

    async def add_photo(self, *, photo_id: UUID, jpeg: bytes, width: int, height: int, now: datetime) -> None:
        """Keep a processed photo."""

    async def photo(self, photo_id: UUID) -> bytes | None:
        """A stored photo's JPEG, None when there is none."""

    async def unused_photos(self, photo_ids: Collection[UUID]) -> set[UUID]:
        """Those of `photo_ids` that are kept and that no published report uses yet."""

    async def use_photos(self, *, token: str, photo_ids: Collection[UUID], now: datetime) -> int:
        """Record that the published report `token` uses these photos (ids not kept are skipped); returns
        how many uses were recorded."""

    async def delete_unused_photos(self, *, created_before: datetime) -> int:
        """Delete the photos kept before `created_before` that no report used; returns how many."""

    async def survey_answered(self, jti: str) -> bool:
        """Whether invitation `jti` is recorded answered."""

    async def claim_survey(self, *, jti: str, service_request_id: str, now: datetime) -> bool:
        """Record invitation `jti` answered (after its answer was published): True the first time, False
        after."""


class CaseReads(Protocol):
    """What the portal reads of the case service (public reads). Every method raises
    `shared.intake.CaseApiUnavailable` when the case service cannot tell."""

    async def request(self, service_request_id: str) -> ServiceRequest | None:
        """One case; None when there is none."""

    async def case_of_token(self, token: str, channel: str = "open311") -> str | None:
        """The case number of a submission token; None while there is none."""

    async def nearby(self, *, service_code: str, lat: float, long: float, radius_m: float) -> list[ServiceRequest]:
        """Open cases of `service_code` within `radius_m` metres of the point."""

    async def history(self, service_request_id: str) -> dict[str, Any] | None:
        """The public history (``entries`` and the case's status); None for an unknown case."""


@dataclass
class PortalDeps:
    """The resident portal's dependencies: its `store`, the case service's public `reads`, the common
    `settings` (portal, map, survey and upload settings), the jurisdiction's `help` articles (set at
    start with the jurisdiction) and the notifier's `profiles` API (the "Link my email and phone" page)."""

    store: PortalStore
    reads: CaseReads
    settings: Settings
    help: tuple[HelpArticle, ...] = ()
    profiles: Any = None
    """The notifier's profile API (`service_layer.profile_link.ProfileLinks`) the link page calls."""
    photo_gate: PhotoGate = field(init=False)

    def __post_init__(self) -> None:
        self.photo_gate = PhotoGate(self.settings.photo_workers)


@dataclass
class Deps:
    """`publisher` returns once Kafka acknowledged (acks=all); `case_api` answers the Open311 reads and
    `console_case_api` the console's look-ups (the same case API, each with its own timeout); `clock()`
    gives aware UTC; `new_id()` a random id (a POST's token without `Idempotency-Key`); `api_keys` are the
    Open311 clients' keys; `agent` the console's settings. The jurisdiction is set by `use` (at start-up,
    or by a test) before the first request."""

    publisher: IntakePublisher
    case_api: CaseApi
    console_case_api: CaseApi
    clock: Callable[[], datetime]
    log: Any
    api_keys: Collection[str]
    agent: AgentSettings
    new_id: Callable[[], UUID] = uuid4
    producer: str = SERVICE
    services: list[Service] = field(default_factory=list)
    service_codes: frozenset[str] = frozenset()
    portal: PortalDeps | None = None
    _jurisdiction: Jurisdiction | None = None
    _map: list[dict[str, Any] | None] = field(default_factory=list)
    _geojson: list[dict[str, Any] | None] = field(default_factory=list)

    def use(self, jur: Jurisdiction) -> None:
        """Serve `jur`: its services as Open311 lists them, and their codes."""
        self._jurisdiction = jur
        self.services = [Service.model_validate(sv.to_open311()) for sv in jur.services]
        self.service_codes = frozenset(sv.service_code for sv in jur.services)
        self._map.clear()
        self._geojson.clear()

    @property
    def jurisdiction(self) -> Jurisdiction:
        """The jurisdiction served. Raises `RuntimeError` before `use`."""
        if self._jurisdiction is None:
            raise RuntimeError("intake_web serves no jurisdiction yet (not started)")
        return self._jurisdiction

    def district_map(self) -> dict[str, Any] | None:
        """The console's district map (`domain.district_map`), drawn once."""
        if not self._map:
            self._map.append(district_map(self.jurisdiction))
        return self._map[0]

    def districts_geojson(self) -> dict[str, Any] | None:
        """The portal's district polygons (`domain.district_map.districts_geojson`), drawn once."""
        if not self._geojson:
            self._geojson.append(districts_geojson(self.jurisdiction))
        return self._geojson[0]

    @property
    def site(self) -> PortalDeps:
        """The portal's dependencies. Raises `RuntimeError` when the app was built without them."""
        if self.portal is None:
            raise RuntimeError("intake_web was built without the resident portal")
        return self.portal

    @property
    def serves(self) -> bool:
        """Whether a jurisdiction is served yet (`use` was called)."""
        return self._jurisdiction is not None
