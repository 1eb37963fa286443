"""The forwarder's background loop: every `tick_s` seconds, the sends due (`handlers.send_due`) and the
polls due (`handlers.poll_due`). Its state is the `forwards` rows only: a process killed at any point
finds them again when it starts."""

from __future__ import annotations

import asyncio
import contextlib

from services.forwarder.service_layer import handlers
from shared.logs import get_logger

log = get_logger(__name__)


class ForwardLoop:
    """Runs `handlers.send_due` then `handlers.poll_due` on `forwarding` every `tick_s` seconds (at once
    again when a round had work). An error is logged and the next round runs."""

    def __init__(self, forwarding: handlers.Forwarding, *, tick_s: float) -> None:
        self.forwarding = forwarding
        self.tick_s = tick_s
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    async def round(self) -> int:
        """One round; returns how many sends and polls it took."""
        sent = await handlers.send_due(self.forwarding)
        polled = await handlers.poll_due(self.forwarding)
        return sent + polled

    async def _run(self) -> None:
        # A cancellation inside a transaction can surface as the driver's error (a rollback refused):
        # the flag, not only the CancelledError, ends the loop.
        while not self._stopping:
            busy = 0
            try:
                busy = await self.round()
            except Exception as exc:  # noqa: BLE001 - the next round tries again; the rows stay due
                log.warning("forward_round_failed", error=f"{type(exc).__name__}: {exc}"[:300])
            if not busy:
                await asyncio.sleep(self.tick_s)
            else:
                await asyncio.sleep(0)

    def start(self) -> None:
        """Start the loop as a task of the running event loop."""
        self._task = asyncio.get_running_loop().create_task(self._run(), name="forwarder-loop")

    async def stop(self) -> None:
        """Cancel the loop and wait for it."""
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
