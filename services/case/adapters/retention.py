"""SQL of the retention job, as a mixin of the case repository: the closed cases past retention (one
process at a time, `FOR UPDATE SKIP LOCKED`), their messages, timeline and survey comments, their reporters
and followers with no case still within retention, and the record that a case was erased (never twice)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

# A case is "retained" while it is open, closed after the cutoff, or merged into a case that is.
_RETAINED = """(c.status <> 'closed' OR c.closed_at IS NULL OR c.closed_at > $1
    OR EXISTS (SELECT 1 FROM cases s WHERE s.case_id = c.merged_into
               AND (s.status <> 'closed' OR s.closed_at IS NULL OR s.closed_at > $1)))"""

_PAST_RETENTION = f"""
SELECT c.case_id, c.service_request_id, c.jurisdiction_id, c.contact_key, c.description, c.status_notes,
       c.media_url, c.closed_at, c.correlation_id
FROM cases c
WHERE c.status = 'closed' AND c.closed_at <= $1 AND NOT {_RETAINED}
  AND NOT EXISTS (SELECT 1 FROM erasures e WHERE e.case_id = c.case_id)
  AND NOT (c.case_id = ANY($3::uuid[]))
ORDER BY c.closed_at, c.case_id
LIMIT $2
FOR UPDATE OF c SKIP LOCKED
"""

_FREE_REPORTERS = f"""
SELECT r.contact_key FROM reporters r
WHERE r.contact_key = ANY($2::text[])
  AND NOT EXISTS (SELECT 1 FROM cases c WHERE c.contact_key = r.contact_key AND {_RETAINED})
  AND NOT EXISTS (SELECT 1 FROM followers f JOIN cases c ON c.case_id = f.case_id
                  WHERE f.contact_key = r.contact_key AND {_RETAINED})
ORDER BY r.contact_key
"""


class RetentionQueries:
    """Retention SQL on `self.conn` (the unit of work's connection, as `CaseRepository` holds it; nothing
    here commits). Times are aware UTC; `cutoff` is the latest closing time past retention. Any method
    may raise `asyncpg.PostgresError`."""

    conn: asyncpg.Connection

    async def cases_past_retention(self, cutoff: datetime, limit: int, skip: Sequence[UUID] = ()
                                   ) -> list[dict[str, Any]]:
        """Closed cases not yet erased whose `closed_at` is at or before `cutoff` (a case merged into one
        still retained waits for it), oldest closing first, at most `limit`: `case_id`,
        `service_request_id`, `jurisdiction_id`, `contact_key`, `description`, `status_notes`,
        `media_url`, `closed_at`, `correlation_id`. The rows are locked until the transaction ends;
        rows held elsewhere are skipped (another process is erasing them), and so are the cases in
        `skip`."""
        return [dict(r) for r in await self.conn.fetch(_PAST_RETENTION, cutoff, limit, list(skip))]

    async def case_messages_for_erasure(self, case_id: UUID) -> list[dict[str, Any]]:
        """The case's messages (`message_id`, `channel_message_id`, `description`, `media_url`), in the
        order received."""
        return [dict(r) for r in await self.conn.fetch(
            "SELECT message_id, channel_message_id, description, media_url FROM messages WHERE case_id = $1 "
            "ORDER BY received_at, message_id", case_id)]

    async def erase_message(self, message_id: UUID, description: str) -> None:
        """Set a message's text to `description` (the redacted text) and drop its media URLs."""
        await self.conn.execute("UPDATE messages SET description = $2, media_url = '{}' WHERE message_id = $1",
                                message_id, description)

    async def erase_case_text(self, case_id: UUID, description: str, status_notes: str | None) -> None:
        """Set the case's `description` and `status_notes` (redacted) and drop its media URLs and its Open311
        answers (free-text ones may name people); its category, place, times and status stay (the public
        record)."""
        await self.conn.execute(
            "UPDATE cases SET description = $2, status_notes = $3, media_url = '{}', attributes = '{}' "
            "WHERE case_id = $1",
            case_id, description, status_notes)

    async def timeline_for_erasure(self, case_id: UUID) -> list[dict[str, Any]]:
        """The case's timeline entries (`id`, `kind`, `detail`), oldest first."""
        return [dict(r) for r in await self.conn.fetch(
            "SELECT id, kind, detail FROM timeline WHERE case_id = $1 ORDER BY id", case_id)]

    async def set_timeline_detail(self, entry_id: int, detail: dict[str, Any]) -> None:
        """Replace one timeline entry's `detail` (the redacted one)."""
        await self.conn.execute("UPDATE timeline SET detail = $2 WHERE id = $1", entry_id, detail)

    async def reporters_past_retention(self, cutoff: datetime, contact_keys: list[str]) -> list[str]:
        """Those of `contact_keys` (sorted) that are stored reporters (followers' addresses are kept there
        too) with no case still retained at `cutoff` (open, closed after it, or merged into such a case)
        that they reported or follow."""
        return [r["contact_key"] for r in await self.conn.fetch(_FREE_REPORTERS, cutoff, contact_keys)]

    async def forget_published_events(self, case_id: UUID) -> int:
        """Delete the case's outbox rows already published (their key is the case id): their payloads hold
        the description, replies and updates as they were, personal data included. Rows not yet published
        stay (a message is never dropped). Returns how many were deleted."""
        result = await self.conn.execute(
            "DELETE FROM outbox WHERE message_key = $1 AND published_at IS NOT NULL", str(case_id))
        return int(result.split()[-1])

    async def survey_comments(self, case_id: UUID) -> list[tuple[str, str]]:
        """The case's survey answers with a comment: (`channel_message_id`, `comment`), oldest first."""
        rows = await self.conn.fetch(
            "SELECT channel_message_id, comment FROM survey_answers WHERE case_id = $1 AND comment <> '' "
            "ORDER BY answered_at, channel_message_id", case_id)
        return [(r["channel_message_id"], r["comment"]) for r in rows]

    async def set_survey_comment(self, channel_message_id: str, comment: str) -> None:
        """Replace a survey answer's comment (the redacted one)."""
        await self.conn.execute("UPDATE survey_answers SET comment = $2 WHERE channel_message_id = $1",
                                channel_message_id, comment)

    async def reporter_pii(self, contact_key: str) -> dict[str, Any] | None:
        """The reporter's `pii` object, None for an unknown reporter."""
        return await self.conn.fetchval("SELECT pii FROM reporters WHERE contact_key = $1", contact_key)

    async def set_reporter_pii(self, contact_key: str, pii: dict[str, Any]) -> None:
        """Replace the reporter's `pii` (erased `{}` or pseudonymised); the contact key itself, a one-way
        digest, stays so that their cases keep their reporter."""
        await self.conn.execute("UPDATE reporters SET pii = $2 WHERE contact_key = $1", contact_key, pii)

    async def record_erasure(self, row: dict[str, Any]) -> bool:
        """Remember that a case's personal data was erased: `row` holds `case_id`, `erased_at`,
        `closed_at`, `policy_days`, `mode`, `contact_keys`, `channel_message_ids`. Returns False (and
        changes nothing) when the case was erased already."""
        cols = ["case_id", "erased_at", "closed_at", "policy_days", "mode", "contact_keys", "channel_message_ids"]
        result = await self.conn.execute(
            f"INSERT INTO erasures ({', '.join(cols)}) VALUES ({', '.join(f'${i + 1}' for i in range(len(cols)))}) "
            "ON CONFLICT (case_id) DO NOTHING", *(row[c] for c in cols))
        return result.endswith(" 1")

    async def erased_at(self, case_id: UUID) -> datetime | None:
        """When the case's personal data was erased, None when it was not."""
        return await self.conn.fetchval("SELECT erased_at FROM erasures WHERE case_id = $1", case_id)
