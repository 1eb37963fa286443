"""End to end on real Kafka and PostgreSQL: the notifier answers residents on the channel they used, through
local fakes of the Twilio REST API, Meta's Graph API and a Mastodon instance, driven by the real client
libraries. The fakes must exist before the notifier starts, so this module runs its own demo stack with
the notifier pointed at them; intake_sms_voice and intake_social run beside it. Reports name places of
the demo city's gazetteer (jurisdictions/demo/addresses.csv), so that each gets one answer, its
acknowledgement: a written place the router cannot find gets a second one asking where it is
(`location_not_found`)."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

from datetime import UTC, datetime

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from services.notifier.domain.messages import recipient_key
from shared.events import Envelope, MessageUnsupported, Pii
from support.fakes import FakeGraphApi, FakeMastodonApi, FakeTwilioApi
from support.infra import KAFKA, check_infra
from support.process import ExtraService
from support.twilio import post_signed, sms_form
from support.stack import Stack
from support.wait import eventually

TOKEN = "e2e-notify-twilio-token"
ACCOUNT = "AC" + "1" * 32
CITY_NUMBER = "+16135550311"
PUBLIC = "https://sms.notify.example"
APP_SECRET = "e2e-notify-app-secret"
PAGE_ID = "2234567890"
WA_PHONE_NUMBER_ID = "106540352242922"


@pytest.fixture(scope="module")
def fakes() -> Iterator[dict[str, Any]]:
    started = {"twilio": FakeTwilioApi().start(), "graph": FakeGraphApi().start(),
               "mastodon": FakeMastodonApi().start()}
    try:
        yield started
    finally:
        for fake in started.values():
            fake.stop()


@pytest.fixture(scope="module")
async def notify_stack(fakes: dict[str, Any]) -> AsyncIterator[Stack]:
    await check_infra()
    stack = Stack(jurisdiction="demo", extra_env={
        "OMNI311_TWILIO_ACCOUNT_SID": ACCOUNT,
        "OMNI311_TWILIO_AUTH_TOKEN": TOKEN,
        "OMNI311_TWILIO_FROM_NUMBER": CITY_NUMBER,
        "OMNI311_TWILIO_API_BASE_URL": fakes["twilio"].url,
        "OMNI311_TWILIO_PUBLIC_BASE_URL": PUBLIC,
        "OMNI311_META_ACCESS_TOKEN": "page-token",
        "OMNI311_META_GRAPH_BASE_URL": fakes["graph"].url + "/v21.0",
        "OMNI311_META_WHATSAPP_PHONE_NUMBER_ID": WA_PHONE_NUMBER_ID,
        "OMNI311_MASTODON_API_BASE_URL": fakes["mastodon"].url,
        "OMNI311_MASTODON_ACCESS_TOKEN": "city-token",
    })
    await stack.up()
    try:
        yield stack
    finally:
        await stack.down()


@pytest.fixture(scope="module")
async def sms_voice(notify_stack: Stack) -> AsyncIterator[ExtraService]:
    service = ExtraService(notify_stack, "intake_sms_voice", {"OMNI311_TWILIO_PROGRAM_NAME": "Demoville 311"})
    async with service.started() as proc:
        yield proc


@pytest.fixture(scope="module")
async def social(notify_stack: Stack) -> AsyncIterator[ExtraService]:
    async with ExtraService(notify_stack, "intake_social", {
        "OMNI311_META_APP_SECRET": APP_SECRET,
        "OMNI311_META_PAGE_IDS": json.dumps([PAGE_ID]),
        "OMNI311_MASTODON_POLL_INTERVAL_S": "0.5",
        "OMNI311_MASTODON_BACKFILL_HOURS": "1",
    }).started() as proc:
        yield proc


def _sid() -> str:
    return "SM" + uuid.uuid4().hex


def _phone() -> str:
    return f"+1613555{uuid.uuid4().int % 10000:04d}"


async def _twilio_post(client: httpx.AsyncClient, path: str, form: dict[str, str]) -> httpx.Response:
    return await post_signed(client, PUBLIC + path, form, token=TOKEN, public_base=PUBLIC)


async def _text(client: httpx.AsyncClient, sid: str, body: str, phone: str) -> httpx.Response:
    r = await _twilio_post(client, "/twilio/sms", sms_form(sid, body, phone, to=CITY_NUMBER, account_sid=ACCOUNT))
    assert r.status_code == 200, r.text
    return r


def _texts_to(fake: FakeTwilioApi, phone: str) -> list[dict[str, str]]:
    return [m for m in fake.messages() if m.get("To") == phone]


async def _case_of(case_api: httpx.AsyncClient, channel: str, message_id: str) -> str | None:
    r = await case_api.get(f"/cases/tokens/{message_id}", params={"channel": channel})
    return r.json()["service_request_id"] if r.status_code == 200 else None


async def test_a_signed_sms_gets_one_acknowledgement_by_sms_across_twilio_retries(
        notify_stack: Stack, sms_voice: ExtraService, fakes: dict[str, Any]) -> None:
    twilio: FakeTwilioApi = fakes["twilio"]
    phone = _phone()
    async with httpx.AsyncClient(base_url=sms_voice.url, timeout=10) as sms, \
            httpx.AsyncClient(base_url=notify_stack.url("case"), timeout=10) as case_api:
        sid = _sid()
        for _ in range(3):
            await _text(sms, sid, "Deep pothole in the right lane in front of 123 Main St", phone)
        number = await eventually(lambda: _case_of(case_api, "sms", sid), timeout=30, what="the SMS has a case")
        (ack,) = await eventually(lambda: _texts_to(twilio, phone) or None, timeout=30, what="acknowledgement")
        assert number in ack["Body"] and ack["From"] == CITY_NUMBER
        assert ack["StatusCallback"] == PUBLIC + "/twilio/status"

        # Twilio reports the acknowledgement delivered: recorded against the delivery, on the case.
        ack_sid = (await eventually(lambda: _delivery_sid(notify_stack, phone), timeout=10, what="delivery row"))
        status = {"MessageSid": ack_sid, "SmsSid": ack_sid, "MessageStatus": "delivered", "SmsStatus": "delivered",
                  "AccountSid": ACCOUNT, "From": CITY_NUMBER, "To": phone, "ApiVersion": "2010-04-01"}
        assert (await _twilio_post(sms, "/twilio/status", status)).status_code in (200, 204)
        conn = await notify_stack.db("notifier")
        try:
            async def delivered() -> bool:
                return await conn.fetchval("SELECT provider_status FROM deliveries WHERE provider_message_id = $1",
                                           ack_sid) == "delivered"
            await eventually(delivered, timeout=20, what="status recorded")
        finally:
            await conn.close()
        # three retries of one MessageSid: still one case and one acknowledgement
        assert len(_texts_to(twilio, phone)) == 1
        case_db = await notify_stack.case_db()
        try:
            assert await case_db.fetchval(
                "SELECT count(*) FROM messages WHERE channel = 'sms' AND channel_message_id = $1", sid) == 1
            assert await case_db.fetchval("SELECT count(*) FROM cases WHERE contact_key = "
                                          "(SELECT contact_key FROM cases WHERE service_request_id = $1)", number) == 1
        finally:
            await case_db.close()

        # The carrier later refuses a message to this number (21610, opted out at the carrier): opted out.
        refused = status | {"MessageStatus": "undelivered", "SmsStatus": "undelivered", "ErrorCode": "21610"}
        assert (await _twilio_post(sms, "/twilio/status", refused)).status_code in (200, 204)
        await eventually(lambda: _opted_out(notify_stack, phone), timeout=20, what="21610 opts the number out")


async def _delivery_sid(stack: Stack, phone: str) -> str | None:
    conn = await stack.db("notifier")
    try:
        return await conn.fetchval(
            "SELECT d.provider_message_id FROM deliveries d JOIN contacts c USING (case_id) "
            "WHERE c.phone = $1 AND d.status = 'sent'", phone)
    finally:
        await conn.close()


async def _opted_out(stack: Stack, phone: str) -> bool:
    conn = await stack.db("notifier")
    try:
        key = hashlib.sha256(f"sms:{phone}".encode()).hexdigest()[:32]
        return bool(await conn.fetchval("SELECT count(*) FROM opt_outs WHERE recipient_key = $1", key))
    finally:
        await conn.close()


async def test_stop_silences_the_number_and_start_resumes_the_acknowledgements(
        notify_stack: Stack, sms_voice: ExtraService, fakes: dict[str, Any]) -> None:
    twilio: FakeTwilioApi = fakes["twilio"]
    phone = _phone()
    async with httpx.AsyncClient(base_url=sms_voice.url, timeout=10) as sms, \
            httpx.AsyncClient(base_url=notify_stack.url("case"), timeout=10) as case_api:
        stop_sid = _sid()
        await _text(sms, stop_sid, "STOP", phone)
        await eventually(lambda: _opted_out(notify_stack, phone), timeout=30, what="the notifier has the opt-out")

        quiet_sid = _sid()
        await _text(sms, quiet_sid, "Overflowing bin at 45 Elm St", phone)
        await eventually(lambda: _case_of(case_api, "sms", quiet_sid), timeout=30, what="the report has a case")
        conn = await notify_stack.db("notifier")
        try:
            async def suppressed() -> str | None:
                return await conn.fetchval(
                    "SELECT d.reason FROM deliveries d JOIN contacts c USING (case_id) "
                    "WHERE c.phone = $1 AND d.status = 'suppressed'", phone)
            assert "opted out" in await eventually(suppressed, timeout=30, what="acknowledgement suppressed")
        finally:
            await conn.close()
        assert await _case_of(case_api, "sms", stop_sid) is None
        assert _texts_to(twilio, phone) == []

        await _text(sms, _sid(), "START", phone)
        await eventually(lambda: _not(_opted_out(notify_stack, phone)), timeout=30, what="the opt-in is applied")
        again_sid = _sid()
        await _text(sms, again_sid, "Graffiti on the wall at 7 Elm Street", phone)
        number = await eventually(lambda: _case_of(case_api, "sms", again_sid), timeout=30, what="a new case")
        (ack,) = await eventually(lambda: _texts_to(twilio, phone) or None, timeout=30, what="acknowledgement")
        assert number in ack["Body"]


async def _not(check: Any) -> bool:
    return not await check


def _messenger_delivery(mid: str, sender: str, text: str) -> bytes:
    ts = int(time.time() * 1000)
    return json.dumps({"object": "page", "entry": [{"id": PAGE_ID, "time": ts, "messaging": [{
        "sender": {"id": sender}, "recipient": {"id": PAGE_ID}, "timestamp": ts,
        "message": {"mid": mid, "text": text}}]}]}).encode()


async def test_a_signed_messenger_message_is_answered_through_the_send_api(
        notify_stack: Stack, social: ExtraService, fakes: dict[str, Any]) -> None:
    graph: FakeGraphApi = fakes["graph"]
    psid = str(7_000_000_000_000_000 + uuid.uuid4().int % 10**15)
    mid = "m_" + uuid.uuid4().hex
    body = _messenger_delivery(mid, psid, "Fallen tree blocking the sidewalk at 8 River Road")
    signature = "sha256=" + hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest()
    async with httpx.AsyncClient(base_url=social.url, timeout=10) as web, \
            httpx.AsyncClient(base_url=notify_stack.url("case"), timeout=10) as case_api:
        r = await web.post("/webhooks/meta", content=body,
                           headers={"content-type": "application/json", "X-Hub-Signature-256": signature})
        assert r.status_code == 200, r.text
        number = await eventually(lambda: _case_of(case_api, "messenger", mid), timeout=30, what="a case")

        def replies() -> list[Any] | None:
            return [r for r in graph.received("POST", "/v21.0/me/messages")
                    if r.json()["recipient"]["id"] == psid] or None

        (reply,) = await eventually(replies, timeout=30, what="reply through the Send API")
        sent = reply.json()
        assert sent["messaging_type"] == "RESPONSE" and number in sent["message"]["text"]
        assert reply.headers["authorization"] == "Bearer page-token"


async def test_a_mastodon_mention_is_answered_by_a_direct_message(
        notify_stack: Stack, social: ExtraService, fakes: dict[str, Any]) -> None:
    mastodon: FakeMastodonApi = fakes["mastodon"]
    status_id = str(110_000_000_000_000_000 + uuid.uuid4().int % 10**15)
    mention = mastodon.mention(int(time.time() * 1000), status_id, "Broken streetlight at 5 Oak Avenue")
    async with httpx.AsyncClient(base_url=notify_stack.url("case"), timeout=10) as case_api:
        number = await eventually(lambda: _case_of(case_api, "mastodon", status_id), timeout=30, what="a case")

        def replies() -> list[dict[str, Any]] | None:
            return [s for s in mastodon.statuses() if str(s.get("in_reply_to_id")) == status_id] or None

        (reply,) = await eventually(replies, timeout=30, what="direct reply")
        assert reply["visibility"] == "direct"
        assert number in reply["status"]
        assert reply["status"].startswith("@" + mention["status"]["account"]["acct"])


def _whatsapp_delivery(value: dict[str, Any]) -> bytes:
    return json.dumps({"object": "whatsapp_business_account", "entry": [{"id": "102290129340398", "changes": [{
        "field": "messages", "value": {"messaging_product": "whatsapp", "metadata": {
            "display_phone_number": "16135550311", "phone_number_id": WA_PHONE_NUMBER_ID}} | value}]}]}).encode()


async def _meta_post(client: httpx.AsyncClient, body: bytes) -> None:
    signature = "sha256=" + hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest()
    r = await client.post("/webhooks/meta", content=body,
                          headers={"content-type": "application/json", "X-Hub-Signature-256": signature})
    assert r.status_code == 200, r.text


async def test_a_whatsapp_cloud_message_is_answered_on_whatsapp_and_its_status_recorded(
        notify_stack: Stack, social: ExtraService, fakes: dict[str, Any]) -> None:
    graph: FakeGraphApi = fakes["graph"]
    wa_id = f"1613555{uuid.uuid4().int % 10000:04d}"
    wamid = "wamid." + uuid.uuid4().hex
    ts = str(int(time.time()))
    async with httpx.AsyncClient(base_url=social.url, timeout=10) as web, \
            httpx.AsyncClient(base_url=notify_stack.url("case"), timeout=10) as case_api:
        await _meta_post(web, _whatsapp_delivery({
            "contacts": [{"profile": {"name": "Ann"}, "wa_id": wa_id}],
            "messages": [{"from": wa_id, "id": wamid, "timestamp": ts, "type": "text",
                          "text": {"body": "Water leaking from a hydrant at 3 Maple Avenue"}}]}))
        number = await eventually(lambda: _case_of(case_api, "whatsapp", wamid), timeout=30, what="a case")

        def replies() -> list[Any] | None:
            return [r for r in graph.received("POST", f"/v21.0/{WA_PHONE_NUMBER_ID}/messages")
                    if r.json()["to"] == wa_id] or None

        (reply,) = await eventually(replies, timeout=30, what="reply through WhatsApp Cloud")
        sent = reply.json()
        assert sent["messaging_product"] == "whatsapp" and sent["type"] == "text"
        assert number in sent["text"]["body"]

        conn = await notify_stack.db("notifier")
        try:
            ours = await eventually(lambda: conn.fetchval(
                "SELECT provider_message_id FROM deliveries WHERE channel = 'whatsapp' AND status = 'sent' "
                "AND provider_message_id LIKE 'wamid.%' AND case_id = (SELECT case_id FROM contacts "
                "WHERE service_request_id = $1)", number), timeout=10, what="delivery row")
            await _meta_post(web, _whatsapp_delivery({"statuses": [{
                "id": ours, "status": "read", "timestamp": str(int(time.time())), "recipient_id": wa_id}]}))

            async def read() -> bool:
                return await conn.fetchval("SELECT provider_status FROM deliveries WHERE provider_message_id = $1",
                                           ours) == "read"
            await eventually(read, timeout=20, what="WhatsApp status recorded")
        finally:
            await conn.close()


async def test_a_messenger_report_without_a_place_is_asked_where_it_is(
        notify_stack: Stack, social: ExtraService, fakes: dict[str, Any]) -> None:
    # Issue 12, kind 1: a chat adapter cannot ask at intake; the acknowledgement does.
    graph: FakeGraphApi = fakes["graph"]
    psid = str(7_100_000_000_000_000 + uuid.uuid4().int % 10**15)
    mid = "m_" + uuid.uuid4().hex
    async with httpx.AsyncClient(base_url=social.url, timeout=10) as web, \
            httpx.AsyncClient(base_url=notify_stack.url("case"), timeout=10) as case_api:
        await _meta_post(web, _messenger_delivery(mid, psid, "The bin is overflowing and smells awful"))
        number = await eventually(lambda: _case_of(case_api, "messenger", mid), timeout=30, what="a case")

        def replies() -> list[Any] | None:
            return [r for r in graph.received("POST", "/v21.0/me/messages")
                    if r.json()["recipient"]["id"] == psid] or None

        (reply,) = await eventually(replies, timeout=30, what="acknowledgement through the Send API")
        text = reply.json()["message"]["text"]
        assert number in text and "Where is it? Reply with the address or share your location." in text


async def test_an_unreadable_messenger_message_gets_one_request_for_text(
        notify_stack: Stack, fakes: dict[str, Any]) -> None:
    # Issue 12, kind 6: intake_social keeps the message raw and publishes intake.message_unsupported (here
    # published as it would, twice: a webhook retried by Meta); the notifier answers once, with no case.
    graph: FakeGraphApi = fakes["graph"]
    psid = str(7_200_000_000_000_000 + uuid.uuid4().int % 10**15)
    mid = "m_" + uuid.uuid4().hex
    contact_key = "ck_" + uuid.uuid4().hex
    producer = AIOKafkaProducer(bootstrap_servers=KAFKA, acks="all", enable_idempotence=True)
    await producer.start()
    published: list[uuid.UUID] = []
    try:
        for _ in range(2):
            ev = MessageUnsupported(channel="messenger", channel_message_id=mid, contact_key=contact_key,
                                    received_at=datetime.now(UTC), kind="unsupported", language="fr",
                                    pii=Pii(handle=psid))
            env = Envelope.new_flow(ev, subject=contact_key, producer="intake_social", now=datetime.now(UTC))
            published.append(env.event_id)
            await producer.send_and_wait(notify_stack.topic_prefix + "intake.messages", env.to_bytes(),
                                         key=contact_key.encode())
    finally:
        await producer.stop()

    def requests() -> list[Any] | None:
        return [r for r in graph.received("POST", "/v21.0/me/messages")
                if r.json()["recipient"]["id"] == psid] or None

    (request,) = await eventually(requests, timeout=30, what="a request for text through the Send API")
    assert request.json()["message"]["text"].endswith("Écrivez votre signalement en texte.")
    conn = await notify_stack.db("notifier")
    try:
        async def recorded() -> Any:
            return await conn.fetchrow("SELECT case_id, kind, status FROM deliveries WHERE recipient_key = $1 "
                                       "AND status <> 'sending'", recipient_key("messenger", psid))
        row = await eventually(recorded, timeout=10, what="the delivery row")
        assert tuple(row) == (None, "text_request", "sent")
        # the second copy was consumed too (the consumer moved past it) and sent nothing more
        async def both_consumed() -> bool:
            return await conn.fetchval("SELECT count(*) FROM inbox WHERE event_id = ANY($1::uuid[])", published) == 2
        await eventually(both_consumed, timeout=20, what="both copies consumed")
    finally:
        await conn.close()
    assert len(requests() or []) == 1

