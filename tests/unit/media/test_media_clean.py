"""What is kept of a downloaded file (shared.media.clean, shared.media.kinds): pictures re-encoded without
metadata (the GPS position a phone wrote is gone), other kinds kept byte for byte, each named by its
SHA-256; the type kept is the one the bytes show."""

from __future__ import annotations

import hashlib
import io

import pytest
from media_samples import AAC, AMR, GPS_IFD, HTML, M4A, MP3, MP4, OGG, PDF, QUICKTIME, THREE_GP, image, jpeg_with_gps, png
from PIL import Image

from shared.media import Cleaned, Fetched, MediaRefused, clean
from shared.media.kinds import ALLOWED_TYPES, declared_type, kept_type, sniffed_type


def fetched(content: bytes, content_type: str, filename: str | None = "photo.jpeg") -> Fetched:
    return Fetched(content=content, content_type=content_type, filename=filename, source_url="https://media.example/x")


def test_a_jpeg_loses_its_exif_and_gps_position() -> None:
    raw = jpeg_with_gps()
    assert Image.open(io.BytesIO(raw)).getexif().get_ifd(GPS_IFD)  # the sample does carry a position
    kept = clean(fetched(raw, "image/jpeg"))
    stored = Image.open(io.BytesIO(kept.content))
    assert (kept.content_type, kept.filename, kept.width, kept.height) == ("image/jpeg", "photo.jpg", 320, 240)
    assert stored.format == "JPEG" and stored.size == (320, 240)
    assert len(stored.getexif()) == 0 and not stored.getexif().get_ifd(GPS_IFD)
    assert b"PhoneMaker" not in kept.content and b"Exif" not in kept.content[:200]
    assert kept.sha256 == hashlib.sha256(kept.content).hexdigest()


def test_every_kept_picture_becomes_a_jpeg() -> None:
    for content, content_type in ((png(), "image/png"), (image("GIF"), "image/gif"), (image("WEBP"), "image/webp")):
        kept = clean(fetched(content, content_type, filename="IMG_1.PNG"))
        assert kept.content_type == "image/jpeg" and kept.filename == "IMG_1.jpg"
        assert Image.open(io.BytesIO(kept.content)).format == "JPEG"
    assert clean(fetched(png(), "image/png", filename=None)).filename is None


def test_other_kinds_are_kept_as_they_are() -> None:
    for content, content_type in ((PDF, "application/pdf"), (MP4, "video/mp4"), (AMR, "audio/amr")):
        kept = clean(fetched(content, content_type, filename="file.bin"))
        assert kept == Cleaned(content=content, content_type=content_type, filename="file.bin",
                               sha256=hashlib.sha256(content).hexdigest(), width=None, height=None)


def test_a_picture_that_cannot_be_decoded_is_refused() -> None:
    truncated = jpeg_with_gps()[:300]
    with pytest.raises(MediaRefused):
        clean(fetched(truncated, "image/jpeg"))


def test_the_same_bytes_clean_to_the_same_digest() -> None:
    raw = jpeg_with_gps()
    assert clean(fetched(raw, "image/jpeg")).sha256 == clean(fetched(raw, "image/jpeg", filename=None)).sha256


@pytest.mark.parametrize(("data", "expected"), [
    (PDF, "application/pdf"), (b"\xef\xbb\xbf" + PDF, "application/pdf"), (MP4, "video/mp4"), (THREE_GP, "video/3gpp"),
    (QUICKTIME, "video/quicktime"), (M4A, "audio/mp4"), (AMR, "audio/amr"), (OGG, "audio/ogg"), (MP3, "audio/mpeg"),
    (b"\xff\xfb\x90\x00" * 8, "audio/mpeg"), (AAC, "audio/aac"), (HTML, None), (b"", None), (b"GIF8", None),
])
def test_non_pictures_are_told_by_their_signature(data: bytes, expected: str | None) -> None:
    assert sniffed_type(data) == expected


def test_pictures_are_told_by_pillow() -> None:
    assert sniffed_type(jpeg_with_gps()) == "image/jpeg"
    assert sniffed_type(png()) == "image/png"
    assert sniffed_type(image("GIF")) == "image/gif"
    assert sniffed_type(image("WEBP")) == "image/webp"
    assert sniffed_type(image("TIFF")) == "image/tiff"  # read, but not a type we keep
    assert "image/tiff" not in ALLOWED_TYPES


def test_a_heic_photo_is_told_by_pillow_heif() -> None:
    from pillow_heif import from_pillow

    out = io.BytesIO()
    from_pillow(Image.new("RGB", (16, 16), (1, 2, 3))).save(out, quality=50)
    assert sniffed_type(out.getvalue()) == "image/heic"
    assert kept_type(declared_type("image/heif"), out.getvalue()) == ("image/heic", "")


def test_the_declared_type_is_read_leniently() -> None:
    assert declared_type("IMAGE/JPG ; charset=binary") == "image/jpeg"
    assert declared_type("audio/ogg; codecs=opus") == "audio/ogg"
    assert declared_type(None) == declared_type("") == ""


def test_the_bytes_decide_the_type_kept() -> None:
    assert kept_type("video/mp4", PDF) == ("application/pdf", "")
    assert kept_type("video/3gpp", MP4) == ("video/3gpp", "")  # one container family: the declared type
    assert kept_type("audio/mp4", MP4) == ("audio/mp4", "")
    assert kept_type("image/jpeg", png()) == ("image/png", "")
    assert kept_type("image/jpeg", MP4)[0] is None
    assert kept_type("text/plain", PDF)[0] is None


def _grey_png(width: int, height: int) -> bytes:
    """A PNG of `width`×`height` black grey pixels, written by hand so that a tall one costs a few KB."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = zlib.compress((b"\x00" + b"\x00" * width) * height, 9)
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")


def test_a_picture_taller_than_any_photo_is_refused_before_it_is_decoded() -> None:
    # 1×70 000 pixels is few pixels but 70 000 rows: Pillow keeps each row apart, so a 1×59 000 000 RGBA
    # PNG of 287 KB took 1.1 GB and 5 s to decode although below MAX_PIXELS.
    with pytest.raises(MediaRefused, match="larger than we accept"):
        clean(fetched(_grey_png(1, 70_000), "image/png"))
    with pytest.raises(MediaRefused, match="larger than we accept"):
        clean(fetched(_grey_png(70_000, 1), "image/png"))
    assert clean(fetched(_grey_png(2, 20_000), "image/png")).height == 1600  # a long screenshot is still kept
