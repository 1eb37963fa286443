"""A resident's photo made safe to keep and show: turned upright, stripped of EXIF (GPS included),
shrunk to a bounded size and re-encoded as JPEG (pure: bytes in, bytes out; Pillow, HEIC/HEIF through
pillow-heif). The portal's uploads (intake_web) and every channel's downloaded media (`shared.media.clean`)
go through `process_photo`."""

from __future__ import annotations

import io
import math
import threading
import warnings
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

MAX_SIDE_PX = 1600
"""The long side of a stored photo, in pixels (a larger photo is scaled down, never up)."""
MAX_PIXELS = 60_000_000
"""The most pixels a photo may declare (width × height) before it is decoded: above every phone camera's
normal output (50 MP sensors give 8160×6144 = 50.1 MP) but below what a decompression bomb (a tiny file that
declares a huge canvas) needs to hurt; larger is refused rather than expanded in memory. At most 4 bytes a
pixel are decoded (a JPEG at 1/2 to 1/8 scale, `Image.draft`), so one photo costs at most ~240 MB while it is
processed; intake_web's `service_layer.portal` bounds how many are processed at once (`OMNI311_PHOTO_WORKERS`)."""
MAX_DECLARED_SIDE_PX = 65_535
"""The longest side a photo may declare, in pixels (the most a JPEG can have; phone panoramas and long
screenshots stay well below it). `MAX_PIXELS` alone lets through a picture of a few pixels a row and tens
of millions of rows, which Pillow holds row by row: a 1×59 000 000 PNG of 287 KB took 1.1 GB to decode."""
STRIP_ROWS = 256
"""Rows of the output one strip of the decoded picture is flattened and reduced for (`_reduced`): the
extra memory while shrinking is one strip, never a second full-size copy."""
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


def register_heif() -> None:
    """Teach Pillow HEIC/HEIF (pillow-heif), once per process, on first use rather than at import."""
    with _heif_lock:
        if not _heif_registered:
            from pillow_heif import register_heif_opener

            register_heif_opener()
            _heif_registered.append(True)


def process_photo(data: bytes, *, max_side: int = MAX_SIDE_PX, max_pixels: int = MAX_PIXELS) -> Photo:
    """`data` (an uploaded image file) as a stored photo: the EXIF orientation applied (as
    `ImageOps.exif_transpose`), every metadata block dropped (EXIF with GPS, XMP, ICC comments), the long
    side at most `max_side` pixels (aspect kept), transparency flattened on white, RGB JPEG at quality 85.

    Shrunk before anything else is done to it: a JPEG is decoded at a reduced scale (`Image.draft`), any
    other picture is decoded once and then flattened and reduced by a whole factor strip by strip
    (`_reduced`), and only the reduced picture is turned, flattened and resampled (Lanczos) to its size.

    Raises `NotAnImage` for bytes no reader knows, a truncated or corrupt image, or one declaring more than
    `max_pixels` pixels or a side longer than `MAX_DECLARED_SIDE_PX` (checked from the header, before
    decoding).
    """
    register_heif()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                width, height = img.size
                if width <= 0 or height <= 0 or width * height > max_pixels or \
                        max(width, height) > MAX_DECLARED_SIDE_PX:
                    raise NotAnImage(f"an image of {width}×{height} pixels is larger than we accept")
                orientation = img.getexif().get(ORIENTATION, 1)
                scale = max_side / max(width, height)
                if scale < 1:  # a JPEG decodes at 1/2, 1/4 or 1/8 scale, never below the size asked
                    img.draft("RGB" if img.mode == "RGB" else None,
                              (max(1, math.ceil(width * scale)), max(1, math.ceil(height * scale))))
                img.load()
                small = _reduced(img, max(1, max(img.size) // max_side))
    except NotAnImage:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise NotAnImage("an image larger than we accept (a decompression bomb)") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        raise NotAnImage(f"not an image we can read ({READABLE})") from exc
    if orientation in _TRANSPOSE:
        small = small.transpose(_TRANSPOSE[orientation])
    small.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    clean = Image.new(small.mode, small.size)
    clean.paste(small)  # a new image carries none of the original's info (EXIF, XMP, comments)
    out = io.BytesIO()
    clean.convert("RGB").save(out, format="JPEG", quality=JPEG_QUALITY, optimize=True)
    return Photo(jpeg=out.getvalue(), width=clean.width, height=clean.height)


ORIENTATION = 0x0112
"""The EXIF tag of the orientation (TIFF 6.0, tag 274)."""
_TRANSPOSE = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
              4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270,
              7: Image.Transpose.TRANSVERSE, 8: Image.Transpose.ROTATE_90}
"""EXIF orientation → the turn that shows the picture upright (the table of `ImageOps.exif_transpose`)."""


def _flat(img: Image.Image) -> Image.Image:
    """`img` as RGB or L: a picture with transparency (alpha, or a palette's transparent colour) pasted on
    white; any other mode (CMYK, 16-bit, 1-bit...) converted."""
    if img.mode in ("RGB", "L"):
        return img
    if img.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in img.info:
        rgba = img.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return img.convert("RGB")


def _reduced(img: Image.Image, factor: int) -> Image.Image:
    """The decoded `img` flattened (`_flat`) and reduced by the whole `factor` (each output pixel the mean
    of a `factor`×`factor` block, `Image.reduce`), one strip of `STRIP_ROWS` output rows at a time, so the
    flattened copy is never made at full size."""
    if factor == 1:
        return _flat(img)
    width, height = img.size
    out = Image.new("L" if img.mode == "L" else "RGB", (math.ceil(width / factor), math.ceil(height / factor)))
    rows = STRIP_ROWS * factor
    for top in range(0, height, rows):
        out.paste(_flat(img.crop((0, top, width, min(height, top + rows)))).reduce(factor), (0, top // factor))
    return out
