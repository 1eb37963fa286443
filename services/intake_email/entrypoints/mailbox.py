"""The mailbox watcher for the service's lifetime: started once the pool is open, stopped before it
closes; each message it ingests is counted by kind (`omni311_email_messages` on `/metrics`)."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import Counter

from services.intake_email.adapters import repository as repo
from services.intake_email.config import mailbox_key, media_url, own_addresses, watch_settings
from services.intake_email.service_layer import handlers
from services.intake_email.service_layer.watcher import MailboxWatcher
from shared.service import Runtime
from shared.settings import Settings


@dataclass
class Watching:
    """The watched mailbox's cursor key, and its watcher once the service started (None before)."""

    mailbox: str
    watcher: MailboxWatcher | None = None


def watch(rt: Runtime, s: Settings) -> Watching:
    """Watch the mailbox of the `imap_*` settings between the service's start and stop."""
    ingested = Counter("omni311_email_messages", "Mail ingested from the mailbox, by kind", ["kind"],
                       registry=rt.metrics)
    watching = Watching(mailbox_key(s))

    async def start() -> None:
        """Once the pool is open: bind it to each message's unit of work and the store, start watching."""
        deps = handlers.Deps(mailbox=watching.mailbox, authserv_id=s.mail_authserv_id,
                             own_addresses=own_addresses(s), media_url=media_url(s),
                             unit_of_work=lambda now: rt.unit_of_work(repo.MailRepository, now=now))
        watching.watcher = MailboxWatcher(watch_settings(s), deps, repo.MailboxStore(rt.db), rt.clock,
                                          on_ingested=lambda kind: ingested.labels(kind).inc())
        watching.watcher.start()

    async def stop() -> None:
        """Before the pool closes: stop watching (a message being ingested is rolled back)."""
        if watching.watcher is not None:
            await watching.watcher.stop()

    rt.on_start.append(start)
    rt.on_stop.append(stop)
    return watching
