"""intake_email's HTTP routes: `GET /media/{media_id}` (a stored image, metadata removed, for residents
and staff), and for staff `GET /problems` (mail that could not be read or was read with problems),
`GET /messages` (what became of each message, by Message-ID or kind), `GET /messages/{id}/raw` (the
bytes as fetched) and `GET /mailbox` (the watcher's state)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote
from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response

from services.intake_email.adapters import repository as repo
from services.intake_email.entrypoints.mailbox import Watching
from shared.service import Runtime

router = APIRouter()


@dataclass(frozen=True)
class Mail:
    """What the routes use, kept on `app.state.mail`: the runtime (its pool) and the watched mailbox."""

    rt: Runtime
    watching: Watching


def mount(rt: Runtime, watching: Watching) -> None:
    """Serve the routes on `rt.app`."""
    rt.app.state.mail = Mail(rt, watching)
    rt.app.include_router(router)


def mail(request: Request) -> Mail:
    """The routes' wiring (a FastAPI dependency)."""
    return request.app.state.mail


Ctx = Annotated[Mail, Depends(mail)]


@router.get("/media/{media_id}")
async def media(media_id: UUID, m: Ctx) -> Response:
    row = await repo.publishable_media(m.rt.db, media_id)
    if row is None:
        raise HTTPException(404, "no such media")
    name = quote(row["filename"] or f"{media_id}", safe="")
    return Response(row["content"], media_type=row["content_type"], headers={
        "Content-Disposition": f"inline; filename*=UTF-8''{name}",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'",
        "Cache-Control": "public, max-age=31536000, immutable",
    })


@router.get("/problems")
async def problems(m: Ctx, limit: int = Query(100, ge=1, le=1000)) -> list[dict[str, Any]]:
    return await repo.problems(m.rt.db, limit)


@router.get("/messages")
async def messages(m: Ctx, message_id: str | None = None, kind: str | None = None,
                   limit: int = Query(100, ge=1, le=1000)) -> list[dict[str, Any]]:
    return await repo.messages(m.rt.db, message_id=message_id, kind=kind, limit=limit)


@router.get("/messages/{row_id}/raw")
async def raw(row_id: int, m: Ctx) -> Response:
    data = await repo.raw_bytes(m.rt.db, row_id)
    if data is None:
        raise HTTPException(404, "no such message")
    return Response(data, media_type="message/rfc822",
                    headers={"Content-Disposition": f"attachment; filename=message-{row_id}.eml"})


@router.get("/mailbox")
async def mailbox(m: Ctx) -> dict[str, Any]:
    watcher = m.watching.watcher
    if watcher is None:
        return {"mailbox": m.watching.mailbox, "state": "not started"}
    status = watcher.status()
    current = await repo.cursor(m.rt.db, m.watching.mailbox)
    status["last_uid"] = current.last_uid if current else None
    return status
