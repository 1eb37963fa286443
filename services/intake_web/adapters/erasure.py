"""intake_web's erasure repository: on the connection of a consumed event's unit of work, the photos the
case's reports used are deleted (`/media/{id}.jpg` answers 404 from then on) and the erasure is recorded."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg


class PhotoErasureRepository:
    """`service_layer.erasure`'s repository (schema `intake_web`)."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def erase_photos(self, tokens: list[str]) -> int:
        """Delete every photo a report with one of these `tokens` (channel_message_ids) used (their uses go
        with them); returns how many photos were deleted (0 when erased before)."""
        rows = await self.conn.fetch(
            "DELETE FROM photos WHERE id IN (SELECT photo_id FROM photo_uses WHERE token = ANY($1::text[])) "
            "RETURNING id", tokens)
        return len(rows)

    async def record_erasure(self, *, event_id: UUID, case_id: UUID, service_request_id: str, photos: int,
                             now: datetime) -> None:
        """Keep an audit row of one handled erasure event (a count, no personal data)."""
        await self.conn.execute(
            "INSERT INTO photo_erasures (event_id, case_id, service_request_id, photos, erased_at) "
            "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (event_id) DO NOTHING",
            event_id, case_id, service_request_id, photos, now)
