"""Which media types we keep, and what the bytes really are (pure): a provider's Content-Type is a claim,
the type kept is the one the bytes show (images read by Pillow and pillow-heif, other kinds by their
leading signature)."""

from __future__ import annotations

import io
import warnings

from PIL import Image, UnidentifiedImageError

from shared.media.photos import register_heif

ALLOWED_TYPES: tuple[str, ...] = (
    "image/jpeg", "image/png", "image/gif", "image/webp", "image/heic",
    "video/mp4", "video/3gpp", "video/quicktime",
    "audio/mpeg", "audio/aac", "audio/mp4", "audio/amr", "audio/ogg",
    "application/pdf",
)
"""Media types kept (docs/channels.md, "Media kept by us"): JPEG, PNG, GIF, WebP, HEIC; MP4, 3GPP,
QuickTime; MP3, AAC (ADTS, or in an MP4 container as WhatsApp and iPhones send it), AMR, OGG/Opus; PDF."""

ALIASES = {"image/jpg": "image/jpeg", "image/pjpeg": "image/jpeg", "image/heif": "image/heic",
           "image/x-png": "image/png", "audio/mp3": "audio/mpeg", "audio/x-mpeg": "audio/mpeg",
           "audio/x-aac": "audio/aac", "audio/aacp": "audio/aac", "audio/x-m4a": "audio/mp4",
           "audio/m4a": "audio/mp4", "audio/opus": "audio/ogg", "application/ogg": "audio/ogg",
           "video/x-m4v": "video/mp4", "application/x-pdf": "application/pdf", "audio/amr-nb": "audio/amr"}
"""Other names providers give the same types (one canonical name kept)."""

UNDECLARED = frozenset({"", "application/octet-stream", "binary/octet-stream", "application/binary"})
"""Content types that say nothing: the bytes alone decide."""

ISO_MEDIA = frozenset({"video/mp4", "video/3gpp", "video/quicktime", "audio/mp4"})
"""Types sharing one container (ISO base media file format, `ftyp` box): its brand varies by encoder, so a
declared type of this family is kept when the bytes are of the family."""

_PILLOW_TYPES = {"JPEG": "image/jpeg", "MPO": "image/jpeg", "PNG": "image/png", "GIF": "image/gif",
                 "WEBP": "image/webp", "HEIF": "image/heic"}


def declared_type(header: str | None) -> str:
    """The media type of a Content-Type header value, lower case, parameters dropped, aliases resolved
    (``"Image/JPG; charset=x"`` → ``"image/jpeg"``); ``""`` when absent."""
    base = (header or "").split(";", 1)[0].strip().lower()
    return ALIASES.get(base, base)


def image_type(data: bytes) -> str | None:
    """The media type of `data` when Pillow (with pillow-heif) reads it as a picture (``image/<format>``,
    e.g. ``image/bmp`` for a format we do not keep), else None. Reads the header only, decodes nothing."""
    register_heif()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(data)) as img:
                fmt = (img.format or "").upper()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError):
        return None
    return _PILLOW_TYPES.get(fmt, f"image/{fmt.lower()}")


def signature_type(data: bytes) -> str | None:
    """The media type of a non-image `data` from its leading bytes (PDF ``%PDF-``, ISO media ``ftyp`` and
    its brand, old QuickTime atoms, ``#!AMR``, ``OggS``, MP3 ``ID3`` or an MPEG audio frame, AAC ADTS),
    else None."""
    head = data[:16]
    if b"%PDF-" in data[:1024]:  # PDF 1.7 §7.5.2: the header may follow a few bytes of anything
        return "application/pdf"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand == b"qt  ":
            return "video/quicktime"
        if brand.startswith(b"3g"):
            return "video/3gpp"
        if brand in (b"M4A ", b"M4B "):
            return "audio/mp4"
        if brand in (b"heic", b"heix", b"heim", b"heis", b"mif1", b"msf1", b"avif"):
            return None  # a still image (HEIF/AVIF) that Pillow could not read: not a video
        return "video/mp4"
    if head[4:8] in (b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"):
        return "video/quicktime"
    if head.startswith(b"#!AMR"):
        return "audio/amr"
    if head.startswith(b"OggS"):
        return "audio/ogg"
    if head.startswith(b"ID3"):
        return "audio/mpeg"
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xF0 == 0xF0 and head[1] & 0x06 == 0:
        return "audio/aac"  # ADTS: 12 sync bits, layer 00 (ISO/IEC 13818-7)
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0 and head[1] & 0x06 != 0:
        return "audio/mpeg"  # an MPEG audio frame (11 sync bits, a layer other than 00)
    return None


def sniffed_type(data: bytes) -> str | None:
    """What `data` is: a picture's type (`image_type`) first, else the signature's (`signature_type`)."""
    return image_type(data) or signature_type(data)


def kept_type(declared: str, data: bytes, allowed: tuple[str, ...] = ALLOWED_TYPES) -> tuple[str | None, str]:
    """The type to keep `data` under, given the `declared` one (`declared_type`), and a reason when it is
    refused (type None): a declared type outside `allowed` (unless it says nothing, `UNDECLARED`), bytes of
    no allowed type, or a declared picture whose bytes are not a picture we read. The bytes decide: a PDF
    sent as ``video/mp4`` is kept as PDF; within the ISO media family the declared type is kept."""
    if declared not in allowed and declared not in UNDECLARED:
        return None, f"the type {declared[:60]!r} is not one we keep"
    real = sniffed_type(data)
    if declared.startswith("image/") and (real is None or not real.startswith("image/")):
        return None, f"declared {declared} but the bytes are not a picture we can read"
    if real is None:
        return None, "the bytes are not of a type we keep"
    if real not in allowed:
        return None, f"the bytes are {real}, not a type we keep"
    if declared in ISO_MEDIA and real in ISO_MEDIA:
        return declared, ""
    return real, ""
