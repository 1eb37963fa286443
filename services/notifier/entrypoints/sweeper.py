"""The notifier's sweeper: a background loop, in every replica, that beats for its own process and settles
the deliveries a dead process left ``sending`` (`handlers.settle_interrupted`), so that no intent stays open
unseen. State is in PostgreSQL only."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
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
    `senders` (outcome recorded in `record_uow`), the others recorded failed. A round runs every
    `interval_s` seconds, and at least three times per `older_than_s`; between rounds a loop of its own
    beats as often, so that a long round (its resends) never makes this live process look silent. This
    process's own rows as old are settled too unless it is delivering them (`in_flight`, the live set of
    `handlers.Sending.in_flight`): their delivery gave up on the database. An error is logged and the next
    round runs."""

    def __init__(self, unit_of_work: Callable[[], handlers.Uow], *, interval_s: float, older_than_s: float,
                 instance_id: UUID | None = None, senders: handlers.Senders | None = None,
                 record_uow: handlers.RecordUnitOfWork | None = None, in_flight: set[int] | None = None,
                 db_retry_s: tuple[float, ...] = ()) -> None:
        self.unit_of_work = unit_of_work
        self.interval_s = min(interval_s, older_than_s / 3)
        self.older_than_s = older_than_s
        self.instance_id = instance_id
        self.senders = senders
        self.record_uow = record_uow
        self.in_flight = in_flight if in_flight is not None else set()
        self.db_retry_s = db_retry_s
        self._tasks: list[asyncio.Task[None]] = []

    async def beat(self) -> None:
        """Say that this process lives (nothing without an `instance_id`)."""
        if self.instance_id is None:
            return
        async with self.unit_of_work() as uow:
            await uow.repo.beat(self.instance_id, uow.now)

    async def sweep(self) -> int:
        """One round; returns how many deliveries were settled."""
        async with self.unit_of_work() as uow:
            return await handlers.settle_interrupted(uow, older_than_s=self.older_than_s,
                                                     instance_id=self.instance_id, senders=self.senders,
                                                     record_uow=self.record_uow,
                                                     in_flight=self.in_flight,
                                                     db_retry_s=self.db_retry_s)

    async def _every_interval(self, step: Callable[[], Awaitable[object]], failed: str) -> None:
        while True:
            try:
                await step()
            except Exception as exc:  # noqa: BLE001 - the next round tries again; the rows stay visible
                log.warning(failed, error=f"{type(exc).__name__}: {exc}")
            await asyncio.sleep(self.interval_s)

    def start(self) -> None:
        """Start the sweep loop and the beat loop as tasks of the running event loop."""
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._every_interval(self.sweep, "sweep_failed"), name="notifier-sweeper"),
                       loop.create_task(self._every_interval(self.beat, "beat_failed"), name="notifier-beat")]

    async def stop(self) -> None:
        """Cancel both loops and wait for them."""
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []


def run_sweeper(rt: Runtime, ch: ChannelSettings, instance_id: UUID, senders: handlers.Senders,
                record_uow: handlers.RecordUnitOfWork, in_flight: set[int]) -> None:
    """Run the sweeper (beating for `instance_id`, this process; resending through `senders`; leaving alone
    the deliveries in `in_flight`) once started, and stop it before the pool closes."""
    sweeper = Sweeper(lambda: rt.unit_of_work(NotifierRepository), interval_s=ch.notifier_sweep_interval_s,
                      older_than_s=ch.notifier_sending_timeout_s, instance_id=instance_id, senders=senders,
                      record_uow=record_uow, in_flight=in_flight, db_retry_s=handlers.DB_RETRY_S)

    async def start() -> None:
        sweeper.start()

    rt.on_start.append(start)
    rt.on_stop.append(sweeper.stop)
