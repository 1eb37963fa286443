"""The notifier's sweeper: a background loop, in every replica, that beats for its own process and settles
the deliveries a dead process left ``sending`` (`handlers.settle_interrupted`), so that no intent stays open
unseen. State is in PostgreSQL only."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from uuid import UUID

from services.notifier.adapters.repository import NotifierRepository
from services.notifier.config import ChannelSettings
from services.notifier.service_layer import handlers
from shared.service import Runtime
from shared.logs import get_logger

log = get_logger(__name__)


class Sweeper:
    """Every round, one unit of work (`unit_of_work()`) beats for `instance_id` (this process, the owner of
    the deliveries it claims) and settles the deliveries still ``sending`` `older_than_s` seconds after their
    claim whose owner has been silent as long: those never handed to a provider are sent once through
    `senders` (outcome recorded in `record_uow`), the others recorded failed. A round runs every `interval_s` seconds, and at least three
    times per `older_than_s` (a live owner must never look silent). An error is logged and the next round
    runs."""

    def __init__(self, unit_of_work: Callable[[], handlers.Uow], *, interval_s: float, older_than_s: float,
                 instance_id: UUID | None = None, senders: handlers.Senders | None = None,
                 record_uow: handlers.RecordUnitOfWork | None = None) -> None:
        self.unit_of_work = unit_of_work
        self.interval_s = min(interval_s, older_than_s / 3)
        self.older_than_s = older_than_s
        self.instance_id = instance_id
        self.senders = senders
        self.record_uow = record_uow
        self._task: asyncio.Task[None] | None = None

    async def sweep(self) -> int:
        """One round; returns how many deliveries were settled."""
        async with self.unit_of_work() as uow:
            return await handlers.settle_interrupted(uow, older_than_s=self.older_than_s,
                                                     instance_id=self.instance_id, senders=self.senders,
                                                     record_uow=self.record_uow)

    async def _run(self) -> None:
        while True:
            try:
                await self.sweep()
            except Exception as exc:  # noqa: BLE001 - the next round tries again; the rows stay visible
                log.warning("sweep_failed", error=f"{type(exc).__name__}: {exc}")
            await asyncio.sleep(self.interval_s)

    def start(self) -> None:
        """Start the loop as a task of the running event loop."""
        self._task = asyncio.get_running_loop().create_task(self._run(), name="notifier-sweeper")

    async def stop(self) -> None:
        """Cancel the loop and wait for it."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


def run_sweeper(rt: Runtime, ch: ChannelSettings, instance_id: UUID, senders: handlers.Senders,
                record_uow: handlers.RecordUnitOfWork) -> None:
    """Run the sweeper (beating for `instance_id`, this process; resending through `senders`) once started,
    and stop it before the pool closes."""
    sweeper = Sweeper(lambda: rt.unit_of_work(NotifierRepository), interval_s=ch.notifier_sweep_interval_s,
                      older_than_s=ch.notifier_sending_timeout_s, instance_id=instance_id, senders=senders,
                      record_uow=record_uow)

    async def start() -> None:
        sweeper.start()

    rt.on_start.append(start)
    rt.on_stop.append(sweeper.stop)
