"""SQL access to `intake_web.refusals` (migrations/002_refusals.sql): the per-minute refusal counts
`shared.abuse.RefusalRecorder` writes (and deletes past the retention) and staff read at
``GET /staff/refusals``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Protocol

import asyncpg

from shared.abuse import RefusalCount, RefusalStore

_COLUMNS = "minute, client, api_key, route, reason, count, last_at"


class RefusalLog(RefusalStore, Protocol):
    """A `RefusalStore` staff can read (`PgRefusals`; a fake in unit tests)."""

    async def since(self, since: datetime, limit: int) -> list[RefusalCount]:
        """Rows with a refusal at or after `since` (aware UTC), newest minute first, at most `limit`."""
        ...


class PgRefusals:
    """`shared.abuse.RefusalStore` on the service's pool (`pool()`, read at each call: the pool opens when
    the service starts). Times are aware UTC. Methods raise `asyncpg.PostgresError`/`OSError` when the
    database refuses or cannot be reached."""

    def __init__(self, pool: Callable[[], asyncpg.Pool]) -> None:
        self.pool = pool

    async def add(self, counts: Sequence[RefusalCount]) -> None:
        """Add each row's count to its (minute, client, api_key, route, reason) row, creating it when absent,
        and keep the latest `last_at`: one statement for the batch (keys are unique within a batch)."""
        if not counts:
            return
        await self.pool().execute(
            f"INSERT INTO refusals ({_COLUMNS}) "
            "SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], "
            "$7::timestamptz[]) "
            "ON CONFLICT (minute, client, api_key, route, reason) DO UPDATE "
            "SET count = refusals.count + EXCLUDED.count, last_at = greatest(refusals.last_at, EXCLUDED.last_at)",
            [c.minute for c in counts], [c.client for c in counts], [c.api_key for c in counts],
            [c.route for c in counts], [c.reason for c in counts], [c.count for c in counts],
            [c.last_at for c in counts])

    async def delete_before(self, before: datetime) -> int:
        """Delete the rows whose minute began before `before` (the retention: OMNI311_REFUSALS_RETENTION_DAYS);
        returns how many. The primary key leads with `minute`, so this is a range of the index."""
        status = await self.pool().execute("DELETE FROM refusals WHERE minute < $1", before)
        return int(status.split()[-1])

    async def since(self, since: datetime, limit: int) -> list[RefusalCount]:
        """The rows with a refusal at or after `since`, newest minute first (then the biggest count), at
        most `limit`."""
        rows = await self.pool().fetch(
            f"SELECT {_COLUMNS} FROM refusals WHERE minute >= $1::timestamptz - interval '1 minute' "
            "AND last_at >= $1 "
            "ORDER BY minute DESC, count DESC, client, route, reason LIMIT $2", since, limit)
        return [RefusalCount(**dict(r)) for r in rows]
