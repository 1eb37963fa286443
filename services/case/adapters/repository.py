"""SQL access to the `case` schema for the handlers, on the connection of the caller's transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from services.case.domain.rules import CaseState
from services.case.domain.threading import CaseRef, ThreadingFacts

CASE_COLUMNS = (
    "case_id, service_request_id, jurisdiction_id, status, status_notes, channel, contact_key, service_code, "
    "service_name, description, address, zipcode, lat, long, media_url, language, agency_responsible, queue, "
    "priority, district, sla_due_at, routing, merged_into, correlation_id, requested_datetime, opened_at, "
    "updated_datetime"
)
"""Every `cases` column, in the order a case `dict` has them."""

MERGE_CHAIN_LIMIT = 20
"""How many merges `merge_chain` follows at most (a chain is one or two long in practice)."""

# One round trip for the threading rule's five look-ups; each LATERAL yields at most one row.
_THREADING_FACTS = """
SELECT held.case_id AS held_by,
       hinted.case_id AS hinted_case, hinted.contact_key AS hinted_reporter,
       ours.case_id AS replied_ours, theirs.case_id AS replied_theirs,
       answered.case_id AS answered_case, answered.contact_key AS answered_reporter
FROM (VALUES (1)) AS one
LEFT JOIN LATERAL (SELECT case_id FROM messages WHERE channel = $1 AND channel_message_id = $2) held ON true
LEFT JOIN LATERAL (SELECT case_id, contact_key FROM cases WHERE service_request_id = $3) hinted ON true
LEFT JOIN LATERAL (SELECT case_id FROM outbound_messages WHERE provider_message_id = ANY($4::text[])
                   LIMIT 1) ours ON true
LEFT JOIN LATERAL (SELECT case_id FROM messages WHERE channel_message_id = ANY($4::text[]) LIMIT 1) theirs ON true
LEFT JOIN LATERAL (SELECT m.case_id, c.contact_key FROM messages m JOIN cases c USING (case_id)
                   WHERE m.in_reply_to @> ARRAY[$2]::text[] ORDER BY m.received_at LIMIT 1) answered ON true
"""


def _insert(table: str, row: dict[str, Any]) -> str:
    cols = list(row)
    return f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join(f'${i + 1}' for i in range(len(cols)))})"


class CaseRepository:
    """Cases, their messages, reporters, timeline and our outbound message ids. Column names in the
    `dict`s passed in are the tables' own (trusted: they come from `domain.records`, never from a request)."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def threading_facts(self, channel: str, channel_message_id: str, *, hinted: str | None,
                              reply_ids: list[str]) -> ThreadingFacts:
        """What the threading rule needs of one intake message (see `ThreadingFacts`): `hinted` is the
        case number it quotes (None: none), `reply_ids` its In-Reply-To/References ids."""
        r = await self.conn.fetchrow(_THREADING_FACTS, channel, channel_message_id, hinted, reply_ids)
        hinted_case, answered_case = r["hinted_case"], r["answered_case"]
        return ThreadingFacts(
            held_by=r["held_by"],
            hinted=CaseRef(hinted_case, r["hinted_reporter"]) if hinted_case is not None else None,
            replied_ours=r["replied_ours"], replied_theirs=r["replied_theirs"],
            answered_by=CaseRef(answered_case, r["answered_reporter"]) if answered_case is not None else None,
        )

    async def upsert_reporter(self, contact_key: str, channel: str, pii: dict[str, Any], now: datetime) -> None:
        """Remember a reporter: first seen now, or seen again (personal data merged, newer non-null wins)."""
        await self.conn.execute(
            "INSERT INTO reporters (contact_key, channel, pii, first_seen, last_seen) VALUES ($1, $2, $3, $4, $4) "
            "ON CONFLICT (contact_key) DO UPDATE SET last_seen = EXCLUDED.last_seen, "
            "pii = reporters.pii || jsonb_strip_nulls(EXCLUDED.pii)",
            contact_key, channel, pii, now,
        )

    async def next_case_number(self) -> int:
        """The next number of the case sequence (shared by every year; gaps on rollback are fine)."""
        return int(await self.conn.fetchval("SELECT nextval('case_number_seq')"))

    async def insert_case(self, row: dict[str, Any]) -> None:
        await self.conn.execute(_insert("cases", row), *row.values())

    async def insert_message(self, row: dict[str, Any]) -> None:
        await self.conn.execute(_insert("messages", row), *row.values())

    async def add_timeline(self, case_id: UUID, at: datetime, kind: str, event_id: UUID | None,
                           detail: dict[str, Any]) -> None:
        await self.conn.execute(
            "INSERT INTO timeline (case_id, at, kind, event_id, detail) VALUES ($1, $2, $3, $4, $5)",
            case_id, at, kind, event_id, detail,
        )

    async def get_case(self, case_id: UUID, *, for_update: bool = False) -> dict[str, Any] | None:
        """The case as a `dict` of `CASE_COLUMNS` (locked until the transaction ends with `for_update`)."""
        row = await self.conn.fetchrow(
            f"SELECT {CASE_COLUMNS} FROM cases WHERE case_id = $1{' FOR UPDATE' if for_update else ''}", case_id
        )
        return dict(row) if row else None

    async def update_case(self, case_id: UUID, fields: dict[str, Any]) -> None:
        cols = list(fields)
        sets = ", ".join(f"{c} = ${i + 2}" for i, c in enumerate(cols))
        await self.conn.execute(f"UPDATE cases SET {sets} WHERE case_id = $1", case_id, *fields.values())

    async def case_state(self, case_id: UUID) -> CaseState | None:
        """What a merge decision needs of a case, the row locked until the transaction ends."""
        row = await self.conn.fetchrow(
            "SELECT case_id, status, merged_into, opened_at FROM cases WHERE case_id = $1 FOR UPDATE", case_id
        )
        return CaseState(**dict(row)) if row else None

    async def lock_cases(self, case_ids: list[UUID]) -> None:
        """Lock the cases' rows one by one in the order given (missing ones are skipped)."""
        for case_id in case_ids:
            await self.case_state(case_id)

    async def merge_chain(self, case_id: UUID, limit: int = MERGE_CHAIN_LIMIT) -> list[CaseState]:
        """`case_id` followed by the cases it was merged into, in order (each locked); empty when
        `case_id` does not exist."""
        chain: list[CaseState] = []
        current: UUID | None = case_id
        while current is not None and len(chain) < limit:
            state = await self.case_state(current)
            if state is None:
                break
            chain.append(state)
            current = state.merged_into
        return chain

    async def record_outbound(self, provider_message_id: str, case_id: UUID) -> None:
        """Remember that our message `provider_message_id` (e.g. a Message-ID) belongs to the case, so a
        reply naming it threads there; recording it twice is harmless."""
        await self.conn.execute(
            "INSERT INTO outbound_messages (provider_message_id, case_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            provider_message_id, case_id,
        )
