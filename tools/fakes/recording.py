"""What every fake shares: the record of the requests it answered (``GET /sent``), a readiness probe
(``GET /readyz``, as the services have), the media it serves (``PUT/GET /fake/media/{id}``) and a small
sample photo and recording for simulated MMS, WhatsApp images and calls."""

from __future__ import annotations

import base64
import io
import secrets
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

MAX_KEPT = 1000
MAX_MEDIA_BYTES = 10 * 1024 * 1024

# One MPEG-1 Layer III frame of silence (128 kbit/s, 44.1 kHz, 417 bytes): a recording any player reads.
SILENT_MP3 = bytes.fromhex("fffb9064") + bytes(413)


def sample_jpeg() -> bytes:
    """A 64x48 JPEG (a grey road with a dark hole), made with Pillow: the photo of a simulated MMS."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (64, 48), (120, 120, 120))
    ImageDraw.Draw(image).ellipse((20, 16, 44, 32), fill=(30, 30, 30))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=80)
    return out.getvalue()


@dataclass
class Recorder:
    """Requests a fake answered (newest last, the last `MAX_KEPT`) and the media it serves by id."""

    name: str
    sent: list[dict[str, Any]] = field(default_factory=list)
    media: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, kind: str, **facts: Any) -> dict[str, Any]:
        """Keep one request: its `kind` (e.g. ``sms``, ``send_api``, ``status``), when, and `facts`."""
        item = {"kind": kind, "at": datetime.now(UTC).isoformat(timespec="seconds"), **facts}
        with self.lock:
            self.sent.append(item)
            del self.sent[:-MAX_KEPT]
        return item

    def new_media_id(self, prefix: str) -> str:
        """A fresh media id, e.g. ``ME`` + 32 hex digits."""
        return prefix + secrets.token_hex(16)


def mount_common(app: FastAPI, rec: Recorder) -> None:
    """``GET /readyz``, ``GET /sent`` (JSON list; ``?kind=`` filters), ``GET /`` (what this fake is) and
    the media routes: ``PUT /fake/media/{id}`` (the raw body, its Content-Type kept; 413 over 10 MiB) and
    ``GET /fake/media/{id}`` (the bytes; the sample photo for an id never put). Each download is
    recorded (``media_download``)."""

    @app.get("/readyz")
    async def readyz() -> dict[str, str]:
        return {"status": "ready", "fake": rec.name}

    @app.get("/sent")
    async def sent(kind: str | None = None) -> list[dict[str, Any]]:
        with rec.lock:
            return [s for s in rec.sent if kind is None or s["kind"] == kind]

    @app.get("/")
    async def about() -> dict[str, Any]:
        return {"fake": rec.name, "development_only": True, "sent": "/sent"}

    @app.put("/fake/media/{media_id}")
    async def put_media(media_id: str, request: Request) -> Response:
        body = await request.body()
        if len(body) > MAX_MEDIA_BYTES:
            return JSONResponse({"error": "larger than 10 MiB"}, status_code=413)
        with rec.lock:
            rec.media[media_id] = (request.headers.get("content-type", "application/octet-stream"), body)
        return JSONResponse({"id": media_id, "bytes": len(body)}, status_code=201)

    @app.get("/fake/media/{media_id}")
    async def get_media(media_id: str) -> Response:
        rec.record("media_download", media_id=media_id)
        return media_response(rec, media_id)


def media_response(rec: Recorder, media_id: str, default: tuple[str, bytes] | None = None) -> Response:
    """The media `media_id` put earlier, else `default` (the sample photo when None)."""
    with rec.lock:
        found = rec.media.get(media_id)
    content_type, body = found or default or ("image/jpeg", _sample())
    return Response(content=body, media_type=content_type)


_SAMPLE: list[bytes] = []


def _sample() -> bytes:
    if not _SAMPLE:
        _SAMPLE.append(sample_jpeg())
    return _SAMPLE[0]


def basic_auth(request: Request) -> tuple[str, str] | None:
    """(user, password) of an HTTP Basic Authorization header, None without a readable one."""
    header = request.headers.get("authorization", "")
    if not header.lower().startswith("basic "):
        return None
    try:
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    except ValueError:
        return None
    return user, password
