"""Read the city's Mastodon mentions since the persisted cursor and publish them, exactly once.

Produces `intake.message_received` on `intake.messages` through the service's outbox: each mention's
event and the cursor (the notification id, Mastodon's `since_id`) are written in one transaction, so a
crash between two mentions neither loses one nor reads one twice after a restart. A stream event only
wakes the poller: the poll since the cursor is the single path by which mentions are read, so a mention
that arrived while the stream was reconnecting is still read, in order. `MentionIntake` runs it all for
the service's lifetime: it learns who the city's account is, polls, counts each poll, and opens the user
stream as a wake-up when the server has a healthy one.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from services.intake_social.adapters.mastodon_api import mention_listener
from services.intake_social.config import SocialSettings
from services.intake_social.domain.mastodon import id_order, outcome_of_notification, parse_created_at
from services.intake_social.domain.outcomes import Inbound, Outcome
from services.intake_social.service_layer.reading import in_its_language, with_written_place
from shared.events import Envelope

MAX_PAGES = 100
"""At most this many pages (of `page_size`) are read in one poll; the rest come at the next poll."""


class MentionSource(Protocol):
    """The city's mention notifications (Mastodon ``GET /api/v1/notifications?types[]=mention``)."""

    async def page(self, *, since_id: str | None, max_id: str | None, limit: int) -> list[Mapping[str, Any]]:
        """Notifications with `since_id` < id < `max_id`, newest first, at most `limit` of them."""


class MastodonAccount(MentionSource, Protocol):
    """The city's account on its Mastodon server (`adapters.mastodon_api.MastodonApi`): its mentions, who
    it is, and its user stream. A `close()` method, when it has one, is called at stop."""

    instance_host: str

    async def whoami(self) -> tuple[str, str]:
        """(account id, acct) of the city's account; raises when the server cannot be reached."""

    async def stream_available(self) -> bool:
        """Whether the server's streaming API answers its health check."""

    def start_stream(self, listener: Any) -> None:
        """Open the user stream (in a thread of its own), handing its events to `listener`."""


class CursorStore(Protocol):
    """Where poll cursors are kept (the service's own schema)."""

    async def get(self, source: str) -> str | None:
        """The last notification id handled for `source`, or None before the first one."""

    async def advance(self, source: str, cursor: str, envelope: Envelope | None) -> None:
        """In one transaction: put `envelope` (if any) in the outbox and set the cursor to `cursor`."""


@dataclass(frozen=True)
class MentionDeps:
    """What a poll needs. `cursor_key` names the account (``mastodon:<server>:<account id>``) so that a
    change of account or server starts a cursor of its own; `backfill` is how far back the very first
    poll reads (older mentions are left alone rather than opening cases from years ago); `language` the
    jurisdiction's first locale, for a mention whose status and words name no language."""

    source: MentionSource
    store: CursorStore
    cursor_key: str
    own_acct: str | None
    own_account_id: str | None
    instance_host: str
    report: Callable[[Outcome], None]
    producer: str = "intake_social"
    page_size: int = 40
    backfill: timedelta = timedelta(hours=24)
    language: str = "en"


async def new_mentions(source: MentionSource, since_id: str | None, *, page_size: int,
                       not_before: datetime | None, now: datetime) -> list[Mapping[str, Any]]:
    """Every notification newer than `since_id`, oldest first.

    Mastodon answers ``since_id`` with the newest page; older pages are fetched with ``max_id`` until
    an empty page (or one that reaches `not_before`, when there is no cursor yet), so that a burst of
    more than one page between two polls is not cut.
    """
    found: dict[str, Mapping[str, Any]] = {}
    max_id: str | None = None
    for _ in range(MAX_PAGES):
        page = await source.page(since_id=since_id, max_id=max_id, limit=page_size)
        ids = [str(n.get("id")) for n in page if n.get("id") is not None]
        fresh = [i for i in ids if since_id is None or id_order(i) > id_order(since_id)]
        for n in page:
            if str(n.get("id")) in fresh:
                found[str(n["id"])] = n
        if not fresh:
            break
        oldest = min(fresh, key=id_order)
        if max_id is not None and id_order(oldest) >= id_order(max_id):
            break  # a server that ignores max_id would page forever
        max_id = oldest
        if since_id is None and not_before is not None and parse_created_at(found[oldest].get("created_at"), now) < not_before:
            break
    ordered = sorted(found, key=id_order)
    if since_id is None and not_before is not None:
        ordered = [i for i in ordered if parse_created_at(found[i].get("created_at"), now) >= not_before]
    return [found[i] for i in ordered]


async def poll_mentions(deps: MentionDeps, now: datetime) -> int:
    """Handle every mention since the cursor; returns how many became messages.

    A mention is published in its status's language, else its words' (`reading.in_its_language`), and
    with the place its text writes as its address (`reading.with_written_place`). Each notification
    moves the cursor, messages or not (a favourite is not read again either). Raises
    what the source or the store raise; the cursor then stays at the last notification fully handled.
    """
    cursor = await deps.store.get(deps.cursor_key)
    notifications = await new_mentions(deps.source, cursor, page_size=deps.page_size,
                                       not_before=now - deps.backfill if cursor is None else None, now=now)
    published = 0
    for n in notifications:
        outcome = outcome_of_notification(n, own_acct=deps.own_acct, own_account_id=deps.own_account_id,
                                          instance_host=deps.instance_host, now=now)
        envelope = None
        if isinstance(outcome, Inbound):
            msg = with_written_place(in_its_language(outcome.message, deps.language))
            outcome = Inbound(msg, notes=outcome.notes)
            envelope = Envelope.new_flow(msg, subject=msg.contact_key, producer=deps.producer, now=now,
                                         event_id=outcome.event_id)
            published += 1
        await deps.store.advance(deps.cursor_key, str(n["id"]), envelope)
        deps.report(outcome)
    return published


class MentionWatcher:
    """Polls until stopped: every `interval_s` seconds, and at once when `nudge()` is called (a stream
    event). Errors (server or database down) are logged by `on_error` and retried with backoff."""

    def __init__(self, poll: Callable[[], Awaitable[int]], *, interval_s: float,
                 on_error: Callable[[BaseException, float], None]) -> None:
        self._poll = poll
        self.interval_s = interval_s
        self._on_error = on_error
        self._wake = asyncio.Event()
        self._stopping = False
        self.polls = 0

    def nudge(self) -> None:
        """Poll now (call from the event loop's thread; other threads use `loop.call_soon_threadsafe`)."""
        self._wake.set()

    def stop(self) -> None:
        """Stop after the poll under way (if any); `run` then returns."""
        self._stopping = True
        self._wake.set()

    async def run(self) -> None:
        """Poll until `stop()`: every `interval_s` seconds, at once after a `nudge()`, and after an error
        with a backoff from 0.5 s doubling up to 30 s (never longer than `interval_s`)."""
        backoff = 0.5
        while not self._stopping:
            # Clear before polling: a nudge that arrives during the poll must start another one.
            self._wake.clear()
            wait = self.interval_s
            try:
                await self._poll()
                self.polls += 1
                backoff = 0.5
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the watcher must outlive outages of either side
                wait = min(backoff, self.interval_s)
                self._on_error(exc, wait)
                backoff = min(backoff * 2, 30.0)
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=wait)
            except TimeoutError:
                pass


@dataclass
class MentionPoller:
    """One poll of the city's account, as `MentionWatcher` calls it: asks the server who the account is
    on the first poll that reaches it (then kept for the process's life), reads the mentions since the
    cursor (`poll_mentions`, the cursor key ``mastodon:<server>:<account id>``) and counts each poll
    with `counted("ok")` or `counted("error")`; returns how many mentions became messages and raises
    what the poll raised. `clock()` gives the time (UTC); `backfill` is how far back the very first
    poll reads; `language` the jurisdiction's first locale."""

    source: MastodonAccount
    store: CursorStore
    report: Callable[[Outcome], None]
    counted: Callable[[str], None]
    clock: Callable[[], datetime]
    producer: str = "intake_social"
    backfill: timedelta = timedelta(hours=24)
    identity: tuple[str, str] | None = None
    language: str = "en"

    async def __call__(self) -> int:
        """Poll once (see the class)."""
        try:
            if self.identity is None:
                self.identity = await self.source.whoami()
            account_id, acct = self.identity
            host = self.source.instance_host
            deps = MentionDeps(source=self.source, store=self.store, cursor_key=f"mastodon:{host}:{account_id}",
                               own_acct=acct, own_account_id=account_id, instance_host=host, report=self.report,
                               producer=self.producer, backfill=self.backfill, language=self.language)
            n = await poll_mentions(deps, self.clock())
        except Exception:
            self.counted("error")
            raise
        self.counted("ok")
        return n


class MentionIntake:
    """The city's mentions for the service's lifetime: `start()` polls every
    `mastodon_poll_interval_s` (a `MentionWatcher` around a `MentionPoller`) and, with
    `mastodon_streaming`, opens the user stream as a wake-up when the server has a healthy one (the
    safety poll then every `mastodon_stream_poll_interval_s`); `stop()` stops both. `log` is the
    service's structured logger; the other arguments are `MentionPoller`'s."""

    def __init__(self, source: MastodonAccount, store: CursorStore, cfg: SocialSettings, *,
                 report: Callable[[Outcome], None], counted: Callable[[str], None],
                 clock: Callable[[], datetime], log: Any, producer: str, language: str = "en") -> None:
        self.source = source
        self.cfg = cfg
        self.log = log
        poller = MentionPoller(source, store, report=report, counted=counted, clock=clock, producer=producer,
                               backfill=timedelta(hours=cfg.mastodon_backfill_hours), language=language)
        self.watcher = MentionWatcher(poller, interval_s=cfg.mastodon_poll_interval_s,
                                      on_error=lambda exc, wait: log.warning("mastodon_poll_failed", error=repr(exc),
                                                                             retry_in_s=wait))
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        """Start polling (and the stream wake-up) in background tasks on the running loop; returns at once."""
        self._tasks.append(asyncio.create_task(self.watcher.run(), name="mastodon-mentions"))
        if self.cfg.mastodon_streaming:
            self._tasks.append(asyncio.create_task(self._open_stream(), name="mastodon-stream"))

    async def stop(self) -> None:
        """Stop polling, close the stream, and wait for the tasks (10 s each at most)."""
        self.watcher.stop()
        close = getattr(self.source, "close", None)
        if close is not None:
            close()
        for task in self._tasks:
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(task, timeout=10)

    async def _open_stream(self) -> None:
        """Use the user stream as a wake-up when the server's streaming API is healthy; else keep polling."""
        cfg, watcher = self.cfg, self.watcher
        if not await self.source.stream_available():
            self.log.info("mastodon_polling", interval_s=cfg.mastodon_poll_interval_s)
            return
        loop = asyncio.get_running_loop()
        listener = mention_listener(on_mention=lambda _n: loop.call_soon_threadsafe(watcher.nudge),
                                    on_lost=lambda err: self.log.warning("mastodon_stream_lost", error=repr(err)))
        # Mastodon.py looks up the streaming server (blocking HTTP) before its thread takes over.
        await asyncio.to_thread(self.source.start_stream, listener)
        watcher.interval_s = cfg.mastodon_stream_poll_interval_s
        watcher.nudge()  # read what arrived before the stream opened
        self.log.info("mastodon_streaming", safety_poll_s=cfg.mastodon_stream_poll_interval_s)
