"""The case service's handlers consuming events on real PostgreSQL, as its subscriber does: one offset after
another on `intake.messages`, each event in its own `PgUnitOfWork` with its inbox claim (integration tests)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import asyncpg

from services.case.adapters.repository import CaseRepository
from services.case.service_layer import handlers
from shared.db.unit_of_work import PgUnitOfWork
from shared.jurisdiction import Jurisdiction
from shared.kafka import Delivery
from shared.service_layer import dispatch
from support.uow import event


class CaseConsumer:
    """`await consume(payload)` hands one event (an event's data, e.g. `MessageReceived`) to the case
    handlers of `jurisdiction` on schema `schema`; returns the handler's outcome (e.g. ``"opened"``). The
    clock of the n-th event is `start` + n × `step_s` seconds unless `now` is given (UTC)."""

    def __init__(self, pool: asyncpg.Pool, schema: str, jurisdiction: Jurisdiction, *, start: datetime,
                 step_s: float = 0.0) -> None:
        self.pool, self.schema, self.table = pool, schema, handlers.handlers(jurisdiction)
        self.start, self.step_s, self.offset = start, step_s, 0

    async def __call__(self, payload: Any, now: datetime | None = None) -> str | None:
        self.offset += 1
        now = now or self.start + timedelta(seconds=self.offset * self.step_s)
        env = event(payload, subject="s", now=now)
        delivery = Delivery(topic="intake.messages", partition=0, offset=self.offset, consumer=self.schema)
        return await dispatch(self.table, env, lambda: PgUnitOfWork(
            self.pool, service=self.schema, repository=CaseRepository, now=now, envelope=env, delivery=delivery))
