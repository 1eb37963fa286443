"""End to end on real Kafka, PostgreSQL and mail, with a local fake of the Twilio REST API: a case reported
by email, with an SMS report merged into it by staff, moves through the demo workflow. Statuses that do
not tell the reporters send nothing; waiting_on_resident and resolved tell every reporter, the SMS one
merged in included, the workflow's text on their own channel."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

import aiosmtplib
import httpx
import pytest

from shared.auth import Role
from shared.jurisdiction import load_jurisdiction
from support.fakes import FakeTwilioApi
from support.infra import SMTP, check_infra
from support.mail import inbox, text_of
from support.process import ExtraService
from support.stack import Stack
from support.twilio import post_signed, sms_form
from support.wait import eventually

TOKEN = "e2e-resolve-twilio-token"
ACCOUNT = "AC" + "2" * 32
CITY_NUMBER = "+16135550312"
PUBLIC = "https://sms.resolve.example"
SETTLE_S = 3.0  # after the last observable effect, how long something unwanted gets to show up


@pytest.fixture(scope="module")
async def resolve_stack(twilio: FakeTwilioApi, test_issuer: Any) -> AsyncIterator[Stack]:
    await check_infra()
    stack = Stack(jurisdiction="demo", extra_env={
        "OMNI311_TWILIO_ACCOUNT_SID": ACCOUNT, "OMNI311_TWILIO_AUTH_TOKEN": TOKEN,
        "OMNI311_TWILIO_FROM_NUMBER": CITY_NUMBER, "OMNI311_TWILIO_API_BASE_URL": twilio.url,
        "OMNI311_TWILIO_PUBLIC_BASE_URL": PUBLIC} | test_issuer.env())
    await stack.up()
    try:
        yield stack
    finally:
        await stack.down()


@pytest.fixture(scope="module")
async def sms_voice(resolve_stack: Stack) -> AsyncIterator[ExtraService]:
    async with ExtraService(resolve_stack, "intake_sms_voice", {}).started() as proc:
        yield proc


async def _email_report(stack: Stack, resident: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = f"Ann Example <{resident}>"
    msg["To"] = stack.city_address
    msg["Subject"] = "Pothole on Main Street"
    msg["Message-ID"] = make_msgid(domain="resident.test")
    msg.set_content("A deep pothole in the right lane in front of 123 Main St.")
    async with aiosmtplib.SMTP(hostname=SMTP[0], port=SMTP[1], timeout=10, start_tls=False) as smtp:
        await smtp.sendmail(resident, [stack.city_address], msg.as_bytes())
    return msg


async def _mail(address: str, count: int, what: str) -> list[EmailMessage]:
    async def enough() -> list[EmailMessage] | None:
        box = await inbox(address)
        return box if len(box) >= count else None
    return await eventually(enough, timeout=30, what=what)


def _texts_to(twilio: FakeTwilioApi, phone: str) -> list[dict[str, str]]:
    return [m for m in twilio.messages() if m.get("To") == phone]


async def test_resolving_tells_every_reporter_on_their_own_channel_with_the_workflows_text(
        resolve_stack: Stack, sms_voice: ExtraService, twilio: FakeTwilioApi, test_issuer: Any) -> None:
    texts = {s: load_jurisdiction("demo").workflow.status(s).texts["en"] for s in ("waiting_on_resident", "resolved")}
    tag = uuid.uuid4().hex[:8]
    ann, phone = f"ann-{tag}@resident.test", f"+1613555{uuid.uuid4().int % 10000:04d}"
    await _email_report(resolve_stack, ann)
    [ack] = await _mail(ann, 1, "Ann's acknowledgement")
    sid_ann = ack["X-Omni311-Case"]

    async with httpx.AsyncClient(base_url=sms_voice.url, timeout=10) as sms:
        form = sms_form("SM" + uuid.uuid4().hex, "Overflowing bin at 45 Elm St", phone, to=CITY_NUMBER,
                        account_sid=ACCOUNT)
        r = await post_signed(sms, PUBLIC + "/twilio/sms", form, token=TOKEN, public_base=PUBLIC)
        assert r.status_code == 200, r.text
    [sms_ack] = await eventually(lambda: _texts_to(twilio, phone) or None, timeout=30, what="SMS acknowledgement")
    sid_bob = next(w for w in sms_ack["Body"].replace(".", " ").split() if w.startswith("DEMO-"))

    async with httpx.AsyncClient(base_url=resolve_stack.url("case"), headers=test_issuer.headers(Role.ADMINISTRATOR),
                                 timeout=15) as staff:
        async def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
            r = await staff.post(f"/staff/cases/{path}", json=body)
            assert r.status_code == 200, (path, r.status_code, r.text)
            return r.json()  # type: ignore[no-any-return]

        await post(f"{sid_bob}/merge", {"into": sid_ann})
        await eventually(lambda: len(_texts_to(twilio, phone)) >= 2 or None, timeout=30, what="SMS merge notice")

        # statuses the workflow keeps to the staff side: nothing reaches anyone
        for status in ("assigned", "in_progress"):
            case = (await staff.get(f"/staff/cases/{sid_ann}")).json()
            if status in case["allowed_transitions"]:
                await post(f"{sid_ann}/transition", {"to": status})
        await post(f"{sid_ann}/transition", {"to": "waiting_on_resident"})
        waiting = (await _mail(ann, 2, "the waiting_on_resident notice"))[-1]
        assert texts["waiting_on_resident"] in " ".join(text_of(waiting).split())
        assert len(await inbox(ann)) == 2, "assigned and in_progress told Ann nothing"

        await post(f"{sid_ann}/transition", {"to": "resolved", "note": "Patched on Tuesday."})
        # the resolution and, since issue 10, one survey invitation per reporter (in either order)
        [resolved] = [m for m in await _mail(ann, 4, "the resolution and the survey in Ann's mailbox")
                      if "How did we do?" not in m["Subject"]][2:]
        assert texts["resolved"] in " ".join(text_of(resolved).split()) and sid_ann in resolved["Subject"]
        await eventually(lambda: _texts_to(twilio, phone)[4:] or None, timeout=30,
                         what="the resolution and the survey by SMS to the merged reporter")
        sms = [m for m in _texts_to(twilio, phone) if "/survey/" not in m["Body"]]
        assert sid_ann in sms[-1]["Body"] and texts["resolved"][:40] in sms[-1]["Body"]

    await asyncio.sleep(SETTLE_S)
    assert len(await inbox(ann)) == 4
    bodies = [m["Body"] for m in _texts_to(twilio, phone) if "/survey/" not in m["Body"]]
    # acknowledgement, merge notice, then each status that tells the reporters, merged ones included: once each
    assert len(bodies) == 4, bodies
    assert texts["waiting_on_resident"][:40] in bodies[2] and texts["resolved"][:40] in bodies[3]
    assert len([m for m in _texts_to(twilio, phone) if "/survey/" in m["Body"]]) == 1
