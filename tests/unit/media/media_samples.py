"""Small media files made in the test (Pillow for pictures, signatures for the rest) for shared.media's
tests."""

from __future__ import annotations

import io

from PIL import Image

GPS_IFD = 0x8825


def jpeg_with_gps(width: int = 320, height: int = 240) -> bytes:
    """A JPEG whose EXIF holds a camera make and a GPS position (45°25'12"N 75°41'50"W)."""
    img = Image.new("RGB", (width, height), (200, 30, 30))
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif.get_ifd(GPS_IFD).update({1: "N", 2: (45.0, 25.0, 12.0), 3: "W", 4: (75.0, 41.0, 50.0)})
    out = io.BytesIO()
    img.save(out, format="JPEG", exif=exif)
    return out.getvalue()


def png(width: int = 40, height: int = 30) -> bytes:
    out = io.BytesIO()
    Image.new("RGBA", (width, height), (0, 128, 0, 100)).save(out, format="PNG")
    return out.getvalue()


def image(fmt: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (16, 12), (10, 20, 30)).save(out, format=fmt)
    return out.getvalue()


PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
MP4 = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + b"\x00" * 64
THREE_GP = b"\x00\x00\x00\x14ftyp3gp4\x00\x00\x00\x00" + b"\x00" * 64
QUICKTIME = b"\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00" + b"\x00" * 64
M4A = b"\x00\x00\x00\x1cftypM4A \x00\x00\x00\x00" + b"\x00" * 64
AMR = b"#!AMR\n" + b"\x3c" * 64
OGG = b"OggS\x00\x02" + b"\x00" * 64
MP3 = b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\xff\xfb\x90\x00" * 16
AAC = b"\xff\xf1\x50\x80\x02\x1f\xfc" + b"\x00" * 64
HTML = b"<!doctype html><html><script>alert(1)</script></html>"
