"""Each number's opt-out state in PostgreSQL (schema `intake_sms_voice`, table `opt_outs`, migration 001),
written by STOP, START and a carrier's error 21610, read before the webhook answers a text."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import asyncpg


class PgOptOuts:
    """`handlers.OptOuts` on the service's pool. `pool` is called on each use (the runtime's pool exists
    only once the service has started). Raises `asyncpg.PostgresError`/`OSError` when PostgreSQL fails."""

    def __init__(self, pool: Callable[[], asyncpg.Pool]) -> None:
        self._pool = pool

    async def opted_out(self, contact_key: str) -> bool:
        """True when the number's latest change was an opt-out (STOP or error 21610)."""
        return bool(await self._pool().fetchval(
            "SELECT opted_out FROM opt_outs WHERE contact_key = $1", contact_key))

    async def record(self, contact_key: str, *, opted_out: bool, at: datetime) -> None:
        """The number opted out (or back in) at `at` (UTC). A change older than the one kept is ignored
        (a provider retry or a late status callback cannot undo a newer START or STOP)."""
        await self._pool().execute(
            "INSERT INTO opt_outs (contact_key, opted_out, changed_at) VALUES ($1, $2, $3) "
            "ON CONFLICT (contact_key) DO UPDATE SET opted_out = EXCLUDED.opted_out, "
            "changed_at = EXCLUDED.changed_at WHERE opt_outs.changed_at <= EXCLUDED.changed_at",
            contact_key, opted_out, at)
