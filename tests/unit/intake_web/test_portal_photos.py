"""Photos residents upload are made safe before they are kept: EXIF (GPS included) removed, turned upright,
shrunk to 1600 px on the long side, re-encoded as JPEG; HEIC read through pillow-heif; anything else, or a
decompression bomb, is not an image."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from shared.media.photos import MAX_SIDE_PX, NotAnImage, process_photo

GPS_IFD = 0x8825
ORIENTATION = 0x0112


def jpeg_with_gps(width: int = 400, height: int = 200, orientation: int | None = None) -> bytes:
    img = Image.new("RGB", (width, height), (200, 30, 30))
    img.paste((20, 20, 220), (0, 0, width // 2, height))  # left half blue: shows which way it was turned
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif.get_ifd(GPS_IFD).update({1: "N", 2: (45.0, 25.0, 12.0), 3: "W", 4: (75.0, 41.0, 50.0)})
    if orientation:
        exif[ORIENTATION] = orientation
    out = io.BytesIO()
    img.save(out, format="JPEG", exif=exif)
    return out.getvalue()


def test_a_photo_loses_its_exif_and_gps_but_keeps_its_picture() -> None:
    raw = jpeg_with_gps()
    assert Image.open(io.BytesIO(raw)).getexif().get_ifd(GPS_IFD)  # the fixture does carry a position
    photo = process_photo(raw)
    stored = Image.open(io.BytesIO(photo.jpeg))
    assert stored.format == "JPEG" and (photo.width, photo.height) == stored.size == (400, 200)
    assert len(stored.getexif()) == 0 and not stored.getexif().get_ifd(GPS_IFD)
    assert b"Exif" not in photo.jpeg[:200] and b"PhoneMaker" not in photo.jpeg
    assert stored.getpixel((10, 100))[2] > 150 and stored.getpixel((390, 100))[0] > 150


def test_a_photo_is_turned_upright_from_its_exif_orientation() -> None:
    photo = process_photo(jpeg_with_gps(400, 200, orientation=6))  # 6: rotate 90° clockwise to view
    assert (photo.width, photo.height) == (200, 400)
    stored = Image.open(io.BytesIO(photo.jpeg))
    assert ORIENTATION not in stored.getexif()
    assert stored.getpixel((100, 10))[2] > 150  # the blue half is now on top


def test_a_large_photo_is_shrunk_to_1600_px_on_its_long_side_keeping_its_shape() -> None:
    out = io.BytesIO()
    Image.new("RGB", (4000, 3000), (10, 120, 10)).save(out, format="PNG")
    photo = process_photo(out.getvalue())
    assert (photo.width, photo.height) == (MAX_SIDE_PX, 1200)


def test_a_transparent_png_becomes_a_jpeg_on_white() -> None:
    out = io.BytesIO()
    Image.new("RGBA", (50, 50), (0, 0, 0, 0)).save(out, format="PNG")
    stored = Image.open(io.BytesIO(process_photo(out.getvalue()).jpeg))
    assert stored.mode == "RGB" and min(stored.getpixel((25, 25))) > 240


def test_a_heic_photo_is_converted_to_jpeg_without_its_metadata() -> None:
    import pillow_heif

    pillow_heif.register_heif_opener()
    out = io.BytesIO()
    exif = Image.Exif()
    exif.get_ifd(GPS_IFD).update({1: "N", 2: (45.0, 25.0, 12.0)})
    Image.new("RGB", (2000, 1000), (200, 120, 10)).save(out, format="HEIF", exif=exif.tobytes(), quality=60)
    assert out.getvalue()[4:12] in (b"ftypheic", b"ftypmif1", b"ftypheix")
    photo = process_photo(out.getvalue())
    stored = Image.open(io.BytesIO(photo.jpeg))
    assert stored.format == "JPEG" and (photo.width, photo.height) == (1600, 800)
    assert not stored.getexif().get_ifd(GPS_IFD)


@pytest.mark.parametrize("data", [b"", b"%PDF-1.7 not a picture", b"\xff\xd8\xff\xe0" + b"\x00" * 40,
                                  b"GIF89a\x01"], ids=["empty", "pdf", "truncated-jpeg", "truncated-gif"])
def test_what_is_not_a_readable_image_is_refused(data: bytes) -> None:
    with pytest.raises(NotAnImage):
        process_photo(data)


@pytest.mark.parametrize("side", [7_800, 20_000], ids=["over-our-60-mpx", "over-pillows-own-limit"])
def test_a_decompression_bomb_is_refused_before_it_is_decoded(side: int) -> None:
    out = io.BytesIO()
    Image.new("1", (side, side)).save(out, format="PNG")  # tens of megapixels in a few kilobytes
    assert len(out.getvalue()) < 200_000
    with pytest.raises(NotAnImage, match="larger than we accept|decompression bomb"):
        process_photo(out.getvalue())


def test_a_50_mpx_phone_photo_is_accepted_and_shrunk() -> None:
    out = io.BytesIO()
    Image.new("L", (8160, 6144), 128).save(out, format="PNG")  # a 50 MP sensor's full-size picture
    photo = process_photo(out.getvalue())
    assert (photo.width, photo.height) == (MAX_SIDE_PX, 1205)


@pytest.mark.parametrize("mode", ["RGBA", "LA", "P"])
def test_a_large_transparent_picture_is_flattened_on_white_while_it_is_reduced(mode: str) -> None:
    img = Image.new("RGBA", (4000, 1000), (0, 0, 0, 0))
    img.paste((200, 30, 30, 255), (0, 0, 2000, 1000))  # left half opaque red, right half transparent
    out = io.BytesIO()
    (img.convert("LA") if mode == "LA" else img.convert("P") if mode == "P" else img).save(out, format="PNG")
    stored = Image.open(io.BytesIO(process_photo(out.getvalue()).jpeg))
    assert stored.size == (MAX_SIDE_PX, 400)
    assert min(stored.getpixel((1500, 200))) > 240  # transparent → white, not black
    assert stored.getpixel((100, 200))[0] > 40 and stored.getpixel((100, 200)) != (255, 255, 255)


def test_a_large_jpeg_turned_by_its_exif_is_upright_once_shrunk() -> None:
    photo = process_photo(jpeg_with_gps(4000, 2000, orientation=6))
    assert (photo.width, photo.height) == (800, MAX_SIDE_PX)
    stored = Image.open(io.BytesIO(photo.jpeg))
    assert stored.getpixel((400, 10))[2] > 150 and stored.getpixel((400, 1590))[0] > 150
