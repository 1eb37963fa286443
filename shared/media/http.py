"""`GET /media/{media_id}`: a kept media file for residents and staff (public: its URL is in the case's
`media_url` and in Open311 answers), with the headers intake_email's own media route sends (FastAPI)."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote
from uuid import UUID

from fastapi import APIRouter, FastAPI, HTTPException, Request, Response

from shared.media.store import MediaStore

StoreFor = Callable[[Request], MediaStore]
"""The store a request reads (e.g. ``lambda request: MediaStore(rt.db, "intake_social")``: the pool opens in
the lifespan, so the store is built per request, not when the route is mounted)."""


def media_headers(media_id: UUID, filename: str | None) -> dict[str, str]:
    """Headers of a served file: shown inline under its file name (RFC 6266 ``filename*``, UTF-8), never
    sniffed as another type, allowed to load nothing (a PDF or picture cannot run script), cacheable for
    a year (its id names its bytes)."""
    name = quote(filename or f"{media_id}", safe="")
    return {"Content-Disposition": f"inline; filename*=UTF-8''{name}",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'",
            "Cache-Control": "public, max-age=31536000, immutable"}


def mount_media(app: FastAPI, store_for: StoreFor) -> None:
    """Serve `GET /media/{media_id}` on `app` from `store_for(request)`: the bytes with `media_headers`;
    404 for an id that names nothing (not a UUID, control characters, unknown, erased)."""
    router = APIRouter()

    @router.get("/media/{media_id}", response_class=Response, tags=["media"],
                responses={200: {"content": {"application/octet-stream": {}}, "description": "the file"},
                           404: {"description": "no such media"}})
    async def media(media_id: str, request: Request) -> Response:
        """A kept media file (pictures without metadata); 404 when there is none."""
        try:
            uid = UUID(media_id)
        except ValueError:
            raise HTTPException(404, "no such media") from None
        stored = await store_for(request).get(uid)
        if stored is None:
            raise HTTPException(404, "no such media")
        return Response(stored.content, media_type=stored.content_type,
                        headers=media_headers(uid, stored.filename))

    app.include_router(router)
