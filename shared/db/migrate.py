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

from shared.db.pool import quote_ident, service_role

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
            role = quote_ident(service_role(schema))
            # Roles are cluster-wide: two databases migrating at once may both try to create it.
            await conn.execute(
                f"DO $$ BEGIN CREATE ROLE {role} NOLOGIN; "
                "EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"
            )
            await conn.execute(f"GRANT {role} TO CURRENT_USER")
            await conn.execute(f"ALTER SCHEMA {q} OWNER TO {role}")
            # Extensions are per database, not per schema: services migrating their own schemas at the
            # same moment would race on pg_extension (duplicate key) without a database-wide lock.
            await conn.execute("SELECT pg_advisory_lock($1)", _EXTENSIONS_LOCK)
            try:
                await conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
                await conn.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")  # dedup: (service_code, geog) GiST
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
                    # Objects are created as (and owned by) the service's role.
                    await conn.execute(f"SET LOCAL ROLE {role}")
                    await conn.execute(sql.replace("{schema}", q))
                    await conn.execute("RESET ROLE")
                    await conn.execute(f"INSERT INTO {q}.schema_migrations (version) VALUES ($1)", version)
                applied.append(version)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", _lock_key(schema))
    finally:
        await conn.close()
    return applied


async def ensure_database(dsn: str) -> bool:
    """Create the database named in `dsn` (with PostGIS) when it does not exist; True if created.

    Connects to the server's `postgres` database to do so. Raises `asyncpg.PostgresError` when the
    role may not create databases.
    """
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(dsn)
    name = parts.path.lstrip("/")
    maintenance = urlunsplit(parts._replace(path="/postgres"))
    conn = await asyncpg.connect(maintenance)
    try:
        if await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            return False
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    finally:
        await conn.close()
    return True


async def drop_database(dsn: str) -> None:
    """Drop the database named in `dsn` (disconnecting its sessions); nothing if it does not exist."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(dsn)
    conn = await asyncpg.connect(urlunsplit(parts._replace(path="/postgres")))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{parts.path.lstrip("/")}" WITH (FORCE)')
    finally:
        await conn.close()


STATEFUL_SERVICES = {"case": "services.case", "router": "services.router", "dedup": "services.dedup",
                     "notifier": "services.notifier", "intake_email": "services.intake_email",
                     "intake_social": "services.intake_social", "intake_web": "services.intake_web",
                     "insights": "services.insights", "intake_sms_voice": "services.intake_sms_voice",
                     "webhooks": "services.webhooks", "forwarder": "services.forwarder"}


def main(argv: list[str] | None = None) -> int:
    """`omni311-migrate [--create-database] [service ...]`: apply migrations of the named (default: all)
    stateful services; `--drop-database` removes the database instead."""
    from shared.settings import Settings

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("services", nargs="*", default=list(STATEFUL_SERVICES))
    parser.add_argument("--create-database", action="store_true", help="create the database first if missing")
    parser.add_argument("--drop-database", action="store_true", help="drop the database (every service's data)")
    args = parser.parse_args(argv)
    settings = Settings()

    async def run() -> None:
        if args.drop_database:
            await drop_database(settings.pg_dsn)
            print(f"dropped {settings.pg_dsn}")
            return
        if args.create_database and await ensure_database(settings.pg_dsn):
            print(f"created {settings.pg_dsn}")
        for name in args.services:
            applied = await migrate(settings.pg_dsn, name, STATEFUL_SERVICES[name])
            print(f"{name}: {', '.join(applied) if applied else 'up to date'}")

    asyncio.run(run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
