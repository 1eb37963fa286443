"""Watch the city mailbox until stopped: sync, IDLE (or poll), sync again; reconnect with backoff.

Each sync reads the cursor, starts over from UID 1 when UIDVALIDITY changed (or the server reused
UIDs), ingests every UID above the cursor in order, then flags what was committed (\\Seen and our
keyword) on the server. IDLE (RFC 2177) is renewed every `idle_renew_s` and doubles as a safety poll
every `poll_interval_s`; without IDLE the mailbox is polled. Any failure (refused, BYE, closed socket,
a server that stops answering, the database away) ends the session; the next one starts after an
exponential backoff capped at `reconnect_max_s`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import datetime
from typing import Any

from services.intake_email.adapters.imap import ImapSession, SelectedMailbox
from services.intake_email.adapters.repository import Cursor, MailboxStore
from services.intake_email.config import WatchSettings
from services.intake_email.service_layer import handlers
from shared.logs import get_logger

log = get_logger(__name__)


class MailboxWatcher:
    """Runs in the background of the intake_email process; `status()` is what `/mailbox` shows.

    `deps` ingest each message (`handlers.ingest`); `store` keeps the cursor and what is to be flagged
    on the server; `clock()` gives the time (UTC); `on_ingested(kind)` is told each message ingested.
    """

    def __init__(self, settings: WatchSettings, deps: handlers.Deps, store: MailboxStore,
                 clock: Callable[[], datetime], on_ingested: Callable[[str], None] | None = None) -> None:
        self.settings = settings
        self.deps = deps
        self.store = store
        self.clock = clock
        self.on_ingested = on_ingested or (lambda _kind: None)
        self.state = "starting"
        self.sessions = 0
        self.reconnects = 0
        self.idle_supported: bool | None = None
        self.uidvalidity: int | None = None
        self.last_error: str | None = None
        self.last_sync_at: datetime | None = None
        self.ingested = 0
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start watching in a background task (on the running event loop); returns at once."""
        self._task = asyncio.create_task(self._run(), name="intake-email-watcher")

    async def stop(self) -> None:
        """Stop watching: cancel the task and wait for it (the IMAP session is closed on the way out)."""
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        self.state = "stopped"

    def status(self) -> dict[str, Any]:
        """The watcher's state as `/mailbox` shows it: mailbox key, state, IDLE support, UIDVALIDITY,
        sessions, reconnects, messages ingested, last error, last sync (UTC) and its timings (seconds)."""
        s = self.settings
        return {"mailbox": self.deps.mailbox, "state": self.state, "idle_supported": self.idle_supported,
                "uidvalidity": self.uidvalidity, "sessions": self.sessions, "reconnects": self.reconnects,
                "ingested": self.ingested, "last_error": self.last_error, "last_sync_at": self.last_sync_at,
                "idle_renew_s": s.idle_renew_s, "poll_interval_s": s.poll_interval_s}

    async def _run(self) -> None:
        backoff = self.settings.reconnect_initial_s
        while not self._stopping:
            synced = False
            try:
                self.state = "connecting"
                async for _ in self._session():
                    synced = True
                    backoff = self.settings.reconnect_initial_s
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the watcher must outlive every outage
                self.last_error = f"{type(exc).__name__}: {exc}"[:300]
                log.warning("mailbox_session_ended", error=self.last_error, retry_in_s=backoff,
                            after_sync=synced)
            if self._stopping:
                break
            self.state = "backoff"
            self.reconnects += 1
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self.settings.reconnect_max_s)

    async def _session(self):  # noqa: ANN202 - async generator: yields after each completed sync
        s = self.settings
        session, selected = await ImapSession.open(s.host, s.port, user=s.user, password=s.password,
                                                   mailbox=s.mailbox, tls=s.tls, timeout_s=s.timeout_s)
        self.sessions += 1
        try:
            self.idle_supported = session.supports_idle
            use_idle = s.use_idle and session.supports_idle
            log.info("mailbox_connected", uidvalidity=selected.uidvalidity, exists=selected.exists,
                     idle=self.idle_supported)
            await self._sync(session, selected, after_select=True)
            yield
            while not self._stopping:
                if use_idle:
                    self.state = "idle"
                    await session.idle(min(s.idle_renew_s, s.poll_interval_s))
                else:
                    self.state = "polling"
                    await asyncio.sleep(s.poll_interval_s)
                    await session.noop()
                # A new SELECT is not needed: UIDVALIDITY cannot change within a selected session
                # without the server ending it (RFC 3501 §2.3.1.1).
                await self._sync(session, selected, after_select=False)
                yield
        finally:
            await session.close()

    async def _sync(self, session: ImapSession, selected: SelectedMailbox, *, after_select: bool) -> None:
        self.state = "syncing"
        deps = self.deps
        self.uidvalidity = selected.uidvalidity
        current = await self.store.cursor(deps.mailbox)
        if current is None or current.uidvalidity != selected.uidvalidity:
            if current is None:
                log.info("mailbox_cursor_created", uidvalidity=selected.uidvalidity)
            else:
                log.warning("mailbox_uidvalidity_changed", was=current.uidvalidity, now=selected.uidvalidity)
            await self.store.start_over(deps.mailbox, selected.uidvalidity, self.clock())
            current = Cursor(selected.uidvalidity, 0)
        elif after_select and selected.uidnext is not None and current.last_uid >= selected.uidnext:
            # UIDNEXT (as SELECT reported it) below what we ingested under the same UIDVALIDITY: a broken
            # server reused UIDs. Read all again and let Message-ID idempotency drop what was ingested.
            log.warning("mailbox_uids_reused", last_uid=current.last_uid, uidnext=selected.uidnext)
            await self.store.start_over(deps.mailbox, selected.uidvalidity, self.clock())
            current = Cursor(selected.uidvalidity, 0)
        for uid in await session.uids_after(current.last_uid):
            raw = await session.fetch(uid)
            if raw is None:
                continue  # expunged between SEARCH and FETCH: nothing to keep
            kind = await handlers.ingest(deps, uidvalidity=selected.uidvalidity, uid=uid, raw=raw, now=self.clock())
            if kind != "already_ingested":
                self.ingested += 1
                self.on_ingested(kind)
        await self._flag(session, selected.uidvalidity)
        self.last_sync_at = self.clock()

    async def _flag(self, session: ImapSession, uidvalidity: int) -> None:
        """Flag on the server what is committed here (after the commit, so a crash in between leaves the
        mail unflagged, never flagged-but-lost; the next sync catches up)."""
        rows = await self.store.unflagged(self.deps.mailbox, uidvalidity)
        if not rows:
            return
        uids = [uid for _, uid in rows]
        flags = f"\\Seen {self.settings.processed_keyword}".strip()
        if not await session.add_flags(uids, flags) and not await session.add_flags(uids, "\\Seen"):
            # A read-only mailbox: the cursor alone keeps ingestion exactly-once, so go on rather than
            # reconnect over and over.
            log.warning("mailbox_flags_refused", messages=len(uids))
        await self.store.mark_flagged([row_id for row_id, _ in rows], self.clock())
