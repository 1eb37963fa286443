"""Media kept in a service's own schema (asyncpg): one row per distinct cleaned file (its id derived from
its SHA-256), the channel messages that carried it, erased with them. The table is created by each
service's migration from `MEDIA_TABLE_SQL`."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from shared.db.pool import quote_ident
from shared.media.clean import Cleaned

MEDIA_NAMESPACE = uuid.UUID("5b0c6f0e-3a51-5a3e-9f0c-6d656469610a")
"""The uuid5 namespace of media ids (fixed forever: ids already published in `media_url`s depend on it)."""

MEDIA_TABLE_SQL = """\
-- shared.media.MEDIA_TABLE_SQL (copied verbatim: tests/unit/media checks every copy)
-- Media downloaded at intake and cleaned (pictures re-encoded without metadata), served at
-- GET /media/{media_id}. media_id = uuid5(shared.media.store.MEDIA_NAMESPACE, sha256): the same bytes are
-- one row, whichever messages carried them (channel_message_ids); erased with any of those messages.
CREATE TABLE {schema}.media (
    media_id            uuid PRIMARY KEY,
    sha256              text NOT NULL,
    content_type        text NOT NULL,
    filename            text,
    content             bytea NOT NULL,
    size                integer NOT NULL,
    width               integer,
    height              integer,
    channel_message_ids text[] NOT NULL,
    created_at          timestamptz NOT NULL
);
CREATE INDEX media_channel_message_ids ON {schema}.media USING gin (channel_message_ids);
"""
"""The migration that creates ``<schema>.media``, a template with ``{schema}`` as `shared.db.migrate`
fills it. A service adds it as one of its own migration files, verbatim:
``python -m shared.media > services/<service>/migrations/<NNN>_media.sql``."""


def media_id_of(sha256: str) -> uuid.UUID:
    """The id of the cleaned bytes whose SHA-256 (hex) is `sha256`: uuid5, so storing twice gives one row."""
    return uuid.uuid5(MEDIA_NAMESPACE, sha256.lower())


@dataclass(frozen=True)
class StoredMedia:
    """One kept file: its bytes and how to serve them, the messages that carried it, `created_at` (UTC)."""

    media_id: uuid.UUID
    content: bytes
    content_type: str
    filename: str | None
    sha256: str
    size: int
    width: int | None
    height: int | None
    channel_message_ids: tuple[str, ...]
    created_at: datetime


class MediaStore:
    """``<schema>.media`` through `db` (an asyncpg pool, or a connection inside a unit of work's
    transaction). Raises `asyncpg.PostgresError` (e.g. `UndefinedTableError` before the migration ran)
    and `ValueError` for a `schema` that is not a plain identifier."""

    def __init__(self, db: asyncpg.Pool | asyncpg.Connection, schema: str) -> None:
        self._db = db
        self._table = f"{quote_ident(schema)}.media"

    async def put(self, cleaned: Cleaned, *, channel_message_id: str, now: datetime | None = None) -> uuid.UUID:
        """Keep `cleaned` as carried by message `channel_message_id`; returns its id (`media_id_of`). The
        same bytes again add the message to the existing row (nothing else changes); one statement, so
        two replicas storing the same file at once give one row. `now` (UTC) is `created_at`, the
        database's clock when None."""
        media_id = media_id_of(cleaned.sha256)
        await self._db.execute(
            f"INSERT INTO {self._table} AS m (media_id, sha256, content_type, filename, content, size, width, "
            "height, channel_message_ids, created_at) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, ARRAY[$9::text], COALESCE($10, now())) "
            "ON CONFLICT (media_id) DO UPDATE SET channel_message_ids = m.channel_message_ids || $9::text "
            "WHERE NOT $9::text = ANY(m.channel_message_ids)",
            media_id, cleaned.sha256, cleaned.content_type, cleaned.filename, cleaned.content,
            len(cleaned.content), cleaned.width, cleaned.height, channel_message_id, now)
        return media_id

    async def get(self, media_id: uuid.UUID) -> StoredMedia | None:
        """The file `media_id`, or None when there is none (never stored, or erased)."""
        row = await self._db.fetchrow(
            f"SELECT media_id, content, content_type, filename, sha256, size, width, height, "
            f"channel_message_ids, created_at FROM {self._table} WHERE media_id = $1", media_id)
        if row is None:
            return None
        return StoredMedia(**{**dict(row), "channel_message_ids": tuple(row["channel_message_ids"])})

    async def erase_for(self, channel_message_ids: list[str] | tuple[str, ...]) -> int:
        """Delete every file one of `channel_message_ids` carried (its bytes, for every message that
        carried them: personal data goes with the first erasure asking for it, as the portal's photos);
        returns how many files were deleted (0 when erased before)."""
        if not channel_message_ids:
            return 0
        rows = await self._db.fetch(
            f"DELETE FROM {self._table} WHERE channel_message_ids && $1::text[] RETURNING media_id",
            list(channel_message_ids))
        return len(rows)
