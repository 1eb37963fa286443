"""SQL access to the `intake_email` schema: the mailbox cursor, raw messages, media, the outbox and erasures.

`MailRepository` is one message's ingestion, or one case's erasure, on the connection of its unit of work;
`MailboxStore` holds the service's pool for what happens outside that transaction: the watcher's cursor
reads and resets, flagging on the server, and the staff routes' reads.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from services.intake_email.config import SERVICE
from shared.db.outbox import enqueue
from shared.events import Envelope

RAW_COLUMNS = (
    "id, mailbox, uidvalidity, uid, size, sha256, fetched_at, message_id, kind, reason, problems, "
    "sender_authenticated, attachments, event_ids, flagged_at, erased_at"
)


@dataclass(frozen=True)
class Cursor:
    """Where ingestion of a mailbox stands: its generation (IMAP UIDVALIDITY, RFC 3501 §2.3.1.1) and the
    last UID ingested under it (0: none yet)."""

    uidvalidity: int
    last_uid: int


class MailRepository:
    """One message's ingestion, on the connection of its transaction: the cursor claim, the raw bytes,
    its outcome, its media, its outbox rows and the cursor advance."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def claim_uid(self, mailbox: str, uidvalidity: int, uid: int) -> bool:
        """Lock the cursor; True when `uid` of `uidvalidity` is next to ingest (not ingested yet).

        The lock holds until the transaction ends: a second replica (or a retry) waits on it, then sees
        the cursor past `uid` and skips it.
        """
        row = await self.conn.fetchrow(
            "SELECT uidvalidity, last_uid FROM mailbox_cursors WHERE mailbox = $1 FOR UPDATE", mailbox)
        return row is not None and row["uidvalidity"] == uidvalidity and uid > row["last_uid"]

    async def advance(self, mailbox: str, uid: int, now: datetime) -> None:
        """Move the cursor of `mailbox` to `uid` (ingested) at `now` (UTC); the caller holds its lock
        (`claim_uid`)."""
        await self.conn.execute("UPDATE mailbox_cursors SET last_uid = $2, updated_at = $3 WHERE mailbox = $1",
                                mailbox, uid, now)

    async def store_raw(self, mailbox: str, uidvalidity: int, uid: int, raw: bytes, now: datetime) -> int:
        """Keep the bytes as fetched (kind 'pending' until the outcome is recorded); returns the row id."""
        return int(await self.conn.fetchval(
            "INSERT INTO raw_messages (mailbox, uidvalidity, uid, raw, size, sha256, fetched_at, kind) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending') RETURNING id",
            mailbox, uidvalidity, uid, raw, len(raw), hashlib.sha256(raw).hexdigest(), now,
        ))

    async def earlier_with_message_id(self, message_id: str, row_id: int) -> int | None:
        """The first other stored message with this Message-ID, if any (intake idempotency on Message-ID)."""
        return await self.conn.fetchval(
            "SELECT id FROM raw_messages WHERE message_id = $1 AND id <> $2 AND kind <> 'pending' ORDER BY id LIMIT 1",
            message_id, row_id,
        )

    async def record_outcome(self, row_id: int, *, message_id: str | None, kind: str, reason: str,
                             problems: list[str], sender_authenticated: str | None,
                             attachments: list[dict[str, Any]], event_ids: list[UUID]) -> None:
        """Write what became of stored message `row_id` (it was 'pending'): its `kind` ("message",
        "bounce", "auto_reply", "report", "duplicate", "own", "unparseable"), the rule that decided it
        (`reason`, cut to 1000 characters), the `problems` met reading it, the DMARC verdict, a summary of
        each attachment and the ids of the events it put in the outbox."""
        await self.conn.execute(
            "UPDATE raw_messages SET message_id = $2, kind = $3, reason = $4, problems = $5, "
            "sender_authenticated = $6, attachments = $7, event_ids = $8 WHERE id = $1",
            row_id, message_id, kind, reason[:1000], problems, sender_authenticated, attachments, event_ids,
        )

    async def store_media(self, *, media_id: UUID, raw_message_id: int, filename: str | None, content_type: str,
                          content: bytes, publishable: bool, now: datetime) -> None:
        """Keep an image of message `raw_message_id` (metadata already removed; `publishable` False when
        it could not be, and then it is never served). `media_id` derives from the Message-ID and the
        bytes, so the same mail read twice stores it once."""
        await self.conn.execute(
            "INSERT INTO media (media_id, raw_message_id, filename, content_type, content, size, publishable, "
            "created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (media_id) DO NOTHING",
            media_id, raw_message_id, filename, content_type, content, len(content), publishable, now,
        )

    async def add_to_outbox(self, envelope: Envelope) -> None:
        """Write `envelope` as it is (its event id derives from the mail, so a message read twice is one
        row) to the outbox; the relay puts it on its registry topic after the commit."""
        await enqueue(self.conn, envelope, schema=SERVICE)

    async def erase_messages(self, message_ids: list[str], now: datetime) -> Erased:
        """Erase what is kept of the stored messages with these Message-IDs (every copy: duplicates too):
        their bytes (emptied, sha256 cleared), reason, problems and attachment summary; their media rows
        (deleted: `/media/{id}` answers 404 from then on); and the payloads of their already published
        outbox rows (emptied; an unpublished row is left for the relay). Marks them `erased_at` = `now`
        (UTC). Rows erased before are not counted again. Returns the counts."""
        rows = await self.conn.fetch(
            "UPDATE raw_messages SET raw = ''::bytea, size = 0, sha256 = '', reason = 'erased', problems = '[]', "
            "attachments = '[]', erased_at = $2 WHERE message_id = ANY($1::text[]) AND erased_at IS NULL "
            "RETURNING id, event_ids", message_ids, now)
        ids = [r["id"] for r in rows]
        event_ids = [e for r in rows for e in r["event_ids"]]
        media = await self.conn.fetch("DELETE FROM media WHERE raw_message_id = ANY($1::bigint[]) RETURNING media_id",
                                      ids)
        if event_ids:
            await self.conn.execute("UPDATE outbox SET payload = ''::bytea WHERE event_id = ANY($1::uuid[]) "
                                    "AND published_at IS NOT NULL", event_ids)
        return Erased(messages=len(ids), media=len(media))

    async def record_erasure(self, *, event_id: UUID, case_id: UUID, service_request_id: str, mode: str,
                             erased: Erased, now: datetime) -> None:
        """Keep an audit row of one handled erasure event (counts only, no personal data)."""
        await self.conn.execute(
            "INSERT INTO erasures (event_id, case_id, service_request_id, mode, messages, media, erased_at) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (event_id) DO NOTHING",
            event_id, case_id, service_request_id, mode, erased.messages, erased.media, now)


@dataclass(frozen=True)
class Erased:
    """How many stored messages and media one erasure emptied."""

    messages: int
    media: int


class MailboxStore:
    """The mailbox's rows outside one message's transaction, on the service's asyncpg pool: the cursor the
    watcher reads and resets, the messages it has yet to flag on the server, and the staff routes' reads."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def cursor(self, mailbox: str) -> Cursor | None:
        """The cursor of `mailbox` (the key `config.mailbox_key` gives), None before its first sync."""
        row = await self.pool.fetchrow("SELECT uidvalidity, last_uid FROM mailbox_cursors WHERE mailbox = $1",
                                       mailbox)
        return Cursor(row["uidvalidity"], row["last_uid"]) if row else None

    async def start_over(self, mailbox: str, uidvalidity: int, now: datetime) -> None:
        """Point the cursor before UID 1 of `uidvalidity` (a new mailbox, or one whose UIDs were reset)."""
        await self.pool.execute(
            "INSERT INTO mailbox_cursors (mailbox, uidvalidity, last_uid, updated_at) VALUES ($1, $2, 0, $3) "
            "ON CONFLICT (mailbox) DO UPDATE SET uidvalidity = EXCLUDED.uidvalidity, last_uid = 0, "
            "updated_at = EXCLUDED.updated_at",
            mailbox, uidvalidity, now,
        )

    async def unflagged(self, mailbox: str, uidvalidity: int, limit: int = 500) -> list[tuple[int, int]]:
        """(row id, UID) of messages of this mailbox generation stored but not yet flagged on the server,
        oldest first, at most `limit`."""
        rows = await self.pool.fetch(
            "SELECT id, uid FROM raw_messages WHERE mailbox = $1 AND uidvalidity = $2 AND flagged_at IS NULL "
            "AND kind <> 'pending' ORDER BY id LIMIT $3",
            mailbox, uidvalidity, limit,
        )
        return [(r["id"], r["uid"]) for r in rows]

    async def mark_flagged(self, ids: list[int], now: datetime) -> None:
        """Record that the stored messages `ids` were flagged on the server at `now` (UTC)."""
        await self.pool.execute("UPDATE raw_messages SET flagged_at = $2 WHERE id = ANY($1::bigint[])", ids, now)

    async def publishable_media(self, media_id: UUID) -> asyncpg.Record | None:
        """Filename, content type and bytes of a stored image that may be served; None when there is no
        such image or its metadata could not be removed."""
        return await self.pool.fetchrow(
            "SELECT filename, content_type, content FROM media WHERE media_id = $1 AND publishable", media_id)

    async def problems(self, limit: int) -> list[dict[str, Any]]:
        """Messages that could not be read, or were read with problems, newest first (at most `limit`)."""
        rows = await self.pool.fetch(
            f"SELECT {RAW_COLUMNS} FROM raw_messages WHERE kind = 'unparseable' OR problems <> '[]'::jsonb "
            "ORDER BY id DESC LIMIT $1", limit)
        return [dict(r) for r in rows]

    async def messages(self, *, message_id: str | None, kind: str | None, limit: int) -> list[dict[str, Any]]:
        """Stored messages (without their bytes), newest first, filtered by Message-ID and/or kind."""
        where, args = [], []
        if message_id:
            args.append(message_id)
            where.append(f"message_id = ${len(args)}")
        if kind:
            args.append(kind)
            where.append(f"kind = ${len(args)}")
        args.append(limit)
        rows = await self.pool.fetch(
            f"SELECT {RAW_COLUMNS} FROM raw_messages {'WHERE ' + ' AND '.join(where) if where else ''} "
            f"ORDER BY id DESC LIMIT ${len(args)}", *args)
        return [dict(r) for r in rows]

    async def raw_bytes(self, row_id: int) -> bytes | None:
        """The bytes of stored message `row_id` as fetched, None when there is no such message and b""
        when they were erased (`erased_at`)."""
        row = await self.pool.fetchrow("SELECT raw, erased_at FROM raw_messages WHERE id = $1", row_id)
        if row is None:
            return None
        return b"" if row["erased_at"] is not None else bytes(row["raw"])
