"""Bounded concurrency for the sends a notifier batch claims (issue 14): `SendLanes` runs the after-commit
deliveries of a batch at most `limit` at once, one after another within a lane (a case: its notices keep
their order), instead of one after another for the whole batch (services/notifier/README.md, "Sends")."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from functools import partial
from typing import Any

from shared.logs import get_logger

log = get_logger(__name__)


class SendLanes:
    """Runs actions (a delivery's send and its record) as tasks, at most `limit` running or waiting for
    their lane at once, in submission order within a lane. `submit` waits while `limit` are in hand (the
    consumer's after-commit work waits with it: a slow provider slows the poll loop down, it never lets
    sends pile up in memory), then returns ``queued``. An action that raises is logged (`send_task_failed`,
    with the event's ids the submitter's log context carried) and the next in its lane still runs; the
    action records its own outcome (a delivery left `sending` is its owner's sweeper's,
    `handlers.settle_interrupted`). `drain` waits for every task (at shutdown, before the pool closes)."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        self.limit = limit
        self._slots = asyncio.Semaphore(limit)
        self._tails: dict[Hashable, asyncio.Task[Any]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()

    async def submit(self, lane: Hashable, action: Callable[[], Awaitable[Any]]) -> str:
        """Run `action` once a slot is free and the previous action of `lane` has ended; returns ``queued``
        as soon as it is in hand (its own outcome is recorded by the action)."""
        await self._slots.acquire()
        task = asyncio.get_running_loop().create_task(self._run(self._tails.get(lane), action))
        self._tails[lane] = task
        self._tasks.add(task)
        task.add_done_callback(partial(self._done, lane))
        return "queued"

    async def _run(self, previous: asyncio.Task[Any] | None, action: Callable[[], Awaitable[Any]]) -> Any:
        try:
            if previous is not None:
                await asyncio.wait([previous])
            return await action()
        except Exception as exc:  # noqa: BLE001 - logged; the action's row is its sweeper's
            log.error("send_task_failed", action=getattr(action, "__qualname__", repr(action))[:200],
                      error=repr(exc)[:500])
            return "send_task_failed"
        finally:
            self._slots.release()

    def _done(self, lane: Hashable, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if self._tails.get(lane) is task:
            del self._tails[lane]

    def busy(self) -> int:
        """How many actions are in hand (running or waiting for their lane)."""
        return len(self._tasks)

    async def drain(self) -> None:
        """Wait until every submitted action has ended."""
        while self._tasks:
            await asyncio.wait(list(self._tasks))
