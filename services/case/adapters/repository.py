"""SQL access to the `case` schema for the handlers, on the connection of the caller's transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from services.case.adapters.clocks import CLOCK_COLUMNS, ClockQueries, clock_values, save_clock_sql
from services.case.adapters.retention import RetentionQueries
from services.case.domain.rules import CaseState
from services.case.domain.threading import CaseRef, ThreadingFacts

CASE_COLUMNS = (
    "case_id, service_request_id, jurisdiction_id, status, status_notes, channel, contact_key, service_code, "
    "service_name, description, address, zipcode, lat, long, media_url, language, agency_responsible, queue, "
    "priority, district, sla_due_at, routing, merged_into, correlation_id, requested_datetime, opened_at, "
    "updated_datetime, workflow_status, assignee, team, workflow_before_merge, attributes, location_source"
)
"""Every `cases` column a case `dict` has, in order (`attributes`: the Open311 answers, a `dict`;
`location_source`: ``report``, ``geocoded`` or None, how the point was found; the generated `point` is
left out: it is for the spatial filters only)."""

MERGE_CHAIN_LIMIT = 20
"""How many merges `merge_chain` follows at most (a chain is one or two long in practice)."""

CLOCK_COLUMNS_LIST = tuple(c.strip() for c in CLOCK_COLUMNS.split(","))
"""The stored columns of an SLA clock, one by one."""

UnstorableValue = asyncpg.exceptions.DataError
"""What PostgreSQL raises for a value it refuses as data (SQLSTATE class 22: a NUL byte in text, a number
out of range): the caller's input, not a fault of the store (the case API answers 422)."""

# One round trip for the threading rule's five look-ups; each LATERAL yields at most one row.
_THREADING_FACTS = """
SELECT held.case_id AS held_by,
       hinted.case_id AS hinted_case, hinted.contact_key AS hinted_reporter,
       ours.case_id AS replied_ours, theirs.case_id AS replied_theirs,
       answered.case_id AS answered_case, answered.contact_key AS answered_reporter,
       withdrawn.pending AS withdrawn_first
FROM (VALUES (1)) AS one
LEFT JOIN LATERAL (SELECT case_id FROM messages WHERE channel = $1 AND channel_message_id = $2) held ON true
LEFT JOIN LATERAL (SELECT case_id, contact_key FROM cases WHERE service_request_id = $3) hinted ON true
LEFT JOIN LATERAL (SELECT case_id FROM outbound_messages WHERE provider_message_id = ANY($4::text[])
                   LIMIT 1) ours ON true
LEFT JOIN LATERAL (SELECT case_id FROM messages WHERE channel_message_id = ANY($4::text[]) LIMIT 1) theirs ON true
LEFT JOIN LATERAL (SELECT m.case_id, c.contact_key FROM messages m JOIN cases c USING (case_id)
                   WHERE m.in_reply_to @> ARRAY[$2]::text[] ORDER BY m.received_at LIMIT 1) answered ON true
LEFT JOIN LATERAL (SELECT true AS pending FROM withdrawals WHERE channel = $1 AND channel_message_id = $2
                   AND applied_at IS NULL LIMIT 1) withdrawn ON true
"""

# The same look-ups taking the next case number when none of them names a case (the message then opens
# one): nextval is volatile, so CASE evaluates it only on that branch and a threaded message takes none.
_RESERVING_ANCHOR = "withdrawn.pending AS withdrawn_first"
if _THREADING_FACTS.count(_RESERVING_ANCHOR) != 1:  # a plain check at import: the replace below needs it once
    raise RuntimeError(f"_THREADING_FACTS must select {_RESERVING_ANCHOR!r} exactly once (the reserving form "
                       "adds its column after it)")
_THREADING_FACTS_RESERVING = _THREADING_FACTS.replace(
    _RESERVING_ANCHOR,
    f"{_RESERVING_ANCHOR},\n"
    "       CASE WHEN held.case_id IS NULL AND hinted.case_id IS NULL AND ours.case_id IS NULL\n"
    "                 AND theirs.case_id IS NULL AND answered.case_id IS NULL\n"
    "            THEN nextval('case_number_seq') END AS reserved_number")

# Cases locked FIRST, then their SLA clocks, the order every other writer takes (staff commands, a reply
# resuming a clock, forwarding, merges): a clock sub-select in the outer select list runs before the case
# row is locked, so the case rows are read and locked in a MATERIALIZED CTE and the clocks after. `where`
# and `order` are fixed text from this module, never input.
_CASE_THEN_CLOCK = (
    f"WITH c AS MATERIALIZED (SELECT {CASE_COLUMNS} FROM cases WHERE {{where}}{{order}} FOR UPDATE) "
    "SELECT c.*, (SELECT k FROM sla_clocks k WHERE k.case_id = c.case_id FOR UPDATE) AS sla_clock FROM c{order}")

_TIMELINE_COLUMNS = "case_id, at, kind, event_id, detail, actor, role"

_UPSERT_REPORTER = (
    "INSERT INTO reporters (contact_key, channel, pii, first_seen, last_seen) VALUES ($1, $2, $3, $4, $4) "
    "ON CONFLICT (contact_key) DO UPDATE SET last_seen = EXCLUDED.last_seen, "
    "pii = reporters.pii || jsonb_strip_nulls(EXCLUDED.pii)")


def _insert(table: str, row: dict[str, Any], first: int = 1) -> str:
    cols = list(row)
    return (f"INSERT INTO {table} ({', '.join(cols)}) "
            f"VALUES ({', '.join(f'${first + i}' for i in range(len(cols)))})")


def _timeline_rows(case_id: UUID, at: datetime, event_id: UUID | None, entries: Sequence[tuple[str, dict[str, Any]]],
                   first: int) -> tuple[str, list[Any]]:
    """The ``VALUES`` list of `entries` (kind, detail) for `case_id`'s timeline, its parameters numbered from
    `first`, and their values: one row per entry, in order (their `id`s are drawn in that order)."""
    rows, args = [], []
    for kind, detail in entries:
        n = first + len(args)
        rows.append(f"(${n}, ${n + 1}, ${n + 2}, ${n + 3}, ${n + 4}, ${n + 5}, ${n + 6})")
        args += [case_id, at, kind, event_id, detail, detail.get("actor"), detail.get("role")]
    return ", ".join(rows), args


def _facts(r: asyncpg.Record, *, reserved: int | None) -> ThreadingFacts:
    hinted_case, answered_case = r["hinted_case"], r["answered_case"]
    return ThreadingFacts(
        held_by=r["held_by"],
        hinted=CaseRef(hinted_case, r["hinted_reporter"]) if hinted_case is not None else None,
        replied_ours=r["replied_ours"], replied_theirs=r["replied_theirs"],
        answered_by=CaseRef(answered_case, r["answered_reporter"]) if answered_case is not None else None,
        withdrawn_first=bool(r["withdrawn_first"]),
        reserved_number=reserved,
    )


def _open_case(reporter: tuple[str, str, dict[str, Any], datetime], case_row: dict[str, Any],
               message_row: dict[str, Any], at: datetime, event_id: UUID | None,
               entries: Sequence[tuple[str, dict[str, Any]]]) -> list[Any]:
    """[statement, *arguments] of `CaseRepository.open_case`; the text depends only on the rows' columns and
    the number of entries."""
    if not entries:
        raise ValueError("a case opens with at least one timeline entry")
    args: list[Any] = list(reporter)
    case_sql = _insert("cases", case_row, first=len(args) + 1)
    args += case_row.values()
    message_sql = _insert("messages", message_row, first=len(args) + 1)
    args += message_row.values()
    values, timeline_args = _timeline_rows(case_row["case_id"], at, event_id, entries, first=len(args) + 1)
    return [f"WITH reporter AS ({_UPSERT_REPORTER}), opened AS ({case_sql}), message AS ({message_sql}) "
            f"INSERT INTO timeline ({_TIMELINE_COLUMNS}) VALUES {values}", *args, *timeline_args]


def _change_case(case_id: UUID, fields: dict[str, Any], at: datetime, event_id: UUID | None,
                 entries: Sequence[tuple[str, dict[str, Any]]], clock: dict[str, Any] | None) -> list[Any]:
    """[statement, *arguments] of `CaseRepository.change_case`; the text depends only on the columns set,
    the number of entries and whether a clock is saved."""
    if not fields or not entries:
        raise ValueError("a change sets at least one column and writes at least one timeline entry")
    sets = ", ".join(f"{c} = ${i + 2}" for i, c in enumerate(fields))
    args: list[Any] = [case_id, *fields.values()]
    saved = ""
    if clock is not None:
        if clock["case_id"] != case_id:
            raise ValueError(f"the clock of case {clock['case_id']} saved with a change of case {case_id}")
        saved = f", clock AS ({save_clock_sql(first=len(args) + 1)})"
        args += clock_values(clock, at)
    values, timeline_args = _timeline_rows(case_id, at, event_id, entries, first=len(args) + 1)
    return [f"WITH changed AS (UPDATE cases SET {sets} WHERE case_id = $1){saved} "
            f"INSERT INTO timeline ({_TIMELINE_COLUMNS}) VALUES {values}", *args, *timeline_args]


class CaseRepository(ClockQueries, RetentionQueries):
    """Cases, their messages, reporters, timeline and our outbound message ids, on `conn` (the connection of
    the unit of work's open transaction, its `search_path` on the case schema; nothing here commits).

    Column names in the `dict`s passed in are the tables' own and are written into the SQL text as they
    are: they are trusted because they come from `domain.records` and the handlers, never from a request
    or an event. Values always travel as bind parameters. Times are aware datetimes (`timestamptz`, UTC);
    ids are `UUID`s; `jsonb` columns take and give `dict`s (the pool's JSON codec). Any method may raise
    `asyncpg.PostgresError` (e.g. `ConnectionDoesNotExistError` on a lost connection; the subclasses a
    constraint raises are named per method); the transaction is then aborted and the unit of work rolls
    back.
    """

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn
        self.locked_clocks = {}

    async def threading_facts(self, channel: str, channel_message_id: str, *, hinted: str | None,
                              reply_ids: list[str], reserve_number: bool = False) -> ThreadingFacts:
        """What the threading rule needs of one intake message (see `ThreadingFacts`), in one round trip.

        `channel`/`channel_message_id` are its intake key, `hinted` the canonical case number it quotes
        (`rules.find_case_number`; None: none), `reply_ids` the channel ids it says it answers
        (In-Reply-To/References, a transcript's call id; may be empty). Each fact is looked up on its own:
        `held_by` by the intake key; `hinted` by `service_request_id` with that case's reporter;
        `replied_ours` in `outbound_messages` by `provider_message_id` in `reply_ids`; `replied_theirs` in
        `messages` by `channel_message_id` in `reply_ids` on any channel; `answered_by` the earliest
        received message whose `in_reply_to` holds `channel_message_id`, with its case's reporter;
        `withdrawn_first` a withdrawal of the intake key not applied yet (`withdrawals`). When
        several rows match `replied_ours` or `replied_theirs` one of them is taken, in no set order.
        Precedence between the facts is the domain's (`threading.is_repeat`, `threading.thread_into`).

        With `reserve_number`, when none of the look-ups finds a case (the message opens one) the same
        statement takes the next `case_number_seq` number (`reserved_number`; `next_case_number` is then not
        needed): opening a case costs one round trip less. A number taken for an event rolled back later is
        a gap, as with `next_case_number`.
        """
        r = await self.conn.fetchrow(_THREADING_FACTS_RESERVING if reserve_number else _THREADING_FACTS,
                                     channel, channel_message_id, hinted, reply_ids)
        return _facts(r, reserved=r["reserved_number"] if reserve_number else None)

    async def upsert_reporter(self, contact_key: str, channel: str, pii: dict[str, Any], now: datetime) -> None:
        """Remember a reporter by `contact_key`: a new one is stored with `channel` and `pii` (a JSON object
        of personal data) and `first_seen` = `last_seen` = `now` (aware UTC); one seen again gets
        `last_seen` = `now` and the non-null keys of `pii` merged over what was held (its first channel and
        `first_seen` stay)."""
        await self.conn.execute(_UPSERT_REPORTER, contact_key, channel, pii, now)

    async def next_case_number(self) -> int:
        """The next number of `case_number_seq` (a positive `int`, shared by every year). Not rolled back
        with the transaction: a rollback leaves a gap, which is fine for case numbers."""
        return int(await self.conn.fetchval("SELECT nextval('case_number_seq')"))

    async def insert_case(self, row: dict[str, Any]) -> None:
        """Insert one `cases` row: `row` maps column names (trusted, see the class: from
        `records.new_case_row`, never from input) to values; absent columns take their defaults.

        Raises `asyncpg.UniqueViolationError` when the `case_id` or `service_request_id` exists,
        `asyncpg.ForeignKeyViolationError` when `contact_key` is not a stored reporter (call
        `upsert_reporter` first), `asyncpg.NotNullViolationError` for a missing required column,
        `asyncpg.CheckViolationError` for a status other than ``open``/``closed``,
        `asyncpg.UndefinedColumnError` for a key that is no column.
        """
        await self.conn.execute(_insert("cases", row), *row.values())

    async def insert_message(self, row: dict[str, Any]) -> None:
        """Insert one `messages` row: `row` maps column names (trusted, see the class: from
        `records.message_row`, never from input) to values; `in_reply_to` is a `list[str]`.

        Raises `asyncpg.UniqueViolationError` when the `message_id` or the (`channel`,
        `channel_message_id`) pair is already held, `asyncpg.ForeignKeyViolationError` for an unknown
        `case_id`, `asyncpg.UndefinedColumnError` for a key that is no column.
        """
        await self.conn.execute(_insert("messages", row), *row.values())

    async def open_case(self, reporter: tuple[str, str, dict[str, Any], datetime], case_row: dict[str, Any],
                        message_row: dict[str, Any], *, at: datetime, event_id: UUID | None,
                        entries: Sequence[tuple[str, dict[str, Any]]]) -> None:
        """Open a case in one statement (one round trip instead of one per row): remember its reporter
        (`reporter` = (contact_key, channel, pii, now), as `upsert_reporter`), insert its `cases` row
        (`case_row`, as `insert_case`) and its first `messages` row (`message_row`, as `insert_message`), and
        append `entries` ((kind, detail) pairs, at least one, in order) to its timeline at `at` (aware UTC)
        for `event_id`, as `add_timeline` does one by one.

        The foreign keys between the rows are checked at the end of the statement, so the reporter and the
        case written by it satisfy them. Raises what `insert_case` and `insert_message` raise (e.g.
        `asyncpg.UniqueViolationError` for a case or message already held); nothing of it is then written.
        """
        await self.conn.execute(*_open_case(reporter, case_row, message_row, at, event_id, entries))

    async def open_cases(self, openings: Sequence[tuple[tuple[str, str, dict[str, Any], datetime], dict[str, Any],
                                                        dict[str, Any], datetime, UUID | None,
                                                        Sequence[tuple[str, dict[str, Any]]]]]) -> None:
        """`open_case` for each of `openings` ((reporter, case_row, message_row, at, event_id, entries), in order),
        pipelined: asyncpg's `executemany` sends the executions of one statement text together and waits
        once, so a run of openings of the same shape (the same columns and number of entries: a burst of new
        reports) costs one round trip, not one each. They run one after another in the caller's transaction,
        in the order given (a reporter seen twice is merged as twice `upsert_reporter`). Raises what
        `open_case` raises for the first one refused; the caller's transaction is then aborted (roll it back:
        which openings were written before it is not said)."""
        run_sql: str | None = None
        run: list[list[Any]] = []
        for reporter, case_row, message_row, at, event_id, entries in openings:
            sql, *args = _open_case(reporter, case_row, message_row, at, event_id, entries)
            if sql != run_sql and run:
                await self.conn.executemany(run_sql, run)
                run = []
            run_sql = sql
            run.append(args)
        if run:
            await self.conn.executemany(run_sql, run)

    async def threading_facts_many(self, keys: Sequence[tuple[str, str, str | None, list[str]]]) -> list[ThreadingFacts]:
        """`threading_facts` of each of `keys` ((channel, channel_message_id, hinted, reply_ids)), in order,
        pipelined in one round trip (asyncpg's `fetchmany`): each is looked up in the store as it is now, so
        a message of the same batch written after this call is not among the facts. Reserves no number."""
        if not keys:
            return []
        rows = await self.conn.fetchmany(_THREADING_FACTS, [list(k) for k in keys])
        assert len(rows) == len(keys), "each look-up yields one row"
        return [_facts(r, reserved=None) for r in rows]

    async def next_case_numbers(self, n: int) -> list[int]:
        """The next `n` numbers of `case_number_seq`, ascending, in one round trip (see `next_case_number`:
        numbers given out are never taken back)."""
        rows = await self.conn.fetch("SELECT nextval('case_number_seq') AS n FROM generate_series(1, $1::int)", n)
        return sorted(int(r["n"]) for r in rows)

    async def change_case(self, case_id: UUID, fields: dict[str, Any], *, at: datetime, event_id: UUID | None,
                          entries: Sequence[tuple[str, dict[str, Any]]], clock: dict[str, Any] | None = None
                          ) -> None:
        """`update_case(case_id, fields)`, `add_timeline` of each of `entries` ((kind, detail) pairs, at least
        one, in order) at `at` for `event_id` and, with `clock` (a clock row of this case, as
        `save_sla_clock` takes it), `save_sla_clock(clock, at)`, in one statement (one round trip). Raises
        what those raise; nothing of it is then written."""
        statement = _change_case(case_id, fields, at, event_id, entries, clock)
        if clock is not None:
            self.locked_clocks.pop(case_id, None)
        await self.conn.execute(*statement)

    async def change_cases(self, changes: Sequence[tuple[UUID, dict[str, Any], datetime, UUID | None,
                                                         Sequence[tuple[str, dict[str, Any]]],
                                                         dict[str, Any] | None]]) -> None:
        """`change_case` of each of `changes` ((case_id, fields, at, event_id, entries, clock)), pipelined: the
        changes of one statement text (the same columns, entry count and clock or not) go in one asyncpg
        `executemany` (one round trip), each shape in the order of its first change. Meant for changes of
        distinct cases (the order between two cases' changes is not kept; their timeline ids are drawn in
        the order written). Raises what `change_case` raises for the first one refused; the caller's
        transaction is then aborted (roll it back: which changes were written before it is not said)."""
        shapes: dict[str, list[list[Any]]] = {}
        for case_id, fields, at, event_id, entries, clock in changes:
            sql, *args = _change_case(case_id, fields, at, event_id, entries, clock)
            if clock is not None:
                self.locked_clocks.pop(case_id, None)
            shapes.setdefault(sql, []).append(args)
        for sql, runs in shapes.items():
            await self.conn.executemany(sql, runs)

    async def message_by_key(self, channel: str, channel_message_id: str) -> dict[str, Any] | None:
        """The message held under that intake key (`message_id`, `case_id`, `description`, `media_url` a
        `list[str]`), or None when no such message is on a case."""
        row = await self.conn.fetchrow(
            "SELECT message_id, case_id, description, media_url FROM messages "
            "WHERE channel = $1 AND channel_message_id = $2", channel, channel_message_id)
        return dict(row) if row else None

    async def record_withdrawal(self, row: dict[str, Any]) -> bool:
        """Keep a resident's withdrawal of a message (`withdrawals` columns → values: `channel`,
        `channel_message_id`, `contact_key`, `withdrawn_at`, `event_id`), not applied yet. Returns False,
        changing nothing, when that message's withdrawal is already kept (a replay)."""
        status = await self.conn.execute(
            _insert("withdrawals", row) + " ON CONFLICT (channel, channel_message_id) DO NOTHING", *row.values())
        return bool(status.endswith(" 1"))

    async def apply_withdrawal(self, channel: str, channel_message_id: str, case_id: UUID, at: datetime) -> None:
        """Record that the withdrawal of that message was applied to `case_id` at `at` (aware UTC). Raises
        `asyncpg.ForeignKeyViolationError` for an unknown case."""
        await self.conn.execute(
            "UPDATE withdrawals SET case_id = $3, applied_at = $4 WHERE channel = $1 AND channel_message_id = $2",
            channel, channel_message_id, case_id, at)

    async def add_timeline(self, case_id: UUID, at: datetime, kind: str, event_id: UUID | None,
                           detail: dict[str, Any]) -> None:
        """Append a timeline entry to the case: `at` (aware UTC), `kind` (e.g. ``opened``, ``routed``,
        ``notification_sent``, ``internal_note``), `event_id` the consumed event that caused it (None for a
        staff action) and `detail` a JSON object; its `actor` and `role` (a staff action's, see
        `domain.staff.audit`) are also written to the columns of those names, for filtering. The table and
        column names are fixed here, never from input. Entries read back in the order they were appended
        (`CaseReads.timeline`). Raises `asyncpg.ForeignKeyViolationError` for an unknown `case_id`."""
        await self.conn.execute(
            f"INSERT INTO timeline ({_TIMELINE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            case_id, at, kind, event_id, detail, detail.get("actor"), detail.get("role"),
        )

    async def get_case(self, case_id: UUID, *, for_update: bool = False) -> dict[str, Any] | None:
        """The case as a `dict` keyed by `CASE_COLUMNS` (`media_url` a `list[str]`, `routing` a `dict` or
        None, times aware UTC), or None when there is no such case; with `for_update` the row stays locked
        until the transaction ends."""
        row = await self.conn.fetchrow(
            f"SELECT {CASE_COLUMNS} FROM cases WHERE case_id = $1{' FOR UPDATE' if for_update else ''}", case_id
        )
        return dict(row) if row else None

    async def case_with_clock(self, case_id: UUID) -> dict[str, Any] | None:
        """`get_case(case_id, for_update=True)` and the case's SLA clock read in the same statement, both rows
        locked until the transaction ends, the case row first and then its clock, the order of every other
        writer (one round trip instead of two when a handler then moves the clock): the clock (None: the
        case has none) is kept for the next `sla_clock(case_id, for_update=True)` of this repository
        (`ClockQueries.locked_clocks`). None when there is no such case (no clock is then kept)."""
        row = await self.conn.fetchrow(_CASE_THEN_CLOCK.format(where="case_id = $1", order=""), case_id)
        if row is None:
            return None
        case = dict(row)
        clock = case.pop("sla_clock")
        self.locked_clocks[case_id] = (
            {c: clock[c] for c in (*CLOCK_COLUMNS_LIST, "next_fire_at")} if clock is not None else None)
        return case

    async def cases_with_clocks(self, case_ids: Sequence[UUID]) -> dict[UUID, dict[str, Any]]:
        """`case_with_clock` of each of `case_ids` in one statement: the cases found (as `get_case` gives
        them) by case id, each locked with its SLA clock until the transaction ends: the cases in ascending
        case id order (one order for every batch, so two batches never wait on each other in a cycle), then
        the clocks, never a clock before its case (see `case_with_clock`); each clock is kept for the next
        `sla_clock(case_id, for_update=True)`. A case id not held is not in the result."""
        rows = await self.conn.fetch(
            _CASE_THEN_CLOCK.format(where="case_id = ANY($1::uuid[])", order=" ORDER BY case_id"), list(case_ids))
        found: dict[UUID, dict[str, Any]] = {}
        for row in rows:
            case = dict(row)
            clock = case.pop("sla_clock")
            self.locked_clocks[case["case_id"]] = (
                {c: clock[c] for c in (*CLOCK_COLUMNS_LIST, "next_fire_at")} if clock is not None else None)
            found[case["case_id"]] = case
        return found

    async def case_by_number(self, service_request_id: str, *, for_update: bool = False) -> dict[str, Any] | None:
        """The case whose `service_request_id` is this (matched exactly), as `get_case` gives it, or None;
        with `for_update` the row stays locked until the transaction ends."""
        row = await self.conn.fetchrow(
            f"SELECT {CASE_COLUMNS} FROM cases WHERE service_request_id = $1{' FOR UPDATE' if for_update else ''}",
            service_request_id)
        return dict(row) if row else None

    async def update_case(self, case_id: UUID, fields: dict[str, Any]) -> None:
        """Set `fields` (column name → value; at least one) on the case. The column names are trusted (see
        the class: from `domain.records` and the handlers, never from input); values are bound. An unknown
        `case_id` changes nothing and raises nothing.

        Raises `asyncpg.UndefinedColumnError` for a key that is no column,
        `asyncpg.CheckViolationError` for a status other than ``open``/``closed``,
        `asyncpg.ForeignKeyViolationError` for a `merged_into` that is no case, and
        `asyncpg.PostgresSyntaxError` for an empty `fields`.
        """
        cols = list(fields)
        sets = ", ".join(f"{c} = ${i + 2}" for i, c in enumerate(cols))
        await self.conn.execute(f"UPDATE cases SET {sets} WHERE case_id = $1", case_id, *fields.values())

    async def case_state(self, case_id: UUID) -> CaseState | None:
        """What a merge decision needs of a case (`CaseState`), the row locked (`FOR UPDATE`) until the
        transaction ends; None when there is no such case."""
        row = await self.conn.fetchrow(
            "SELECT case_id, status, merged_into, opened_at FROM cases WHERE case_id = $1 FOR UPDATE", case_id
        )
        return CaseState(**dict(row)) if row else None

    async def lock_cases(self, case_ids: list[UUID]) -> None:
        """Lock the cases' rows (`FOR UPDATE`, until the transaction ends) one by one in the order given;
        ids with no case are skipped. Callers pass a sorted list so that two transactions locking the same
        cases cannot deadlock."""
        for case_id in case_ids:
            await self.case_state(case_id)

    async def merge_chain(self, case_id: UUID, limit: int = MERGE_CHAIN_LIMIT) -> list[CaseState]:
        """`case_id` followed by the cases it was merged into (`merged_into`, one hop at a time), each
        row locked until the transaction ends; at most `limit` states (a longer chain is cut there), and
        it stops at a `merged_into` that names no case. Empty when `case_id` does not exist."""
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
        """Remember that our message `provider_message_id` (e.g. a Message-ID or an SMS provider's id)
        belongs to the case, so a reply naming it threads there. Recording an id again changes nothing (the
        first case stays). Raises `asyncpg.ForeignKeyViolationError` for an unknown `case_id`."""
        await self.conn.execute(
            "INSERT INTO outbound_messages (provider_message_id, case_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            provider_message_id, case_id,
        )

    async def has_timeline_entry(self, case_id: UUID, kind: str, key: str, value: str) -> bool:
        """Whether the case's timeline holds an entry of `kind` whose `detail[key]` is `value` (a staff
        update's or reply's id: a form sent twice is written once)."""
        return bool(await self.conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM timeline WHERE case_id = $1 AND kind = $2 AND detail->>$3 = $4)",
            case_id, kind, key, value))

    async def reporters_of(self, case_id: UUID, limit: int = MERGE_CHAIN_LIMIT) -> list[str]:
        """The contact keys of the case's reporters: its own reporter first, then those of the cases merged
        into it (and into those, up to `limit` levels), each once, in merge order. Empty for an unknown
        case."""
        rows = await self.conn.fetch(
            "WITH RECURSIVE tree(case_id, contact_key, depth, opened_at) AS ("
            " SELECT case_id, contact_key, 0, opened_at FROM cases WHERE case_id = $1"
            " UNION ALL SELECT c.case_id, c.contact_key, t.depth + 1, c.opened_at FROM cases c"
            " JOIN tree t ON c.merged_into = t.case_id WHERE t.depth < $2)"
            " SELECT contact_key FROM tree ORDER BY depth, opened_at", case_id, limit)
        return list(dict.fromkeys(r["contact_key"] for r in rows))

    async def insert_suggestion(self, row: dict[str, Any]) -> bool:
        """Store a duplicate suggestion (`merge_suggestions` columns → values, from the handler: `id`,
        `case_id`, `duplicate_of`, `score`, `evidence` a `dict`, `event_id`, `created_at`), pending.
        Returns False, changing nothing, when its `event_id` is already stored. Raises
        `asyncpg.ForeignKeyViolationError` when either case is unknown."""
        status = await self.conn.execute(
            _insert("merge_suggestions", row) + " ON CONFLICT (event_id) DO NOTHING", *row.values())
        return bool(status.endswith(" 1"))

    async def pending_suggestion(self, case_id: UUID, duplicate_of: UUID) -> UUID | None:
        """The id of a pending suggestion that `case_id` duplicates `duplicate_of`, or None."""
        return await self.conn.fetchval(  # type: ignore[no-any-return]
            "SELECT id FROM merge_suggestions WHERE case_id = $1 AND duplicate_of = $2 AND status = 'pending' "
            "LIMIT 1", case_id, duplicate_of)

    async def get_suggestion(self, suggestion_id: UUID) -> dict[str, Any] | None:
        """The suggestion (every `merge_suggestions` column) locked until the transaction ends, or None."""
        row = await self.conn.fetchrow("SELECT * FROM merge_suggestions WHERE id = $1 FOR UPDATE", suggestion_id)
        return dict(row) if row else None

    async def decide_suggestion(self, suggestion_id: UUID, *, status: str, decided_by: str, decided_at: datetime,
                                reason: str | None) -> None:
        """Record the staff decision on a suggestion: `status` ``accepted`` or ``rejected`` (anything else
        raises `asyncpg.CheckViolationError`), who (`decided_by`, a token subject), when (aware UTC), why."""
        await self.conn.execute(
            "UPDATE merge_suggestions SET status = $2, decided_by = $3, decided_at = $4, reason = $5 WHERE id = $1",
            suggestion_id, status, decided_by, decided_at, reason)

    async def add_follower(self, row: dict[str, Any]) -> bool:
        """Keep a follower of a case (`followers` columns → values, from `records.follower_row`: `case_id`,
        `contact_key`, `notify_channel` ``email``/``sms``, `language`, `followed_at`, `event_id`). Returns
        False, changing nothing, when that contact key already follows that case. Raises
        `asyncpg.ForeignKeyViolationError` for an unknown case or a contact key that is no stored reporter
        (call `upsert_reporter` first), `asyncpg.CheckViolationError` for another channel."""
        status = await self.conn.execute(
            _insert("followers", row) + " ON CONFLICT (case_id, contact_key) DO NOTHING", *row.values())
        return bool(status.endswith(" 1"))

    async def followers_of(self, case_id: UUID) -> list[str]:
        """The contact keys following the case, in the order they followed."""
        rows = await self.conn.fetch(
            "SELECT contact_key FROM followers WHERE case_id = $1 ORDER BY followed_at, contact_key", case_id)
        return [r["contact_key"] for r in rows]

    async def survey_answer_outcome(self, channel_message_id: str) -> str | None:
        """What became of the survey answer of that token id (its ``jti``): ``accepted``, ``refused``, or
        None when none was recorded."""
        return await self.conn.fetchval(  # type: ignore[no-any-return]
            "SELECT outcome FROM survey_answers WHERE channel_message_id = $1", channel_message_id)

    async def insert_survey_answer(self, row: dict[str, Any]) -> bool:
        """Keep a survey answer (`survey_answers` columns → values, from `records.survey_row`). Returns False,
        changing nothing, when an answer with that `channel_message_id` is already kept. Raises
        `asyncpg.ForeignKeyViolationError` for an unknown case, `asyncpg.CheckViolationError` for a rating
        outside 1–5 or another outcome."""
        status = await self.conn.execute(
            _insert("survey_answers", row) + " ON CONFLICT (channel_message_id) DO NOTHING", *row.values())
        return bool(status.endswith(" 1"))

    async def record_forwarded(self, row: dict[str, Any]) -> None:
        """Keep a case forwarded to an endpoint (`external_requests` columns → values, from
        `domain.forwarding.forwarded_row`: `case_id`, `endpoint`, `external_service_request_id` or None,
        `token` or None, `external_service_code`, `forwarded_at` aware UTC). One row per (case, endpoint):
        again, a value given replaces the one held, a None keeps it (the id once a token resolved), and the
        first `forwarded_at` stays. Raises `asyncpg.ForeignKeyViolationError` for an unknown case."""
        await self.conn.execute(
            _insert("external_requests", row) + " ON CONFLICT (case_id, endpoint) DO UPDATE SET "
            "external_service_request_id = COALESCE(EXCLUDED.external_service_request_id, "
            "external_requests.external_service_request_id), "
            "token = COALESCE(EXCLUDED.token, external_requests.token), "
            "external_service_code = COALESCE(EXCLUDED.external_service_code, "
            "external_requests.external_service_code), "
            "forwarded_at = COALESCE(external_requests.forwarded_at, EXCLUDED.forwarded_at)", *row.values())

    async def record_reported_status(self, case_id: UUID, endpoint: str, *, external_service_request_id: str,
                                     status: str, agency_responsible: str | None, updated_datetime: datetime | None,
                                     reported_at: datetime) -> None:
        """Keep the last status the endpoint reported for the case (`status` ``open``/``closed``, its
        agency, its `updated_datetime` and when we read it, aware UTC) on the (case, endpoint) row, made
        with the endpoint's id when none is held yet (a report before its `forwarding.case_forwarded`).
        Raises `asyncpg.ForeignKeyViolationError` for an unknown case, `asyncpg.CheckViolationError` for
        another status."""
        await self.conn.execute(
            "INSERT INTO external_requests (case_id, endpoint, external_service_request_id, last_status, "
            "last_agency_responsible, last_updated_datetime, last_reported_at) VALUES ($1, $2, $3, $4, $5, $6, $7) "
            "ON CONFLICT (case_id, endpoint) DO UPDATE SET "
            "external_service_request_id = COALESCE(external_requests.external_service_request_id, "
            "EXCLUDED.external_service_request_id), last_status = EXCLUDED.last_status, "
            "last_agency_responsible = EXCLUDED.last_agency_responsible, "
            "last_updated_datetime = EXCLUDED.last_updated_datetime, last_reported_at = EXCLUDED.last_reported_at",
            case_id, endpoint, external_service_request_id, status, agency_responsible, updated_datetime, reported_at)
