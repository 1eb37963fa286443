"""Threading on the case service: a message quoting a case number joins that case only when it comes
from the case's own reporter; a message with a NUL byte is stored without it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import httpx
from aiokafka import AIOKafkaProducer

from shared.auth import Role
from shared.events import Envelope, MessageReceived, MessageWithdrawn, Pii
from support.infra import KAFKA
from support.wait import eventually


async def _publish(stack, msg: MessageReceived | MessageWithdrawn) -> None:  # noqa: ANN001
    env = Envelope.new_flow(msg, subject=msg.contact_key, producer="test", now=datetime.now(UTC))
    producer = AIOKafkaProducer(bootstrap_servers=KAFKA, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        await producer.send_and_wait(stack.topic_prefix + "intake.messages", env.to_bytes(),
                                     key=msg.contact_key.encode())
    finally:
        await producer.stop()


async def _case_of(case_api: httpx.AsyncClient, m: MessageReceived) -> str | None:
    """The case number message `m` opened or joined (the case API's token read on `m`'s channel: intake_web's
    /tokens reads Open311 tokens only)."""
    r = await case_api.get(f"/cases/tokens/{m.channel_message_id}", params={"channel": m.channel})
    return r.json()["service_request_id"]


def _mail(contact: str, text: str, hint: str | None = None) -> MessageReceived:
    return MessageReceived(channel="email", channel_message_id=f"<{uuid.uuid4().hex}@resident.test>",
                           contact_key=contact, received_at=datetime.now(UTC), description=text,
                           case_number_hint=hint, pii=Pii(email=f"{contact}@resident.test"))


async def test_a_case_number_threads_only_the_reporters_own_messages(stack, test_issuer) -> None:
    owner, stranger = f"ck_{uuid.uuid4().hex[:12]}", f"ck_{uuid.uuid4().hex[:12]}"
    first = _mail(owner, "Broken bench in the park\x00")
    await _publish(stack, first)
    async with httpx.AsyncClient(base_url=stack.url("intake_web"), timeout=10) as web, \
            httpx.AsyncClient(base_url=stack.url("case"),
                              headers=test_issuer.headers(Role.ADMINISTRATOR), timeout=10) as case_api:
        async def sid_of(m: MessageReceived):  # noqa: ANN202
            r = await web.get(f"/tokens/{m.channel_message_id}.json")
            return r.json()[0]["service_request_id"] if r.status_code == 200 else None

        number = await eventually(lambda: _case_of(case_api, first), timeout=30, what="first mail opened a case")
        req = (await web.get(f"/requests/{number}.json")).json()[0]
        assert req["description"] == "Broken bench in the park"

        reply = _mail(owner, "Still broken, photo attached", hint=f"Re: [{number}] We received your report")
        await _publish(stack, reply)
        assert await eventually(lambda: _case_of(case_api, reply), timeout=30, what="reply threaded") == number

        intruder = _mail(stranger, "I am adding to your case", hint=f"Re: [{number}]")
        await _publish(stack, intruder)
        other = await eventually(lambda: _case_of(case_api, intruder), timeout=30, what="stranger's mail handled")
        assert other != number
        timeline = (await case_api.get(f"/cases/{number}/timeline")).json()["timeline"]
        assert [t["kind"] for t in timeline].count("message_added") == 1
        assert await sid_of(first) is None  # an email Message-ID is not an Open311 token


def _chat(channel: str, contact: str, text: str, **kw) -> MessageReceived:  # noqa: ANN003
    return MessageReceived(channel=channel, channel_message_id=f"{channel}-{uuid.uuid4().hex}", contact_key=contact,
                           received_at=datetime.now(UTC), description=text, **kw)


async def test_the_case_service_checks_every_point_again(stack, test_issuer) -> None:  # noqa: ANN001
    """Issue 12, kind 1: an SMS published with its axes swapped lands at the right place with the reason on
    the timeline; a Messenger location of 0,0 leaves the case without a point; a web POST of 0,0 with an
    address is taken by its address and the case keeps the reason."""
    sms = _chat("sms", f"ck_{uuid.uuid4().hex[:12]}", "Pothole at -75.6972, 45.4215", lat=-75.6972, long=45.4215)
    chat = _chat("messenger", f"ck_{uuid.uuid4().hex[:12]}", "Streetlight out here", lat=0.0, long=0.0)
    await _publish(stack, sms)
    await _publish(stack, chat)
    async with httpx.AsyncClient(base_url=stack.url("intake_web"), timeout=10) as web, \
            httpx.AsyncClient(base_url=stack.url("case"),
                              headers=test_issuer.headers(Role.ADMINISTRATOR), timeout=10) as case_api:
        number = await eventually(lambda: _case_of(case_api, sms), timeout=30, what="the SMS opened a case")
        req = (await web.get(f"/requests/{number}.json")).json()[0]
        assert (req["lat"], req["long"]) == (45.4215, -75.6972)
        timeline = (await case_api.get(f"/cases/{number}/timeline")).json()["timeline"]
        [checked] = [t["detail"] for t in timeline if t["kind"] == "location_checked"]
        assert checked["verdict"] == "swapped" and "swapped" in checked["reason"]

        number = await eventually(lambda: _case_of(case_api, chat), timeout=30,
                                  what="the Messenger message opened a case")
        req = (await web.get(f"/requests/{number}.json")).json()[0]
        assert (req.get("lat"), req.get("long")) == (None, None)

        posted = await web.post("/requests.json", data={
            "api_key": "demo-key", "service_code": "pothole", "attribute[size]": "large", "lat": "0", "long": "0",
            "address_string": "Bank St & Somerset St W", "description": "Deep pothole"})
        assert posted.status_code == 200, posted.text
        token = posted.json()[0]["token"]

        async def sid_of_token():  # noqa: ANN202
            r = await web.get(f"/tokens/{token}.json")
            return r.json()[0].get("service_request_id") if r.status_code == 200 else None

        number = await eventually(sid_of_token, timeout=30, what="the web report opened a case")
        staff = (await case_api.get(f"/cases/{number}/timeline")).json()["timeline"]
        [checked] = [t["detail"] for t in staff if t["kind"] == "location_checked"]
        assert (checked["verdict"], checked["applied_by"]) == ("placeholder", "intake")
        req = (await web.get(f"/requests/{number}.json")).json()[0]
        assert req["address"] == "Bank St & Somerset St W"  # a point, if any, is the router's placing of it


async def test_an_unsent_instagram_message_leaves_no_words_in_any_public_read(
        stack, test_issuer) -> None:  # noqa: ANN001
    """Issue 12, kind 6: after the resident unsends the message that opened the case, neither intake_web's
    Open311 read nor the case API's public one shows its words, and the deletion is on the timeline; a
    withdrawal that comes before its message (a replay) holds the message without its words."""
    contact = f"ck_{uuid.uuid4().hex[:12]}"
    first = _chat("instagram", contact, "Graffiti on the wall of 12 Oak Ave, call 613-555-0199")
    await _publish(stack, first)
    async with httpx.AsyncClient(base_url=stack.url("intake_web"), timeout=10) as web, \
            httpx.AsyncClient(base_url=stack.url("case"),
                              headers=test_issuer.headers(Role.ADMINISTRATOR), timeout=10) as case_api:
        number = await eventually(lambda: _case_of(case_api, first), timeout=30,
                                  what="the Instagram message opened a case")
        assert "Oak" in (await web.get(f"/requests/{number}.json")).json()[0]["description"]
        await _publish(stack, MessageWithdrawn(channel="instagram", channel_message_id=first.channel_message_id,
                                                     contact_key=contact, received_at=datetime.now(UTC)))

        async def withdrawn():  # noqa: ANN202
            timeline = (await case_api.get(f"/cases/{number}/timeline")).json()["timeline"]
            return [t["detail"] for t in timeline if t["kind"] == "message_withdrawn"] or None

        [detail] = await eventually(withdrawn, timeout=30, what="the withdrawal on the timeline")
        assert detail["by"] == "reporter" and detail["opened_the_case"] is True
        for read in (await web.get(f"/requests/{number}.json"), await web.get(f"/requests/{number}.xml"),
                     await case_api.get(f"/cases/requests/{number}")):
            assert read.status_code == 200 and "Oak" not in read.text and "613" not in read.text

        early = _chat("instagram", contact, "Second report: broken bench at 12 Oak Ave")
        await _publish(stack, MessageWithdrawn(channel="instagram", channel_message_id=early.channel_message_id,
                                                     contact_key=contact, received_at=datetime.now(UTC)))
        await _publish(stack, early)
        other = await eventually(lambda: _case_of(case_api, early), timeout=30, what="the late message handled")
        assert "Oak" not in (await web.get(f"/requests/{other}.json")).text
