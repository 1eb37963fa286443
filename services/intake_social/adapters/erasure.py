"""SQL of intake_social's erasures: the published outbox copies of a case's messages, the raw unsupported
items and the conversations that name its messages or reporters; the media its messages carried and the
audit row are `shared.media.erasure.MediaErasureRepository`'s (shared with intake_sms_voice)."""

from __future__ import annotations

from datetime import datetime

from shared.media.erasure import MediaErasureRepository


class ErasureRepository(MediaErasureRepository):
    """One erasure, on the connection of its unit of work (the consumed event's transaction): the shared
    `erase_media` and `record_erasure`, and what only intake_social keeps."""

    async def erase_published_payloads(self, channel_message_ids: list[str]) -> int:
        """Empty the payloads of the already published outbox rows whose event carries one of these
        `channel_message_id`s (Mastodon mentions: the handle and the text); an unpublished row is left for
        the relay. Returns how many rows were emptied (0 when erased before)."""
        return int(await self.conn.fetchval(
            "WITH hit AS (UPDATE outbox SET payload = ''::bytea WHERE published_at IS NOT NULL "
            "AND (CASE WHEN octet_length(payload) > 0 "
            "     THEN convert_from(payload, 'UTF8')::jsonb -> 'data' ->> 'channel_message_id' END) = ANY($1::text[]) "
            "RETURNING 1) SELECT count(*) FROM hit", channel_message_ids))

    async def erase_unsupported(self, channel_message_ids: list[str], contact_keys: list[str],
                                closed_at: datetime, now: datetime) -> int:
        """Empty the raw items (`raw` NULL, `erased_at` = `now`) of the unsupported messages that are one of
        `channel_message_ids`, or were sent by one of `contact_keys` before the case closed (`closed_at`);
        the row (channel, id, kind, time) stays for the counts. Returns how many were emptied."""
        return int(await self.conn.fetchval(
            "WITH hit AS (UPDATE unsupported_messages SET raw = NULL, erased_at = $4 WHERE raw IS NOT NULL "
            "AND (message_id = ANY($1::text[]) OR (contact_key = ANY($2::text[]) AND received_at <= $3)) "
            "RETURNING 1) SELECT count(*) FROM hit", channel_message_ids, contact_keys, closed_at, now))

    async def forget_conversations(self, channel_message_ids: list[str]) -> int:
        """Delete the conversations whose report is one of `channel_message_ids` (a later text of that
        contact is then a new report). Returns how many."""
        return int(await self.conn.fetchval(
            "WITH hit AS (DELETE FROM conversations WHERE report_message_id = ANY($1::text[]) RETURNING 1) "
            "SELECT count(*) FROM hit", channel_message_ids))
