"""Plain-SQL migrations per service schema, applied at start-up and by `make migrate`.

A service keeps its files as `<package>/migrations/NNN_name.sql`; they run in name order, each in its
own transaction, once, under an advisory lock so that two replicas starting together do not race.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import sys
from importlib import resources

import asyncpg

from shared.db.pool import quote_ident

PLUMBING_VERSION = "000_plumbing"


def _lock_key(schema: str) -> int:
    return int.from_bytes(hashlib.sha256(f"migrate:{schema}".encode()).digest()[:8], "big", signed=True)


_EXTENSIONS_LOCK = int.from_bytes(hashlib.sha256(b"migrate-extensions").digest()[:8], "big", signed=True)


def _service_migrations(package: str) -> list[tuple[str, str]]:
    folder = resources.files(package).joinpath("migrations")
    files = sorted((f.name, f) for f in folder.iterdir() if f.name.endswith(".sql"))
    return [(name.removesuffix(".sql"), f.read_text("utf-8")) for name, f in files]


async def migrate(dsn: str, schema: str, package: str) -> list[str]:
    """Create `schema` if needed and apply its pending migrations; returns the versions applied.

    `package` is the service package holding `migrations/*.sql` (e.g. ``services.case``); in those files
    ``{schema}`` stands for the quoted schema name. Raises `asyncpg.PostgresError` on a failing file
    (that file's transaction is rolled back; earlier ones stay).
    """
    q = quote_ident(schema)
    conn = await asyncpg.connect(dsn)
    applied: list[str] = []
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", _lock_key(schema))
        try:
            await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {q}")
            # Extensions are per database, not per schema: services migrating their own schemas at the
            # same moment would race on pg_extension (duplicate key) without a database-wide lock.
            await conn.execute("SELECT pg_advisory_lock($1)", _EXTENSIONS_LOCK)
            try:
                await conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
            finally:
                await conn.execute("SELECT pg_advisory_unlock($1)", _EXTENSIONS_LOCK)
            await conn.execute(
                f"CREATE TABLE IF NOT EXISTS {q}.schema_migrations "
                "(version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done = {r["version"] for r in await conn.fetch(f"SELECT version FROM {q}.schema_migrations")}
            plumbing = resources.files("shared.db").joinpath("plumbing.sql").read_text("utf-8")
            for version, sql in [(PLUMBING_VERSION, plumbing), *_service_migrations(package)]:
                if version in done:
                    continue
                async with conn.transaction():
                    await conn.execute(sql.replace("{schema}", q))
                    await conn.execute(f"INSERT INTO {q}.schema_migrations (version) VALUES ($1)", version)
                applied.append(version)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", _lock_key(schema))
    finally:
        await conn.close()
    return applied


STATEFUL_SERVICES = {"case": "services.case", "router": "services.router", "dedup": "services.dedup",
                     "notifier": "services.notifier"}


def main(argv: list[str] | None = None) -> int:
    """`omni311-migrate [service ...]`: apply migrations of the named (default: all) stateful services."""
    from shared.settings import Settings

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("services", nargs="*", default=list(STATEFUL_SERVICES))
    args = parser.parse_args(argv)
    settings = Settings()

    async def run() -> None:
        for name in args.services:
            applied = await migrate(settings.pg_dsn, name, STATEFUL_SERVICES[name])
            print(f"{name}: {', '.join(applied) if applied else 'up to date'}")

    asyncio.run(run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
