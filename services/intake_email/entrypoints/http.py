"""intake_email's HTTP routes: `GET /media/{media_id}` (a stored image, metadata removed, for residents
and staff: its URL is in Open311 answers, so it stays public), and for supervisors and administrators
(a staff bearer JWT, `shared.auth`; 401 without a valid one, 403 for another role) `GET /problems` (mail
that could not be read or was read with problems), `GET /messages` (what became of each message, by
Message-ID or kind), `GET /messages/{id}/raw` (the bytes as fetched) and `GET /mailbox` (the watcher's
state). Raw mail holds residents' addresses and words: these routes are closed to anyone else."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote
from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict

from services.intake_email.adapters import repository as repo
from services.intake_email.entrypoints.mailbox import Watching
from shared.auth import Role, require
from shared.service import Runtime

router = APIRouter()
ADMIN_ROLES = (Role.SUPERVISOR, Role.ADMINISTRATOR)
"""Who may read the mailbox's messages and state (docs/staff-work.md, "Roles and tokens")."""
staff_only = Depends(require(*ADMIN_ROLES))


class StoredMessage(BaseModel):
    """A stored message without its bytes (`repository.RAW_COLUMNS`): where it was fetched, what it became."""

    model_config = ConfigDict(extra="allow")

    id: int
    mailbox: str
    uidvalidity: int
    uid: int
    size: int
    sha256: str
    fetched_at: str
    message_id: str | None
    kind: str
    reason: str | None
    problems: Any
    sender_authenticated: bool | None
    attachments: Any
    event_ids: Any
    flagged_at: str | None
    erased_at: str | None


class MailboxState(BaseModel):
    """``GET /mailbox``: the watcher's state (`MailboxWatcher.status`: counts, last error, last sync in UTC,
    timings in seconds) and the cursor's last UID; only `mailbox` and `state` ``not started`` before it runs."""

    model_config = ConfigDict(extra="allow")

    mailbox: str
    state: str
    last_uid: int | None = None


def _documented(model: Any, what: str) -> dict[str, Any]:
    """Route arguments documenting the 200 answer as `model` without filtering it: the route keeps its own
    return type (serialised as before), `model` adds the shape to the document (OpenAPI 3.1 applies both)."""
    return {"responses": {200: {"model": model, "description": what}}}


def _bytes(media_type: str, what: str) -> dict[str, Any]:
    return {"responses": {200: {"description": what,
                                "content": {media_type: {"schema": {"type": "string", "format": "binary"}}}}}}


@dataclass(frozen=True)
class Mail:
    """What the routes use, kept on `app.state.mail`: the runtime and the watched mailbox."""

    rt: Runtime
    watching: Watching

    @property
    def store(self) -> repo.MailboxStore:
        """The schema's reads, on the service's pool (open once the service started)."""
        return repo.MailboxStore(self.rt.db)


def mount(rt: Runtime, watching: Watching) -> None:
    """Serve the routes on `rt.app`."""
    rt.app.state.mail = Mail(rt, watching)
    rt.app.include_router(router)


def mail(request: Request) -> Mail:
    """The routes' wiring (a FastAPI dependency)."""
    return request.app.state.mail


Ctx = Annotated[Mail, Depends(mail)]


@router.get("/media/{media_id}", **_bytes("image/*", "The image, metadata removed"))
async def media(media_id: UUID, m: Ctx) -> Response:
    """A stored image, metadata removed (for residents and staff); 404 when there is none, or when its
    metadata could not be removed. Served inline, cacheable for a year (its id names its bytes)."""
    row = await m.store.publishable_media(media_id)
    if row is None:
        raise HTTPException(404, "no such media")
    name = quote(row["filename"] or f"{media_id}", safe="")
    return Response(row["content"], media_type=row["content_type"], headers={
        "Content-Disposition": f"inline; filename*=UTF-8''{name}",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'",
        "Cache-Control": "public, max-age=31536000, immutable",
    })


NO_NUL = r"^[^\x00]*$"
"""A query text PostgreSQL can take (it refuses NUL in text): others are 422, not a 500 from the store."""


@router.get("/problems", dependencies=[staff_only], **_documented(list[StoredMessage], "Messages with problems"))
async def problems(m: Ctx, limit: int = Query(100, ge=1, le=1000)) -> list[dict[str, Any]]:
    """Staff: mail that could not be read or was read with problems, newest first (1-1000 rows)."""
    return await m.store.problems(limit)


@router.get("/messages", dependencies=[staff_only], **_documented(list[StoredMessage], "Stored messages"))
async def messages(m: Ctx, message_id: str | None = Query(None, max_length=998, pattern=NO_NUL),
                   kind: str | None = Query(None, max_length=64, pattern=NO_NUL),
                   limit: int = Query(100, ge=1, le=1000)) -> list[dict[str, Any]]:
    """Staff: what became of each stored message, newest first, by Message-ID and/or kind (1-1000 rows)."""
    return await m.store.messages(message_id=message_id, kind=kind, limit=limit)


@router.get("/messages/{row_id}/raw", dependencies=[staff_only],
            **_bytes("message/rfc822", "The message's bytes as fetched"))
async def raw(m: Ctx, row_id: int = Path(ge=1, le=2**63 - 1)) -> Response:
    """Staff: the bytes of stored message `row_id` as fetched (`message/rfc822`, as an attachment); 404
    when there is no such message, 410 when its bytes were erased (retention)."""
    data = await m.store.raw_bytes(row_id)
    if data is None:
        raise HTTPException(404, "no such message")
    if data == b"":
        raise HTTPException(410, "this message was erased under the retention policy")
    return Response(data, media_type="message/rfc822",
                    headers={"Content-Disposition": f"attachment; filename=message-{row_id}.eml"})


@router.get("/mailbox", dependencies=[staff_only], **_documented(MailboxState, "The watcher's state"))
async def mailbox(m: Ctx) -> dict[str, Any]:
    """Staff: the watcher's state (`MailboxWatcher.status`) and the cursor's last UID ingested; only the
    mailbox key and "not started" before the watcher runs."""
    watcher = m.watching.watcher
    if watcher is None:
        return {"mailbox": m.watching.mailbox, "state": "not started"}
    status = watcher.status()
    current = await m.store.cursor(m.watching.mailbox)
    status["last_uid"] = current.last_uid if current else None
    return status
