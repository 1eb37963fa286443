"""Resident photos lose their EXIF/GPS (and other metadata) before anything is published."""

from __future__ import annotations

import base64
import io

import pytest
from PIL import Image, PngImagePlugin

from services.intake_email.domain import ImageUnreadable, parse_message, strip_image_metadata

GPS_IFD = 0x8825
ORIENTATION = 0x0112


def jpeg_with_gps(*, orientation: int = 1, size: tuple[int, int] = (64, 32)) -> bytes:
    image = Image.new("RGB", size, (200, 30, 30))
    image.paste((30, 30, 200), (0, 0, size[0] // 2, size[1]))
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x0110] = "Phone 12"  # Model
    exif[0x0131] = "Camera 1.0"  # Software
    exif[ORIENTATION] = orientation
    exif[GPS_IFD] = {1: "N", 2: (40.0, 42.0, 51.0), 3: "W", 4: (74.0, 0.0, 21.0)}
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif, quality=95, comment=b"taken at home")
    return out.getvalue()


def test_the_test_image_really_carries_gps() -> None:
    with Image.open(io.BytesIO(jpeg_with_gps())) as im:
        exif = im.getexif()
        assert exif.get_ifd(GPS_IFD)[2] == (40.0, 42.0, 51.0)
        assert exif[0x0110] == "Phone 12" and im.info.get("comment") == b"taken at home"


def test_exif_and_gps_are_removed_and_the_image_still_decodes() -> None:
    clean = strip_image_metadata(jpeg_with_gps(), "image/jpeg")
    with Image.open(io.BytesIO(clean)) as im:
        im.load()
        assert im.format == "JPEG" and im.size == (64, 32)
        assert not im.getexif() and "exif" not in im.info and "comment" not in im.info
        assert im.getpixel((48, 16))[0] > 150  # still the picture: red right half
    assert b"Exif" not in clean and b"Phone 12" not in clean and b"taken at home" not in clean


def test_a_rotated_photo_is_turned_upright_before_its_orientation_tag_goes() -> None:
    clean = strip_image_metadata(jpeg_with_gps(orientation=6), "image/jpeg")  # 6 = rotate 90° clockwise
    with Image.open(io.BytesIO(clean)) as im:
        assert im.size == (32, 64) and not im.getexif()


def test_png_text_chunks_are_removed() -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text("Location", "40.7128 N, 74.0060 W")
    out = io.BytesIO()
    Image.new("RGBA", (8, 8), (0, 255, 0, 128)).save(out, format="PNG", pnginfo=info)
    clean = strip_image_metadata(out.getvalue(), "image/png")
    with Image.open(io.BytesIO(clean)) as im:
        assert im.format == "PNG" and "Location" not in im.info and im.mode == "RGBA"
    assert b"40.7128" not in clean


def test_other_formats_become_png() -> None:
    out = io.BytesIO()
    Image.new("RGB", (4, 4), "white").save(out, format="TIFF", tiffinfo={270: "secret description"})
    clean = strip_image_metadata(out.getvalue(), "image/tiff")
    with Image.open(io.BytesIO(clean)) as im:
        assert im.format == "PNG"
    assert b"secret description" not in clean


@pytest.mark.parametrize("data", [b"", b"REDACTED", b"\xff\xd8\xff\xe0 truncated jpeg"])
def test_bytes_that_are_no_image_raise_image_unreadable(data: bytes) -> None:
    with pytest.raises(ImageUnreadable):
        strip_image_metadata(data, "image/jpeg")


def test_a_photo_attached_to_a_mail_arrives_without_gps() -> None:
    photo = base64.encodebytes(jpeg_with_gps()).replace(b"\n", b"\r\n")
    raw = (b"From: Jane <jane@example.org>\r\nTo: 311@city.example\r\nSubject: pothole\r\n"
           b"Message-ID: <p1@example.org>\r\nMIME-Version: 1.0\r\n"
           b'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n'
           b"--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nPothole on 5th Ave.\r\n"
           b'--b1\r\nContent-Type: image/jpeg; name="IMG_0001.JPG"\r\nContent-Transfer-Encoding: base64\r\n'
           b'Content-Disposition: attachment; filename="IMG_0001.JPG"\r\n\r\n' + photo + b"--b1--\r\n")
    parsed = parse_message(raw)
    (image,) = parsed.attachments
    assert (image.filename, image.content_type, image.metadata_removed, image.publishable) == (
        "IMG_0001.JPG", "image/jpeg", True, True)
    with Image.open(io.BytesIO(image.content)) as im:
        assert not im.getexif()


def test_an_animated_gif_keeps_its_frames_and_loses_its_comment() -> None:
    frames = [Image.new("RGB", (8, 8), color) for color in ("red", "green", "blue")]
    out = io.BytesIO()
    frames[0].save(out, format="GIF", save_all=True, append_images=frames[1:], comment=b"secret place",
                   duration=100, loop=0)
    assert b"secret place" in out.getvalue()
    clean = strip_image_metadata(out.getvalue(), "image/gif")
    with Image.open(io.BytesIO(clean)) as im:
        assert im.n_frames == 3 and "comment" not in im.info
    assert b"secret place" not in clean
