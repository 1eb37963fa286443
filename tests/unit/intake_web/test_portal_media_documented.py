"""intake_web's OpenAPI document lists ``/media/{photo_id}.jpg``, the Open311 ``media_url`` of portal photos
(docs/integrations.md section 4: images document their media type), so the document checks and the fuzz test
see it; the portal's pages stay out of the document."""

from __future__ import annotations

import io

from PIL import Image

from portal_fakes import Portal


async def test_the_media_route_is_in_the_openapi_document_with_its_jpeg_answer() -> None:
    async with Portal().web as web:
        document = (await web.get("/openapi.json")).json()
    operation = document["paths"]["/media/{photo_id}.jpg"]["get"]
    assert operation["responses"]["200"]["content"] == {"image/jpeg": {"schema": {"type": "string",
                                                                                  "format": "binary"}}}
    assert "404" in operation["responses"]
    assert [p["name"] for p in operation["parameters"]] == ["photo_id"]
    assert "/report" not in document["paths"] and "/profile/link" not in document["paths"]


async def test_the_documented_route_still_serves_a_stored_photo_and_refuses_an_unknown_one() -> None:
    p = Portal()
    async with p.web as web:
        stored = await web.post("/photos", files={"photo": ("a.png", _png(), "image/png")})
        url = stored.json()["url"]
        photo = await web.get(url[url.index("/media/"):])
        unknown = await web.get("/media/8e0f5f5c-0000-4000-8000-00000000ffff.jpg")
        not_uuid = await web.get("/media/nope.jpg")
    assert stored.status_code == 201 and photo.status_code == 200
    assert photo.headers["content-type"] == "image/jpeg" and photo.content.startswith(b"\xff\xd8")
    assert unknown.status_code == 404 and not_uuid.status_code == 404


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 40, 40)).save(out, "PNG")
    return out.getvalue()
