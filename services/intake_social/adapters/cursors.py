"""PostgreSQL poll cursors of intake_social (the only state it owns), written with the outbox rows."""

from __future__ import annotations

import asyncpg

from shared.db.outbox import enqueue
from shared.events import Envelope


class PgCursorStore:
    """`CursorStore` on the service's schema (table `poll_cursors`, migration 001)."""

    def __init__(self, pool: asyncpg.Pool, schema: str) -> None:
        self._pool = pool
        self._schema = schema

    async def get(self, source: str) -> str | None:
        """The last notification id handled for `source`, or None before the first one."""
        return await self._pool.fetchval("SELECT cursor FROM poll_cursors WHERE source = $1", source)

    async def advance(self, source: str, cursor: str, envelope: Envelope | None) -> None:
        """Outbox row and cursor in one transaction. The cursor never moves back (ids compare by length,
        then text: Mastodon's numeric ids), so a slower replica cannot rewind it; a mention two replicas
        both read is one outbox row, since its event id derives from the status id."""
        async with self._pool.acquire() as conn, conn.transaction():
            if envelope is not None:
                await enqueue(conn, envelope, schema=self._schema)
            await conn.execute(
                "INSERT INTO poll_cursors (source, cursor) VALUES ($1, $2) "
                "ON CONFLICT (source) DO UPDATE SET cursor = EXCLUDED.cursor, updated_at = now() "
                "WHERE (length(poll_cursors.cursor), poll_cursors.cursor) < (length(EXCLUDED.cursor), EXCLUDED.cursor)",
                source, cursor,
            )
