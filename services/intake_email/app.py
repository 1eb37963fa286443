"""intake_email entry point: the city's 311 mailbox (IMAP, IDLE with a polling fallback) as events.

Consumes the IMAP mailbox (`imap_*` settings); produces `intake.message_received` and
`intake.bounce_received` on `intake.messages` through the outbox. Owns the mailbox cursor, every raw
message and the media cut from them (schema `intake_email`). No Kafka subscriptions.
HTTP: `GET /media/{media_id}` (images, metadata removed), `GET /problems` (mail that could not be read
or was read with problems), `GET /messages` (what became of each message, by Message-ID or kind),
`GET /messages/{id}/raw` (the bytes as fetched), `GET /mailbox` (the watcher's state).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote
from uuid import UUID

from fastapi import HTTPException, Query, Response
from prometheus_client import Counter

from services.intake_email.adapters import repository as repo
from services.intake_email.service_layer import handlers
from services.intake_email.service_layer.watcher import MailboxWatcher, WatchSettings
from shared.service import Runtime
from shared.settings import Settings

SERVICE = "intake_email"


def media_base_url(s: Settings) -> str:
    """Public base of `/media`: `public_media_base_url`, else this service's own address."""
    return (s.public_media_base_url or f"http://{s.http_host}:{s.port_for(SERVICE)}/media").rstrip("/")


def create_app(settings: Settings | None = None) -> Any:
    """Build the email intake service (FastAPI app; the mailbox watcher runs in its lifespan)."""
    s = settings or Settings()
    rt = Runtime(s, SERVICE, schema_package="services.intake_email")
    box = f"{s.imap_user}@{s.imap_host}:{s.imap_port}/{s.imap_mailbox}"
    base = media_base_url(s)
    own = frozenset(a.strip().casefold() for a in (s.mail_from, s.imap_user) if "@" in a)
    ingested = Counter("omni311_email_messages", "Mail ingested from the mailbox, by kind", ["kind"],
                       registry=rt.metrics)
    watchers: list[MailboxWatcher] = []

    async def start() -> None:
        deps = handlers.Deps(pool=rt.db, mailbox=box, authserv_id=s.mail_authserv_id, own_addresses=own,
                             media_url=lambda media_id: f"{base}/{media_id}")
        watch = WatchSettings(
            host=s.imap_host, port=s.imap_port, user=s.imap_user, password=s.imap_password, mailbox=s.imap_mailbox,
            tls=s.imap_tls, timeout_s=s.imap_timeout_s, use_idle=s.imap_use_idle,
            idle_renew_s=s.imap_idle_renew_s, poll_interval_s=s.imap_poll_interval_s,
            reconnect_max_s=s.imap_reconnect_max_s,
            processed_keyword=s.imap_processed_keyword,
        )
        watcher = MailboxWatcher(watch, deps, rt.clock, on_ingested=lambda kind: ingested.labels(kind).inc())
        watchers.append(watcher)
        watcher.start()

    async def stop() -> None:
        for watcher in watchers:
            await watcher.stop()

    rt.on_start.append(start)
    rt.on_stop.append(stop)
    app = rt.app

    @app.get("/media/{media_id}")
    async def media(media_id: UUID) -> Response:
        row = await repo.publishable_media(rt.db, media_id)
        if row is None:
            raise HTTPException(404, "no such media")
        name = quote(row["filename"] or f"{media_id}", safe="")
        return Response(row["content"], media_type=row["content_type"], headers={
            "Content-Disposition": f"inline; filename*=UTF-8''{name}",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'",
            "Cache-Control": "public, max-age=31536000, immutable",
        })

    @app.get("/problems")
    async def problems(limit: int = Query(100, ge=1, le=1000)) -> list[dict[str, Any]]:
        return await repo.problems(rt.db, limit)

    @app.get("/messages")
    async def messages(message_id: str | None = None, kind: str | None = None,
                       limit: int = Query(100, ge=1, le=1000)) -> list[dict[str, Any]]:
        return await repo.messages(rt.db, message_id=message_id, kind=kind, limit=limit)

    @app.get("/messages/{row_id}/raw")
    async def raw(row_id: int) -> Response:
        data = await repo.raw_bytes(rt.db, row_id)
        if data is None:
            raise HTTPException(404, "no such message")
        return Response(data, media_type="message/rfc822",
                        headers={"Content-Disposition": f"attachment; filename=message-{row_id}.eml"})

    @app.get("/mailbox")
    async def mailbox() -> dict[str, Any]:
        if not watchers:
            return {"mailbox": box, "state": "not started"}
        status = watchers[0].status()
        current = await repo.cursor(rt.db, box)
        status["last_uid"] = current.last_uid if current else None
        return status

    return app
