"""Photos live with us, not at the provider (issue 12, kind 7): a Messenger image, an Instagram image and a
WhatsApp photo are downloaded at intake and the published message links to our copy; a download that
fails keeps the provider's link with the reason in `attributes.media_failed`. The downloader itself
(`adapters/media.py`) against a fake network: a CDN link fetched as it is, a WhatsApp media id resolved
through Graph with the token, the token never sent to the CDN's other host, and no token, no download."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from PIL import Image

from services.intake_social.adapters.media import MetaMedia
from services.intake_social.domain.meta import MetaAccounts
from services.intake_social.service_layer.webhooks import WebhookDeps, receive_delivery
from shared.events import Envelope, MessageReceived
from shared.media import Cleaned, MediaLimits, MediaUnavailable
from social_fakes import FakeCaseApi, FakeConversations, FakeMedia, FakeUnsupported

SECRET = b"media-secret"
T0 = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
GRAPH = "https://graph.test/v21.0"
CDN = "https://scontent.xx.fbcdn.net/v/t1.15752-9/photo.jpg?stp=dst-jpg&_nc_sid=5f2048"


async def deliver(payload: dict[str, Any], media: FakeMedia) -> list[MessageReceived]:
    published: list[Envelope] = []

    async def publish(env: Envelope) -> None:
        published.append(env)

    deps = WebhookDeps(app_secret=SECRET, accounts=MetaAccounts(graph_url=GRAPH), publish=publish,
                       report=lambda _o: None, conversations=FakeConversations(), unsupported=FakeUnsupported(),
                       case_api=FakeCaseApi(), media=media)
    body = json.dumps(payload).encode()
    await receive_delivery(body, "sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest(), deps, T0)
    return [e.payload(MessageReceived) for e in published if e.event_type == MessageReceived.event_type]


def messenger_image(url: str, obj: str = "page") -> dict[str, Any]:
    return {"object": obj, "entry": [{"id": "1234567890", "time": 1764417600000, "messaging": [{
        "sender": {"id": "5678"}, "recipient": {"id": "1234567890"}, "timestamp": 1764417600000,
        "message": {"mid": "m.photo", "text": "Fallen tree on the path",
                    "attachments": [{"type": "image", "payload": {"url": url}}]}}]}]}


def whatsapp_image(media_id: str = "1480279829340236") -> dict[str, Any]:
    m = {"from": "16135550100", "id": "wamid.PHOTO", "timestamp": "1764417600", "type": "image",
         "image": {"id": media_id, "mime_type": "image/jpeg", "caption": "Overflowing bin"}}
    return {"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp", "metadata": {"phone_number_id": "99"}, "messages": [m]}}]}]}


@pytest.mark.parametrize("obj", ["page", "instagram"])
async def test_a_messenger_or_instagram_image_is_published_with_our_copys_url(obj: str) -> None:
    media = FakeMedia()
    (m,) = await deliver(messenger_image(CDN, obj), media)
    assert m.media_url == ["http://social.test/media/1"] and "media_failed" not in m.attributes
    assert media.kept == [(CDN, "m.photo")]


async def test_a_whatsapp_photo_is_published_with_our_copys_url() -> None:
    media = FakeMedia()
    (m,) = await deliver(whatsapp_image(), media)
    assert m.media_url == ["http://social.test/media/1"] and m.description == "Overflowing bin"
    assert media.kept == [(f"{GRAPH}/1480279829340236", "wamid.PHOTO")]


async def test_a_download_that_fails_keeps_the_providers_link_and_says_why() -> None:
    media = FakeMedia()
    media.unreachable.add(CDN)
    (m,) = await deliver(messenger_image(CDN), media)
    assert m.media_url == [CDN] and m.attributes["media_failed"] == ["lookaside.fbsbx.com answered 404"]
    assert m.description == "Fallen tree on the path", "the message is never lost to a download"


async def test_a_file_we_do_not_keep_keeps_the_link_and_the_reason() -> None:
    # Our own input: a "photo" link that answers an HTML page (an expired CDN link's error page).
    media = FakeMedia()
    media.refuse.add(f"{GRAPH}/1480279829340236")
    (m,) = await deliver(whatsapp_image(), media)
    assert m.media_url == [f"{GRAPH}/1480279829340236"]
    assert m.attributes["media_failed"] == ["the type 'text/html' is not one we keep"]


async def test_an_unsent_message_takes_our_copy_of_its_photo_with_it() -> None:
    # Our own input: the resident unsends the photo they sent; its words leave the case (the case service),
    # and our copy must not stay served at /media/{id} (its URL was public on the case until then).
    media = FakeMedia()
    await deliver(messenger_image(CDN), media)
    unsent = messenger_image(CDN)
    unsent["entry"][0]["messaging"][0]["message"] = {"mid": "m.photo", "is_deleted": True}
    assert await deliver(unsent, media) == []
    assert media.forgotten == ["m.photo"]


# --- the downloader --------------------------------------------------------------------------------------------


def jpeg_with_gps() -> bytes:
    img = Image.new("RGB", (40, 30), (200, 30, 30))
    exif = Image.Exif()
    exif[0x8825] = {1: "N", 2: (45.0, 25.0, 17.0)}  # GPSInfo
    out = io.BytesIO()
    img.save(out, "JPEG", exif=exif)
    return out.getvalue()


class FakeStore:
    def __init__(self) -> None:
        self.put_calls: list[tuple[Cleaned, str]] = []

    async def put(self, cleaned: Cleaned, *, channel_message_id: str) -> str:
        self.put_calls.append((cleaned, channel_message_id))
        return "0b7f5a2e-0000-5000-8000-000000000001"


class Graph:
    """Graph's media id look-up and the CDN it points at; records each request's host and Authorization."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str | None]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append((request.url.host, request.headers.get("authorization")))
        if request.url.host == "graph.test":
            if request.headers.get("authorization") != "Bearer wa-token":
                return httpx.Response(401, json={"error": {"message": "Invalid OAuth access token"}})
            return httpx.Response(200, json={"url": "https://lookaside.fbsbx.test/whatsapp_business/?mid=148",
                                             "mime_type": "image/jpeg", "id": "1480279829340236"})
        if request.url.host in ("lookaside.fbsbx.test", "scontent.xx.fbcdn.net"):
            return httpx.Response(200, content=jpeg_with_gps(), headers={"content-type": "image/jpeg"})
        return httpx.Response(404)


async def public(_host: str, _port: int) -> list[str]:
    return ["157.240.22.35"]


def keeper(graph: Graph, store: FakeStore, token: str | None = "wa-token") -> MetaMedia:
    return MetaMedia(lambda: store, graph_url=GRAPH, access_token=token,  # type: ignore[arg-type,return-value]
                     base_url="https://311.example.org/social/media/", limits=MediaLimits(timeout_s=5),
                     transport=httpx.MockTransport(graph), resolve=public)


async def test_a_whatsapp_media_id_is_resolved_through_graph_with_the_token_and_kept_clean() -> None:
    graph, store = Graph(), FakeStore()
    k = keeper(graph, store)
    await k.start()
    try:
        url = await k.keep(f"{GRAPH}/1480279829340236", channel_message_id="wamid.PHOTO")
    finally:
        await k.stop()
    assert url == "https://311.example.org/social/media/0b7f5a2e-0000-5000-8000-000000000001"
    assert graph.requests == [("graph.test", "Bearer wa-token"), ("lookaside.fbsbx.test", "Bearer wa-token")]
    ((cleaned, mid),) = store.put_calls
    assert mid == "wamid.PHOTO" and cleaned.content_type == "image/jpeg"
    assert Image.open(io.BytesIO(cleaned.content)).getexif().get(0x8825) is None, "GPS removed"


async def test_a_messenger_cdn_link_is_fetched_without_the_token() -> None:
    graph, store = Graph(), FakeStore()
    k = keeper(graph, store)
    await k.start()
    try:
        await k.keep(CDN, channel_message_id="m.photo")
    finally:
        await k.stop()
    assert graph.requests == [("scontent.xx.fbcdn.net", None)]


async def test_without_a_token_a_whatsapp_media_id_is_not_fetched() -> None:
    graph, store = Graph(), FakeStore()
    k = keeper(graph, store, token=None)
    await k.start()
    try:
        with pytest.raises(MediaUnavailable, match="no Meta access token"):
            await k.keep(f"{GRAPH}/1480279829340236", channel_message_id="wamid.PHOTO")
    finally:
        await k.stop()
    assert graph.requests == [] and store.put_calls == []


async def test_a_graph_refusal_is_unavailable_not_a_crash() -> None:
    graph, store = Graph(), FakeStore()
    k = keeper(graph, store, token="expired")
    await k.start()
    try:
        with pytest.raises(MediaUnavailable, match="answered 401"):
            await k.keep(f"{GRAPH}/1480279829340236", channel_message_id="wamid.PHOTO")
    finally:
        await k.stop()
