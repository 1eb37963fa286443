"""Threading on the case service: a message quoting a case number joins that case only when it comes
from the case's own reporter; a message with a NUL byte is stored without it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import httpx
from aiokafka import AIOKafkaProducer

from shared.auth import Role
from shared.events import Envelope, MessageReceived, Pii
from support.infra import KAFKA
from support.wait import eventually


async def _publish(stack, msg: MessageReceived) -> None:  # noqa: ANN001
    env = Envelope.new_flow(msg, subject=msg.contact_key, producer="test", now=datetime.now(UTC))
    producer = AIOKafkaProducer(bootstrap_servers=KAFKA, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        await producer.send_and_wait(stack.topic_prefix + "intake.messages", env.to_bytes(),
                                     key=msg.contact_key.encode())
    finally:
        await producer.stop()


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

        # /tokens looks up open311 tokens; ask the case API directly for the email channel.
        async def case_of(m: MessageReceived):  # noqa: ANN202
            r = await case_api.get(f"/cases/tokens/{m.channel_message_id}", params={"channel": "email"})
            return r.json()["service_request_id"]

        number = await eventually(lambda: case_of(first), timeout=30, what="first mail opened a case")
        req = (await web.get(f"/requests/{number}.json")).json()[0]
        assert req["description"] == "Broken bench in the park"

        reply = _mail(owner, "Still broken, photo attached", hint=f"Re: [{number}] We received your report")
        await _publish(stack, reply)
        assert await eventually(lambda: case_of(reply), timeout=30, what="reply threaded") == number

        intruder = _mail(stranger, "I am adding to your case", hint=f"Re: [{number}]")
        await _publish(stack, intruder)
        other = await eventually(lambda: case_of(intruder), timeout=30, what="stranger's mail handled")
        assert other != number
        timeline = (await case_api.get(f"/cases/{number}/timeline")).json()["timeline"]
        assert [t["kind"] for t in timeline].count("message_added") == 1
        assert await sid_of(first) is None  # an email Message-ID is not an Open311 token
