"""A pooled connection comes back from a release as the schema's role on its search_path, with nothing of
the last caller's transaction, though the pool no longer sends asyncpg's reset statements on release."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from shared.db.pool import create_pool, service_role


@pytest.fixture
async def one_connection_pool(database: str, schema: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(database, schema, application_name="it-pool", max_size=1)
    try:
        yield pool
    finally:
        await pool.close()


async def test_a_transaction_left_open_is_rolled_back_and_the_session_keeps_its_role_and_schema(
        one_connection_pool: asyncpg.Pool, schema: str) -> None:
    conn = await one_connection_pool.acquire()
    tx = conn.transaction()
    await tx.start()
    await conn.execute("INSERT INTO inbox (consumer, event_id, topic, kafka_partition, kafka_offset) "
                       "VALUES ('left-open', gen_random_uuid(), 't', 0, 0)")
    await one_connection_pool.release(conn)  # the caller forgot to end its transaction

    async with one_connection_pool.acquire() as again:
        assert not again.is_in_transaction()
        assert await again.fetchval("SELECT count(*) FROM inbox WHERE consumer = 'left-open'") == 0
        assert await again.fetchval("SELECT current_user") == service_role(schema)
        assert await again.fetchval("SELECT current_schema()") == schema


async def test_a_release_costs_no_statement(one_connection_pool: asyncpg.Pool) -> None:
    """asyncpg's default reset (advisory unlock, CLOSE ALL, UNLISTEN, RESET ALL) was one more round trip
    per unit of work."""
    async with one_connection_pool.acquire() as conn:
        await conn.fetchval("SELECT 1")
        before = conn._con._protocol.queries_count  # noqa: SLF001 - asyncpg counts the queries it sent
    async with one_connection_pool.acquire() as conn:
        assert conn._con._protocol.queries_count == before  # noqa: SLF001
