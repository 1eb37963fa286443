"""SQL writes to the `insights` projection (`cases`, `surveys`, `deflections`), on the connection of the
caller's transaction (the unit of work of one consumed event)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg

from services.insights.domain import (
    CaseRow,
    Deflection,
    Erasure,
    MergeChange,
    Recategorisation,
    RoutingChange,
    StatusChange,
    SurveyAnswer,
    UnmergeChange,
)


class InsightsRepository:
    """One method per change of the projection, on `conn`. Methods that change a case return whether the
    projection held it (a case it never saw opened is left alone, except by `route`, which creates it).
    Every method raises `asyncpg.PostgresError` when its statement fails (the unit of work rolls back).
    `updated_at` only moves forward, so an older event never makes a case look older."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def open_case(self, row: CaseRow) -> bool:
        """Keep a new case; True when it was new (not yet created by an earlier routing)."""
        inserted = await self.conn.fetchval(
            """
            INSERT INTO cases (case_id, service_request_id, service_code, channel, status, requested_at, updated_at,
                               closed_at, lat, long, address, description)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
            ON CONFLICT (case_id) DO UPDATE SET channel = EXCLUDED.channel,
                service_code = COALESCE(cases.service_code, EXCLUDED.service_code),
                lat = COALESCE(cases.lat, EXCLUDED.lat), long = COALESCE(cases.long, EXCLUDED.long),
                address = CASE WHEN cases.erased THEN NULL ELSE COALESCE(cases.address, EXCLUDED.address) END,
                description = CASE WHEN cases.erased THEN '' ELSE EXCLUDED.description END
            RETURNING (xmax = 0)
            """,
            row.case_id, row.service_request_id, row.service_code, row.channel, row.status, row.requested_at,
            row.updated_at, row.closed_at, row.lat, row.long, row.address, row.description,
        )
        return bool(inserted)

    async def route(self, change: RoutingChange) -> bool:
        """Apply a routing: category, department, district, due time (a new due time clears `breached`),
        the point when given, the text unless erased. Creates the case when the projection lacks it."""
        await self.conn.execute(
            """
            INSERT INTO cases (case_id, service_request_id, requested_at, updated_at, service_code, service_name,
                               department, agency_responsible, district, sla_due_at, lat, long, description)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
            ON CONFLICT (case_id) DO UPDATE SET service_code = EXCLUDED.service_code,
                service_name = EXCLUDED.service_name, department = EXCLUDED.department,
                agency_responsible = EXCLUDED.agency_responsible, district = EXCLUDED.district,
                breached = cases.breached AND cases.sla_due_at IS NOT DISTINCT FROM EXCLUDED.sla_due_at,
                sla_due_at = EXCLUDED.sla_due_at,
                lat = COALESCE(EXCLUDED.lat, cases.lat), long = COALESCE(EXCLUDED.long, cases.long),
                description = CASE WHEN cases.erased THEN ''
                                   WHEN EXCLUDED.description <> '' THEN EXCLUDED.description
                                   ELSE cases.description END,
                updated_at = GREATEST(cases.updated_at, EXCLUDED.updated_at)
            """,
            change.case_id, change.service_request_id, change.requested_at, change.at, change.service_code,
            change.service_name, change.department, change.agency_responsible, change.district, change.sla_due_at,
            change.lat, change.long, change.description,
        )
        return True

    async def change_status(self, change: StatusChange) -> bool:
        """Set the status; a close keeps the first close time, a reopening clears it."""
        return _changed(await self.conn.execute(
            """
            UPDATE cases SET status = $2, workflow_status = COALESCE($3, workflow_status),
                status_notes = COALESCE($4, status_notes),
                closed_at = CASE WHEN $5 THEN COALESCE(closed_at, $6) ELSE NULL END,
                updated_at = GREATEST(updated_at, $6)
            WHERE case_id = $1
            """,
            change.case_id, change.status, change.workflow_status, change.status_notes, change.closed, change.at,
        ))

    async def merge(self, change: MergeChange) -> bool:
        """Close the case as a duplicate of `merged_into` (workflow status ``duplicate``)."""
        return _changed(await self.conn.execute(
            """
            UPDATE cases SET status = 'closed', workflow_status = 'duplicate', merged_into = $2,
                status_notes = COALESCE($3, status_notes), closed_at = COALESCE(closed_at, $4),
                updated_at = GREATEST(updated_at, $4)
            WHERE case_id = $1
            """,
            change.case_id, change.merged_into, change.status_notes, change.at,
        ))

    async def unmerge(self, change: UnmergeChange) -> bool:
        """The case duplicates nothing again, with the event's status (open: no close time)."""
        return _changed(await self.conn.execute(
            """
            UPDATE cases SET merged_into = NULL, status = $2, workflow_status = $3,
                closed_at = CASE WHEN $2 = 'closed' THEN COALESCE(closed_at, $4) ELSE NULL END,
                updated_at = GREATEST(updated_at, $4)
            WHERE case_id = $1
            """,
            change.case_id, change.status, change.workflow_status, change.at,
        ))

    async def recategorise(self, change: Recategorisation) -> bool:
        """Staff's new category, text and place (the router's `case.routed` brings the name and department)."""
        return _changed(await self.conn.execute(
            """
            UPDATE cases SET service_code = $2,
                description = CASE WHEN erased THEN '' WHEN $3 <> '' THEN $3 ELSE description END,
                address = CASE WHEN erased THEN NULL ELSE COALESCE($4, address) END,
                lat = COALESCE($5, lat), long = COALESCE($6, long), updated_at = GREATEST(updated_at, $7)
            WHERE case_id = $1
            """,
            change.case_id, change.service_code, change.description, change.address, change.lat, change.long,
            change.at,
        ))

    async def mark_breached(self, case_id: UUID, at: datetime) -> bool:
        """The case was still open at its SLA due time."""
        return _changed(await self.conn.execute(
            "UPDATE cases SET breached = true, updated_at = GREATEST(updated_at, $2) WHERE case_id = $1",
            case_id, at))

    async def add_follower(self, case_id: UUID) -> bool:
        """One more follower (the case service emits one `case.followed` per contact key and case)."""
        return _changed(await self.conn.execute(
            "UPDATE cases SET followers = followers + 1 WHERE case_id = $1", case_id))

    async def erase(self, change: Erasure) -> bool:
        """Blank the description and the address for good."""
        return _changed(await self.conn.execute(
            "UPDATE cases SET description = '', address = NULL, erased = true, "
            "updated_at = GREATEST(updated_at, $2) WHERE case_id = $1",
            change.case_id, change.at))

    async def add_survey(self, answer: SurveyAnswer) -> bool:
        """Keep a rating; True when it was new."""
        return _changed(await self.conn.execute(
            "INSERT INTO surveys (event_id, case_id, rating, answered_at) VALUES ($1, $2, $3, $4) "
            "ON CONFLICT (event_id) DO NOTHING",
            answer.event_id, answer.case_id, answer.rating, answer.answered_at))

    async def add_deflection(self, d: Deflection) -> bool:
        """Keep a deflection; True when it was new."""
        return _changed(await self.conn.execute(
            "INSERT INTO deflections (event_id, article_id, service_code, language, deflected_at) "
            "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (event_id) DO NOTHING",
            d.event_id, d.article_id, d.service_code, d.language, d.deflected_at))


def _changed(status: str) -> bool:
    """Whether an `UPDATE n`/`INSERT 0 n` status line says a row changed."""
    return not status.endswith(" 0")
