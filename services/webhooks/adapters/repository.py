"""SQL access to the `webhooks` schema (subscriptions, case facts, messages, the delivery log), on the
connection of the caller's transaction. Times are aware UTC. Every method raises `asyncpg.PostgresError`
when its statement fails (the unit of work then rolls back)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from services.webhooks.domain import CaseFacts
from services.webhooks.domain.records import Claimed, LoggedAttempt, NewMessage, Subscription

_SUBSCRIPTION = ("id, url, event_types, service_codes, departments, personal_data, description, status, secret, "
                 "previous_secret, previous_secret_until, consecutive_failures, last_error, last_attempt_at, "
                 "last_success_at, paused_at, created_at, updated_at")
CHANGEABLE = frozenset({"url", "event_types", "service_codes", "departments", "personal_data", "description"})
"""The columns `update_subscription` may set (the contract's PATCH fields)."""


def _subscription(row: asyncpg.Record) -> Subscription:
    values = dict(row)
    for name in ("event_types", "service_codes", "departments"):
        values[name] = list(values[name])
    return Subscription(**values)


class WebhooksRepository:
    """The service's tables on `conn` (in the caller's transaction)."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    # --- the case facts and the messages an event makes -------------------------------------------------

    async def case_facts(self, case_id: UUID) -> CaseFacts:
        """What is known of the case (locked until the transaction ends); empty facts for a case never seen."""
        row = await self.conn.fetchrow("SELECT service_code, department FROM cases WHERE case_id = $1 FOR UPDATE",
                                       case_id)
        return CaseFacts(row["service_code"], row["department"]) if row else CaseFacts()

    async def save_case_facts(self, case_id: UUID, facts: CaseFacts, now: datetime) -> None:
        """Keep the case's facts (insert or replace)."""
        await self.conn.execute(
            "INSERT INTO cases (case_id, service_code, department, updated_at) VALUES ($1, $2, $3, $4) "
            "ON CONFLICT (case_id) DO UPDATE SET service_code = EXCLUDED.service_code, "
            "department = EXCLUDED.department, updated_at = EXCLUDED.updated_at",
            case_id, facts.service_code, facts.department, now)

    async def live_subscriptions(self) -> list[Subscription]:
        """Every subscription that is not disabled (active or paused), oldest first."""
        rows = await self.conn.fetch(f"SELECT {_SUBSCRIPTION} FROM subscriptions WHERE status <> 'disabled' "
                                     "ORDER BY created_at, id")
        return [_subscription(r) for r in rows]

    async def add_messages(self, messages: Iterable[NewMessage], now: datetime) -> int:
        """Queue `messages` (due at `now`) in one statement, in the order given (their ids follow it); a
        message already made for its (event, subscription) is not made again. Returns how many were made."""
        rows = list(messages)
        if not rows:
            return 0
        # One round trip per event, not one per subscription: the consumer's transaction holds the case lock.
        return await self.conn.fetchval(
            "WITH made AS (INSERT INTO messages (subscription_id, event_id, event_type, case_id, occurred_at, "
            "webhook_id, body, personal_data, next_attempt_at, created_at) "
            "SELECT s, e, t, c, o, w, b, p, $9, $9 FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::uuid[], "
            "$5::timestamptz[], $6::text[], $7::jsonb[], $8::boolean[]) WITH ORDINALITY AS u(s, e, t, c, o, w, b, p, n) "
            "ORDER BY n ON CONFLICT (event_id, subscription_id) DO NOTHING RETURNING 1) SELECT count(*) FROM made",
            [m.subscription_id for m in rows], [m.event_id for m in rows], [m.event_type for m in rows],
            [m.case_id for m in rows], [m.occurred_at for m in rows], [m.webhook_id for m in rows],
            [m.body for m in rows], [m.personal_data for m in rows], now)

    async def personal_messages(self, case_id: UUID) -> list[tuple[int, dict[str, Any]]]:
        """(message id, body) of the case's messages that keep personal data."""
        rows = await self.conn.fetch("SELECT id, body FROM messages WHERE case_id = $1 AND personal_data ORDER BY id",
                                     case_id)
        return [(r["id"], r["body"]) for r in rows]

    async def subscription_personal_messages(self, sub_id: UUID) -> list[tuple[int, dict[str, Any]]]:
        """(message id, body) of the subscription's messages that keep personal data."""
        rows = await self.conn.fetch(
            "SELECT id, body FROM messages WHERE subscription_id = $1 AND personal_data ORDER BY id", sub_id)
        return [(r["id"], r["body"]) for r in rows]

    async def replace_body(self, message_id: int, body: Mapping[str, Any]) -> None:
        """Replace a message's body by one without personal data."""
        await self.conn.execute("UPDATE messages SET body = $2, personal_data = false WHERE id = $1",
                                message_id, dict(body))

    # --- subscriptions (the admin API) --------------------------------------------------------------------

    async def add_subscription(self, sub: Subscription) -> None:
        """Keep a new subscription."""
        await self.conn.execute(
            f"INSERT INTO subscriptions ({_SUBSCRIPTION}) VALUES "
            "($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)",
            sub.id, sub.url, sub.event_types, sub.service_codes, sub.departments, sub.personal_data,
            sub.description, sub.status, sub.secret, sub.previous_secret, sub.previous_secret_until,
            sub.consecutive_failures, sub.last_error, sub.last_attempt_at, sub.last_success_at, sub.paused_at,
            sub.created_at, sub.updated_at)

    async def subscription(self, sub_id: UUID, *, for_update: bool = False) -> Subscription | None:
        """One subscription (locked until the transaction ends with `for_update`), or None."""
        lock = " FOR UPDATE" if for_update else ""
        row = await self.conn.fetchrow(f"SELECT {_SUBSCRIPTION} FROM subscriptions WHERE id = $1{lock}", sub_id)
        return _subscription(row) if row else None

    async def subscriptions(self) -> list[Subscription]:
        """Every subscription, disabled ones included, oldest first."""
        rows = await self.conn.fetch(f"SELECT {_SUBSCRIPTION} FROM subscriptions ORDER BY created_at, id")
        return [_subscription(r) for r in rows]

    async def update_subscription(self, sub_id: UUID, changes: Mapping[str, Any], now: datetime) -> None:
        """Set the `changes` (column → value, columns of `CHANGEABLE` only: raises `ValueError` otherwise)."""
        unknown = set(changes) - CHANGEABLE
        if unknown:
            raise ValueError(f"not changeable: {sorted(unknown)}")
        names = sorted(changes)
        sets = ", ".join(f"{name} = ${i}" for i, name in enumerate(names, start=3))
        await self.conn.execute(f"UPDATE subscriptions SET updated_at = $2{', ' if sets else ''}{sets} WHERE id = $1",
                                sub_id, now, *(changes[n] for n in names))

    async def disable(self, sub_id: UUID, now: datetime) -> None:
        """Disable a subscription: kept with its log, nothing more is made or sent for it."""
        await self.conn.execute("UPDATE subscriptions SET status = 'disabled', updated_at = $2 WHERE id = $1",
                                sub_id, now)

    async def rotate_secret(self, sub_id: UUID, secret: str, previous: str, previous_until: datetime,
                            now: datetime) -> None:
        """Sign with `secret` from now on, and with `previous` beside it until `previous_until`."""
        await self.conn.execute(
            "UPDATE subscriptions SET secret = $2, previous_secret = $3, previous_secret_until = $4, updated_at = $5 "
            "WHERE id = $1", sub_id, secret, previous, previous_until, now)

    async def resume(self, sub_id: UUID, now: datetime) -> int:
        """Make a paused subscription active with no failure counted, its waiting messages due at `now` with
        their backoff reset; returns how many messages wait."""
        await self.conn.execute(
            "UPDATE subscriptions SET status = 'active', consecutive_failures = 0, paused_at = NULL, updated_at = $2 "
            "WHERE id = $1 AND status = 'paused'", sub_id, now)
        return await self.conn.fetchval(
            "WITH due AS (UPDATE messages SET next_attempt_at = $2, failures = 0 "
            "WHERE subscription_id = $1 AND status = 'waiting' RETURNING 1) SELECT count(*) FROM due", sub_id, now)

    async def redeliver(self, sub_id: UUID, since: datetime, until: datetime, now: datetime) -> int:
        """Make every message of the subscription whose event occurred in [`since`, `until`) wait again, due
        at `now` (same webhook-id, sent again in message order); returns how many."""
        return await self.conn.fetchval(
            "WITH again AS (UPDATE messages SET status = 'waiting', next_attempt_at = $4, failures = 0, "
            "delivered_at = NULL WHERE subscription_id = $1 AND occurred_at >= $2 AND occurred_at < $3 RETURNING 1) "
            "SELECT count(*) FROM again", sub_id, since, until, now)

    async def attempts_log(self, sub_id: UUID, *, outcome: str | None, limit: int) -> list[LoggedAttempt]:
        """The subscription's delivery log, newest first, at most `limit` rows (only `outcome` ones when given)."""
        rows = await self.conn.fetch(
            "SELECT a.id, a.message_id, m.webhook_id, m.event_type, m.event_id, m.case_id, a.attempt, a.attempted_at, "
            "a.duration_ms, a.http_status, a.error, a.outcome, a.next_attempt_at "
            "FROM attempts a JOIN messages m ON m.id = a.message_id "
            "WHERE a.subscription_id = $1 AND ($2::text IS NULL OR a.outcome = $2) ORDER BY a.id DESC LIMIT $3",
            sub_id, outcome, limit)
        return [LoggedAttempt(**dict(r)) for r in rows]

    # --- delivery ---------------------------------------------------------------------------------------

    async def lock_due_subscriptions(self, now: datetime, limit: int) -> list[UUID]:
        """Active subscriptions whose head message (their lowest waiting id) is due and not leased, locked
        until the transaction ends; those another process holds are skipped. At most `limit`."""
        rows = await self.conn.fetch(
            "SELECT s.id FROM subscriptions s WHERE s.status = 'active' AND ("
            "  SELECT m.next_attempt_at <= $1 AND (m.lease_until IS NULL OR m.lease_until < $1) FROM messages m "
            "  WHERE m.subscription_id = s.id AND m.status = 'waiting' ORDER BY m.id LIMIT 1) "
            "ORDER BY s.id LIMIT $2 FOR UPDATE OF s SKIP LOCKED", now, limit)
        return [r["id"] for r in rows]

    async def lease_heads(self, sub_ids: list[UUID], now: datetime, lease_until: datetime,
                          token: UUID) -> list[Claimed]:
        """Lease the head message of each subscription of `sub_ids` that is due at `now` until `lease_until`
        with `token`; returns them with what sending needs."""
        rows = await self.conn.fetch(
            "WITH heads AS (SELECT DISTINCT ON (subscription_id) id FROM messages "
            "  WHERE subscription_id = ANY($1::uuid[]) AND status = 'waiting' ORDER BY subscription_id, id) "
            "UPDATE messages m SET lease_token = $4, lease_until = $3 FROM heads h, subscriptions s "
            "WHERE m.id = h.id AND s.id = m.subscription_id AND m.next_attempt_at <= $2 "
            "  AND (m.lease_until IS NULL OR m.lease_until < $2) "
            "RETURNING m.id AS message_id, m.subscription_id, s.url, m.webhook_id, m.body, m.attempts, m.failures, "
            "  s.consecutive_failures, s.secret, s.previous_secret, s.previous_secret_until, m.lease_token",
            sub_ids, now, lease_until, token)
        return [Claimed(**dict(r)) for r in rows]

    async def finish_message(self, claimed: Claimed, *, delivered: bool, failures: int,
                             next_attempt_at: datetime | None, now: datetime) -> int | None:
        """Record an attempt's effect on its message, if the lease is still `claimed`'s: delivered, or due
        again at `next_attempt_at` with `failures`. Returns the attempt's number, or None when the lease was
        lost (another process took the message after it expired)."""
        return await self.conn.fetchval(
            "UPDATE messages SET attempts = attempts + 1, failures = $3, "
            "status = CASE WHEN $4 THEN 'delivered' ELSE status END, "
            "delivered_at = CASE WHEN $4 THEN $6 ELSE delivered_at END, "
            "next_attempt_at = COALESCE($5, next_attempt_at), lease_token = NULL, lease_until = NULL "
            "WHERE id = $1 AND lease_token = $2 RETURNING attempts",
            claimed.message_id, claimed.lease_token, failures, delivered, next_attempt_at, now)

    async def log_attempt(self, claimed: Claimed, *, attempt: int, at: datetime, duration_ms: int,
                          http_status: int | None, error: str | None, delivered: bool,
                          next_attempt_at: datetime | None) -> None:
        """Add one row to the delivery log."""
        await self.conn.execute(
            "INSERT INTO attempts (message_id, subscription_id, attempt, attempted_at, duration_ms, http_status, "
            "error, outcome, next_attempt_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            claimed.message_id, claimed.subscription_id, attempt, at, duration_ms, http_status, error,
            "delivered" if delivered else "failed", next_attempt_at)

    async def after_attempt(self, sub_id: UUID, *, delivered: bool, consecutive_failures: int, error: str | None,
                            pause: bool, now: datetime) -> None:
        """Record an attempt on its subscription: its failures in a row, last error and times; `pause`
        pauses an active one."""
        await self.conn.execute(
            "UPDATE subscriptions SET consecutive_failures = $2, last_attempt_at = $5, "
            "last_error = CASE WHEN $3 THEN last_error ELSE $4 END, "
            "last_success_at = CASE WHEN $3 THEN $5 ELSE last_success_at END, "
            "status = CASE WHEN $6 AND status = 'active' THEN 'paused' ELSE status END, "
            "paused_at = CASE WHEN $6 AND status = 'active' THEN $5 ELSE paused_at END WHERE id = $1",
            sub_id, consecutive_failures, delivered, error, now, pause)

    # --- figures and retention -----------------------------------------------------------------------------

    async def figures(self, now: datetime) -> tuple[int, int, float]:
        """(paused subscriptions, waiting messages of live subscriptions, age in seconds of the oldest of them)."""
        row = await self.conn.fetchrow(
            "SELECT (SELECT count(*) FROM subscriptions WHERE status = 'paused') AS paused, "
            "count(m.id) AS waiting, COALESCE(EXTRACT(EPOCH FROM ($1 - min(m.created_at))), 0) AS age "
            "FROM messages m JOIN subscriptions s ON s.id = m.subscription_id "
            "WHERE m.status = 'waiting' AND s.status <> 'disabled'", now)
        return int(row["paused"]), int(row["waiting"]), max(0.0, float(row["age"]))

    async def prune(self, before: datetime) -> tuple[int, int]:
        """Delete delivery-log rows older than `before` and delivered messages made before it (with their
        rows); returns (log rows, messages) deleted."""
        rows = await self.conn.fetchval(
            "WITH gone AS (DELETE FROM attempts WHERE attempted_at < $1 RETURNING 1) SELECT count(*) FROM gone",
            before)
        messages = await self.conn.fetchval(
            "WITH gone AS (DELETE FROM messages WHERE status = 'delivered' AND created_at < $1 RETURNING 1) "
            "SELECT count(*) FROM gone", before)
        return int(rows), int(messages)
