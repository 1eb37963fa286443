"""A downloaded media file made safe to keep and show: pictures re-encoded without metadata by the portal's
own `process_photo` (EXIF with GPS, XMP, comments gone; upright; long side at most 1600 px; JPEG), other
kinds kept as they are; its SHA-256 names it (pure, CPU-bound: run it in a worker thread)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from shared.media.fetch import Fetched, MediaRefused
from shared.media.photos import NotAnImage, process_photo


@dataclass(frozen=True)
class Cleaned:
    """What is stored: `content` and its `content_type` (``image/jpeg`` for every picture), `filename`
    (a picture's with a ``.jpg`` extension; None without one), `sha256` of `content` (64 hex digits),
    `width`/`height` in pixels for a picture, None otherwise."""

    content: bytes
    content_type: str
    filename: str | None
    sha256: str
    width: int | None = None
    height: int | None = None


def clean(fetched: Fetched) -> Cleaned:
    """`fetched` ready to keep: an ``image/*`` re-encoded by `process_photo` (an animated GIF keeps its first
    frame), anything else unchanged (a video's or PDF's own metadata stays: only pictures are re-encoded).

    Raises `MediaRefused` for a picture `process_photo` cannot read (truncated, corrupt, more than
    `photos.MAX_PIXELS` pixels).
    """
    if fetched.content_type.startswith("image/"):
        try:
            photo = process_photo(fetched.content)
        except NotAnImage as exc:
            raise MediaRefused(str(exc)) from exc
        return Cleaned(content=photo.jpeg, content_type="image/jpeg", filename=_as_jpeg(fetched.filename),
                       sha256=hashlib.sha256(photo.jpeg).hexdigest(), width=photo.width, height=photo.height)
    return Cleaned(content=fetched.content, content_type=fetched.content_type, filename=fetched.filename,
                   sha256=hashlib.sha256(fetched.content).hexdigest())


def _as_jpeg(filename: str | None) -> str | None:
    if not filename:
        return None
    stem = filename.rsplit(".", 1)[0] if "." in filename.strip(".") else filename
    return f"{stem}.jpg"
