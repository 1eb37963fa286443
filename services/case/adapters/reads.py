"""The read side of the case API: SQL queries on the service's pool, outside any handler's transaction.
Rows come back as `dict`s of `repository.CASE_COLUMNS`; the HTTP entry point shapes them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from services.case.adapters.repository import CASE_COLUMNS
from shared.open311 import BoundingBox, Circle

BY_CONTACT_LIMIT = 50
"""At most this many of a reporter's cases (what a call agent sees on the line)."""


@dataclass(frozen=True)
class RequestQuery:
    """Filters of a case search (Open311 GET Service Requests). A list filter set to None is not applied;
    an empty list matches nothing; the filters combine with AND. Dates (aware; compared as instants) bound
    `requested_datetime`, both inclusive. `bbox` keeps the cases whose point is in the WGS84 box, `near`
    those within its radius (metres, geodesic) of its centre; a case without a point matches neither.
    `limit` is how many cases at most (the HTTP route keeps it in 1–10000)."""

    service_request_ids: list[str] | None = None
    service_codes: list[str] | None = None
    statuses: list[str] | None = None
    start_date: datetime | None = None
    end_date: datetime | None = None
    bbox: BoundingBox | None = None
    near: Circle | None = None
    limit: int = 1000


def requests_sql(q: RequestQuery) -> tuple[str, list[Any]]:
    """The search's SQL and its arguments, `(sql, args)`: `sql` selects `CASE_COLUMNS` from `cases` with
    one numbered placeholder per argument (`$1`…, in the order of `args`: the ids, service codes and
    statuses given, then the start and end dates given, then the box's west, south, east, north, then the
    circle's long, lat and radius in metres, then the limit last), newest
    `requested_datetime` first, ties by `service_request_id` ascending. Column names are fixed here; every
    filter value is an argument, never text in the SQL. Inside (docs/residents-and-insights.md) is PostGIS
    ``ST_Intersects(point, ST_MakeEnvelope(w, s, e, n, 4326))`` and
    ``ST_DWithin(point::geography, centre::geography, radius)``, on the indexed generated `point`."""
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
    if q.bbox is not None:
        args.extend([q.bbox.west, q.bbox.south, q.bbox.east, q.bbox.north])
        n = len(args)
        where.append(f"ST_Intersects(point, ST_MakeEnvelope(${n - 3}::float8, ${n - 2}::float8, ${n - 1}::float8, "
                     f"${n}::float8, 4326))")
    if q.near is not None:
        args.extend([q.near.long, q.near.lat, q.near.radius_m])
        n = len(args)
        where.append(f"ST_DWithin(point::geography, ST_SetSRID(ST_MakePoint(${n - 2}::float8, ${n - 1}::float8), "
                     f"4326)::geography, ${n}::float8)")
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

    async def followers_count(self, case_id: UUID) -> int:
        """How many people follow the case (`followers`); 0 for an unknown case."""
        return int(await self.pool.fetchval("SELECT count(*) FROM followers WHERE case_id = $1", case_id))

    async def number_of(self, case_id: UUID) -> str | None:
        """The number (`service_request_id`) of the case with this id, or None."""
        return await self.pool.fetchval("SELECT service_request_id FROM cases WHERE case_id = $1", case_id)


HISTORY_LIMIT = 200
"""At most this many cases in one person's history (`GET /staff/reporters/cases`)."""

MERGE_CHAIN_DEPTH = 20
"""How many merges a history follows from a person's case at most (a chain is one or two long)."""

# A person's cases: their own (depth 0), then the case each was merged into, hop by hop; each case once,
# at its smallest depth (own before merged-into).
_CASES_OF_CONTACTS = f"""
WITH RECURSIVE listed(case_id, reporter_key, merged_from, next_case, depth) AS (
    SELECT case_id, contact_key, NULL::text, merged_into, 0 FROM cases WHERE contact_key = ANY($1::text[])
  UNION ALL
    SELECT c.case_id, l.reporter_key, COALESCE(l.merged_from, o.service_request_id), c.merged_into, l.depth + 1
    FROM listed l JOIN cases c ON c.case_id = l.next_case JOIN cases o ON o.case_id = l.case_id
    WHERE l.depth < $2
)
SELECT * FROM (
    SELECT DISTINCT ON (c.case_id) {", ".join(f"c.{c.strip()}" for c in CASE_COLUMNS.split(","))},
           l.reporter_key, l.merged_from
    FROM listed l JOIN cases c USING (case_id)
    ORDER BY c.case_id, l.depth, l.reporter_key
) h
ORDER BY requested_datetime DESC, service_request_id DESC
LIMIT $3
"""

STAFF_LIST_LIMIT = 500
"""At most this many cases in one staff list (`GET /staff/cases`)."""

SLA_STATES = ("ok", "warning", "breached", "paused", "none")

_C = ", ".join(f"c.{c.strip()}" for c in CASE_COLUMNS.split(","))

# The case's SLA badge at $1 (docs/staff-work.md): from its clock (sla_clocks) by the rule of
# `domain.sla.sla_state` when it has one (an integration test checks the two agree on every kind of
# clock); else from its routed due time alone (no warning time then).
_SLA = """
    COALESCE(k.due_at, c.sla_due_at) AS sla_effective_due_at, k.warn_at AS sla_warn_at,
    k.state AS sla_clock_state, CASE WHEN k.state = 'paused' THEN k.paused_at END AS sla_paused_at,
    CASE WHEN k.case_id IS NULL THEN
             CASE WHEN c.status <> 'open' OR c.sla_due_at IS NULL THEN 'none'
                  WHEN c.sla_due_at <= $1 THEN 'breached' ELSE 'ok' END
         WHEN k.state = 'stopped' THEN CASE WHEN k.breach_fired_at IS NOT NULL THEN 'breached' ELSE 'none' END
         WHEN k.state = 'paused' THEN 'paused'
         WHEN k.breach_fired_at IS NOT NULL OR k.due_at <= $1 THEN 'breached'
         WHEN k.warning_fired_at IS NOT NULL OR k.warn_at <= $1 THEN 'warning'
         ELSE 'ok' END AS sla_state"""


@dataclass(frozen=True)
class StaffQuery:
    """Filters of a staff case list (`GET /staff/cases`), combined with AND; a None filter is not applied,
    an empty list matches nothing. `queues` is the caller's scope (None: every case, an administrator),
    `queue` one queue asked for, `assignee` a token subject, `statuses` workflow status ids, `sla_states`
    badges (`SLA_STATES`), `limit` 1–`STAFF_LIST_LIMIT`. `assigned_in` (a subject and queue ids) widens
    `queues`: the cases of those queues assigned to that subject are in scope too (department staff keep
    seeing their own case once an escalation moved it to the supervisor queue)."""

    queues: list[str] | None = None
    assigned_in: tuple[str, list[str]] | None = None
    queue: str | None = None
    assignee: str | None = None
    statuses: list[str] | None = None
    sla_states: list[str] | None = None
    district: str | None = None
    service_code: str | None = None
    channel: str | None = None
    limit: int = 100


def staff_cases_sql(q: StaffQuery, now: datetime) -> tuple[str, list[Any]]:
    """The staff list's SQL and its arguments, `(sql, args)`: `CASE_COLUMNS` plus `sla_state`,
    `sla_effective_due_at`, `sla_warn_at`, `sla_clock_state`, `sla_paused_at`, for cases matching `q` at
    `now` (aware UTC, `$1`), soonest due first (no due time last), then oldest requested. Every filter
    value is an argument, never text in the SQL."""
    args: list[Any] = [now]
    where: list[str] = []
    if q.queues is not None and q.assigned_in is not None:
        args.extend([q.queues, q.assigned_in[0], q.assigned_in[1]])
        n = len(args)
        where.append(f"(queue = ANY(${n - 2}::text[]) OR (assignee = ${n - 1} AND queue = ANY(${n}::text[])))")
    for column, value, many in (("queue", q.queues if q.assigned_in is None else None, True), ("queue", q.queue, False),
                                ("assignee", q.assignee, False), ("workflow_status", q.statuses, True),
                                ("sla_state", q.sla_states, True), ("district", q.district, False),
                                ("service_code", q.service_code, False), ("channel", q.channel, False)):
        if value is not None:
            args.append(value)
            where.append(f"{column} = ANY(${len(args)}::text[])" if many else f"{column} = ${len(args)}")
    args.append(q.limit)
    sql = (f"SELECT * FROM (SELECT {_C}, {_SLA} FROM cases c LEFT JOIN sla_clocks k USING (case_id)) s "
           f"{'WHERE ' + ' AND '.join(where) if where else ''} "
           f"ORDER BY sla_effective_due_at ASC NULLS LAST, requested_datetime, service_request_id "
           f"LIMIT ${len(args)}")
    return sql, args


class StaffReads(CaseReads):
    """The staff API's queries (`GET /staff/...`), on the same pool and terms as `CaseReads`."""

    async def staff_cases(self, q: StaffQuery, now: datetime) -> list[dict[str, Any]]:
        """Cases matching `q` with their SLA badge at `now`, ordered as `staff_cases_sql` says."""
        sql, args = staff_cases_sql(q, now)
        return [dict(r) for r in await self.pool.fetch(sql, *args)]

    async def sla(self, case_id: UUID, now: datetime) -> dict[str, Any]:
        """The case's SLA at `now`: `due_at`, `warn_at`, `state` (a badge of `SLA_STATES`), `paused_at`
        (the same rule as the list's); all None/``none`` for an unknown case."""
        row = await self.pool.fetchrow(
            f"SELECT {_SLA} FROM cases c LEFT JOIN sla_clocks k USING (case_id) WHERE c.case_id = $2", now, case_id)
        if row is None:
            return {"due_at": None, "warn_at": None, "state": "none", "paused_at": None}
        return {"due_at": row["sla_effective_due_at"], "warn_at": row["sla_warn_at"], "state": row["sla_state"],
                "paused_at": row["sla_paused_at"]}

    async def messages(self, case_id: UUID) -> list[dict[str, Any]]:
        """The messages on the case, oldest first: `message_id`, `channel`, `channel_message_id`,
        `description`, `media_url` (list), `received_at`."""
        rows = await self.pool.fetch(
            "SELECT message_id, channel, channel_message_id, description, media_url, received_at FROM messages "
            "WHERE case_id = $1 ORDER BY received_at, message_id", case_id)
        return [dict(r) for r in rows]

    async def reporters(self, case_id: UUID) -> list[dict[str, Any]]:
        """The reporters of the case and of the cases merged into it (transitively), each once, own first:
        `contact_key`, `channel`, `pii` (a `dict`), `case` (the `service_request_id` they reported under)
        and `merged` (False for the case's own reporter)."""
        rows = await self.pool.fetch(
            "WITH RECURSIVE tree(case_id, contact_key, service_request_id, depth) AS ("
            " SELECT case_id, contact_key, service_request_id, 0 FROM cases WHERE case_id = $1"
            " UNION ALL SELECT c.case_id, c.contact_key, c.service_request_id, t.depth + 1 FROM cases c"
            " JOIN tree t ON c.merged_into = t.case_id WHERE t.depth < 20)"
            " SELECT DISTINCT ON (t.contact_key) t.contact_key, r.channel, r.pii, t.service_request_id AS case,"
            " t.depth > 0 AS merged, t.depth FROM tree t JOIN reporters r USING (contact_key)"
            " ORDER BY t.contact_key, t.depth", case_id)
        return sorted((dict(r) for r in rows), key=lambda r: (r["depth"], r["case"]))

    async def merged_into_it(self, case_id: UUID) -> list[dict[str, Any]]:
        """The cases merged directly into this one: `service_request_id`, `case_id`, `status`."""
        rows = await self.pool.fetch(
            "SELECT case_id, service_request_id, status FROM cases WHERE merged_into = $1 "
            "ORDER BY opened_at, service_request_id", case_id)
        return [dict(r) for r in rows]

    async def suggestions(self, *, status: str | None, queues: list[str] | None,
                          limit: int = STAFF_LIST_LIMIT) -> list[dict[str, Any]]:
        """Duplicate suggestions, newest first, with `status` (None: any) among cases in `queues` (the
        caller's scope, of the suggested duplicate; None: all): every `merge_suggestions` column plus
        `case` and `duplicate_of_case` (the two `service_request_id`s) and `queue`."""
        rows = await self.pool.fetch(
            "SELECT s.*, c.service_request_id AS case, d.service_request_id AS duplicate_of_case, c.queue "
            "FROM merge_suggestions s JOIN cases c ON c.case_id = s.case_id "
            "JOIN cases d ON d.case_id = s.duplicate_of "
            "WHERE ($1::text IS NULL OR s.status = $1) AND ($2::text[] IS NULL OR c.queue = ANY($2::text[])) "
            "ORDER BY s.created_at DESC, s.id LIMIT $3", status, queues, limit)
        return [dict(r) for r in rows]

    async def external_requests(self, case_id: UUID) -> list[dict[str, Any]]:
        """The endpoints the case was forwarded to, first forwarded first: every `external_requests` column
        but `case_id` (`endpoint`, `external_service_request_id`, `token`, `external_service_code`,
        `forwarded_at`, `last_status`, `last_agency_responsible`, `last_updated_datetime`,
        `last_reported_at`; times aware UTC, any but `endpoint` may be None)."""
        rows = await self.pool.fetch(
            "SELECT endpoint, external_service_request_id, token, external_service_code, forwarded_at, last_status, "
            "last_agency_responsible, last_updated_datetime, last_reported_at FROM external_requests "
            "WHERE case_id = $1 ORDER BY forwarded_at NULLS LAST, endpoint", case_id)
        return [dict(r) for r in rows]

    async def cases_of_contacts(self, contact_keys: list[str], limit: int = HISTORY_LIMIT) -> list[dict[str, Any]]:
        """One person's history across channels (docs/integrations.md, "One resident profile"): the cases
        reported under any of `contact_keys`, and the cases those were merged into (followed to the end of
        each merge chain, at most `MERGE_CHAIN_DEPTH` hops), each case once, newest `requested_datetime`
        first (ties by `service_request_id` descending), at most `limit`. Each row is `CASE_COLUMNS` plus
        `reporter_key` (the contact key of `contact_keys` it is listed for) and `merged_from` (None for the
        key's own case, else the number of the key's case merged into it, directly or not); empty for
        unknown keys."""
        rows = await self.pool.fetch(_CASES_OF_CONTACTS, contact_keys, MERGE_CHAIN_DEPTH, limit)
        return [dict(r) for r in rows]
