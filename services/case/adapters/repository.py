"""SQL access to the `case` schema. Every function takes the connection of the caller's transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from services.case.domain.rules import CaseState

CASE_COLUMNS = (
    "case_id, service_request_id, jurisdiction_id, status, status_notes, channel, contact_key, service_code, "
    "service_name, description, address, zipcode, lat, long, media_url, language, agency_responsible, queue, "
    "priority, district, sla_due_at, routing, merged_into, correlation_id, requested_datetime, opened_at, "
    "updated_datetime"
)


async def next_case_number(conn: asyncpg.Connection) -> int:
    return int(await conn.fetchval("SELECT nextval('case_number_seq')"))


async def message_case(conn: asyncpg.Connection, channel: str, channel_message_id: str) -> UUID | None:
    """The case that already holds this channel message, if any (intake idempotency)."""
    return await conn.fetchval(
        "SELECT case_id FROM messages WHERE channel = $1 AND channel_message_id = $2", channel, channel_message_id
    )


async def case_by_number(conn: asyncpg.Connection, service_request_id: str) -> UUID | None:
    return await conn.fetchval("SELECT case_id FROM cases WHERE service_request_id = $1", service_request_id)


async def case_has_reporter(conn: asyncpg.Connection, case_id: UUID, contact_key: str) -> bool:
    """True when `contact_key` opened the case or wrote a message on it before."""
    return bool(await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM cases WHERE case_id = $1 AND contact_key = $2)", case_id, contact_key))


async def case_by_reply(conn: asyncpg.Connection, message_ids: list[str]) -> UUID | None:
    """The case that one of `message_ids` (In-Reply-To/References) belongs to: ours or the resident's."""
    if not message_ids:
        return None
    found = await conn.fetchval(
        "SELECT case_id FROM outbound_messages WHERE provider_message_id = ANY($1::text[]) LIMIT 1", message_ids
    )
    if found:
        return found
    return await conn.fetchval(
        "SELECT case_id FROM messages WHERE channel_message_id = ANY($1::text[]) LIMIT 1", message_ids
    )


async def case_answering(conn: asyncpg.Connection, channel_message_id: str) -> UUID | None:
    """The case holding a message that named `channel_message_id` as what it answers: the reply came first
    (e.g. a call's transcript before the call's own report), so the late original joins that case."""
    return await conn.fetchval(
        "SELECT case_id FROM messages WHERE in_reply_to @> ARRAY[$1]::text[] ORDER BY received_at LIMIT 1",
        channel_message_id,
    )


async def upsert_reporter(conn: asyncpg.Connection, contact_key: str, channel: str, pii: dict[str, Any],
                          now: datetime) -> None:
    await conn.execute(
        "INSERT INTO reporters (contact_key, channel, pii, first_seen, last_seen) VALUES ($1, $2, $3, $4, $4) "
        "ON CONFLICT (contact_key) DO UPDATE SET last_seen = EXCLUDED.last_seen, "
        "pii = reporters.pii || jsonb_strip_nulls(EXCLUDED.pii)",
        contact_key, channel, pii, now,
    )


async def insert_case(conn: asyncpg.Connection, row: dict[str, Any]) -> None:
    cols = list(row)
    await conn.execute(
        f"INSERT INTO cases ({', '.join(cols)}) VALUES ({', '.join(f'${i + 1}' for i in range(len(cols)))})",
        *row.values(),
    )


async def insert_message(conn: asyncpg.Connection, row: dict[str, Any]) -> None:
    cols = list(row)
    await conn.execute(
        f"INSERT INTO messages ({', '.join(cols)}) VALUES ({', '.join(f'${i + 1}' for i in range(len(cols)))})",
        *row.values(),
    )


async def add_timeline(conn: asyncpg.Connection, case_id: UUID, at: datetime, kind: str,
                       event_id: UUID | None, detail: dict[str, Any]) -> None:
    await conn.execute(
        "INSERT INTO timeline (case_id, at, kind, event_id, detail) VALUES ($1, $2, $3, $4, $5)",
        case_id, at, kind, event_id, detail,
    )


async def get_case(conn: asyncpg.Connection, case_id: UUID, *, for_update: bool = False) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        f"SELECT {CASE_COLUMNS} FROM cases WHERE case_id = $1{' FOR UPDATE' if for_update else ''}", case_id
    )
    return dict(row) if row else None


async def case_state(conn: asyncpg.Connection, case_id: UUID) -> CaseState | None:
    row = await conn.fetchrow(
        "SELECT case_id, status, merged_into, opened_at FROM cases WHERE case_id = $1 FOR UPDATE", case_id
    )
    return CaseState(**dict(row)) if row else None


async def merge_chain(conn: asyncpg.Connection, case_id: UUID, limit: int = 20) -> list[CaseState]:
    """`case_id` followed by the cases it was merged into, in order (locked for update)."""
    chain: list[CaseState] = []
    current: UUID | None = case_id
    while current is not None and len(chain) < limit:
        state = await case_state(conn, current)
        if state is None:
            break
        chain.append(state)
        current = state.merged_into
    return chain


async def update_case(conn: asyncpg.Connection, case_id: UUID, fields: dict[str, Any]) -> None:
    cols = list(fields)
    sets = ", ".join(f"{c} = ${i + 2}" for i, c in enumerate(cols))
    await conn.execute(f"UPDATE cases SET {sets} WHERE case_id = $1", case_id, *fields.values())


async def reporter_pii(conn: asyncpg.Connection, contact_key: str) -> dict[str, Any]:
    return await conn.fetchval("SELECT pii FROM reporters WHERE contact_key = $1", contact_key) or {}


async def record_outbound(conn: asyncpg.Connection, provider_message_id: str, case_id: UUID) -> None:
    await conn.execute(
        "INSERT INTO outbound_messages (provider_message_id, case_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        provider_message_id, case_id,
    )
