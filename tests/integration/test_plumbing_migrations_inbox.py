"""Migrations run once even when replicas start together; the inbox claim is transactional."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg

from shared.db import inbox
from shared.db.migrate import PLUMBING_VERSION, _service_migrations, migrate
from shared.db.pool import connect

MIGRATED_PACKAGE = "services.router"  # the package the conftest's `schema` fixture migrates
ALL_VERSIONS = [PLUMBING_VERSION, *(v for v, _ in _service_migrations(MIGRATED_PACKAGE))]


def test_this_module_and_the_fixtures_migrate_the_same_package(migrated_package: str) -> None:
    assert migrated_package == MIGRATED_PACKAGE


async def applied_versions(dsn: str, schema: str) -> list[str]:
    conn = await asyncpg.connect(dsn)
    try:
        return [r["version"] for r in await conn.fetch(f'SELECT version FROM "{schema}".schema_migrations ORDER BY 1')]
    finally:
        await conn.close()


# --- migrations ---------------------------------------------------------------------------------------


async def test_applying_migrations_twice_applies_nothing_the_second_time(database: str, fresh_schema_name: str) -> None:
    first = await migrate(database, fresh_schema_name, MIGRATED_PACKAGE)
    second = await migrate(database, fresh_schema_name, MIGRATED_PACKAGE)

    assert first == ALL_VERSIONS and len(ALL_VERSIONS) >= 2
    assert second == []
    assert await applied_versions(database, fresh_schema_name) == sorted(ALL_VERSIONS)


async def test_concurrent_migrations_of_a_fresh_schema_both_succeed_and_apply_each_version_once(
        database: str, fresh_schema_name: str) -> None:
    results = await asyncio.gather(*(migrate(database, fresh_schema_name, MIGRATED_PACKAGE) for _ in range(3)))

    assert sorted(v for r in results for v in r) == sorted(ALL_VERSIONS), results
    assert [r for r in results if r] == [ALL_VERSIONS], "one replica applies everything, the others nothing"
    assert await applied_versions(database, fresh_schema_name) == sorted(ALL_VERSIONS)


async def test_every_service_starting_at_once_on_a_fresh_database_migrates(bare_database: str) -> None:
    """A new deployment: four stateful services migrate their own schemas at the same moment, on a
    database where nobody created PostGIS yet."""
    services = ("case", "router", "dedup", "notifier")
    results = await asyncio.gather(*(migrate(bare_database, s, f"services.{s}") for s in services),
                                   return_exceptions=True)
    assert [r for r in results if isinstance(r, BaseException)] == []
    for service, applied in zip(services, results, strict=True):
        assert isinstance(applied, list) and applied[0] == PLUMBING_VERSION, service


# --- inbox --------------------------------------------------------------------------------------------


async def claim_in_own_transaction(dsn: str, schema: str, event_id: uuid.UUID, *, commit: bool = True) -> bool:
    conn = await connect(dsn, schema, application_name="it-inbox")
    try:
        tx = conn.transaction()
        await tx.start()
        claimed = await inbox.claim(conn, "case", event_id, topic="t.cases.lifecycle", partition=0, offset=7)
        await (tx.commit() if commit else tx.rollback())
        return claimed
    finally:
        await conn.close()


async def test_claiming_twice_in_separate_transactions_is_true_then_false(database: str, schema: str) -> None:
    event_id = uuid.uuid4()
    assert await claim_in_own_transaction(database, schema, event_id) is True
    assert await claim_in_own_transaction(database, schema, event_id) is False


async def test_claims_are_per_consumer(database: str, schema: str) -> None:
    event_id = uuid.uuid4()
    conn = await connect(database, schema, application_name="it-inbox")
    try:
        async with conn.transaction():
            assert await inbox.claim(conn, "router", event_id, topic="t", partition=0, offset=1)
            assert await inbox.claim(conn, "notifier", event_id, topic="t", partition=0, offset=1)
            assert not await inbox.claim(conn, "router", event_id, topic="t", partition=0, offset=1)
    finally:
        await conn.close()


async def test_a_rolled_back_claim_can_be_claimed_again(database: str, schema: str) -> None:
    event_id = uuid.uuid4()
    assert await claim_in_own_transaction(database, schema, event_id, commit=False) is True
    assert await claim_in_own_transaction(database, schema, event_id) is True
    assert await claim_in_own_transaction(database, schema, event_id) is False


async def test_a_claim_racing_an_uncommitted_claim_waits_for_it_and_loses(database: str, schema: str) -> None:
    """Two replicas handling the same redelivered event: the second blocks, then sees the first's claim."""
    event_id = uuid.uuid4()
    first = await connect(database, schema, application_name="it-inbox-1")
    try:
        tx = first.transaction()
        await tx.start()
        assert await inbox.claim(first, "case", event_id, topic="t", partition=0, offset=1)
        second = asyncio.create_task(claim_in_own_transaction(database, schema, event_id))
        await asyncio.sleep(0.3)
        assert not second.done(), "the second claim must wait for the first transaction"
        await tx.commit()
        assert await asyncio.wait_for(second, 5) is False
    finally:
        await first.close()
