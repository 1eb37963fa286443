"""Router handler: decide category, district, queue, priority and SLA for each opened case.

Consumes `case.opened` from `cases.lifecycle`; produces `routing.decided` on `routing.decisions`
through the outbox, and keeps every decision in its log with the rule id and config version.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

from services.router.domain import RoutingInput, route
from shared.db.inbox import claim
from shared.db.outbox import enqueue
from shared.events import CaseOpened, Envelope, RoutingDecided, RoutingFields
from shared.jurisdiction import Jurisdiction
from shared.kafka import Delivery

SERVICE = "router"


@dataclass(frozen=True)
class Deps:
    pool: asyncpg.Pool
    jurisdiction: Jurisdiction


def decide(opened: CaseOpened, jurisdiction: Jurisdiction, now: datetime) -> RoutingFields:
    """The routing of one opened case (pure: the domain's decision in the event's shape)."""
    # A lone latitude or longitude is no place at all (intake requires both; older events may not).
    lat, long = (opened.lat, opened.long) if opened.lat is not None and opened.long is not None else (None, None)
    d = route(
        RoutingInput(
            service_code=opened.service_code, description=opened.description, lat=lat, long=long,
            address=opened.address, requested_datetime=opened.requested_datetime, language=opened.language,
        ),
        jurisdiction,
        now,
    )
    return RoutingFields(
        service_code=d.service_code, service_name=d.service_name, category_source=d.category_source,
        agency_responsible=d.agency_responsible, queue=d.queue, priority=d.priority,
        district=d.district_id, sla_due_at=d.sla_due_at, rule_id=d.rule_id, config_version=d.config_version,
        matched_keywords=list(d.matched_keywords), score=d.score,
    )


async def on_case_opened(env: Envelope, d: Delivery, deps: Deps, now: datetime) -> str:
    opened = env.payload(CaseOpened)
    fields = decide(opened, deps.jurisdiction, now)
    async with deps.pool.acquire() as conn, conn.transaction():
        if not await claim(conn, SERVICE, env.event_id, topic=d.topic, partition=d.partition, offset=d.offset):
            return "duplicate"
        inserted = await conn.fetchval(
            "INSERT INTO decisions (case_id, event_id, decided_at, service_code, category_source, queue, district, "
            "rule_id, config_version, decision) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) "
            "ON CONFLICT (case_id) DO NOTHING RETURNING case_id",
            opened.case_id, env.event_id, now, fields.service_code, fields.category_source, fields.queue,
            fields.district, fields.rule_id, fields.config_version, fields.model_dump(mode="json"),
        )
        if inserted is None:
            return "already_routed"
        decided = RoutingDecided(case_id=opened.case_id, routing=fields)
        await enqueue(conn, env.caused_by(decided, subject=str(opened.case_id), producer=SERVICE, now=now),
                      schema=SERVICE)
        return fields.category_source
