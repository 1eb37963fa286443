"""A resident's photo made safe to keep and show: turned upright, stripped of EXIF (GPS included),
shrunk to a bounded size and re-encoded as JPEG (pure: bytes in, bytes out; Pillow, HEIC/HEIF through
pillow-heif)."""

from __future__ import annotations

import io
import threading
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

MAX_SIDE_PX = 1600
"""The long side of a stored photo, in pixels (a larger photo is scaled down, never up)."""
MAX_PIXELS = 40_000_000
"""The most pixels a photo may declare (width × height) before it is decoded: a decompression bomb (a tiny
file that declares a huge canvas) is refused rather than expanded in memory."""
JPEG_QUALITY = 85
READABLE = "JPEG, PNG, HEIC, WebP, GIF, TIFF"
"""The picture formats a refusal names (what Pillow and pillow-heif read here)."""

_heif_lock = threading.Lock()
_heif_registered: list[bool] = []


class NotAnImage(ValueError):
    """The bytes are not a picture we can read (JPEG, PNG, GIF, WebP, HEIC/HEIF...), or one that declares
    more than `MAX_PIXELS` pixels. Its text is for the sender, whole: it never quotes the reader's error
    (which names internal objects such as ``<_io.BytesIO object at 0x…>``)."""


@dataclass(frozen=True)
class Photo:
    """A processed photo: `jpeg` bytes (no EXIF, no other metadata), its size in pixels."""

    jpeg: bytes
    width: int
    height: int


def _register_heif() -> None:
    """Teach Pillow HEIC/HEIF (pillow-heif), once per process, on first use rather than at import."""
    with _heif_lock:
        if not _heif_registered:
            from pillow_heif import register_heif_opener

            register_heif_opener()
            _heif_registered.append(True)


def process_photo(data: bytes, *, max_side: int = MAX_SIDE_PX, max_pixels: int = MAX_PIXELS) -> Photo:
    """`data` (an uploaded image file) as a stored photo: the EXIF orientation applied
    (`ImageOps.exif_transpose`), every metadata block dropped (EXIF with GPS, XMP, ICC comments), the long
    side at most `max_side` pixels (aspect kept), RGB JPEG at quality 85.

    Raises `NotAnImage` for bytes no reader knows, a truncated or corrupt image, or one declaring more than
    `max_pixels` pixels (checked from the header, before decoding).
    """
    _register_heif()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                width, height = img.size
                if width <= 0 or height <= 0 or width * height > max_pixels:
                    raise NotAnImage(f"an image of {width}×{height} pixels is larger than we accept")
                img.load()
                upright = ImageOps.exif_transpose(img)
    except NotAnImage:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise NotAnImage("an image larger than we accept (a decompression bomb)") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        raise NotAnImage(f"not an image we can read ({READABLE})") from exc
    if upright.mode not in ("RGB", "L"):
        background = Image.new("RGB", upright.size, (255, 255, 255))
        rgba = upright.convert("RGBA")
        background.paste(rgba, mask=rgba.getchannel("A"))
        upright = background
    upright.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    clean = Image.new(upright.mode, upright.size)
    clean.paste(upright)  # a new image carries none of the original's info (EXIF, XMP, comments)
    out = io.BytesIO()
    clean.convert("RGB").save(out, format="JPEG", quality=JPEG_QUALITY, optimize=True)
    return Photo(jpeg=out.getvalue(), width=clean.width, height=clean.height)
