"""Dedup entry point: every subscription in one place.

Consumes `cases.lifecycle` (`case.routed`, `case.merged`, `case.status_changed`); produces
`dedup.decisions` through the outbox. Owns the `dedup` schema (PostGIS projection of open cases).
"""

from __future__ import annotations

from typing import Any

from faststream.kafka.annotations import KafkaMessage

from services.dedup.domain.scoring import DedupPolicy
from services.dedup.service_layer import handlers
from shared.events import CaseMerged, CaseRouted, CaseStatusChanged
from shared.jurisdiction import load_jurisdiction
from shared.kafka import SUBSCRIBER_DEFAULTS
from shared.service import Runtime
from shared.settings import Settings

SERVICE = "dedup"

DISPATCH = {
    CaseRouted.event_type: handlers.on_case_routed,
    CaseMerged.event_type: handlers.on_case_closed_or_changed,
    CaseStatusChanged.event_type: handlers.on_case_closed_or_changed,
}


def create_app(settings: Settings | None = None) -> Any:
    s = settings or Settings()
    rt = Runtime(s, SERVICE, schema_package="services.dedup")
    deps: dict[str, handlers.Deps] = {}

    async def start() -> None:
        jur = load_jurisdiction(s.jurisdiction)

        def policy_for(code: str) -> DedupPolicy:
            p = jur.dedup_policy(code)
            return DedupPolicy(radius_m=p.radius_m, window_hours=p.window_hours)

        deps["d"] = handlers.Deps(pool=rt.db, policy_for=policy_for,
                                  is_fallback=lambda lat, long: jur.fallback_location(lat, long) is not None)

    rt.on_start.append(start)

    call = rt.dispatcher(DISPATCH, lambda: deps["d"])

    @rt.broker.subscriber(s.topic("cases.lifecycle"), group_id=s.group(SERVICE), **SUBSCRIBER_DEFAULTS)
    async def on_lifecycle(msg: KafkaMessage) -> None:
        await rt.consumer.handle(msg, call)

    return rt.app
