"""SQL of intake_social's conversations (table `conversations`, migration 003): the last report of each
contact on each Meta channel, read before a message is published and written once it is on Kafka."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import asyncpg

from services.intake_social.domain.storable import storable
from shared.intake.conversation import Thread

STORE_ERRORS: tuple[type[BaseException], ...] = (asyncpg.PostgresError,)
"""What the webhook's stores raise when PostgreSQL refuses or fails a statement (the webhook answers 503
and Meta sends the batch again); connection trouble is in `shared.kafka.TRANSIENT_ERRORS`."""


class PgConversations:
    """`ConversationStore` on the service's pool (`pool()` gives it once the service started)."""

    def __init__(self, pool: Callable[[], asyncpg.Pool]) -> None:
        self._pool = pool

    async def thread_of(self, contact_key: str, channel: str) -> Thread | None:
        """The contact's last report on `channel` (open until the case API says otherwise), or None."""
        row = await self._pool().fetchrow(
            "SELECT report_message_id, report_service_code, last_at FROM conversations "
            "WHERE contact_key = $1 AND channel = $2", contact_key, channel)
        if row is None:
            return None
        return Thread(report_id=row["report_message_id"], last_at=row["last_at"],
                      service_code=row["report_service_code"])

    async def opened(self, contact_key: str, channel: str, report_id: str, service_code: str | None,
                     at: datetime) -> None:
        """`report_id` is now the contact's report on `channel` (a new report moves the row to it)."""
        await self._pool().execute(
            "INSERT INTO conversations (contact_key, channel, report_message_id, report_service_code, last_at) "
            "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (contact_key, channel) DO UPDATE SET "
            "report_message_id = EXCLUDED.report_message_id, report_service_code = EXCLUDED.report_service_code, "
            "last_at = EXCLUDED.last_at", contact_key, channel, storable(report_id), storable(service_code), at)

    async def touched(self, contact_key: str, channel: str, at: datetime) -> None:
        """The resident wrote in the conversation at `at` (never moves `last_at` back)."""
        await self._pool().execute(
            "UPDATE conversations SET last_at = greatest(last_at, $3) WHERE contact_key = $1 AND channel = $2",
            contact_key, channel, at)
