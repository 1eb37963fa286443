"""intake_email's name and the settings it reads, all from the common `shared.settings.Settings`
(`imap_*` for the mailbox, `mail_from` and `mail_authserv_id` for what is ours, `public_media_base_url`);
the port is the service's entry in `shared.settings.SERVICE_PORTS`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from uuid import UUID

from shared.settings import Settings

SERVICE = "intake_email"


@dataclass(frozen=True)
class WatchSettings:
    """Where the mailbox is and how to watch it; times in seconds."""

    host: str
    port: int
    user: str
    password: str
    mailbox: str
    tls: bool = False
    timeout_s: float = 20.0
    use_idle: bool = True
    idle_renew_s: float = 300.0
    poll_interval_s: float = 60.0
    reconnect_initial_s: float = 0.5
    reconnect_max_s: float = 30.0
    processed_keyword: str = "$Omni311Ingested"


def watch_settings(s: Settings) -> WatchSettings:
    """The mailbox and how to watch it, from the `imap_*` settings."""
    return WatchSettings(
        host=s.imap_host, port=s.imap_port, user=s.imap_user, password=s.imap_password, mailbox=s.imap_mailbox,
        tls=s.imap_tls, timeout_s=s.imap_timeout_s, use_idle=s.imap_use_idle, idle_renew_s=s.imap_idle_renew_s,
        poll_interval_s=s.imap_poll_interval_s, reconnect_max_s=s.imap_reconnect_max_s,
        processed_keyword=s.imap_processed_keyword,
    )


def mailbox_key(s: Settings) -> str:
    """The mailbox cursor's key: ``<user>@<host>:<port>/<folder>``."""
    return f"{s.imap_user}@{s.imap_host}:{s.imap_port}/{s.imap_mailbox}"


def own_addresses(s: Settings) -> frozenset[str]:
    """The city's own addresses (case-folded): mail from them is a loop, never a report."""
    return frozenset(a.strip().casefold() for a in (s.mail_from, s.imap_user) if "@" in a)


def media_base_url(s: Settings) -> str:
    """Public base of `/media`: `public_media_base_url`, else this service's own address."""
    return (s.public_media_base_url or f"http://{s.http_host}:{s.port_for(SERVICE)}/media").rstrip("/")


def media_url(s: Settings) -> Callable[[UUID], str]:
    """The public URL of a stored image, by its media id."""
    base = media_base_url(s)
    return lambda media_id: f"{base}/{media_id}"
