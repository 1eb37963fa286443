"""Router entry point: every subscription in one place.

Consumes `cases.lifecycle` (`case.opened`; `case.message_added` re-routes a case that gained its location);
produces `routing.decisions` through the outbox. Owns the routing rules (versioned jurisdiction files)
and the `router` schema's decision log.
"""

from __future__ import annotations

from typing import Any

from faststream.kafka.annotations import KafkaMessage

from services.router.service_layer import handlers
from shared.events import CaseMessageAdded, CaseOpened
from shared.jurisdiction import load_jurisdiction
from shared.kafka import SUBSCRIBER_DEFAULTS
from shared.service import Runtime
from shared.settings import Settings

SERVICE = "router"


def create_app(settings: Settings | None = None) -> Any:
    s = settings or Settings()
    rt = Runtime(s, SERVICE, schema_package="services.router")
    deps: dict[str, handlers.Deps] = {}

    async def start() -> None:
        deps["d"] = handlers.Deps(pool=rt.db, jurisdiction=load_jurisdiction(s.jurisdiction))

    rt.on_start.append(start)

    call = rt.dispatcher({
        CaseOpened.event_type: handlers.on_case_opened,
        CaseMessageAdded.event_type: handlers.on_message_added,
    }, lambda: deps["d"])

    @rt.broker.subscriber(s.topic("cases.lifecycle"), group_id=s.group(SERVICE), **SUBSCRIBER_DEFAULTS)
    async def on_lifecycle(msg: KafkaMessage) -> None:
        await rt.consumer.handle(msg, call)

    return rt.app
