"""The transaction of a set-based batch (the opening of new reports, `service_layer/intake_batch.py`, and the
routing decisions, `service_layer/decision_batch.py`): `shared.db.unit_of_work.PgSetBatch` with the case
service's repository."""

from __future__ import annotations

import asyncpg

from services.case.adapters.repository import CaseRepository
from shared.db.unit_of_work import PgSetBatch


class OpeningBatch(PgSetBatch[CaseRepository]):
    """One transaction on a connection of `pool` for a consumed batch in the case service's `service` schema:
    `claim` (the inbox claims in one statement), `repo` (the `CaseRepository` on the transaction's
    connection), `emit` (an event caused by a consumed one, written to the outbox at the commit); see
    `PgSetBatch`."""

    def __init__(self, pool: asyncpg.Pool, *, service: str) -> None:
        super().__init__(pool, service=service, repository=CaseRepository)
