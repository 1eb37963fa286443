"""Open311 complete on intake_web through the real app (ASGI, fake publisher and case API): service
definitions with attributes, answers checked on POST (400 naming the attribute, nothing published),
`jurisdiction_id` on every route, the discovery document, and the spatial filters of GET requests."""

from __future__ import annotations

import httpx
import pytest

from shared.events import MessageReceived
from shared.open311 import (
    BoundingBox,
    Circle,
    parse_discovery,
    parse_errors,
    parse_service_definition,
    parse_services,
)
from shared.settings import Settings
from test_open311_routes import FORM, make

POTHOLE = {k: v for k, v in FORM.items() if not k.startswith("attribute")}


@pytest.mark.parametrize("fmt", ["json", "xml"])
async def test_a_service_definition_lists_its_attributes_in_order_with_their_values(fmt: str) -> None:
    web, _, _ = make()
    async with web:
        r = await web.get(f"/services/pothole.{fmt}")
        services = parse_services((await web.get(f"/services.{fmt}")).content, fmt)
    assert r.status_code == 200
    definition = parse_service_definition(r.content, fmt)
    assert [(a.code, a.order, a.required, a.datatype) for a in definition.attributes] == [
        ("size", 1, True, "singlevaluelist"), ("in_traffic_lane", 2, False, "singlevaluelist")]
    assert [v.key for v in definition.attributes[0].values] == ["small", "medium", "large"]
    metadata = {s.service_code: s.metadata for s in services}
    assert metadata["pothole"] is True and metadata["streetlight"] is False


async def test_a_post_without_a_required_attribute_is_a_400_naming_it_and_publishes_nothing() -> None:
    web, publisher, _ = make()
    async with web:
        r = await web.post("/requests.json", data=POTHOLE)
        x = await web.post("/requests.xml", data=POTHOLE | {"attribute[size]": "  "})
    assert (r.status_code, x.status_code) == (400, 400)
    for body, fmt in ((r.content, "json"), (x.content, "xml")):
        [error] = parse_errors(body, fmt)
        assert error.code == 400 and error.description.startswith("attribute size is required")
    assert publisher.published == []


@pytest.mark.parametrize(("extra", "named"), [
    ({"attribute[size]": "enormous"}, "attribute size: 'enormous' is not one of its values"),
    ({"attribute[size]": "large", "attribute[colour]": "red"}, "attribute colour is not an attribute of service pothole"),
    ({"attribute[size][]": ["small", "large"]}, "attribute size takes one value, got 2"),
])
async def test_an_answer_the_definition_does_not_allow_is_a_400_naming_the_attribute(extra: dict, named: str) -> None:
    web, publisher, _ = make()
    async with web:
        r = await web.post("/requests.json", data=POTHOLE | extra)
    assert r.status_code == 400 and named in r.json()[0]["description"], r.text
    assert publisher.published == []


async def test_the_answers_kept_are_published_on_the_intake_message() -> None:
    web, publisher, _ = make()
    async with web:
        r = await web.post("/requests.json", data=POTHOLE | {"attribute[size]": "medium", "attribute[in_traffic_lane]": "yes"})
        g = await web.post("/requests.json", data=POTHOLE | {
            "service_code": "graffiti", "attribute[surface][]": ["wall", "sign"]})
    assert (r.status_code, g.status_code) == (200, 200), (r.text, g.text)
    first, second = (env.payload(MessageReceived) for env in publisher.published)
    assert first.attributes == {"size": "medium", "in_traffic_lane": "yes"}
    assert second.attributes == {"surface": ["wall", "sign"]}


async def test_an_attribute_without_a_service_code_is_refused() -> None:
    web, publisher, _ = make()
    free_text = {k: v for k, v in POTHOLE.items() if k != "service_code"} | {"attribute[size]": "large"}
    async with web:
        r = await web.post("/requests.json", data=free_text)
    assert r.status_code == 400 and "attribute size" in r.text and publisher.published == []


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/services.json"), ("GET", "/services/pothole.xml"), ("GET", "/requests.json"),
    ("GET", "/requests/DEM-2026-000042.json"), ("GET", "/tokens/tok-1.json"), ("GET", "/discovery.xml"),
    ("POST", "/requests.json"),
])
async def test_another_jurisdiction_id_is_a_404_on_every_route(method: str, path: str) -> None:
    web, publisher, case_api = make()
    async with web:
        if method == "GET":
            r = await web.get(path, params={"jurisdiction_id": "nyc"})
        else:
            r = await web.post(path, data=FORM | {"jurisdiction_id": "nyc"})
    assert r.status_code == 404
    fmt = "xml" if path.endswith(".xml") else "json"
    assert [e.description for e in parse_errors(r.content, fmt)] == ["jurisdiction_id nyc not found"]
    assert publisher.published == [] and case_api.asked == []


async def test_our_own_jurisdiction_id_or_none_is_served() -> None:
    web, publisher, _ = make()
    async with web:
        listed = await web.get("/services.json", params={"jurisdiction_id": "demo"})
        posted = await web.post("/requests.json", data=FORM | {"jurisdiction_id": "demo"})
        on_query = await web.post("/requests.json?jurisdiction_id=demo", data=FORM)
        elsewhere = await web.post("/requests.json?jurisdiction_id=boston", data=FORM)
    assert (listed.status_code, posted.status_code, on_query.status_code) == (200, 200, 200)
    assert elsewhere.status_code == 404 and len(publisher.published) == 2


@pytest.mark.parametrize("fmt", ["json", "xml"])
async def test_the_discovery_document_names_one_georeport_v2_endpoint_here(fmt: str) -> None:
    web, _, _ = make()
    async with web:
        r = await web.get(f"/discovery.{fmt}")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json" if fmt == "json" else "text/xml")
    doc = parse_discovery(r.content, fmt)
    [endpoint] = doc.endpoints
    assert endpoint.specification == "http://wiki.open311.org/GeoReport_v2" and endpoint.type == "production"
    assert endpoint.url == Settings().public_base_url and endpoint.formats == ["text/xml", "application/json"]
    assert doc.changeset and "Demoville" in (doc.contact or "")


async def test_spatial_filters_are_passed_to_the_case_api() -> None:
    web, _, case_api = make()
    async with web:
        box = await web.get("/requests.json", params={"bbox": "-75.70,45.41,-75.68,45.43", "status": "open"})
        near = await web.get("/requests.xml", params={"lat": "45.42", "long": "-75.69", "radius": "250"})
    assert (box.status_code, near.status_code) == (200, 200)
    (_, first), (_, second) = case_api.asked
    assert first["bbox"] == BoundingBox(-75.70, 45.41, -75.68, 45.43) and first["status"] == "open"
    assert "near" not in first and "bbox" not in second
    assert second["near"] == Circle(45.42, -75.69, 250.0)


@pytest.mark.parametrize(("params", "named"), [
    ({"bbox": "-75.70,45.41,-75.68"}, "bbox"),
    ({"bbox": "-75.68,45.41,-75.70,45.43"}, "bbox"),
    ({"bbox": "a,b,c,d"}, "bbox"),
    ({"lat": "45.42", "long": "-75.69"}, "radius missing"),
    ({"lat": "45.42", "radius": "100"}, "long missing"),
    ({"lat": "45.42", "long": "-75.69", "radius": "0"}, "radius must be between 1 and 50000 metres"),
    ({"lat": "45.42", "long": "-75.69", "radius": "50001"}, "radius"),
    ({"lat": "95", "long": "-75.69", "radius": "10"}, "lat must be between"),
    ({"lat": "45.42", "long": "east", "radius": "10"}, "long must be a decimal number"),
])
async def test_a_malformed_spatial_filter_is_a_400_naming_it_and_the_case_api_is_not_asked(params: dict, named: str) -> None:
    web, _, case_api = make()
    async with web:
        r = await web.get("/requests.json", params=params)
    assert r.status_code == 400 and named in r.json()[0]["description"], r.text
    assert case_api.asked == []


async def test_the_case_api_client_sends_the_spatial_filters_as_query_parameters() -> None:
    from shared.intake import CaseApiClient

    seen: list[dict[str, str]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(dict(request.url.params))
        return httpx.Response(200, json=[])

    client = CaseApiClient("http://case.internal", transport=httpx.MockTransport(answer))
    await client.start()
    try:
        await client.requests(bbox=BoundingBox(-75.7, 45.41, -75.68, 45.43), near=Circle(45.42, -75.69, 250.0))
    finally:
        await client.stop()
    assert seen == [{"bbox": "-75.7,45.41,-75.68,45.43", "lat": "45.42", "long": "-75.69", "radius": "250.0"}]



def jpeg() -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (64, 48), (10, 80, 160)).save(out, format="JPEG")
    return out.getvalue()


async def test_a_multipart_media_file_is_stored_and_becomes_the_requests_media_url() -> None:
    from portal_fakes import Portal

    p = Portal(public_base_url="https://311.demoville.example")
    async with p.web as web:
        r = await web.post("/requests.json", data=FORM, files={"media": ("hole.jpg", jpeg(), "image/jpeg")})
    assert r.status_code == 200, r.text
    [env] = p.published
    msg = env.payload(MessageReceived)
    [photo_id] = p.store.photos
    assert msg.media_url == [f"https://311.demoville.example/media/{photo_id}.jpg"]
    assert msg.attributes == {"size": "large"}


@pytest.mark.parametrize(("files", "extra", "status", "words"), [
    ({"media": ("x.txt", b"not an image at all", "text/plain")}, {}, 415, "media: not an image we can read (JPEG"),
    ({"media": ("hole.jpg", None, "image/jpeg")}, {"media_url": "https://apps.example/p.jpg"}, 400, "not both"),
    ({"media": ("hole.jpg", None, "image/jpeg")}, {"attribute[size]": ""}, 400, "attribute size is required"),
])
async def test_a_refused_media_post_stores_and_publishes_nothing(files: dict, extra: dict, status: int,
                                                                   words: str) -> None:
    from portal_fakes import Portal

    p = Portal()
    sent = {k: (name, data if data is not None else jpeg(), kind) for k, (name, data, kind) in files.items()}
    async with p.web as web:
        r = await web.post("/requests.json", data=FORM | extra, files=sent)
    assert r.status_code == status and words in r.json()[0]["description"], r.text
    assert p.published == [] and p.store.photos == {}


async def test_a_media_post_retried_with_its_idempotency_key_keeps_one_photo_and_the_same_media_url() -> None:
    from portal_fakes import Portal

    p = Portal(public_base_url="https://311.demoville.example")
    photo = jpeg()
    async with p.web as web:
        for _ in range(2):
            r = await web.post("/requests.json", data=FORM, files={"media": ("hole.jpg", photo, "image/jpeg")},
                               headers={"Idempotency-Key": "retry-7"})
            assert r.status_code == 200, r.text
    first, again = p.published
    assert first.event_id == again.event_id and len(p.store.photos) == 1
    assert first.payload(MessageReceived).media_url == again.payload(MessageReceived).media_url
