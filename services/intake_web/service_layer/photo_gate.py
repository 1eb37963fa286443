"""How many photos intake_web processes at once: decoding a photo takes up to ~240 MB
(`shared.media.photos.MAX_PIXELS` at 4 bytes a pixel) and a core for a second or more, so at most
`Settings.photo_workers` run in worker threads, a few more wait their turn, and the rest are refused
(`PhotosBusy`: the routes answer 503 with ``Retry-After``) instead of piling up in memory."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

QUEUE_PER_WORKER = 4
"""Uploads that may wait for a worker, per worker; one more is refused with `PhotosBusy`."""


class PhotosBusy(RuntimeError):
    """Every photo worker is busy and the waiting line is full: the sender may try again in a few seconds."""


class PhotoGate:
    """At most `workers` calls of `run` at once in worker threads, at most `workers * QUEUE_PER_WORKER`
    waiting. A slot is given back when the thread ends, not when its caller goes away (a client that hangs
    up does not free a slot its conversion still holds). Bound to no event loop until first used."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.queue = workers * QUEUE_PER_WORKER
        self._free = asyncio.Semaphore(workers)
        self._waiting = 0

    async def run(self, fn: Callable[[bytes], T], data: bytes) -> T:
        """`fn(data)` in a worker thread once a slot is free. Raises `PhotosBusy` when the waiting line
        is full, or what `fn` raises."""
        if self._free.locked() and self._waiting >= self.queue:
            raise PhotosBusy(f"{self.workers} photos are being processed and {self._waiting} are waiting")
        self._waiting += 1
        try:
            await self._free.acquire()
        finally:
            self._waiting -= 1
        try:
            done = asyncio.get_running_loop().run_in_executor(None, fn, data)
        except BaseException:
            self._free.release()
            raise
        done.add_done_callback(self._release)
        return await asyncio.shield(done)

    def _release(self, done: asyncio.Future[T]) -> None:
        self._free.release()
        if not done.cancelled():
            done.exception()  # retrieved: a caller gone before the end must not log "never retrieved"
