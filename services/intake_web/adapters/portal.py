"""The resident portal's adapters: its PostgreSQL store (schema `intake_web`: photos and answered survey
invitations) and its reader of the case service (a case, a token's case, open reports near a pin, the
public history), both opened in the app's lifespan."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import ValidationError

from shared.intake import CaseApiClient
from shared.intake.case_api import CaseApiUnavailable, could_name_a_case, path_segment
from shared.open311 import ServiceRequest

PORTAL_READ_TIMEOUT_S = 5.0
"""How long a portal page waits for the case service (seconds) before saying it cannot tell."""


class PgPortalStore:
    """`service_layer.portal.PortalStore` on the service's pool (its search path is schema `intake_web`).
    `pool` is a callable so the store can be built before the pool is opened (at start)."""

    def __init__(self, pool: Any) -> None:
        self._pool = pool

    async def add_photo(self, *, photo_id: UUID, jpeg: bytes, width: int, height: int, now: datetime) -> None:
        """Keep one processed photo (`jpeg` bytes, size in pixels); `now` aware UTC. An id kept before keeps
        its photo (a retried request stores the same image under the same id)."""
        async with self._pool().acquire() as conn:
            await conn.execute("INSERT INTO photos (id, jpeg, width, height, bytes, created_at) "
                               "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING",
                               photo_id, jpeg, width, height, len(jpeg), now)

    async def unused_photos(self, photo_ids: Collection[UUID]) -> set[UUID]:
        """Those of `photo_ids` that are kept and that no published report uses yet (no `photo_uses` row)."""
        async with self._pool().acquire() as conn:
            rows = await conn.fetch(
                "SELECT p.id FROM photos p WHERE p.id = ANY($1::uuid[]) AND NOT EXISTS "
                "(SELECT 1 FROM photo_uses u WHERE u.photo_id = p.id)", list(photo_ids))
        return {r["id"] for r in rows}

    async def use_photos(self, *, token: str, photo_ids: Collection[UUID], now: datetime) -> int:
        """Record that the published report `token` (its channel_message_id) uses these photos, so that
        `case.personal_data_erased` finds them; ids of no kept photo are skipped, a use recorded before is
        kept. Returns how many uses were added."""
        async with self._pool().acquire() as conn:
            rows = await conn.fetch(
                "INSERT INTO photo_uses (token, photo_id, used_at) SELECT $1, id, $3 FROM photos "
                "WHERE id = ANY($2::uuid[]) ON CONFLICT DO NOTHING RETURNING photo_id", token, list(photo_ids), now)
        return len(rows)

    async def delete_unused_photos(self, *, created_before: datetime) -> int:
        """Delete the photos kept before `created_before` (aware UTC) that no report uses; returns how
        many."""
        async with self._pool().acquire() as conn:
            rows = await conn.fetch(
                "DELETE FROM photos p WHERE p.created_at < $1 AND NOT EXISTS "
                "(SELECT 1 FROM photo_uses u WHERE u.photo_id = p.id) RETURNING id", created_before)
        return len(rows)

    async def photo(self, photo_id: UUID) -> bytes | None:
        """The JPEG of a stored photo, None when there is none."""
        async with self._pool().acquire() as conn:
            row = await conn.fetchval("SELECT jpeg FROM photos WHERE id = $1", photo_id)
        return bytes(row) if row is not None else None

    async def survey_answered(self, jti: str) -> bool:
        """Whether invitation `jti` is recorded answered."""
        async with self._pool().acquire() as conn:
            return await conn.fetchval("SELECT EXISTS (SELECT 1 FROM survey_answers WHERE jti = $1)", jti)

    async def claim_survey(self, *, jti: str, service_request_id: str, now: datetime) -> bool:
        """Record that invitation `jti` is answered (its answer is published): True the first time, False
        when it already was."""
        async with self._pool().acquire() as conn:
            done = await conn.fetchval(
                "INSERT INTO survey_answers (jti, service_request_id, answered_at) VALUES ($1, $2, $3) "
                "ON CONFLICT (jti) DO NOTHING RETURNING jti", jti, service_request_id, now)
        return done is not None


class PortalCaseReads(CaseApiClient):
    """`service_layer.portal.CaseReads` over HTTP: the case API's public reads the portal shows. Errors as
    `CaseApiClient` (`CaseApiUnavailable` when the case service cannot tell)."""

    def __init__(self, base_url: str, timeout_s: float = PORTAL_READ_TIMEOUT_S, **kwargs: Any) -> None:
        super().__init__(base_url, timeout_s, **kwargs)

    async def nearby(self, *, service_code: str, lat: float, long: float, radius_m: float) -> list[ServiceRequest]:
        """Open requests of `service_code` within `radius_m` metres of (`lat`, `long`): ``GET /cases/requests``
        with the spatial filters `lat`, `long`, `radius` (docs/residents-and-insights.md)."""
        params = {"service_code": service_code, "status": "open", "lat": f"{lat:.6f}", "long": f"{long:.6f}",
                  "radius": f"{radius_m:g}"}
        body = await self._get("/cases/requests", params, none_on_404=False)
        try:
            return [ServiceRequest.model_validate(x) for x in body]
        except (TypeError, ValidationError) as exc:
            raise CaseApiUnavailable("case API answered nearby requests with a body that is not a list of "
                                     "requests", 200) from exc

    async def history(self, service_request_id: str) -> dict[str, Any] | None:
        """``GET /cases/requests/{id}/history``: the public history (a dict with ``entries``), None for an
        unknown case (or an id that cannot name one, `could_name_a_case`). Raises `CaseApiUnavailable` for
        a body that is not such a dict."""
        if not could_name_a_case(service_request_id):
            return None
        body = await self._get(f"/cases/requests/{path_segment(service_request_id)}/history")
        if body is not None and not (isinstance(body, dict) and isinstance(body.get("entries"), list)):
            raise CaseApiUnavailable("case API answered a history that is not {entries: [...]}", 200)
        return body

