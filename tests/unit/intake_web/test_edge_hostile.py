"""intake_web's public edge under hostile input (a review's reproductions): every odd value gets a clear
4xx naming what is wrong, never a 500, a hang, or an answer about something else."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from portal_fakes import NOW, Portal
from services.intake_web.app import create_app
from services.intake_web.domain.portal import SpamRefused, check_form, form_token
from test_intake_web_abuse import NoCases
from shared.events import MessageReceived
from shared.open311 import is_blank, parse_discovery
from web_fakes import FakePublisher, demo, settings


@pytest.mark.parametrize("point", ["lat=91&long=-75.69", "lat=1e308&long=-75.69", "lat=-90.5&long=0",
                                   "lat=45.42&long=181", "lat=45.42&long=-1e400"])
async def test_a_nearby_pin_off_the_globe_is_400_and_the_case_service_is_not_asked(point: str) -> None:
    p = Portal()
    async with p.web as web:
        r = await web.get(f"/report/nearby?service_code=pothole&{point}", headers={"hx-request": "true"})
        edge = await web.get("/report/nearby?service_code=pothole&lat=90&long=-180", headers={"hx-request": "true"})
    assert r.status_code == 400 and "lat" in r.json()["detail"]
    assert edge.status_code == 200, "the poles and the antimeridian are points"
    assert [a for a in p.reads.asked if a[0] == "nearby"] == [("nearby", ("pothole", 90.0, -180.0, 100.0))]


REPORT = {"service_code": "graffiti", "description": "Tag on the library wall", "lat": "45.4215", "long": "-75.6972",
          "attribute[surface]": "wall", "notify": "none", "website": ""}


def report(p: Portal, **over: str) -> dict[str, str]:
    """The report form as served at NOW (its form token), posted 10 s later, with `over`."""
    p.now = NOW + timedelta(seconds=10)
    return {**REPORT, "form_token": form_token(p.settings.portal_form_secret, NOW), **over}


@pytest.mark.parametrize("token", ["1796003574.\u00e9", "1796003574.\u00e9\u00e9\u00e9", "\u00b2.abc", "\u0661\u0662.abc",
                                   "1796003574.\x00", ""])
async def test_a_form_token_that_is_not_ascii_is_refused_as_invalid_not_a_500(token: str) -> None:
    p = Portal()
    async with p.web as web:
        r = await web.post("/report", data=report(p, form_token=token))
        ok = await web.post("/report", data=report(p))
    assert r.status_code == 400 and "<html" in r.text
    assert ok.status_code == 200 and len(p.published) == 1, "the refused one published nothing"
    with pytest.raises(SpamRefused) as refused:
        check_form("s" * 32, token, "", now=NOW, min_fill_s=0, ttl_s=3600)
    assert refused.value.reason == "form_token_invalid"


def open311_app() -> tuple[Any, FakePublisher]:
    publisher = FakePublisher()
    return create_app(settings(open311_api_keys=["key-a"]), jurisdiction=demo(), publisher=publisher,
                      case_api=NoCases()), publisher


def web(app: Any, **kwargs: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://intake-web.internal", **kwargs)


OPEN311_FORM = {"api_key": "key-a", "service_code": "graffiti", "lat": "45.42", "long": "-75.69",
                "description": "tag on the wall", "attribute[surface]": "wall"}


@pytest.mark.parametrize("raw", ["demo%00", "%01", "%EF%BF%BE", "demo%0A", "x" * 20_000])
async def test_a_jurisdiction_id_with_a_control_character_or_too_long_is_a_short_404_in_xml_too(raw: str) -> None:
    app, publisher = open311_app()
    async with web(app) as c:
        listed = await c.get(f"/services.xml?jurisdiction_id={raw}")
        as_json = await c.get(f"/services.json?jurisdiction_id={raw}")
        posted = await c.post("/requests.xml", content=urlencode(OPEN311_FORM) + f"&jurisdiction_id={raw}",
                              headers={"Content-Type": "application/x-www-form-urlencoded"})
    for r in (listed, posted):
        assert r.status_code == 404, r.text[:200]
        [description] = [e.findtext("description") for e in ET.fromstring(r.content).iter("error")]
        assert description is not None and description.startswith("jurisdiction_id ")
        assert description.endswith(" not found") and len(description) <= 100
    assert as_json.status_code == 404 and len(as_json.json()[0]["description"]) <= 100
    assert publisher.published == []


@pytest.mark.parametrize(("query", "form"), [
    ("?jurisdiction_id=x&jurisdiction_id=demo", {}), ("?jurisdiction_id=demo&jurisdiction_id=demo", {}),
    ("", {"jurisdiction_id": ["demo", "x"]}),
])
async def test_a_jurisdiction_id_given_twice_is_400(query: str, form: dict[str, Any]) -> None:
    app, publisher = open311_app()
    async with web(app) as c:
        r = await c.post(f"/requests.json{query}", data=OPEN311_FORM | form)
        g = await c.get(f"/services.json{query}") if query else None
    assert r.status_code == 400 and r.json()[0]["description"] == "jurisdiction_id given more than once"
    assert g is None or g.status_code == 400
    assert publisher.published == []


async def test_a_jurisdiction_id_with_surrounding_blanks_is_not_ours_and_an_empty_one_is_absent() -> None:
    app, publisher = open311_app()
    async with web(app) as c:
        spaced = await c.get("/services.json", params={"jurisdiction_id": " demo "})
        posted = await c.post("/requests.json", data=OPEN311_FORM | {"jurisdiction_id": "demo "})
        empty = await c.get("/services.json?jurisdiction_id=")
        ours = await c.post("/requests.json", data=OPEN311_FORM | {"jurisdiction_id": "demo"})
    assert spaced.status_code == 404 and posted.status_code == 404
    assert empty.status_code == 200 and ours.status_code == 200 and len(publisher.published) == 1


async def test_the_portal_form_with_two_jurisdiction_ids_is_400() -> None:
    p = Portal()
    async with p.web as c:
        r = await c.post("/report", data=report(p) | {"jurisdiction_id": ["demo", "demo"]})
    assert r.status_code == 400 and "jurisdiction_id given more than once" in r.text and p.published == []


@pytest.mark.parametrize("fmt", ["json", "xml"])
async def test_the_discovery_url_is_the_public_base_url_whatever_the_host_header(fmt: str) -> None:
    app, _ = open311_app()
    async with web(app) as c:
        r = await c.get(f"/discovery.{fmt}", headers={"Host": "evil.example"})
    assert r.status_code == 200 and b"evil.example" not in r.content
    [endpoint] = parse_discovery(r.content, fmt).endpoints
    assert endpoint.url == settings().public_base_url


@pytest.mark.parametrize("data", [b"just some text", b"\x89PNG\r\n\x1a\n broken", b"GIF89a"])
async def test_a_file_that_is_not_an_image_gets_a_clean_415_naming_the_formats(data: bytes) -> None:
    p = Portal()
    async with p.web as c:
        photo = await c.post("/photos", files={"photo": ("x.jpg", data, "image/jpeg")})
        media = await c.post("/requests.json", data=OPEN311_FORM | {"api_key": p.settings.open311_api_keys[0]},
                             files={"media": ("x.jpg", data, "image/jpeg")})
    assert photo.status_code == 415
    assert photo.json()["detail"] == "not an image we can read (JPEG, PNG, HEIC, WebP, GIF, TIFF)"
    assert media.status_code == 415
    assert media.json()[0]["description"] == "media: not an image we can read (JPEG, PNG, HEIC, WebP, GIF, TIFF)"
    for text in (photo.text, media.text):
        assert "0x" not in text and "BytesIO" not in text and "<" not in text


async def test_a_200_000_character_text_answer_is_a_400_naming_the_attribute_on_open311_and_the_portal() -> None:
    app, publisher = open311_app()
    form = {"api_key": "key-a", "service_code": "noise", "lat": "45.42", "long": "-75.69", "description": "loud"}
    async with web(app) as c:
        r = await c.post("/requests.json", data=form | {"attribute[details]": "z" * 200_000})
        ok = await c.post("/requests.json", data=form | {"attribute[details]": "z" * 4000})
    assert r.status_code == 400 and r.json()[0]["description"] == "attribute details is longer than 4000 characters"
    assert ok.status_code == 200 and len(publisher.published) == 1
    p = Portal()
    async with p.web as c:
        page = await c.post("/report", data=report(p, service_code="noise", **{"attribute[details]": "z" * 200_000}))
    assert page.status_code == 400 and "attribute details is longer than 4000 characters" in page.text
    assert p.published == []


@pytest.mark.parametrize("key", ["attribute[a[b]]", "attribute[]", "attribute[size]x", "attributes[size]"])
async def test_a_malformed_attribute_name_is_a_400_on_the_portal_as_on_open311(key: str) -> None:
    p = Portal()
    async with p.web as c:
        page = await c.post("/report", data=report(p) | {key: "1"})
    app, publisher = open311_app()
    async with web(app) as c:
        api = await c.post("/requests.json", data=OPEN311_FORM | {key: "1"})
    assert api.status_code == 400 and "malformed attribute parameter" in api.json()[0]["description"]
    assert page.status_code == 400 and "malformed attribute parameter" in page.text
    assert p.published == [] and publisher.published == []


async def test_the_portal_reads_a_list_attribute_and_refuses_a_single_value_twice_as_open311_does() -> None:
    p = Portal()
    async with p.web as c:
        twice = await c.post("/report", data=report(p) | {"attribute[surface]": ["wall", "wall"]})
        ok = await c.post("/report", data=report(p))
    assert twice.status_code == 400 and "attribute[surface] was given more than once" in twice.text
    assert ok.status_code == 200 and len(p.published) == 1


INVISIBLE = ["   ", "\u200b", "\u200b\u200c\u200d\u2060\ufeff", " \u200b \n\t", "\u3164\u2800", "\u00ad\u200e"]


@pytest.mark.parametrize("blank", INVISIBLE)
async def test_a_description_of_only_invisible_characters_is_empty_on_the_portal_and_open311(blank: str) -> None:
    p = Portal()
    async with p.web as c:
        page = await c.post("/report", data=report(p, description=blank))
    assert page.status_code == 400 and 'id="description-error"' in page.text and p.published == []
    app, publisher = open311_app()
    free_text = {k: v for k, v in OPEN311_FORM.items() if not k.startswith("attribute") and k != "service_code"}
    async with web(app) as c:
        refused = await c.post("/requests.json", data=free_text | {"description": blank})
        with_code = await c.post("/requests.json", data=OPEN311_FORM | {"description": blank})
    assert refused.status_code == 400
    assert "description" in refused.json()[0]["description"], "the 400 names the description"
    assert with_code.status_code == 200, "a report with a service_code may come without a description"
    [env] = publisher.published
    assert env.payload(MessageReceived).description == ""


def test_visible_text_around_a_zero_width_character_is_a_description() -> None:
    assert not is_blank("\u200bhole") and not is_blank("é") and is_blank("") and is_blank("\u200b \u2060")
