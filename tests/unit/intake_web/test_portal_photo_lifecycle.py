"""A portal photo's life: recorded as used by the report (portal or Open311 POST) that published it, erased
with its case (`case.personal_data_erased`), swept when no report used it within
`OMNI311_PHOTO_UNUSED_TTL_S`, and never cached long."""

from __future__ import annotations

import io
from datetime import timedelta
from types import SimpleNamespace
from typing import Any
from uuid import UUID, uuid4

from PIL import Image

from portal_fakes import NOW, Portal
from services.intake_web.domain.portal import form_token
from services.intake_web.service_layer import erasure, portal
from shared.events import CasePersonalDataErased, Envelope, MessageReceived

REPORT = {"service_code": "pothole", "attribute[size]": "large", "description": "Deep hole",
          "lat": "45.4216", "long": "-75.6973", "notify": "none", "address": "", "website": ""}
OPEN311 = {"api_key": "demo-key", "service_code": "pothole", "attribute[size]": "large", "lat": "45.4216",
           "long": "-75.6973", "description": "Deep hole"}


def jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (10, 80, 160)).save(out, format="JPEG")
    return out.getvalue()


def photo_id(url: str) -> UUID:
    return UUID(url.rsplit("/", 1)[1].removesuffix(".jpg"))


async def test_a_published_report_records_its_photos_as_used_by_its_token() -> None:
    p = Portal()
    async with p.web as web:
        before = (await web.post("/photos", files={"photo": ("a.jpg", jpeg(), "image/jpeg")})).json()
        p.now = NOW + timedelta(seconds=10)
        sent = await web.post("/report", data={**REPORT, "form_token": form_token(p.settings.portal_form_secret, NOW),
                                               "photo_id": before["id"]},
                              files={"photo": ("b.jpg", jpeg(), "image/jpeg")})
        posted = await web.post("/requests.json", data=OPEN311, files={"media": ("c.jpg", jpeg(), "image/jpeg")})
    assert sent.status_code == 200 and posted.status_code == 200, (sent.text, posted.text)
    web_msg, open311_msg = (env.payload(MessageReceived) for env in p.published)
    assert {(web_msg.channel_message_id, photo_id(u)) for u in web_msg.media_url} | {
        (open311_msg.channel_message_id, photo_id(u)) for u in open311_msg.media_url} == p.store.uses
    assert len(p.store.uses) == 3 and UUID(before["id"]) in {pid for _t, pid in p.store.uses}


async def test_unused_photos_are_swept_after_the_ttl_and_used_or_young_ones_are_kept() -> None:
    p = Portal(photo_unused_ttl_s=3600)
    deps = _deps(p)
    old_unused, old_used, young = uuid4(), uuid4(), uuid4()
    for pid, at in ((old_unused, NOW), (old_used, NOW), (young, NOW + timedelta(minutes=50))):
        await p.store.add_photo(photo_id=pid, jpeg=b"x", width=1, height=1, now=at)
    await p.store.use_photos(token="web-1", photo_ids=[old_used], now=NOW)
    p.now = NOW + timedelta(minutes=61)
    assert await portal.sweep_unused_photos(deps) == 1
    assert set(p.store.photos) == {old_used, young}


async def test_the_case_erasure_deletes_the_photos_its_reports_used_once() -> None:
    deleted: list[list[str]] = []
    recorded: list[dict[str, Any]] = []

    class Repo:
        async def erase_photos(self, tokens: list[str]) -> int:
            deleted.append(tokens)
            return 2

        async def record_erasure(self, **kw: Any) -> None:
            recorded.append(kw)

    event = CasePersonalDataErased(case_id=uuid4(), service_request_id="DEMO-26-000042", jurisdiction_id="demo",
                                   channel_message_ids=["web-1", "0e9f"], closed_at=NOW, policy_days=365)
    env = Envelope.new_flow(event, subject=str(event.case_id), producer="case", now=NOW)
    uow = SimpleNamespace(repo=Repo(), envelope=env, now=NOW)
    assert await erasure.on_personal_data_erased(event, uow) == "erased 2 photos of DEMO-26-000042"  # type: ignore[arg-type]
    assert deleted == [["web-1", "0e9f"]] and recorded[0]["photos"] == 2
    assert set(erasure.handlers()) == {"case.personal_data_erased"}


async def test_a_photo_is_not_cached_for_long_since_it_may_be_erased() -> None:
    p = Portal()
    async with p.web as web:
        up = (await web.post("/photos", files={"photo": ("a.jpg", jpeg(), "image/jpeg")})).json()
        served = await web.get(f"/media/{up['id']}.jpg")
    control = served.headers["cache-control"]
    assert "immutable" not in control
    assert int(control.split("max-age=")[1].split(",")[0]) <= 300


def _deps(p: Portal) -> Any:
    return p.web._transport.app.state.deps  # type: ignore[attr-defined]
