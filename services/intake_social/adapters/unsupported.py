"""SQL of the messages intake_social cannot read as reports (table `unsupported_messages`, migration 004):
kept raw for staff, listed newest first."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import asyncpg

from services.intake_social.domain.storable import storable


class PgUnsupported:
    """`UnsupportedStore` on the service's pool (`pool()` gives it once the service started)."""

    def __init__(self, pool: Callable[[], asyncpg.Pool]) -> None:
        self._pool = pool

    async def keep(self, *, channel: str, message_id: str, contact_key: str, kind: str, raw: Any,
                   received_at: datetime) -> None:
        """Keep one item as delivered (`raw`, JSON-able); a second copy (Meta's retry) changes nothing.
        What PostgreSQL cannot hold is replaced, so that one odd item cannot make Meta resend its batch
        forever: NUL characters by U+FFFD, NaN and infinities (Python's JSON reads them) by their text."""
        await self._pool().execute(
            "INSERT INTO unsupported_messages (channel, message_id, contact_key, kind, raw, received_at) "
            "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (channel, message_id) DO NOTHING",
            storable(channel), storable(message_id), contact_key, storable(kind), storable(raw), received_at)

    async def recent(self, limit: int) -> list[dict[str, Any]]:
        """The `limit` latest items, newest first: id, channel, message_id, kind, received_at (ISO 8601
        UTC), raw (None once erased) and erased_at."""
        rows = await self._pool().fetch(
            "SELECT id, channel, message_id, kind, raw, received_at, erased_at FROM unsupported_messages "
            "ORDER BY received_at DESC, id DESC LIMIT $1", limit)
        return [{"id": r["id"], "channel": r["channel"], "message_id": r["message_id"], "kind": r["kind"],
                 "received_at": r["received_at"].isoformat(), "raw": r["raw"],
                 "erased_at": r["erased_at"].isoformat() if r["erased_at"] else None} for r in rows]

