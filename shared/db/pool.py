"""asyncpg pools bound to one service's schema (one schema per stateful service, docs/architecture.md "Storage")."""

from __future__ import annotations

import json
import re

import asyncpg

_IDENT = re.compile(r"^[a-z_][a-z0-9_]*$")


def quote_ident(name: str) -> str:
    """Quote a schema name (``case`` is an SQL keyword, so every schema is always quoted).

    Raises `ValueError` for anything but a plain lower-case identifier.
    """
    if not _IDENT.match(name):
        raise ValueError(f"not a plain identifier: {name!r}")
    return f'"{name}"'


async def _init_connection(conn: asyncpg.Connection) -> None:
    for typ in ("json", "jsonb"):
        await conn.set_type_codec(typ, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


def service_role(schema: str) -> str:
    """The role that owns a service's schema: ``omni311_<schema>`` (one role per stateful service)."""
    return f"omni311_{schema}"


def _session_settings(schema: str, application_name: str) -> dict[str, str]:
    # `role` makes every statement run as the service's own role, which owns its schema and nothing
    # else: a service cannot read another service's tables (docs/architecture.md "Storage").
    return {"search_path": f"{quote_ident(schema)}, public", "application_name": application_name,
            "role": service_role(schema)}


async def _keep_session(_conn: asyncpg.Connection) -> None:
    """The pool's reset on release: nothing beyond what asyncpg always does (roll back a transaction left
    open, drop listener callbacks). asyncpg's default also sends ``SELECT pg_advisory_unlock_all(); CLOSE
    ALL; UNLISTEN *; RESET ALL`` on every release, one more round trip per unit of work (one of about
    twelve per consumed event) for session state our pooled connections never hold: they take
    transaction-level locks only (``pg_advisory_xact_lock``), cursors inside a transaction, and no
    LISTEN or session ``SET``; what needs session state (LISTEN, a session lock) takes a dedicated
    `connect()`. The session's role and search_path are its startup settings and stay in any case."""


async def create_pool(dsn: str, schema: str, *, application_name: str, max_size: int = 10) -> asyncpg.Pool:
    """A pool whose connections act as the schema's role and see `schema` first, then `public`
    (where PostGIS lives). The role exists once `migrate` has run for the schema.

    A connection comes back from a release as it went out, less an open transaction (rolled back) and
    listener callbacks (`_keep_session`): a caller must not leave session state (a session ``SET``, a
    session advisory lock, LISTEN) on a pooled connection.

    Raises `OSError`/`asyncpg.PostgresError` when the server cannot be reached.
    """
    return await asyncpg.create_pool(
        dsn,
        min_size=1,
        max_size=max_size,
        init=_init_connection,
        reset=_keep_session,
        server_settings=_session_settings(schema, application_name),
    )


async def connect(dsn: str, schema: str, *, application_name: str) -> asyncpg.Connection:
    """One dedicated connection (for LISTEN, which a pooled connection would lose on release)."""
    conn = await asyncpg.connect(dsn, server_settings=_session_settings(schema, application_name))
    await _init_connection(conn)
    return conn
