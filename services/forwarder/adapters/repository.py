"""SQL access to the `forwarder` schema's `forwards` (one row per case and endpoint), on the connection of
the caller's transaction. Due rows are taken ``FOR UPDATE SKIP LOCKED`` and leased (their due time moved
ahead) in the taking transaction, so two processes never send or poll one row at once and a crash leaves
the row due again after the lease."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

_COLUMNS = (
    "case_id, endpoint, service_request_id, jurisdiction_id, service_code, external_service_code, correlation_id, "
    "idempotency_key, state, attempts, next_attempt_at, last_error, token, external_service_request_id, "
    "service_notice, forwarded_at, status, status_notes, agency_responsible, updated_datetime, next_poll_at, "
    "poll_failures, created_at, changed_at"
)


class ForwarderRepository:
    """The forwards of the `forwarder` schema; rows are plain dicts of the table's columns."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def add(self, *, case_id: UUID, endpoint: str, service_request_id: str, jurisdiction_id: str,
                  service_code: str, external_service_code: str, correlation_id: UUID | None,
                  idempotency_key: str, now: datetime) -> bool:
        """Plan the send of a case to an endpoint, due at `now`; False (nothing written) when the case already
        has a forward to that endpoint (a case is sent once per endpoint)."""
        added = await self.conn.fetchval(
            "INSERT INTO forwards (case_id, endpoint, service_request_id, jurisdiction_id, service_code, "
            "external_service_code, correlation_id, idempotency_key, state, next_attempt_at, created_at, changed_at) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending', $9, $9, $9) "
            "ON CONFLICT (case_id, endpoint) DO NOTHING RETURNING case_id",
            case_id, endpoint, service_request_id, jurisdiction_id, service_code, external_service_code,
            correlation_id, idempotency_key, now)
        return added is not None

    async def take_due_sends(self, now: datetime, lease_until: datetime, limit: int) -> list[dict[str, Any]]:
        """Pending forwards due at `now` (oldest first, at most `limit`), locked, each leased until
        `lease_until` and its `attempts` counted up (this attempt); the rows as they are after that."""
        rows = await self.conn.fetch(
            f"WITH due AS (SELECT case_id, endpoint FROM forwards WHERE state = 'pending' AND next_attempt_at <= $1 "
            "ORDER BY next_attempt_at LIMIT $3 FOR UPDATE SKIP LOCKED) "
            "UPDATE forwards f SET attempts = f.attempts + 1, next_attempt_at = $2, changed_at = $1 FROM due "
            f"WHERE f.case_id = due.case_id AND f.endpoint = due.endpoint RETURNING {_prefixed('f')}",
            now, lease_until, limit)
        return [dict(r) for r in rows]

    async def take_due_polls(self, endpoint: str, now: datetime, lease_until: datetime, limit: int
                             ) -> list[dict[str, Any]]:
        """Forwards of `endpoint` awaiting a token or forwarded whose poll is due at `now` (at most `limit`),
        locked and leased until `lease_until`."""
        rows = await self.conn.fetch(
            "WITH due AS (SELECT case_id, endpoint FROM forwards WHERE endpoint = $1 "
            "AND state IN ('awaiting_token', 'forwarded') AND next_poll_at <= $2 "
            "ORDER BY next_poll_at LIMIT $4 FOR UPDATE SKIP LOCKED) "
            "UPDATE forwards f SET next_poll_at = $3 FROM due "
            f"WHERE f.case_id = due.case_id AND f.endpoint = due.endpoint RETURNING {_prefixed('f')}",
            endpoint, now, lease_until, limit)
        return [dict(r) for r in rows]

    async def get(self, case_id: UUID, endpoint: str, *, lock: bool = False) -> dict[str, Any] | None:
        """One forward (locked until the transaction ends with `lock`), or None."""
        row = await self.conn.fetchrow(
            f"SELECT {_COLUMNS} FROM forwards WHERE case_id = $1 AND endpoint = $2" + (" FOR UPDATE" if lock else ""),
            case_id, endpoint)
        return dict(row) if row else None

    async def of_case(self, case_id: UUID, *, lock: bool = False) -> list[dict[str, Any]]:
        """Every forward of a case, by endpoint name (locked with `lock`)."""
        rows = await self.conn.fetch(
            f"SELECT {_COLUMNS} FROM forwards WHERE case_id = $1 ORDER BY endpoint" + (" FOR UPDATE" if lock else ""),
            case_id)
        return [dict(r) for r in rows]

    async def case_with_external_id(self, endpoint: str, external_id: str, *, other_than: UUID) -> UUID | None:
        """Another case whose forward to `endpoint` has the external id `external_id`, if any."""
        return await self.conn.fetchval(
            "SELECT case_id FROM forwards WHERE endpoint = $1 AND external_service_request_id = $2 "
            "AND case_id <> $3 LIMIT 1", endpoint, external_id, other_than)

    async def keep_attributes(self, case_id: UUID, attributes: dict[str, Any], now: datetime) -> None:
        """Keep a case's attribute answers (code → value or list of values) until it is sent."""
        await self.conn.execute(
            "INSERT INTO case_attributes (case_id, attributes, recorded_at) VALUES ($1, $2, $3) "
            "ON CONFLICT (case_id) DO UPDATE SET attributes = EXCLUDED.attributes, recorded_at = EXCLUDED.recorded_at",
            case_id, attributes, now)

    async def attributes(self, case_id: UUID) -> dict[str, Any]:
        """The case's attribute answers kept from its `case.opened` (empty when none)."""
        value = await self.conn.fetchval("SELECT attributes FROM case_attributes WHERE case_id = $1", case_id)
        return value if isinstance(value, dict) else {}

    async def update(self, case_id: UUID, endpoint: str, now: datetime, **values: Any) -> None:
        """Set `values` (column → value; names from this module's columns only) on one forward."""
        unknown = set(values) - set(c.strip() for c in _COLUMNS.split(","))
        if unknown:
            raise ValueError(f"unknown forward columns: {sorted(unknown)}")
        names = list(values)
        sets = ", ".join(f"{name} = ${i}" for i, name in enumerate(names, start=4))
        await self.conn.execute(
            f"UPDATE forwards SET changed_at = $3, {sets} WHERE case_id = $1 AND endpoint = $2",
            case_id, endpoint, now, *(values[n] for n in names))


class ForwarderReads:
    """Reads outside any event (the admin routes), on the service's pool."""

    def __init__(self, db: asyncpg.Pool | asyncpg.Connection) -> None:
        self.db = db

    async def of_case(self, case_id: UUID) -> list[dict[str, Any]]:
        """Every forward of a case, by endpoint name."""
        rows = await self.db.fetch(f"SELECT {_COLUMNS} FROM forwards WHERE case_id = $1 ORDER BY endpoint", case_id)
        return [dict(r) for r in rows]

    async def of_case_number(self, service_request_id: str) -> list[dict[str, Any]]:
        """Every forward of the case numbered `service_request_id` (e.g. ``NYC-26-000042``), by endpoint name."""
        rows = await self.db.fetch(f"SELECT {_COLUMNS} FROM forwards WHERE service_request_id = $1 ORDER BY endpoint",
                                   service_request_id)
        return [dict(r) for r in rows]


def _prefixed(alias: str) -> str:
    return ", ".join(f"{alias}.{c.strip()}" for c in _COLUMNS.split(","))
