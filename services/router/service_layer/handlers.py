"""Router handlers: decide category, district, queue, priority and SLA for each case.

Consumes `case.opened` and, when it carries the location a case lacked, `case.message_added` from
`cases.lifecycle`; produces `routing.decided` on `routing.decisions` through the outbox, and keeps each
case's decision in its log with the rule id, config version and the input it was decided on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from services.router.domain import RoutingInput, route
from shared.db.inbox import claim
from shared.db.outbox import enqueue
from shared.events import CaseMessageAdded, CaseOpened, Envelope, RoutingDecided, RoutingFields
from shared.jurisdiction import Jurisdiction
from shared.kafka import Delivery

SERVICE = "router"


@dataclass(frozen=True)
class Deps:
    pool: asyncpg.Pool
    jurisdiction: Jurisdiction


def routing_input(opened: CaseOpened) -> RoutingInput:
    """What the router decides on for an opened case."""
    # A lone latitude or longitude is no place at all (intake requires both; older events may not).
    lat, long = (opened.lat, opened.long) if opened.lat is not None and opened.long is not None else (None, None)
    return RoutingInput(
        service_code=opened.service_code, description=opened.description, lat=lat, long=long,
        address=opened.address, requested_datetime=opened.requested_datetime, language=opened.language,
    )


def decide_input(request: RoutingInput, jurisdiction: Jurisdiction, now: datetime) -> RoutingFields:
    """The routing of one request (pure: the domain's decision in the event's shape)."""
    d = route(request, jurisdiction, now)
    return RoutingFields(
        service_code=d.service_code, service_name=d.service_name, category_source=d.category_source,
        agency_responsible=d.agency_responsible, queue=d.queue, priority=d.priority,
        district=d.district_id, sla_due_at=d.sla_due_at, rule_id=d.rule_id, config_version=d.config_version,
        matched_keywords=list(d.matched_keywords), score=d.score,
    )


def decide(opened: CaseOpened, jurisdiction: Jurisdiction, now: datetime) -> RoutingFields:
    """The routing of one opened case."""
    return decide_input(routing_input(opened), jurisdiction, now)


def located_input(logged: dict[str, Any] | None, service_code: str, decided_at: datetime,
                  added: CaseMessageAdded) -> RoutingInput | None:
    """The first routing's input with the location a later message gave the case; None when there is
    nothing to re-route (no point in the message, or the case was already routed with a point).

    `logged` is the input kept with the first decision; a decision logged before inputs were kept is
    re-routed on its decided category, with no text and the SLA counted from its decision time.
    """
    if added.lat is None or added.long is None:
        return None
    base = (RoutingInput.model_validate(logged) if logged else
            RoutingInput(service_code=service_code, requested_datetime=decided_at))
    if base.lat is not None and base.long is not None:
        return None
    return base.model_copy(update={"lat": added.lat, "long": added.long,
                                   "address": base.address or added.address})


async def on_case_opened(env: Envelope, d: Delivery, deps: Deps, now: datetime) -> str:
    opened = env.payload(CaseOpened)
    request = routing_input(opened)
    fields = decide_input(request, deps.jurisdiction, now)
    async with deps.pool.acquire() as conn, conn.transaction():
        if not await claim(conn, SERVICE, env.event_id, topic=d.topic, partition=d.partition, offset=d.offset):
            return "duplicate"
        inserted = await conn.fetchval(
            "INSERT INTO decisions (case_id, event_id, decided_at, service_code, category_source, queue, district, "
            "rule_id, config_version, decision) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) "
            "ON CONFLICT (case_id) DO NOTHING RETURNING case_id",
            opened.case_id, env.event_id, now, fields.service_code, fields.category_source, fields.queue,
            fields.district, fields.rule_id, fields.config_version,
            {**fields.model_dump(mode="json"), "input": request.model_dump(mode="json")},
        )
        if inserted is None:
            return "already_routed"
        decided = RoutingDecided(case_id=opened.case_id, routing=fields)
        await enqueue(conn, env.caused_by(decided, subject=str(opened.case_id), producer=SERVICE, now=now),
                      schema=SERVICE)
        return fields.category_source


async def on_message_added(env: Envelope, d: Delivery, deps: Deps, now: datetime) -> str:
    """Re-route a case when a message gave it the location it lacked (the district, and with it the
    queue and rules, depend on the place); any other message changes nothing here."""
    added = env.payload(CaseMessageAdded)
    if added.lat is None or added.long is None:
        return "no_location"
    async with deps.pool.acquire() as conn, conn.transaction():
        if not await claim(conn, SERVICE, env.event_id, topic=d.topic, partition=d.partition, offset=d.offset):
            return "duplicate"
        row = await conn.fetchrow(
            "SELECT service_code, decided_at, decision FROM decisions WHERE case_id = $1 FOR UPDATE", added.case_id)
        if row is None:
            # case.opened precedes it on the same partition; without a first decision there is nothing to redo.
            return "not_routed"
        request = located_input(row["decision"].get("input"), row["service_code"], row["decided_at"], added)
        if request is None:
            return "already_located"
        fields = decide_input(request, deps.jurisdiction, now)
        await conn.execute(
            "UPDATE decisions SET event_id = $2, decided_at = $3, service_code = $4, category_source = $5, "
            "queue = $6, district = $7, rule_id = $8, config_version = $9, decision = $10 WHERE case_id = $1",
            added.case_id, env.event_id, now, fields.service_code, fields.category_source, fields.queue,
            fields.district, fields.rule_id, fields.config_version,
            {**fields.model_dump(mode="json"), "input": request.model_dump(mode="json"),
             "previous": {k: row["decision"].get(k) for k in ("queue", "district", "rule_id", "service_code")}},
        )
        decided = RoutingDecided(case_id=added.case_id, routing=fields)
        await enqueue(conn, env.caused_by(decided, subject=str(added.case_id), producer=SERVICE, now=now),
                      schema=SERVICE)
        return "rerouted"
