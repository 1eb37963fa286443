"""Automatic mail is recognised (RFC 3834 headers, vendor markers, English and French out-of-office
subjects, bounces) and DMARC is read only from our own server's Authentication-Results."""

from __future__ import annotations

import pytest

from services.intake_email.domain import authenticity, classify, parse_message


def mail(*headers: str, body: str = "Hello") -> bytes:
    head = ["From: Jane Roe <jane@example.org>", "To: 311@city.example", "Message-ID: <m1@example.org>",
            *headers]
    if not any(h.lower().startswith("subject:") for h in headers):
        head.append("Subject: Streetlight out on Elm St")
    return ("\r\n".join(head) + "\r\n\r\n" + body + "\r\n").encode("utf-8")


def kind(*headers: str, body: str = "Hello") -> tuple[str, str]:
    verdict = classify(parse_message(mail(*headers, body=body)))
    return verdict.kind, verdict.reason


@pytest.mark.parametrize("subject", [
    "Out of Office", "Out of Office AutoReply: Streetlight", "Out of office: Re: your request", "Automatic reply: x",
    "Auto reply: x", "AutoReply: x", "AUTO: Jane Roe is out of the office (returning 03/01/2026)",
    "Jane Roe is out of the office", "Vacation reply", "RE: Out of Office",
    "Absence du bureau", "Réponse automatique : Votre demande", "Reponse automatique: x", "Absent",
    "Absente jusqu'au 12 mars", "Absent du bureau", "Message d'absence", "Jeanne est absente du bureau",
    "Réponse automatique d'absence du bureau", "TR: Réponse automatique", "Répondeur automatique",
])
def test_out_of_office_subjects_in_english_and_french(subject: str) -> None:
    verdict, reason = kind(f"Subject: {subject}")
    assert verdict == "auto_reply" and "out-of-office subject" in reason


@pytest.mark.parametrize("subject", [
    "Absent streetlight on Elm", "Office building fire exit blocked", "Automatic sprinklers flooding the street",
    "Vacation rental noise", "On holiday weekends the trash is not collected", "Re: NYC-26-000042",
    "Nid de poule rue Sherbrooke", "Répondez-moi svp", "Auto abandoned on 5th Ave",
])
def test_ordinary_subjects_are_messages(subject: str) -> None:
    assert kind(f"Subject: {subject}")[0] == "message"


@pytest.mark.parametrize(("header", "reason"), [
    ("Auto-Submitted: auto-replied", "Auto-Submitted"),
    ("Auto-Submitted: auto-generated (failure)", "Auto-Submitted"),
    ("Auto-Submitted: auto-notified", "Auto-Submitted"),
    ("X-Autoreply: yes", "X-Autoreply"),
    ("X-Autorespond: Jane is away", "X-Autorespond"),
    ("Precedence: bulk", "Precedence: bulk"),
    ("Precedence: junk", "Precedence: junk"),
    ("Precedence: auto_reply", "Precedence: auto_reply"),
    ("X-Apple-Action: VACATION", "VACATION"),
    ("X-MS-Exchange-Inbox-Rules-Loop: jane@example.org", "Inbox-Rules-Loop"),
    ("X-POST-MessageClass: 9; Autoresponder", "message class"),
    ("Content-Type: multipart/report; report-type=disposition-notification; boundary=x", "read receipt"),
])
def test_automatic_reply_headers(header: str, reason: str) -> None:
    verdict, why = kind(header)
    assert verdict == "auto_reply" and reason in why


def test_exchange_suppress_header_on_an_automatic_reply_subject_is_an_auto_reply() -> None:
    verdict, why = kind("X-Auto-Response-Suppress: All", "Subject: Automatic reply: Streetlight out")
    assert verdict == "auto_reply" and "X-Auto-Response-Suppress" in why


NEIGHBOURS = ("List-Id: Elm Street Neighbours <elmst.lists.example.org>",
              "List-Post: <mailto:elmst@lists.example.org>", "Sender: elmst-bounces@lists.example.org")


@pytest.mark.parametrize("headers", [
    ("Precedence: list", *NEIGHBOURS),  # Mailman, Sympa, Google Groups
    ("Precedence: bulk", *NEIGHBOURS),  # Majordomo, older Mailman
    ("Precedence: list",),
    ("X-Auto-Response-Suppress: OOF", *NEIGHBOURS),  # the list asks us not to auto-reply
    ("X-Auto-Response-Suppress: All",),
    ("Mailing-List: contact elmst-help@lists.example.org; run by ezmlm", "Precedence: bulk"),
])
def test_a_residents_post_relayed_by_a_mailing_list_is_a_message(headers: tuple[str, ...]) -> None:
    verdict, why = kind(*headers, body="The streetlight at Elm and 3rd has been out since Monday. -- Jane")
    assert verdict == "message" and "no automatic-mail marker" in why


def test_the_list_that_relayed_a_message_is_in_its_reason() -> None:
    assert "Elm Street Neighbours" in kind("Precedence: list", *NEIGHBOURS)[1]


def test_an_out_of_office_reply_relayed_by_a_list_is_still_an_auto_reply() -> None:
    assert kind("Auto-Submitted: auto-replied", "Precedence: list", *NEIGHBOURS)[0] == "auto_reply"
    assert kind("Subject: Out of Office", "Precedence: list", *NEIGHBOURS)[0] == "auto_reply"
    assert kind("X-Autoreply: yes", *NEIGHBOURS)[0] == "auto_reply"


@pytest.mark.parametrize("header", ["Auto-Submitted: no", "Auto-Submitted: No (a person wrote this)",
                                    "Precedence: first-class", "X-Autoreply: no"])
def test_headers_that_say_a_person_wrote_it(header: str) -> None:
    assert kind(header)[0] == "message"


@pytest.mark.parametrize(("headers", "reason"), [
    (("Return-Path: <>",), "null return path"),
    (("Return-Path: <>", "Subject: Undeliverable: Streetlight"), "bounce subject"),
    (("Return-Path: <>", "Subject: Non remis : Lampadaire"), "bounce subject"),
    (("X-Failed-Recipients: jane@example.org",), "X-Failed-Recipients"),
    (("X-MS-Exchange-Message-Is-Ndr:",), "Is-Ndr"),
])
def test_bounce_markers(headers: tuple[str, ...], reason: str) -> None:
    verdict, why = kind(*headers)
    assert verdict == "bounce" and reason in why


def test_a_bounce_from_the_mail_system_names_the_failed_address_from_its_text() -> None:
    raw = mail("Subject: Mail delivery failed", body="The following address failed:\n\n  gone@example.net\n\n"
               "------ This is a copy of the message, including all the headers. ------\nTo: other@example.net\n")
    raw = raw.replace(b"From: Jane Roe <jane@example.org>", b"From: Mail Delivery System <MAILER-DAEMON@mx.example>")
    verdict = classify(parse_message(raw))
    assert (verdict.kind, verdict.failed_recipients) == ("bounce", ("gone@example.net",))


def test_a_resident_forwarding_a_bounce_as_an_attachment_is_a_message() -> None:
    raw = (b"From: Jane <jane@example.org>\r\nSubject: Fwd: your mail bounced\r\nMIME-Version: 1.0\r\n"
           b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nWhy?\r\n'
           b"--b\r\nContent-Type: message/rfc822\r\n\r\nFrom: MAILER-DAEMON@mx.example\r\nAuto-Submitted: auto-replied"
           b"\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=c\r\n\r\n--c\r\n"
           b"Content-Type: message/delivery-status\r\n\r\nFinal-Recipient: rfc822; x@y.example\r\nAction: failed\r\n"
           b"\r\n--c--\r\n--b--\r\n")
    assert classify(parse_message(raw)).kind == "message"


# --- DMARC from our own server only (RFC 8601) ----------------------------------------------------------

TRUSTED = "mx.city.example"


@pytest.mark.parametrize(("headers", "expected"), [
    (("Authentication-Results: mx.city.example; spf=pass smtp.mailfrom=example.org; dmarc=pass "
      "(p=REJECT) header.from=example.org",), "pass"),
    (("Authentication-Results: MX.City.Example 1; dmarc=fail (p=none dis=none) header.from=example.org",), "fail"),
    (("Authentication-Results: mx.city.example; dmarc=none header.from=example.org",), "none"),
    (("Authentication-Results: mx.city.example; dmarc=temperror header.from=example.org",), "none"),
    (("Authentication-Results: mx.city.example; spf=pass smtp.mailfrom=example.org",), "none"),
    (("Authentication-Results: mx.city.example (our server; dmarc=pass in a comment); dmarc=fail",), "fail"),
    # written by the sender (or anyone on the way) under another id: never trusted
    (("Authentication-Results: mx.evil.example; dmarc=pass header.from=example.org",), "none"),
    (("Authentication-Results: mx.evil.example; dmarc=pass", "Authentication-Results: mx.city.example; "
      "dmarc=fail"), "fail"),
    (("Authentication-Results: mx.city.example; dmarc=pass", "Authentication-Results: mx.city.example; "
      "dmarc=fail"), "pass"),  # the top-most, which our server added last
    ((), "none"),
])
def test_dmarc_is_read_only_from_our_trusted_server(headers: tuple[str, ...], expected: str) -> None:
    assert authenticity(parse_message(mail(*headers)), TRUSTED) == expected


def test_an_empty_trusted_id_trusts_nothing() -> None:
    assert authenticity(parse_message(mail("Authentication-Results: ; dmarc=pass")), "") == "none"
