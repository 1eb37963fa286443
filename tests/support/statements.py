"""A pool stand-in that counts the statements a unit of work sends, for tests that bound round trips."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg


class Counting:
    """`pool` for a unit of work, whose connections log each statement they send (an `executemany` once, as
    it is one round trip) in `statements` while they are lent."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool, self.statements = pool, list[str]()

    @property
    def ours(self) -> list[str]:
        """`statements` without asyncpg's type introspection (the `typeinfo_tree` query and the `jit` setting
        around it), which it sends once per connection for a type it has not met yet."""
        return [q for q in self.statements if "typeinfo_tree" not in q and "'jit'" not in q]

    def _log(self, record: Any) -> None:
        self.statements.append(record.query)

    async def acquire(self) -> Any:
        conn = await self.pool.acquire()
        conn.add_query_logger(self._log)
        return conn

    async def release(self, conn: Any) -> None:
        await asyncio.sleep(0)  # the logger is called soon after each statement, not in it
        conn.remove_query_logger(self._log)
        await self.pool.release(conn)
