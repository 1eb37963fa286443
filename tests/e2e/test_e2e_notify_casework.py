"""End to end on real Kafka, PostgreSQL and mail: what staff do through the case service's staff API
reaches the residents' mailboxes over IMAP, from the notifier. Two residents report by email; staff merge
the second report into the first; a public update reaches both, each in their own thread, and an internal
note reaches no one; a reply reaches the one reporter it names; after an unmerge the second resident is
told their report is its own case again and no longer hears of the first."""

from __future__ import annotations

import asyncio
import uuid
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

import aiosmtplib
import httpx

from shared.auth import Role
from support.infra import SMTP
from support.mail import inbox, text_of
from support.wait import eventually

SETTLE_S = 3.0  # after the last observable effect, how long something unwanted gets to show up


async def _report(stack: Any, resident: str, subject: str, body: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = f"Resident <{resident}>"
    msg["To"] = stack.city_address
    msg["Subject"] = subject
    msg["Message-ID"] = make_msgid(domain="resident.test")
    msg.set_content(body)
    async with aiosmtplib.SMTP(hostname=SMTP[0], port=SMTP[1], timeout=10, start_tls=False) as smtp:
        await smtp.sendmail(resident, [stack.city_address], msg.as_bytes())
    return msg


def _id(header: Any) -> str:
    """A Message-ID header as written, without the folding a long one gets on the wire."""
    return str(header).strip()


async def _mail(address: str, count: int, what: str) -> list[EmailMessage]:
    """The mailbox once it holds at least `count` messages (30 s at most)."""
    async def enough() -> list[EmailMessage] | None:
        box = await inbox(address)
        return box if len(box) >= count else None
    return await eventually(enough, timeout=30, what=what)


async def test_staff_updates_replies_and_unmerge_reach_the_residents_on_their_threads(stack: Any,
                                                                                   test_issuer: Any) -> None:
    tag = uuid.uuid4().hex[:8]
    ann, bob = f"ann-{tag}@resident.test", f"bob-{tag}@resident.test"
    first = await _report(stack, ann, "Streetlight out on Maple Avenue",
                          "The streetlight in front of 1500 Maple Avenue has been dark for a week.")
    [ack_ann] = await _mail(ann, 1, "Ann's acknowledgement")
    await _report(stack, bob, "Graffiti on the library wall",
                  "Someone painted graffiti on the side wall of the public library on Oak Avenue.")
    [ack_bob] = await _mail(bob, 1, "Bob's acknowledgement")
    sid_ann, sid_bob = ack_ann["X-Omni311-Case"], ack_bob["X-Omni311-Case"]
    assert sid_ann and sid_bob and sid_ann != sid_bob

    headers = test_issuer.headers(Role.ADMINISTRATOR)
    async with httpx.AsyncClient(base_url=stack.url("case"), headers=headers, timeout=15) as staff:
        async def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
            r = await staff.post(f"/staff/cases/{path}", json=body)
            assert r.status_code == 200, (path, r.status_code, r.text)
            return r.json()  # type: ignore[no-any-return]

        await post(f"{sid_bob}/merge", {"into": sid_ann, "reason": "same corner"})
        [_, merged] = await _mail(bob, 2, "Bob hears his report joins Ann's case")
        assert sid_ann in merged["Subject"]

        secret = f"internal-{tag}"
        await post(f"{sid_ann}/notes", {"text": f"{secret}: the resident at 40 Elm is a council member"})
        await post(f"{sid_ann}/updates", {"text": "A crew is booked for Tuesday morning.", "language": "en"})
        ann_box = await _mail(ann, 2, "the public update in Ann's mailbox")
        bob_box = await _mail(bob, 3, "the public update in Bob's mailbox (merged in)")
        update_ann, update_bob = ann_box[-1], bob_box[-1]
        for update in (update_ann, update_bob):
            assert "A crew is booked for Tuesday morning." in text_of(update)
            assert sid_ann in update["Subject"]
        # each in its own thread: answering our last email to them, which answered their own mail
        assert _id(update_ann["In-Reply-To"]) == _id(ack_ann["Message-ID"])
        assert update_ann["References"].split() == [_id(first["Message-ID"]), _id(ack_ann["Message-ID"])]
        assert _id(update_bob["In-Reply-To"]) == _id(merged["Message-ID"])

        case = (await staff.get(f"/staff/cases/{sid_ann}")).json()
        bob_key = next(r["contact_key"] for r in case["reporters"] if r.get("case") == sid_bob or r.get("merged"))
        await post(f"{sid_ann}/replies", {"contact_key": bob_key, "text": "Which side of the wall exactly?"})
        reply = (await _mail(bob, 4, "the reply in Bob's mailbox"))[-1]
        assert "Which side of the wall exactly?" in text_of(reply)

        await post(f"{sid_bob}/unmerge", {"reason": "different place"})
        unmerged = (await _mail(bob, 5, "Bob hears his report is its own case again"))[-1]
        assert sid_bob in unmerged["Subject"] and sid_ann in text_of(unmerged)
        assert "different place" not in text_of(unmerged)

        await post(f"{sid_ann}/updates", {"text": "The lamp was replaced.", "language": "en"})
        assert "The lamp was replaced." in text_of((await _mail(ann, 3, "the second update for Ann"))[-1])

    await asyncio.sleep(SETTLE_S)
    assert len(await inbox(ann)) == 3, "Ann: acknowledgement and two updates, no reply meant for Bob"
    bob_final = await inbox(bob)
    assert len(bob_final) == 5, [m["Subject"] for m in bob_final]  # the second update no longer reaches Bob
    for message in [*await inbox(ann), *bob_final]:
        assert secret not in message.as_string(), "an internal note is in no mail"
