"""End to end on real Kafka, PostgreSQL and mail (issue 3): a resident writes to the city's mailbox over
SMTP → intake_email (IMAP IDLE) → case → acknowledgement in the resident's mailbox, threaded to their
mail → their reply with a photo joins the same case; an out-of-office answer to the acknowledgement and
a bounce open nothing and send nothing."""

from __future__ import annotations

import asyncio
import email
import io
import uuid
from email import policy
from email.message import EmailMessage
from email.utils import make_msgid

import aiosmtplib
import httpx
from PIL import Image

from shared.auth import Role
from support.auth import TestIssuer
from support.data import shared_data
from support.infra import SMTP
from support.mail import inbox, text_of
from support.wait import eventually

EMAIL_DATA = shared_data() / "email"
OUT_OF_OFFICE = EMAIL_DATA / "alaveteli_foi_public_body_mail" / "track-response-exchange-oof-1.eml"
GPS_IFD = 0x8825
SETTLE_S = 3.0  # after the last observable effect, how long something unwanted gets to show up


async def send(message: EmailMessage | bytes, sender: str, recipients: list[str]) -> None:
    """Submit over SMTP like a mail client (the envelope names the real mailbox)."""
    raw = message.as_bytes() if isinstance(message, EmailMessage) else message
    async with aiosmtplib.SMTP(hostname=SMTP[0], port=SMTP[1], timeout=10, start_tls=False) as smtp:
        await smtp.sendmail(sender, recipients, raw)


def jpeg_with_gps() -> bytes:
    image = Image.new("RGB", (96, 64), (180, 180, 40))
    exif = Image.Exif()
    exif[0x0110] = "ResidentPhone 7"  # Model
    exif[GPS_IFD] = {1: "N", 2: (45.0, 25.0, 12.0), 3: "W", 4: (75.0, 41.0, 24.0)}
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif, quality=90)
    return out.getvalue()


def resident_mail(sender: str, to: str, subject: str, body: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = f"Ann Example <{sender}>"
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = make_msgid(domain="resident.test")
    msg.set_content(body)
    return msg


async def acknowledgement(address: str) -> EmailMessage:
    acks = await eventually(lambda: inbox(address), timeout=30, what=f"acknowledgement in {address}'s mailbox")
    assert len(acks) == 1, [a["Subject"] for a in acks]
    return acks[0]


async def email_record(stack, message_id: str, headers: dict[str, str]) -> dict:  # noqa: ANN001
    """intake_email's record of `message_id`, read with a supervisor's token (`headers`)."""
    async with httpx.AsyncClient(base_url=stack.url("intake_email"), timeout=10, headers=headers) as api:
        async def stored():  # noqa: ANN202
            rows = (await api.get("/messages", params={"message_id": message_id})).json()
            return rows[0] if rows else None
        return await eventually(stored, timeout=30, what=f"intake_email stored {message_id}")


async def test_a_resident_mail_is_acknowledged_in_thread_and_the_reply_with_a_photo_joins_the_case(
        stack, test_issuer: TestIssuer) -> None:
    resident = f"ann-{uuid.uuid4().hex[:8]}@resident.test"
    first = resident_mail(resident, stack.city_address, "Streetlight out on Elm Street",
                          "The streetlight in front of 40 Elm Street has been dark for a week.\n\nAnn")
    await send(first, resident, [stack.city_address])

    ack = await acknowledgement(resident)
    sid = ack["X-Omni311-Case"]
    assert sid and sid in ack["Subject"] and sid in text_of(ack)
    assert ack["In-Reply-To"] == first["Message-ID"], "the acknowledgement answers the resident's own mail"
    assert ack["Auto-Submitted"] == "auto-replied"
    assert f"+{sid}@" in ack["Reply-To"]

    # The resident answers the acknowledgement with a photo. GreenMail has no sub-addressing, so the
    # envelope goes to the city mailbox, as a server with "+" addressing would deliver it; the header
    # keeps the Reply-To address with the case number.
    photo = jpeg_with_gps()
    reply = resident_mail(resident, str(ack["Reply-To"]), f"Re: {ack['Subject']}",
                          "Here is a photo of the pole.\n\n"
                          f"On Mon, 2 Mar 2026 at 09:00, City 311 <{stack.city_address}> wrote:\n"
                          "> We received your report.\n")
    reply["In-Reply-To"] = ack["Message-ID"]
    reply["References"] = f"{first['Message-ID']} {ack['Message-ID']}"
    reply.add_attachment(photo, maintype="image", subtype="jpeg", filename="pole.jpg")
    await send(reply, resident, [stack.city_address])

    async with httpx.AsyncClient(base_url=stack.url("case"), timeout=10,
                                 headers=test_issuer.headers(Role.ADMINISTRATOR)) as case_api:
        async def added():  # noqa: ANN202
            tl = (await case_api.get(f"/cases/{sid}/timeline")).json()
            return tl if any(e["kind"] == "message_added" for e in tl["timeline"]) else None

        timeline = await eventually(added, timeout=30, what="the reply was added to the case")
        assert timeline["channel"] == "email"
        request = (await case_api.get(f"/cases/requests/{sid}")).json()
    media_url = request["media_url"]
    assert media_url and "/media/" in media_url, request

    conn = await stack.case_db()
    try:
        rows = await conn.fetch("SELECT channel_message_id, case_id, description FROM messages "
                                "WHERE channel_message_id = ANY($1::text[])", [first["Message-ID"], reply["Message-ID"]])
    finally:
        await conn.close()
    assert len(rows) == 2 and len({r["case_id"] for r in rows}) == 1, "the reply joined the same case"
    texts = {r["channel_message_id"]: r["description"] for r in rows}
    assert texts[reply["Message-ID"]] == "Here is a photo of the pole.", "the quoted acknowledgement is cut"

    async with httpx.AsyncClient(timeout=10) as client:
        served = await client.get(media_url)
    assert served.status_code == 200 and served.headers["content-type"] == "image/jpeg"
    assert b"Exif" not in served.content and b"ResidentPhone" not in served.content
    with Image.open(io.BytesIO(served.content)) as im:
        assert im.size == (96, 64) and not im.getexif().get_ifd(GPS_IFD)
    with Image.open(io.BytesIO(photo)) as original:
        assert original.getexif().get_ifd(GPS_IFD), "the photo sent really carried GPS"

    await asyncio.sleep(SETTLE_S)
    assert len(await inbox(resident)) == 1, "a reply to a case gets no second acknowledgement"


def readdressed_out_of_office(sender: str, to: str, subject: str, in_reply_to: str) -> tuple[bytes, str]:
    """A real Exchange out-of-office reply (no Auto-Submitted header) as if the resident's client sent it
    in answer to our acknowledgement."""
    msg = email.message_from_bytes(OUT_OF_OFFICE.read_bytes(), policy=policy.compat32)
    message_id = make_msgid(domain="resident.test")
    for name, value in (("From", f'"Example, Ann" <{sender}>'), ("To", to), ("Message-ID", message_id),
                        ("Subject", f"Out of Office AutoReply: {subject}"), ("In-Reply-To", in_reply_to),
                        ("References", in_reply_to)):
        del msg[name]
        msg[name] = value
    return msg.as_bytes(), message_id


async def test_an_out_of_office_reply_to_the_acknowledgement_opens_nothing_and_sends_nothing(
        stack, test_issuer: TestIssuer) -> None:
    resident = f"away-{uuid.uuid4().hex[:8]}@resident.test"
    first = resident_mail(resident, stack.city_address, "Overflowing bins on Birch Street",
                          "The bins at 3 Birch Street have not been emptied for two weeks.")
    await send(first, resident, [stack.city_address])
    ack = await acknowledgement(resident)
    sid = ack["X-Omni311-Case"]

    conn = await stack.case_db()
    try:
        cases_before = await conn.fetchval("SELECT count(*) FROM cases")
        city_before = len(await inbox(stack.city_address))
        resident_before = len(await inbox(resident))
        assert resident_before == 1

        raw, message_id = readdressed_out_of_office(resident, str(ack["Reply-To"]), str(ack["Subject"]),
                                                    str(ack["Message-ID"]))
        await send(raw, resident, [stack.city_address])
        record = await email_record(stack, message_id, test_issuer.headers(Role.SUPERVISOR))
        assert record["kind"] == "auto_reply", record
        assert "office" in record["reason"].lower(), record["reason"]
        assert record["event_ids"] == [], "an automatic reply publishes nothing"

        await asyncio.sleep(SETTLE_S)
        assert len(await inbox(stack.city_address)) == city_before + 1, "only the out-of-office itself arrived"
        assert len(await inbox(resident)) == resident_before, "no answer to an automatic reply"
        assert await conn.fetchval("SELECT count(*) FROM cases") == cases_before, "no case opened"
        assert await conn.fetchval(
            "SELECT count(*) FROM messages m JOIN cases c USING (case_id) WHERE c.service_request_id = $1", sid) == 1, \
            "the out-of-office was not added to the case either"
    finally:
        await conn.close()


def delivery_status_notification(city: str, failed: str) -> tuple[bytes, str]:
    """An RFC 3464 bounce from a resident's mail server, for a permanently failed recipient."""
    message_id = make_msgid(domain="mx.resident.test")
    raw = (
        "From: Mail Delivery System <MAILER-DAEMON@mx.resident.test>\r\n"
        f"To: {city}\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        f"Message-ID: {message_id}\r\n"
        "Auto-Submitted: auto-replied\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b0"\r\n'
        "\r\n--b0\r\nContent-Type: text/plain\r\n\r\n"
        f"I'm sorry to have to inform you that your message could not be delivered to {failed}.\r\n"
        "\r\n--b0\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.resident.test\r\n\r\n"
        f"Final-Recipient: rfc822; {failed}\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        "Diagnostic-Code: smtp; 550 5.1.1 user unknown\r\n"
        "\r\n--b0\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"From: {city}\r\nTo: {failed}\r\nSubject: [DEMO-26-000001] We received your report\r\n"
        "\r\n--b0--\r\n"
    )
    return raw.encode(), message_id


async def test_a_bounce_marks_the_address_undeliverable_and_nothing_more_is_sent_there(
        stack, test_issuer: TestIssuer) -> None:
    gone = f"gone-{uuid.uuid4().hex[:8]}@resident.test"
    raw, bounce_id = delivery_status_notification(stack.city_address, gone)
    # GreenMail refuses the null return path (MAIL FROM:<>) a real bounce uses; the report decides anyway.
    await send(raw, "MAILER-DAEMON@mx.resident.test", [stack.city_address])
    record = await email_record(stack, bounce_id, test_issuer.headers(Role.SUPERVISOR))
    assert record["kind"] == "bounce" and len(record["event_ids"]) == 1, record

    notifier = await stack.db("notifier")
    try:
        status = await eventually(
            lambda: notifier.fetchval("SELECT status FROM undeliverable WHERE bounce_message_id = $1", bounce_id),
            timeout=30, what="the notifier recorded the undeliverable address")
        assert status == "5.1.1"
    finally:
        await notifier.close()

    # A mail from that address still opens a case, but the acknowledgement is suppressed.
    mail = resident_mail(gone, stack.city_address, "Graffiti on the bridge", "Fresh graffiti on the Elm bridge.")
    await send(mail, gone, [stack.city_address])
    async with httpx.AsyncClient(base_url=stack.url("case"), timeout=10,
                                 headers=test_issuer.headers(Role.ADMINISTRATOR)) as case_api:
        conn = await stack.case_db()
        try:
            sid = await eventually(lambda: conn.fetchval(
                "SELECT c.service_request_id FROM messages m JOIN cases c USING (case_id) "
                "WHERE m.channel_message_id = $1", mail["Message-ID"]), timeout=30, what="case opened")
        finally:
            await conn.close()

        async def suppressed():  # noqa: ANN202
            tl = (await case_api.get(f"/cases/{sid}/timeline")).json()["timeline"]
            return [e for e in tl if e["kind"].startswith("notification_")] or None

        outcomes = await eventually(suppressed, timeout=30, what="the acknowledgement outcome")
    assert [e["kind"] for e in outcomes] == ["notification_suppressed"], outcomes
    assert "undeliverable" in outcomes[0]["detail"]["reason"]
    assert await inbox(gone) == []
