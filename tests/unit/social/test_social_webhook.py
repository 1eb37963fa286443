"""The Meta webhook of intake_social, driven through its real FastAPI app with a fake publisher: every
vector of x_hub_signature_256_vectors.json verifies there, a body changed by one byte or re-serialised is
refused with 403 and publishes nothing, accents verify, and the subscription handshake."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka.errors import KafkaTimeoutError

from services.intake_social.app import create_app
from services.intake_social.entrypoints.meta import WEBHOOK_PATH
from services.intake_social.config import SocialSettings
from services.intake_social.domain.outcomes import event_id_for
from shared.events import DeliveryStatusReceived, Envelope, MessageReceived, MessageUnsupported
from shared.settings import Settings
from social_fakes import FakeCaseApi, FakeConversations, FakeMedia, FakeUnsupported
from support.data import shared_data

VERIFY_TOKEN = "verify-me"


def vectors() -> dict[str, Any]:
    return json.loads((shared_data() / "meta_social" / "x_hub_signature_256_vectors.json").read_text("utf-8"))


def fixture_bytes(name: str) -> bytes:
    return (shared_data() / "meta_social" / "courier_meta_testdata" / name).read_bytes()


COURIER = vectors()["courier_fixture_signatures"]
SECRET = COURIER["secret"]


class FakePublisher:
    """Records what would go to Kafka; `fail` makes it raise like an unreachable broker."""

    def __init__(self) -> None:
        self.published: list[Envelope] = []
        self.fail = False

    async def __call__(self, envelope: Envelope) -> None:
        if self.fail:
            raise KafkaTimeoutError()
        self.published.append(envelope)


def make_client(publisher: FakePublisher, secret: str | None = SECRET) -> httpx.AsyncClient:
    social = SocialSettings(meta_app_secret=secret, meta_verify_token=VERIFY_TOKEN, meta_page_ids=[],
                            meta_whatsapp_phone_number_ids=[], mastodon_api_base_url=None)
    app = create_app(Settings(topic_prefix="unit."), social=social, publish=publisher, case_api=FakeCaseApi(),
                     conversations=FakeConversations(), unsupported=FakeUnsupported(), media=FakeMedia())
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://intake-social.test")


@pytest.fixture
def publisher() -> FakePublisher:
    return FakePublisher()


@pytest.fixture
async def client(publisher: FakePublisher) -> AsyncIterator[httpx.AsyncClient]:
    async with make_client(publisher) as c:
        yield c


def post(client: httpx.AsyncClient, body: bytes, signature: str | None) -> Any:
    headers = {"content-type": "application/json"}
    if signature is not None:
        headers["X-Hub-Signature-256"] = signature
    return client.post(WEBHOOK_PATH, content=body, headers=headers)


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@pytest.mark.parametrize("name", sorted(COURIER["files"]))
async def test_every_courier_vector_verifies_through_our_webhook(name: str, client: httpx.AsyncClient,
                                                                 publisher: FakePublisher) -> None:
    body = fixture_bytes(name)
    r = await post(client, body, COURIER["files"][name])
    assert r.status_code == 200, r.text
    counts = r.json()["received"]
    # what was published is exactly the messages and statuses of the batch, one envelope each, on their own ids
    assert len(publisher.published) == counts.get("message", 0) + counts.get("status", 0) + counts.get(
        "unsupported", 0)
    for env in publisher.published:
        if env.event_type == MessageUnsupported.event_type:
            u = env.payload(MessageUnsupported)
            assert env.event_id == event_id_for(u.channel, f"unsupported:{u.channel_message_id}")
            continue
        if env.event_type == DeliveryStatusReceived.event_type:
            st = env.payload(DeliveryStatusReceived)
            assert env.event_id == event_id_for(st.channel, f"status:{st.provider_message_id}:{st.status}")
            continue
        msg = env.payload(MessageReceived)
        assert env.event_id == event_id_for(msg.channel, msg.channel_message_id)
        assert env.subject == msg.contact_key and env.producer == "intake_social"


async def test_the_vectors_cover_every_fixture_file() -> None:
    on_disk = {p.name for p in (shared_data() / "meta_social" / "courier_meta_testdata").glob("*.json")}
    assert set(COURIER["files"]) == on_disk


async def test_the_published_github_vector_verifies_through_our_webhook(publisher: FakePublisher) -> None:
    v = vectors()["published_vector"]
    async with make_client(publisher, secret=v["secret"]) as c:
        r = await post(c, v["raw_body"].encode(), v["x_hub_signature_256"])
        # signed, so accepted: "Hello, World!" is not JSON, which is reported, not retried
        assert r.status_code == 200 and r.json()["received"] == {"rejected": 1}
        wrong = await post(c, b"Hello, World?", v["x_hub_signature_256"])
        assert wrong.status_code == 403
    assert publisher.published == []


@pytest.mark.parametrize("name", ["fba__hello_msg.json", "ig__attachment.json", "wac__hello.json",
                                  "wac__image.json", "fba__duplicate_msg.json"])
async def test_a_body_changed_by_one_byte_is_refused_and_nothing_is_published(
        name: str, client: httpx.AsyncClient, publisher: FakePublisher) -> None:
    body = bytearray(fixture_bytes(name))
    at = body.index(b"external_id") + 3
    body[at] ^= 0x01  # "ext" -> "exu"
    r = await post(client, bytes(body), COURIER["files"][name])
    assert r.status_code == 403
    assert publisher.published == []
    # a one-byte change anywhere, even in whitespace, is refused too
    for at in (0, len(body) // 2, len(body) - 1):
        changed = bytearray(fixture_bytes(name))
        changed[at] = (changed[at] + 1) % 256
        assert (await post(client, bytes(changed), COURIER["files"][name])).status_code == 403
    assert publisher.published == []
    assert (await post(client, fixture_bytes(name), COURIER["files"][name])).status_code == 200
    assert publisher.published


@pytest.mark.parametrize("name", ["fba__hello_msg.json", "wac__hello.json", "ig__hello_msg.json"])
async def test_a_re_serialised_body_is_refused_even_though_it_is_the_same_json(
        name: str, client: httpx.AsyncClient, publisher: FakePublisher) -> None:
    original = fixture_bytes(name)
    for reserialised in (json.dumps(json.loads(original)).encode(),
                         json.dumps(json.loads(original), separators=(",", ":")).encode(),
                         json.dumps(json.loads(original), indent=1).encode()):
        assert reserialised != original and json.loads(reserialised) == json.loads(original)
        r = await post(client, reserialised, COURIER["files"][name])
        assert r.status_code == 403
    assert publisher.published == []


def accented_delivery(text: str, *, ensure_ascii: bool) -> bytes:
    payload = {"object": "page", "entry": [{"id": "1234567890", "time": 1764417600000, "messaging": [{
        "sender": {"id": "5678"}, "recipient": {"id": "1234567890"}, "timestamp": 1764417600000,
        "message": {"mid": f"m.accents.{ensure_ascii}", "text": text}}]}]}
    return json.dumps(payload, ensure_ascii=ensure_ascii).encode("utf-8")


@pytest.mark.parametrize("ensure_ascii", [True, False], ids=["escaped-as-meta-sends", "raw-utf8"])
async def test_bodies_whose_text_has_accents_verify_and_keep_their_accents(
        ensure_ascii: bool, client: httpx.AsyncClient, publisher: FakePublisher) -> None:
    text = "Nid-de-poule énorme rue Saint-Étienne, près de l'école — ça déborde ! 🚧 ñandú"
    body = accented_delivery(text, ensure_ascii=ensure_ascii)
    assert (b"\\u00e9" in body) is ensure_ascii
    r = await post(client, body, sign(SECRET, body))
    assert r.status_code == 200, r.text
    (env,) = publisher.published
    assert env.payload(MessageReceived).description == text
    # the same text signed over its other encoding is a different body: refused
    other = accented_delivery(text, ensure_ascii=not ensure_ascii)
    assert (await post(client, other, sign(SECRET, body))).status_code == 403


@pytest.mark.parametrize("header", [None, "", "sha256=", "sha1=" + "0" * 40, "sha256=" + "0" * 64,
                                    "sha256=zz" + "0" * 62, "SHA256=" + "0" * 64])
async def test_missing_or_malformed_signatures_are_refused(header: str | None, client: httpx.AsyncClient,
                                                           publisher: FakePublisher) -> None:
    r = await post(client, fixture_bytes("fba__hello_msg.json"), header)
    assert r.status_code == 403
    assert publisher.published == []


async def test_a_signature_made_with_another_secret_is_refused(client: httpx.AsyncClient,
                                                               publisher: FakePublisher) -> None:
    body = fixture_bytes("wac__hello.json")
    assert (await post(client, body, sign("not_the_app_secret", body))).status_code == 403
    assert publisher.published == []


async def test_without_an_app_secret_every_delivery_is_refused(publisher: FakePublisher) -> None:
    async with make_client(publisher, secret=None) as c:
        body = fixture_bytes("fba__hello_msg.json")
        assert (await post(c, body, COURIER["files"]["fba__hello_msg.json"])).status_code == 403
    assert publisher.published == []


async def test_the_same_mid_delivered_twice_is_the_same_event(client: httpx.AsyncClient,
                                                              publisher: FakePublisher) -> None:
    name = "fba__duplicate_msg.json"
    for _ in range(2):  # in one delivery twice, then Meta's retry of the whole delivery
        assert (await post(client, fixture_bytes(name), COURIER["files"][name])).status_code == 200
    assert len(publisher.published) == 2
    assert len({env.event_id for env in publisher.published}) == 1


async def test_a_broker_that_does_not_acknowledge_gets_meta_to_retry(client: httpx.AsyncClient,
                                                                     publisher: FakePublisher) -> None:
    publisher.fail = True
    name = "wac__hello.json"
    r = await post(client, fixture_bytes(name), COURIER["files"][name])
    assert r.status_code == 503


async def test_the_subscription_handshake_echoes_the_challenge_only_for_our_token(client: httpx.AsyncClient) -> None:
    ok = await client.get(WEBHOOK_PATH, params={"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN,
                                                "hub.challenge": "1158201444"})
    assert ok.status_code == 200 and ok.text == "1158201444"
    for params in ({"hub.mode": "subscribe", "hub.verify_token": "guess", "hub.challenge": "1"},
                   {"hub.mode": "unsubscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1"},
                   {"hub.mode": "subscribe", "hub.challenge": "1"}, {}):
        r = await client.get(WEBHOOK_PATH, params=params)
        assert r.status_code == 403 and "1" not in r.text


async def test_statuses_and_rejections_are_counted_in_the_metrics(client: httpx.AsyncClient) -> None:
    for name in ("wac__valid_status.json", "wac__error_status.json", "wac__invalid_from.json"):
        assert (await post(client, fixture_bytes(name), COURIER["files"][name])).status_code == 200
    metrics = (await client.get("/metrics")).text
    assert 'omni311_social_delivery_statuses_total{channel="whatsapp",status="failed"} 1.0' in metrics
    assert 'omni311_social_delivery_statuses_total{channel="whatsapp",status="sent"} 1.0' in metrics
    assert 'kind="rejected",reason="invalid_sender",source="meta"} 1.0' in metrics


def test_fixture_files_are_read_as_raw_bytes() -> None:
    # The vectors are over the exact file bytes: no newline added, no re-encoding.
    name = "fba__hello_msg.json"
    body: bytes = (Path(shared_data()) / "meta_social" / "courier_meta_testdata" / name).read_bytes()
    assert sign(SECRET, body) == COURIER["files"][name]
