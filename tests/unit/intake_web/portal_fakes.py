"""Fakes of the resident portal's ports: its store (photos, answered survey invitations) in memory and the
case service's public reads with a few cases; and the portal app built on them."""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import httpx

from services.intake_web.app import create_app
from shared.intake import CaseApiUnavailable
from shared.open311 import ServiceRequest
from shared.settings import Settings
from web_fakes import FakePublisher, demo

NOW = datetime(2026, 11, 29, 15, 0, tzinfo=UTC)
CASE = ServiceRequest(service_request_id="DEMO-26-000042", status="open", service_code="pothole",
                      service_name="Pothole", description="Deep hole by the school", address="100 Main St",
                      lat=45.4215, long=-75.6972, requested_datetime=NOW,
                      media_url="http://127.0.0.1:8080/media/8e0f5f5c-0000-4000-8000-000000000001.jpg")
FAR = ServiceRequest(service_request_id="DEMO-26-000043", status="open", service_code="pothole",
                     lat=45.4300, long=-75.6800, requested_datetime=NOW)
HISTORY = {"service_request_id": CASE.service_request_id, "status": "open", "workflow_status": "in_progress",
           "status_notes": "Crew scheduled", "merged_into": None, "followers": 1, "entries": [
               {"at": "2026-11-29T15:00:00+00:00", "kind": "opened"},
               {"at": "2026-11-29T15:05:00+00:00", "kind": "status_changed", "status": "open",
                "workflow_status": "in_progress", "status_notes": "Crew scheduled"},
               {"at": "2026-11-29T15:06:00+00:00", "kind": "public_update", "text": "We fill it on Tuesday."}]}


class MemoryPortalStore:
    """`PortalStore` in memory."""

    def __init__(self) -> None:
        self.photos: dict[UUID, bytes] = {}
        self.kept_at: dict[UUID, datetime] = {}
        self.uses: set[tuple[str, UUID]] = set()
        self.answered: dict[str, str] = {}

    async def add_photo(self, *, photo_id: UUID, jpeg: bytes, width: int, height: int, now: datetime) -> None:
        self.photos.setdefault(photo_id, jpeg)
        self.kept_at.setdefault(photo_id, now)

    async def photo(self, photo_id: UUID) -> bytes | None:
        return self.photos.get(photo_id)

    async def unused_photos(self, photo_ids: Collection[UUID]) -> set[UUID]:
        used = {p for _t, p in self.uses}
        return {p for p in photo_ids if p in self.photos and p not in used}

    async def use_photos(self, *, token: str, photo_ids: Collection[UUID], now: datetime) -> int:
        added = {(token, p) for p in photo_ids if p in self.photos} - self.uses
        self.uses |= added
        return len(added)

    async def delete_unused_photos(self, *, created_before: datetime) -> int:
        used = {p for _t, p in self.uses}
        gone = [p for p, at in self.kept_at.items() if at < created_before and p not in used and p in self.photos]
        for p in gone:
            del self.photos[p]
        return len(gone)

    async def survey_answered(self, jti: str) -> bool:
        return jti in self.answered

    async def claim_survey(self, *, jti: str, service_request_id: str, now: datetime) -> bool:
        if jti in self.answered:
            return False
        self.answered[jti] = service_request_id
        return True


class FakeReads:
    """`CaseReads` with `CASE` (and `FAR`, 1.8 km away); `down`: every read raises `CaseApiUnavailable`;
    `tokens`: token → case number."""

    def __init__(self, down: bool = False) -> None:
        self.down = down
        self.tokens: dict[str, str] = {}
        self.asked: list[tuple[str, Any]] = []

    def _ask(self, what: str, arg: Any) -> None:
        self.asked.append((what, arg))
        if self.down:
            raise CaseApiUnavailable("case API answered 503", 503)

    async def request(self, service_request_id: str) -> ServiceRequest | None:
        self._ask("request", service_request_id)
        return {c.service_request_id: c for c in (CASE, FAR)}.get(service_request_id)

    async def case_of_token(self, token: str, channel: str = "open311") -> str | None:
        self._ask("token", (token, channel))
        return self.tokens.get(token)

    async def nearby(self, *, service_code: str, lat: float, long: float, radius_m: float) -> list[ServiceRequest]:
        self._ask("nearby", (service_code, lat, long, radius_m))
        return [c for c in (CASE, FAR) if c.service_code == service_code]

    async def history(self, service_request_id: str) -> dict[str, Any] | None:
        self._ask("history", service_request_id)
        return HISTORY if service_request_id == CASE.service_request_id else None


class Portal:
    """The app with fakes: `web` (an httpx client on it), `published`, `store`, `reads`, `clock` (settable)."""

    def __init__(self, *, down: bool = False, **settings: Any) -> None:
        self.publisher = FakePublisher()
        self.store = MemoryPortalStore()
        self.reads = FakeReads(down)
        self.now = NOW
        over = {"jurisdiction": "demo", "portal_min_fill_s": 3.0, **settings}
        self.settings = Settings(**over)
        app = create_app(self.settings, jurisdiction=demo(), publisher=self.publisher, case_api=_NoCaseApi(),
                         clock=lambda: self.now, portal_store=self.store, portal_reads=self.reads)
        self.web = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://portal.test")

    @property
    def published(self) -> list[Any]:
        return self.publisher.published


class _NoCaseApi:
    """The Open311 reads' case API: unused by the portal's tests."""

    async def request(self, service_request_id: str) -> None:
        raise AssertionError("not used")
