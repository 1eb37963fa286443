"""SQL access to the `router` schema's decision log, on the connection of the caller's transaction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from services.router.domain.replay import ReplayRow
from shared.events import RoutingFields


@dataclass(frozen=True)
class LoggedDecision:
    """A case's decision as logged: its category, when it was decided, the whole logged decision and the
    event that caused it (None in rows read without it)."""

    service_code: str
    decided_at: datetime
    decision: dict[str, Any]
    event_id: UUID | None = None


@dataclass(frozen=True)
class NewDecision:
    """A case's first decision to log (`RouterRepository.add_decisions`): as `add_decision`'s arguments."""

    case_id: UUID
    event_id: UUID
    decided_at: datetime
    fields: RoutingFields
    logged: dict[str, Any]


class RouterRepository:
    """The decision log (`decisions`, one row per case)."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def add_decision(self, case_id: UUID, event_id: UUID, decided_at: datetime, fields: RoutingFields,
                           logged: dict[str, Any]) -> bool:
        """Log the first decision of a case; False (and nothing written) when it already has one."""
        inserted = await self.conn.fetchval(
            "INSERT INTO decisions (case_id, event_id, decided_at, service_code, category_source, queue, district, "
            "rule_id, config_version, decision) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) "
            "ON CONFLICT (case_id) DO NOTHING RETURNING case_id",
            case_id, event_id, decided_at, fields.service_code, fields.category_source, fields.queue,
            fields.district, fields.rule_id, fields.config_version, logged,
        )
        return inserted is not None

    async def add_decisions(self, rows: Sequence[NewDecision]) -> set[UUID]:
        """Log the first decision of each case of `rows` in one statement; returns the case ids logged now (a
        case that already has a decision keeps it and is not among them). `rows` must not repeat a case."""
        if not rows:
            return set()
        inserted = await self.conn.fetch(
            "INSERT INTO decisions (case_id, event_id, decided_at, service_code, category_source, queue, district, "
            "rule_id, config_version, decision) SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::timestamptz[], "
            "$4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::jsonb[]) "
            "ON CONFLICT (case_id) DO NOTHING RETURNING case_id",
            [r.case_id for r in rows], [r.event_id for r in rows], [r.decided_at for r in rows],
            [r.fields.service_code for r in rows], [r.fields.category_source for r in rows],
            [r.fields.queue for r in rows], [r.fields.district for r in rows], [r.fields.rule_id for r in rows],
            [r.fields.config_version for r in rows], [r.logged for r in rows],
        )
        return {row["case_id"] for row in inserted}

    async def decision_for_update(self, case_id: UUID) -> LoggedDecision | None:
        """The case's logged decision, locked until the transaction ends; None when it has none."""
        row = await self.conn.fetchrow(
            "SELECT service_code, decided_at, decision, event_id FROM decisions WHERE case_id = $1 FOR UPDATE", case_id)
        return LoggedDecision(**dict(row)) if row else None

    async def replace_decision(self, case_id: UUID, event_id: UUID, decided_at: datetime, fields: RoutingFields,
                               logged: dict[str, Any]) -> None:
        """Overwrite the case's logged decision with a re-routing."""
        await self.conn.execute(
            "UPDATE decisions SET event_id = $2, decided_at = $3, service_code = $4, category_source = $5, "
            "queue = $6, district = $7, rule_id = $8, config_version = $9, decision = $10 WHERE case_id = $1",
            case_id, event_id, decided_at, fields.service_code, fields.category_source, fields.queue,
            fields.district, fields.rule_id, fields.config_version, logged,
        )


class RouterReads:
    """Reads of the decision log outside any event (the replay of a draft), on the service's pool or a
    connection of its own."""

    def __init__(self, db: asyncpg.Pool | asyncpg.Connection) -> None:
        self.db = db

    async def decisions_since(self, since: datetime, *, limit: int = 200_000) -> list[ReplayRow]:
        """Every case's logged decision decided at or after `since` (aware), oldest first, at most `limit`."""
        rows = await self.db.fetch(
            "SELECT case_id, decided_at, decision FROM decisions WHERE decided_at >= $1 "
            "ORDER BY decided_at, case_id LIMIT $2", since, limit)
        return [ReplayRow(case_id=r["case_id"], decided_at=r["decided_at"], decision=r["decision"]) for r in rows]
