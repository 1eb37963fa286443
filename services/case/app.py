"""Case service entry point: every subscription in one place, plus the read API intake_web uses.

Consumes `intake.messages`, `routing.decisions`, `dedup.decisions`, `notifications.outcomes`;
produces `cases.lifecycle` through the outbox. HTTP: `/cases/requests`, `/cases/requests/{id}`,
`/cases/tokens/{token}`, `/cases/by-contact/{contact_key}`,
`/cases/{service_request_id}/timeline`, `POST /cases/{id}/status`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from fastapi import HTTPException, Query
from faststream.kafka.annotations import KafkaMessage
from pydantic import BaseModel

from services.case.domain.rules import open311_request
from services.case.service_layer import handlers
from services.case.adapters.repository import CASE_COLUMNS
from shared.events import DedupDecided, MessageReceived, NotificationOutcome, RoutingDecided
from shared.jurisdiction import load_jurisdiction
from shared.kafka import SUBSCRIBER_DEFAULTS
from shared.service import Runtime
from shared.settings import Settings

SERVICE = "case"


class StatusChange(BaseModel):
    status: Literal["open", "closed"]
    status_notes: str | None = None
    actor: str = "staff"


def create_app(settings: Settings | None = None) -> Any:
    """Build the case service (FastAPI app with the Kafka broker in its lifespan)."""
    s = settings or Settings()
    rt = Runtime(s, SERVICE, schema_package="services.case")
    deps: dict[str, handlers.Deps] = {}

    async def start() -> None:
        jur = load_jurisdiction(s.jurisdiction)
        deps["d"] = handlers.Deps(pool=rt.db, jurisdiction_id=jur.id, tz=ZoneInfo(jur.timezone))

    rt.on_start.append(start)

    call = rt.dispatcher({
        MessageReceived.event_type: handlers.accept_message,
        RoutingDecided.event_type: handlers.apply_routing,
        DedupDecided.event_type: handlers.apply_dedup,
        NotificationOutcome.event_type: handlers.record_notification,
    }, lambda: deps["d"])

    @rt.broker.subscriber(
        s.topic("intake.messages"), s.topic("routing.decisions"), s.topic("dedup.decisions"),
        s.topic("notifications.outcomes"),
        group_id=s.group(SERVICE), **SUBSCRIBER_DEFAULTS,
    )
    async def on_event(msg: KafkaMessage) -> None:
        await rt.consumer.handle(msg, call)

    app = rt.app

    @app.get("/cases/requests/{service_request_id}")
    async def get_request(service_request_id: str) -> dict[str, Any]:
        row = await rt.db.fetchrow(f"SELECT {CASE_COLUMNS} FROM cases WHERE service_request_id = $1",
                                   service_request_id)
        if row is None:
            raise HTTPException(404, f"service_request_id {service_request_id} not found")
        return open311_request(dict(row))

    @app.get("/cases/requests")
    async def list_requests(
        service_request_id: str | None = None,
        service_code: str | None = None,
        status: str | None = None,
        start_date: datetime | None = None,
        end_date: datetime | None = None,
        limit: int = Query(1000, ge=1, le=10000),
    ) -> list[dict[str, Any]]:
        where, args = [], []
        if service_request_id:
            args.append([x.strip() for x in service_request_id.split(",") if x.strip()])
            where.append(f"service_request_id = ANY(${len(args)}::text[])")
        if service_code:
            args.append([x.strip() for x in service_code.split(",") if x.strip()])
            where.append(f"service_code = ANY(${len(args)}::text[])")
        if status:
            args.append([x.strip() for x in status.split(",") if x.strip()])
            where.append(f"status = ANY(${len(args)}::text[])")
        if start_date:
            args.append(start_date)
            where.append(f"requested_datetime >= ${len(args)}")
        if end_date:
            args.append(end_date)
            where.append(f"requested_datetime <= ${len(args)}")
        args.append(limit)
        sql = (f"SELECT {CASE_COLUMNS} FROM cases {'WHERE ' + ' AND '.join(where) if where else ''} "
               f"ORDER BY requested_datetime DESC, service_request_id LIMIT ${len(args)}")
        return [open311_request(dict(r)) for r in await rt.db.fetch(sql, *args)]

    @app.get("/cases/by-contact/{contact_key}")
    async def by_contact(contact_key: str) -> list[dict[str, Any]]:
        """The reporter's cases (they opened), newest first, at most 50: what a call agent sees on the line."""
        rows = await rt.db.fetch(
            f"SELECT {CASE_COLUMNS} FROM cases WHERE contact_key = $1 "
            "ORDER BY requested_datetime DESC, service_request_id DESC LIMIT 50", contact_key)
        return [open311_request(dict(r)) for r in rows]

    @app.get("/cases/tokens/{token}")
    async def get_token(token: str, channel: str = "open311") -> dict[str, Any]:
        row = await rt.db.fetchrow(
            "SELECT c.service_request_id FROM messages m JOIN cases c USING (case_id) "
            "WHERE m.channel = $1 AND m.channel_message_id = $2", channel, token)
        return {"token": token, "service_request_id": row["service_request_id"] if row else None}

    @app.get("/cases/{service_request_id}/timeline")
    async def timeline(service_request_id: str) -> dict[str, Any]:
        case = await rt.db.fetchrow(f"SELECT {CASE_COLUMNS} FROM cases WHERE service_request_id = $1",
                                    service_request_id)
        if case is None:
            raise HTTPException(404, f"service_request_id {service_request_id} not found")
        rows = await rt.db.fetch("SELECT at, kind, event_id, detail FROM timeline WHERE case_id = $1 ORDER BY id",
                                 case["case_id"])
        merged = await rt.db.fetchval(
            "SELECT service_request_id FROM cases WHERE case_id = $1", case["merged_into"]) if case["merged_into"] else None
        return {"case_id": str(case["case_id"]), "service_request_id": service_request_id,
                "status": case["status"], "merged_into": merged, "channel": case["channel"],
                "queue": case["queue"], "district": case["district"],
                "timeline": [dict(r) for r in rows]}

    @app.post("/cases/{service_request_id}/status")
    async def set_status(service_request_id: str, change: StatusChange) -> dict[str, Any]:
        case_id = await rt.db.fetchval("SELECT case_id FROM cases WHERE service_request_id = $1",
                                       service_request_id)
        if case_id is None:
            raise HTTPException(404, f"service_request_id {service_request_id} not found")
        row = await handlers.change_status(deps["d"], case_id, change.status, change.status_notes,
                                           change.actor, rt.clock())
        assert row is not None
        return open311_request(row)

    return app
