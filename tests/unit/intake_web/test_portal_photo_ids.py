"""A report's ``photo_id`` fields name only photos uploaded here that no published report uses yet: a
made-up id (a case with a broken image) or another report's public photo id is a 400 naming the photos, in
the resident's language, the form shown again with its text and without those ids, nothing published."""

from __future__ import annotations

import io
from datetime import timedelta
from uuid import UUID

import httpx
from PIL import Image

from portal_fakes import NOW, Portal
from services.intake_web.domain.portal import form_token

REPORT = {"service_code": "pothole", "attribute[size]": "large", "description": "Deep hole by the bakery",
          "lat": "45.4216", "long": "-75.6973", "notify": "none", "address": "", "website": ""}
MADE_UP = "00000000-0000-0000-0000-000000000000"


def jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (10, 80, 160)).save(out, format="JPEG")
    return out.getvalue()


async def send(p: Portal, web: httpx.AsyncClient, *photo_ids: str, lang: str = "en") -> httpx.Response:
    p.now += timedelta(seconds=10)
    form = {**REPORT, "form_token": form_token(p.settings.portal_form_secret, p.now - timedelta(seconds=10)),
            "photo_id": list(photo_ids)}
    return await web.post("/report", data=form, headers={"Accept-Language": lang})


async def upload(web: httpx.AsyncClient) -> str:
    answer = await web.post("/photos", files={"photo": ("a.jpg", jpeg(), "image/jpeg")})
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


async def test_a_made_up_photo_id_is_refused_with_the_text_kept_and_nothing_published() -> None:
    p = Portal()
    async with p.web as web:
        mine = await upload(web)
        answer = await send(p, web, mine, MADE_UP)
    assert answer.status_code == 400
    assert "cannot be used: not uploaded here, or already part of another report" in answer.text
    assert "Deep hole by the bakery" in answer.text
    assert f'value="{mine}"' in answer.text and MADE_UP not in answer.text  # shown again without it
    assert not p.published and not p.store.uses


async def test_a_photo_another_report_uses_is_refused_in_french() -> None:
    p = Portal()
    async with p.web as web:
        theirs = await upload(web)
        first = await send(p, web, theirs)
        assert first.status_code == 200, first.text
        second = await send(p, web, theirs, lang="fr")
    assert second.status_code == 400
    assert "déjà jointes à un autre signalement" in second.text and "Deep hole by the bakery" in second.text
    assert len(p.published) == 1 and {pid for _t, pid in p.store.uses} == {UUID(theirs)}


async def test_a_photo_id_that_is_no_uuid_is_refused() -> None:
    p = Portal()
    async with p.web as web:
        answer = await send(p, web, "../../etc/passwd")
    assert answer.status_code == 400 and "cannot be used" in answer.text and not p.published


async def test_fresh_uploads_of_ones_own_are_accepted_each_once() -> None:
    p = Portal()
    async with p.web as web:
        a, b = await upload(web), await upload(web)
        answer = await send(p, web, a, b, a)
    assert answer.status_code == 200, answer.text
    assert {pid for _t, pid in p.store.uses} == {UUID(a), UUID(b)}
