"""Remove EXIF (GPS position, camera serial, time), XMP, IPTC and comments from resident photos before
anything is stored where staff or the public can see it."""

from __future__ import annotations

import io
import warnings

from PIL import Image, ImageOps, ImageSequence, UnidentifiedImageError

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".gif", ".webp", ".tif", ".tiff", ".bmp",
                              ".heic", ".heif"})
_KEEP_FORMAT = {"JPEG": "image/jpeg", "PNG": "image/png", "GIF": "image/gif", "WEBP": "image/webp"}
_ORIENTATION = 0x0112
_RENDERING_INFO = frozenset({"transparency", "duration", "loop", "disposal", "background"})


class ImageUnreadable(ValueError):
    """The bytes are not an image this service can decode, so its metadata cannot be removed."""


def strip_image_metadata(data: bytes, content_type: str) -> bytes:
    """The same picture without metadata: EXIF (incl. GPS), XMP, IPTC, text chunks and comments.

    The pixels are re-encoded (JPEG keeps its quantisation tables when no rotation is needed; the EXIF
    orientation is applied first, since the tag that carried it is gone). JPEG, PNG, GIF and WebP keep
    their format; other formats (TIFF, BMP...) become PNG. `content_type` is only a hint: the format is
    read from the bytes. Raises `ImageUnreadable` when Pillow cannot decode the bytes (including
    decompression bombs); callers must then not publish the file.
    """
    del content_type  # the bytes decide; a mislabelled image/jpg is still stripped
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as im:
                im.load()
                return _reencode(im)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError, MemoryError,
            Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageUnreadable(f"cannot decode image: {type(exc).__name__}: {exc}") from exc


def image_content_type(data: bytes) -> str | None:
    """The MIME type of an image read from its bytes (``image/jpeg``...), or None when unreadable."""
    try:
        with Image.open(io.BytesIO(data)) as im:
            fmt = im.format or ""
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError):
        return None
    return _KEEP_FORMAT.get(fmt) or Image.MIME.get(fmt)


def _reencode(im: Image.Image) -> bytes:
    fmt = im.format or "PNG"
    icc = im.info.get("icc_profile")
    extra = {"icc_profile": icc} if icc else {}
    out = io.BytesIO()
    if fmt == "GIF" and getattr(im, "is_animated", False):
        # frames keep their timing; comments and application extensions are not written back
        frames = [_clean(frame.copy()) for frame in ImageSequence.Iterator(im)]
        frames[0].save(out, format="GIF", save_all=True, append_images=frames[1:], loop=im.info.get("loop", 0))
        return out.getvalue()
    rotated = im.getexif().get(_ORIENTATION, 1) not in (None, 1)
    # Pillow writes some im.info entries back (JPEG and GIF comments): keep only rendering ones
    upright = _clean(ImageOps.exif_transpose(im)) if rotated else _clean(im)
    if fmt == "JPEG":
        if rotated:
            upright.save(out, format="JPEG", quality=90, **extra)
        else:
            upright.save(out, format="JPEG", quality="keep", subsampling="keep", **extra)
    elif fmt == "WEBP":
        upright.save(out, format="WEBP", quality=90, **extra)
    elif fmt == "GIF":
        upright.save(out, format="GIF")
    else:
        if upright.mode not in ("1", "L", "LA", "I", "I;16", "P", "RGB", "RGBA"):
            upright = _clean(upright.convert("RGBA" if "A" in upright.mode else "RGB"))
        upright.save(out, format="PNG", **extra)
    return out.getvalue()


def _clean(image: Image.Image) -> Image.Image:
    image.info = {k: v for k, v in image.info.items() if k in _RENDERING_INFO}
    return image
