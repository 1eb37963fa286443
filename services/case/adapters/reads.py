"""The read side of the case API: SQL queries on the service's pool, outside any handler's transaction.
Rows come back as `dict`s of `repository.CASE_COLUMNS`; the HTTP entry point shapes them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from services.case.adapters.repository import CASE_COLUMNS

BY_CONTACT_LIMIT = 50
"""At most this many of a reporter's cases (what a call agent sees on the line)."""


@dataclass(frozen=True)
class RequestQuery:
    """Filters of a case search (Open311 GET Service Requests). A list filter set to None is not applied;
    an empty list matches nothing. Dates bound `requested_datetime`, both inclusive."""

    service_request_ids: list[str] | None = None
    service_codes: list[str] | None = None
    statuses: list[str] | None = None
    start_date: datetime | None = None
    end_date: datetime | None = None
    limit: int = 1000


def requests_sql(q: RequestQuery) -> tuple[str, list[Any]]:
    """The search's SQL and its arguments: newest requested first, then by case number."""
    where: list[str] = []
    args: list[Any] = []
    for column, values in (("service_request_id", q.service_request_ids), ("service_code", q.service_codes),
                           ("status", q.statuses)):
        if values is not None:
            args.append(values)
            where.append(f"{column} = ANY(${len(args)}::text[])")
    for condition, value in (("requested_datetime >= ", q.start_date), ("requested_datetime <= ", q.end_date)):
        if value is not None:
            args.append(value)
            where.append(f"{condition}${len(args)}")
    args.append(q.limit)
    sql = (f"SELECT {CASE_COLUMNS} FROM cases {'WHERE ' + ' AND '.join(where) if where else ''} "
           f"ORDER BY requested_datetime DESC, service_request_id LIMIT ${len(args)}")
    return sql, args


class CaseReads:
    """Queries the case API answers from (each on its own pooled connection)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def case(self, service_request_id: str) -> dict[str, Any] | None:
        """The case with this number, or None."""
        row = await self.pool.fetchrow(f"SELECT {CASE_COLUMNS} FROM cases WHERE service_request_id = $1",
                                       service_request_id)
        return dict(row) if row else None

    async def case_id(self, service_request_id: str) -> UUID | None:
        """The id of the case with this number, or None."""
        return await self.pool.fetchval("SELECT case_id FROM cases WHERE service_request_id = $1",
                                        service_request_id)

    async def requests(self, q: RequestQuery) -> list[dict[str, Any]]:
        """Cases matching `q`, at most `q.limit`."""
        sql, args = requests_sql(q)
        return [dict(r) for r in await self.pool.fetch(sql, *args)]

    async def by_contact(self, contact_key: str) -> list[dict[str, Any]]:
        """The cases the reporter opened, newest first, at most `BY_CONTACT_LIMIT`."""
        rows = await self.pool.fetch(
            f"SELECT {CASE_COLUMNS} FROM cases WHERE contact_key = $1 "
            f"ORDER BY requested_datetime DESC, service_request_id DESC LIMIT {BY_CONTACT_LIMIT}", contact_key)
        return [dict(r) for r in rows]

    async def number_for_token(self, channel: str, token: str) -> str | None:
        """The number of the case holding the channel message `token` (e.g. an Open311 token), or None."""
        return await self.pool.fetchval(
            "SELECT c.service_request_id FROM messages m JOIN cases c USING (case_id) "
            "WHERE m.channel = $1 AND m.channel_message_id = $2", channel, token)

    async def timeline(self, case_id: UUID) -> list[dict[str, Any]]:
        """The case's timeline entries (`at`, `kind`, `event_id`, `detail`), oldest first."""
        rows = await self.pool.fetch(
            "SELECT at, kind, event_id, detail FROM timeline WHERE case_id = $1 ORDER BY id", case_id)
        return [dict(r) for r in rows]

    async def number_of(self, case_id: UUID) -> str | None:
        """The number (`service_request_id`) of the case with this id, or None."""
        return await self.pool.fetchval("SELECT service_request_id FROM cases WHERE case_id = $1", case_id)
