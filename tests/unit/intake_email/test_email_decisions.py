"""What one raw message is and what it publishes, decided without I/O: a resident's mail is one event whose
id derives from its Message-ID, its images get stable media ids, our own mail is a loop, a bounce
announces each permanently failed recipient (never the city's own), a delay announces nothing, and a
failure while building the event keeps the mail as unparseable instead of raising."""

from __future__ import annotations

from datetime import UTC, datetime
from email.message import EmailMessage
from uuid import NAMESPACE_URL, UUID, uuid5

import pytest

from services.intake_email.domain.decisions import CityMailbox, decide, media_id_for
from shared.events import BounceReceived, MessageReceived

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4"
       b"\x89\x00\x00\x00\rIDATx\x9cc\xf8\xcf\xc0\xf0\x1f\x00\x05\x00\x01\xff\x89\x99=\x1d\x00\x00\x00\x00IEND"
       b"\xaeB`\x82")


def media_url(media_id: UUID) -> str:
    return f"https://311.example.org/media/{media_id}"


CITY = CityMailbox(producer="intake_email", authserv_id="mx.omni311.test",
                   own_addresses=frozenset({"311@omni311.test"}), media_url=media_url)


def mail(message_id: str = "<m1@resident.test>", *, sender: str | None = "Jeanne Roy <jeanne@resident.test>",
         image: bytes | None = None) -> bytes:
    msg = EmailMessage()
    if sender:
        msg["From"] = sender
    msg["To"] = "311@omni311.test"
    msg["Subject"] = "Nid-de-poule"
    msg["Message-ID"] = message_id
    msg.set_content("Bonjour, il y a un nid-de-poule devant le 12 rue des Érables depuis une semaine.")
    if image is not None:
        msg.add_attachment(image, maintype="image", subtype="png", filename="trou.png")
    return msg.as_bytes()


def dsn(failed: list[str], action: str = "failed", status: str = "5.1.1") -> bytes:
    blocks = "".join(f"\r\nFinal-Recipient: rfc822; {a}\r\nAction: {action}\r\nStatus: {status}\r\n" for a in failed)
    return (
        "From: Mail Delivery System <MAILER-DAEMON@mx.resident.test>\r\nTo: 311@omni311.test\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\nMessage-ID: <dsn@mx.resident.test>\r\n"
        'MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain\r\n\r\nDelivery failed.\r\n"
        "--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.resident.test\r\n" + blocks +
        "\r\n--b--\r\n"
    ).encode()


def test_a_residents_mail_is_one_event_whose_id_derives_from_its_message_id() -> None:
    parsed, d = decide(mail(), CITY, NOW)
    assert parsed is not None and parsed.message_id == "<m1@resident.test>"
    assert (d.kind, d.message_id, d.problems) == ("message", "<m1@resident.test>", [])
    (env,) = d.envelopes
    assert env.event_id == uuid5(NAMESPACE_URL, "omni311:email:<m1@resident.test>")
    assert env.producer == "intake_email" and env.occurred_at == NOW and env.correlation_id == env.event_id
    msg = env.payload(MessageReceived)
    assert env.subject == msg.contact_key and msg.pii.email == "jeanne@resident.test"
    assert decide(mail(), CITY, NOW)[1].envelopes[0].event_id == env.event_id, "the same mail, the same id"


def test_an_image_gets_a_stable_media_id_and_its_url_goes_in_the_event() -> None:
    _, d = decide(mail(image=PNG), CITY, NOW)
    (media,) = d.media
    assert media.media_id == media_id_for("<m1@resident.test>", media.attachment.content)
    assert media_id_for("<m1@resident.test>", b"x") == media_id_for("<m1@resident.test>", b"x")
    assert media_id_for("<m1@resident.test>", b"x") != media_id_for("<m2@resident.test>", b"x")
    (summary,) = d.attachments
    assert summary["media_id"] == str(media.media_id) and summary["content_type"] == "image/png"
    assert media.attachment.publishable
    assert d.envelopes[0].payload(MessageReceived).media_url == [media_url(media.media_id)]


def test_mail_from_the_citys_own_address_is_a_loop_and_publishes_nothing() -> None:
    _, d = decide(mail(sender="City 311 <311@OMNI311.test>"), CITY, NOW)
    assert d.kind == "own" and d.envelopes == []


def test_a_mail_without_a_sender_address_is_kept_as_unparseable() -> None:
    _, d = decide(mail(sender=None), CITY, NOW)
    assert (d.kind, d.reason, d.envelopes) == ("unparseable", "no sender address", [])


def test_a_bounce_announces_each_failed_recipient_but_never_the_citys_own_address() -> None:
    _, d = decide(dsn(["a@resident.test", "311@omni311.test", "b@resident.test"]), CITY, NOW)
    assert d.kind == "bounce"
    bounces = [e.payload(BounceReceived) for e in d.envelopes]
    assert [b.pii.email for b in bounces] == ["a@resident.test", "b@resident.test"]
    assert {b.status for b in bounces} == {"5.1.1"}
    assert d.envelopes[0].event_id == uuid5(NAMESPACE_URL, "omni311:email-bounce:<dsn@mx.resident.test>:a@resident.test")


def test_a_delayed_delivery_announces_nothing_and_a_bounce_of_our_own_address_is_a_problem() -> None:
    _, delayed = decide(dsn(["c@resident.test"], "delayed", "4.4.1"), CITY, NOW)
    assert delayed.kind == "bounce" and delayed.envelopes == []
    assert delayed.reason.endswith("; delivery only delayed, address kept")
    _, ours = decide(dsn(["311@omni311.test"]), CITY, NOW)
    assert ours.envelopes == [] and ours.problems == ["bounce names no failed recipient"]


def test_a_failure_while_building_the_event_keeps_the_mail_as_unparseable_instead_of_raising() -> None:
    def broken(_media_id: UUID) -> str:
        raise ValueError("no media base")

    city = CityMailbox(producer="intake_email", authserv_id="", own_addresses=frozenset(), media_url=broken)
    _, d = decide(mail(image=PNG), city, NOW)
    assert (d.kind, d.reason) == ("unparseable", "could not build the intake event")
    assert d.problems[-1] == "ValueError: no media base"
    assert d.envelopes == [] and d.media == []


def test_a_residents_mail_relayed_by_a_neighbourhood_list_opens_a_case() -> None:
    raw = mail("<post1@resident.test>").replace(
        b"To: 311@omni311.test", b"To: 311@omni311.test\nPrecedence: list\n"
        b"List-Id: Voisins de la rue des Erables <erables.listes.example.org>\n"
        b"List-Post: <mailto:erables@listes.example.org>")
    _, d = decide(raw, CITY, NOW)
    assert d.kind == "message" and "Voisins de la rue des Erables" in d.reason
    (env,) = d.envelopes
    assert "nid-de-poule devant le 12 rue des Érables" in env.payload(MessageReceived).description


def bare(body: bytes, *, head: bytes = b"") -> bytes:
    return (b"From: Jeanne Roy <jeanne@resident.test>\r\nTo: 311@omni311.test\r\nMessage-ID: <empty@resident.test>\r\n"
            + head + b"\r\n" + body)


@pytest.mark.parametrize("raw", [
    bare(b""),  # no subject, no body, no attachment
    bare(b"\r\n  \r\n", head=b"Subject:   \r\n"),  # blank subject, blank lines
    bare(b"<html><body><p>&nbsp;</p><br></body></html>", head=b"MIME-Version: 1.0\r\nContent-Type: text/html\r\n"),
    bare(b"On Mon, 2 Mar 2026, 311 wrote:\r\n> We received your request.\r\n"),  # a reply that adds nothing
])
def test_a_message_with_nothing_to_say_opens_no_case_and_is_kept_as_a_problem(raw: bytes) -> None:
    _, d = decide(raw, CITY, NOW)
    assert (d.kind, d.envelopes) == ("unparseable", [])
    assert d.reason == "empty message: no subject, no new text and no attachment"


def test_a_photo_alone_or_a_subject_alone_still_opens_a_case() -> None:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Message-ID"] = "jeanne@resident.test", "311@omni311.test", "<photo@resident.test>"
    msg.add_attachment(PNG, maintype="image", subtype="png", filename="trou.png")
    _, d = decide(msg.as_bytes(), CITY, NOW)
    assert d.kind == "message" and len(d.envelopes) == 1 and len(d.media) == 1
    _, d = decide(bare(b"", head=b"Subject: Streetlight out at Elm and 3rd\r\n"), CITY, NOW)
    assert d.envelopes[0].payload(MessageReceived).description == "Streetlight out at Elm and 3rd"
