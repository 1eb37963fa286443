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
    an empty list matches nothing; the filters combine with AND. Dates (aware; compared as instants) bound
    `requested_datetime`, both inclusive. `limit` is how many cases at most (the HTTP route keeps it in
    1–10000)."""

    service_request_ids: list[str] | None = None
    service_codes: list[str] | None = None
    statuses: list[str] | None = None
    start_date: datetime | None = None
    end_date: datetime | None = None
    limit: int = 1000


def requests_sql(q: RequestQuery) -> tuple[str, list[Any]]:
    """The search's SQL and its arguments, `(sql, args)`: `sql` selects `CASE_COLUMNS` from `cases` with
    one numbered placeholder per argument (`$1`…, in the order of `args`: the ids, service codes and
    statuses given, then the start and end dates given, then the limit last), newest
    `requested_datetime` first, ties by `service_request_id` ascending. Column names are fixed here; every
    filter value is an argument, never text in the SQL."""
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
    """Queries the case API answers from, on `pool` (connections on the case schema, see
    `shared.db.pool.create_pool`); each on its own pooled connection, outside any transaction, so it sees
    what has committed. Cases come back as `dict`s keyed by `CASE_COLUMNS`, times aware UTC. Every query
    may raise `asyncpg.PostgresError` (e.g. when the server is gone)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def case(self, service_request_id: str) -> dict[str, Any] | None:
        """The case whose `service_request_id` is this (e.g. ``DEMO-26-000001``, matched exactly), or None."""
        row = await self.pool.fetchrow(f"SELECT {CASE_COLUMNS} FROM cases WHERE service_request_id = $1",
                                       service_request_id)
        return dict(row) if row else None

    async def case_id(self, service_request_id: str) -> UUID | None:
        """The `case_id` of the case whose `service_request_id` is this, or None."""
        return await self.pool.fetchval("SELECT case_id FROM cases WHERE service_request_id = $1",
                                        service_request_id)

    async def requests(self, q: RequestQuery) -> list[dict[str, Any]]:
        """Cases matching `q`, at most `q.limit`, ordered as `requests_sql` says (newest requested first)."""
        sql, args = requests_sql(q)
        return [dict(r) for r in await self.pool.fetch(sql, *args)]

    async def by_contact(self, contact_key: str) -> list[dict[str, Any]]:
        """The cases the reporter `contact_key` opened (not those they only wrote on), newest
        `requested_datetime` first, ties by `service_request_id` descending, at most `BY_CONTACT_LIMIT`;
        empty for an unknown reporter."""
        rows = await self.pool.fetch(
            f"SELECT {CASE_COLUMNS} FROM cases WHERE contact_key = $1 "
            f"ORDER BY requested_datetime DESC, service_request_id DESC LIMIT {BY_CONTACT_LIMIT}", contact_key)
        return [dict(r) for r in rows]

    async def number_for_token(self, channel: str, token: str) -> str | None:
        """The `service_request_id` of the case holding the message (`channel`, `token` as its
        `channel_message_id`; e.g. an Open311 token), or None while no case holds it."""
        return await self.pool.fetchval(
            "SELECT c.service_request_id FROM messages m JOIN cases c USING (case_id) "
            "WHERE m.channel = $1 AND m.channel_message_id = $2", channel, token)

    async def timeline(self, case_id: UUID) -> list[dict[str, Any]]:
        """The case's timeline entries as `dict`s (`at` aware UTC, `kind`, `event_id` UUID or None,
        `detail` a `dict`) in the order they were written; empty for an unknown case."""
        rows = await self.pool.fetch(
            "SELECT at, kind, event_id, detail FROM timeline WHERE case_id = $1 ORDER BY id", case_id)
        return [dict(r) for r in rows]

    async def number_of(self, case_id: UUID) -> str | None:
        """The number (`service_request_id`) of the case with this id, or None."""
        return await self.pool.fetchval("SELECT service_request_id FROM cases WHERE case_id = $1", case_id)
