"""SQL of the SLA clocks (`sla_clocks`), as a mixin of the case repository: read and save a case's clock,
and let the durable timer take the clocks that are due, one process at a time (`FOR UPDATE SKIP LOCKED`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

CLOCK_COLUMNS = (
    "case_id, generation, clock, started_at, routed_due_at, due_at, warn_at, total_s, state, paused_at, "
    "remaining_s, warning_fired_at, breach_fired_at"
)
"""The stored columns of a clock (`domain.sla.SlaClock`'s fields); `updated_at` and the generated
`next_fire_at` come on top."""

_WRITABLE = [c.strip() for c in CLOCK_COLUMNS.split(",")]

# What the timer needs of a due clock's case, read with the clock; both rows are locked or skipped.
_DUE = f"""
SELECT {', '.join('k.' + c for c in _WRITABLE)}, k.next_fire_at,
       c.service_request_id, c.jurisdiction_id, c.service_code, c.service_name, c.queue, c.priority,
       c.correlation_id, c.status
FROM sla_clocks k JOIN cases c ON c.case_id = k.case_id
WHERE k.next_fire_at <= $1 AND c.status = 'open' AND NOT (k.case_id = ANY($3::uuid[]))
ORDER BY k.next_fire_at
LIMIT $2
FOR UPDATE OF k, c SKIP LOCKED
"""


def save_clock_sql(first: int = 1) -> str:
    """The statement that inserts or replaces a clock (`ClockQueries.save_sla_clock`), its parameters
    numbered from `first` in the order of `clock_values`."""
    cols = [*_WRITABLE, "updated_at"]
    params = ", ".join(f"${first + i}" for i in range(len(cols)))
    sets = ", ".join(f"{c} = EXCLUDED.{c}" for c in cols if c != "case_id")
    return f"INSERT INTO sla_clocks ({', '.join(cols)}) VALUES ({params}) ON CONFLICT (case_id) DO UPDATE SET {sets}"


def clock_values(clock: dict[str, Any], now: datetime) -> list[Any]:
    """The parameters of `save_clock_sql` for `clock` (every column of `CLOCK_COLUMNS`) saved at `now`.
    Raises `KeyError` for a missing column."""
    return [*(clock[c] for c in _WRITABLE), now]


class ClockQueries:
    """SLA clock SQL on `self.conn` (the unit of work's connection, as `CaseRepository` holds it; nothing
    here commits). Rows are `dict`s keyed by `CLOCK_COLUMNS`; times aware UTC; durations float seconds.
    Any method may raise `asyncpg.PostgresError`."""

    conn: asyncpg.Connection
    locked_clocks: dict[UUID, dict[str, Any] | None]
    """Clocks read and locked together with their case (`CaseRepository.case_with_clock`), by case id, each
    handed once to the next `sla_clock(case_id, for_update=True)` instead of a second read; a clock written
    or stopped here is dropped from it. The repository lives for one unit of work."""

    async def sla_clock(self, case_id: UUID, *, for_update: bool = False) -> dict[str, Any] | None:
        """The case's clock (with `next_fire_at`), None when it has none; with `for_update` the row stays
        locked until the transaction ends (a clock locked with its case by `case_with_clock` is given as
        read then, without a round trip)."""
        if for_update and case_id in self.locked_clocks:
            return self.locked_clocks.pop(case_id)
        row = await self.conn.fetchrow(
            f"SELECT {CLOCK_COLUMNS}, next_fire_at FROM sla_clocks WHERE case_id = $1"
            f"{' FOR UPDATE' if for_update else ''}", case_id)
        return dict(row) if row else None

    async def save_sla_clock(self, clock: dict[str, Any], now: datetime) -> None:
        """Insert or replace the case's clock: `clock` maps every column of `CLOCK_COLUMNS` to its value
        (`SlaClock.to_row()`); `updated_at` = `now`. Raises `asyncpg.ForeignKeyViolationError` for an
        unknown case, `asyncpg.CheckViolationError` for a bad state or a paused clock without its pause
        fields, `KeyError` for a missing column."""
        self.locked_clocks.pop(clock["case_id"], None)
        await self.conn.execute(save_clock_sql(), *clock_values(clock, now))

    async def due_sla_clocks(self, now: datetime, limit: int = 100, skip: Sequence[UUID] = ()
                             ) -> list[dict[str, Any]]:
        """Running clocks of open cases whose next firing (`next_fire_at`) is at or before `now`, earliest
        first, at most `limit`, each with its case's `service_request_id`, `jurisdiction_id`,
        `service_code`, `service_name`, `queue`, `priority`, `correlation_id` and `status`. The clock and
        case rows are locked until the transaction ends; rows another transaction holds are skipped (SKIP
        LOCKED), so two timers never take the same clock and a staff change in progress is never waited
        on (that clock fires on a later tick). Clocks of the cases in `skip` are left out."""
        return [dict(r) for r in await self.conn.fetch(_DUE, now, limit, list(skip))]

    async def stop_clocks_of_closed_cases(self, now: datetime) -> int:
        """Stop the clocks still running or paused on closed cases (a case closed by a path that did not
        stop its clock); returns how many. Rows locked elsewhere are left for a later call."""
        self.locked_clocks.clear()
        result = await self.conn.execute(
            "UPDATE sla_clocks k SET state = 'stopped', paused_at = COALESCE(k.paused_at, $1), updated_at = $1 "
            "WHERE k.case_id IN (SELECT o.case_id FROM sla_clocks o JOIN cases c ON c.case_id = o.case_id "
            "WHERE o.state <> 'stopped' AND c.status = 'closed' FOR UPDATE OF o SKIP LOCKED)",
            now)
        return int(result.split()[-1])

    async def next_sla_fire_at(self, skip: Sequence[UUID] = ()) -> datetime | None:
        """The earliest `next_fire_at` of a clock of an open case (those of `skip` left out), None when no
        clock will fire."""
        return await self.conn.fetchval(
            "SELECT min(k.next_fire_at) FROM sla_clocks k JOIN cases c ON c.case_id = k.case_id "
            "WHERE k.next_fire_at IS NOT NULL AND c.status = 'open' AND NOT (k.case_id = ANY($1::uuid[]))",
            list(skip))
