"""The forwarder's admin reads on real PostgreSQL: a case's forwards are found by its UUID and by its number
(``GET /admin/forwards?service_request_id=``, index ``forwards_by_number``), and nothing else's."""

from __future__ import annotations

from uuid import uuid4

import asyncpg
import pytest

from services.forwarder.adapters.repository import ForwarderReads, ForwarderRepository
from support.uow import T0


@pytest.fixture
def migrated_package() -> str:
    return "services.forwarder"


async def test_a_cases_forwards_are_read_by_its_number_as_by_its_id(service_pool: asyncpg.Pool) -> None:
    ours, other = uuid4(), uuid4()
    async with service_pool.acquire() as conn:
        repo = ForwarderRepository(conn)
        for case_id, sid, endpoint in ((ours, "NYC-26-000042", "utility"), (ours, "NYC-26-000042", "county"),
                                       (other, "NYC-26-000043", "county")):
            assert await repo.add(case_id=case_id, endpoint=endpoint, service_request_id=sid, jurisdiction_id="nyc",
                                  service_code="street-sign-missing", external_service_code="4fd3",
                                  correlation_id=None, idempotency_key=f"k-{case_id}-{endpoint}", now=T0)
        indexed = await conn.fetchval("SELECT count(*) FROM pg_indexes WHERE indexname = 'forwards_by_number'"
                                      " AND schemaname = current_schema()")
    reads = ForwarderReads(service_pool)
    by_number = await reads.of_case_number("NYC-26-000042")
    assert [(r["case_id"], r["endpoint"]) for r in by_number] == [(ours, "county"), (ours, "utility")]
    assert by_number == await reads.of_case(ours)
    assert await reads.of_case_number("NYC-26-000044") == []
    assert indexed == 1
