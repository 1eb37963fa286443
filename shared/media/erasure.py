"""The erasure, on a consumed `case.personal_data_erased` event's transaction, of the media a service kept
at intake for a case's messages, and that service's erasure log: the part intake_social and
intake_sms_voice share (each service's `adapters/erasure.py` builds on it).

Runs on the connection of the event's unit of work, whose `search_path` is the service's schema: the tables
are that schema's `media` (`MEDIA_TABLE_SQL`) and `erasures` (event_id, case_id, service_request_id, mode,
events, erased_at; each service's migration).
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg


class MediaErasureRepository:
    """One erasure, on the connection of its unit of work (the consumed event's transaction)."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def erase_media(self, channel_message_ids: list[str]) -> int:
        """Delete the kept files any of `channel_message_ids` carried (`shared.media.MediaStore.erase_for`'s
        rule, on this transaction's connection and schema); `/media/{id}` answers 404 from then on. Returns
        how many files (0 when erased before)."""
        return int(await self.conn.fetchval(
            "WITH hit AS (DELETE FROM media WHERE channel_message_ids && $1::text[] RETURNING 1) "
            "SELECT count(*) FROM hit", channel_message_ids))

    async def record_erasure(self, *, event_id: UUID, case_id: UUID, service_request_id: str, mode: str,
                             events: int, now: datetime) -> None:
        """Keep an audit row of one handled erasure event (`events`: how many things were erased; counts
        only, no personal data). A second row for the same `event_id` is ignored."""
        await self.conn.execute(
            "INSERT INTO erasures (event_id, case_id, service_request_id, mode, events, erased_at) "
            "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (event_id) DO NOTHING",
            event_id, case_id, service_request_id, mode, events, now)
