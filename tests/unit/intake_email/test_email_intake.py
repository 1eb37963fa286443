"""A resident's mail becomes one `intake.message_received` payload that the case service can thread;
parsing never raises, whatever the bytes."""

from __future__ import annotations

import hashlib
import random
from datetime import UTC, datetime

import pytest
import support.data
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.intake_email.domain import (
    classify,
    contact_key,
    detect_language,
    is_forward,
    new_text,
    parse_message,
    to_bounces,
    to_intake,
)
from shared.events import MessageReceived

NOW = datetime(2026, 3, 3, 15, 4, 5, tzinfo=UTC)

REPLY = """\
From: =?utf-8?Q?Jos=C3=A9e_Tremblay?= <Josee.Tremblay@Example.ORG>
To: "Ville 311" <311+NYC-26-000042@city.example>
Subject: =?utf-8?Q?Re=C2=A0:_Votre_demande?=
Date: Tue, 3 Mar 2026 10:02:00 -0500
Message-ID: <reply-1@example.org>
In-Reply-To: <ack-42@city.example>
References: <first-1@example.org> <ack-42@city.example>
Content-Type: text/plain; charset=utf-8; format=flowed
Content-Transfer-Encoding: 8bit

Bonjour, le lampadaire devant chez moi est toujours \xc3\xa9teint depuis la<SP>
semaine derni\xc3\xa8re.

Le lun. 2 mars 2026 \xc3\xa0 09:00, Ville 311 <311@city.example> a \xc3\xa9crit :
> Votre demande NYC-26-000042 a \xc3\xa9t\xc3\xa9 re\xc3\xa7ue.
""".replace("<SP>", " ").encode("latin-1").replace(b"\n", b"\r\n")


def reply_event(**kwargs: object) -> MessageReceived:
    parsed = parse_message(REPLY)
    text = new_text(parsed.text)
    return to_intake(parsed, text, NOW, detect_language(text), **kwargs)  # type: ignore[arg-type]


def test_a_french_reply_becomes_an_email_intake_message() -> None:
    event = reply_event(media_urls=["https://media.city.example/a.jpg"], authenticity="pass")
    assert event.channel == "email"
    assert event.channel_message_id == "<reply-1@example.org>"
    assert event.description == ("Bonjour, le lampadaire devant chez moi est toujours éteint depuis la semaine "
                                 "dernière.")
    assert event.language == "fr"
    assert event.media_url == ["https://media.city.example/a.jpg"]
    assert event.in_reply_to == ["<ack-42@city.example>", "<first-1@example.org>"]
    assert event.received_at == NOW and event.requested_datetime == NOW
    assert event.sender_authenticated == "pass" and event.attributes == {}
    assert (event.pii.email, event.pii.name) == ("Josee.Tremblay@Example.ORG", "Josée Tremblay")


def test_the_case_number_hint_holds_subject_plus_address_and_first_lines() -> None:
    from services.case.domain.rules import find_case_number  # the consumer of the hint

    event = reply_event()
    assert event.case_number_hint is not None
    assert event.case_number_hint.startswith("Re : Votre demande\n311+NYC-26-000042@city.example\nBonjour")
    assert find_case_number(event.case_number_hint, "nyc") == "NYC-26-000042"


def test_the_case_number_in_the_subject_is_found() -> None:
    from services.case.domain.rules import find_case_number

    raw = REPLY.replace(b"Re=C2=A0:_Votre_demande", b"Re:_Votre_demande_NYC-26-000777").replace(
        b"311+NYC-26-000042@", b"311@")
    parsed = parse_message(raw)
    event = to_intake(parsed, new_text(parsed.text), NOW, "fr")
    assert find_case_number(event.case_number_hint, "nyc") == "NYC-26-000777"


def test_the_contact_key_is_a_hash_of_the_case_folded_address() -> None:
    event = reply_event()
    assert event.contact_key == contact_key("josee.tremblay@example.org", fallback="x")
    assert event.contact_key == "ck_" + hashlib.sha256(b"email:josee.tremblay@example.org").hexdigest()[:32]
    assert "josee" not in event.contact_key.lower()


def test_the_email_key_matches_the_web_channel_key_of_the_same_address() -> None:
    from services.intake_web.domain.intake import contact_key as web_key

    assert contact_key(" Jane@Example.org ", fallback="t") == web_key(
        "open311", email="jane@example.org", phone=None, account_id=None, device_id=None, fallback="t")


def test_a_mail_without_sender_address_gets_an_anonymous_key_of_its_own() -> None:
    parsed = parse_message(b"Subject: pothole\r\n\r\nThere is a pothole.\r\n")
    event = to_intake(parsed, new_text(parsed.text), NOW, None)
    assert event.contact_key.startswith("ck_anon_") and event.pii.email is None
    assert event.channel_message_id == parsed.message_id


def test_an_empty_body_falls_back_to_the_subject() -> None:
    parsed = parse_message(b"From: a@example.org\r\nSubject: Graffiti on the library wall\r\n\r\n\r\n")
    event = to_intake(parsed, new_text(parsed.text), NOW, detect_language(parsed.subject))
    assert (event.description, event.language) == ("Graffiti on the library wall", "en")


def test_a_naive_reception_time_is_refused() -> None:
    parsed = parse_message(REPLY)
    with pytest.raises(ValueError):
        to_intake(parsed, "x", datetime(2026, 3, 3, 15, 4, 5), "fr")


@pytest.mark.parametrize(("text", "language"), [
    ("There is a pothole in front of my house on Main Street", "en"),
    ("The streetlight is broken", "en"),
    ("Il y a un nid de poule devant chez moi, rue Saint-Denis", "fr"),
    ("Le lampadaire est cassé", "fr"),
    ("L'éclairage de la ruelle ne fonctionne plus depuis jeudi", "fr"),
    ("Die Hasen klagten einst über ihre mißliche Lage", None),
    ("Уважаемая Оксана Позднякова", None),
    ("", None),
    ("12345", None),
])
def test_language_is_english_french_or_unknown(text: str, language: str | None) -> None:
    assert detect_language(text) == language


@pytest.mark.parametrize(("subject", "forward"), [
    ("Fwd: rats", True), ("FW: rats", True), ("TR: rats", True), ("Re: TR: rats", True), ("Re: rats", False),
    ("Fwdx", False), ("", False),
])
def test_forward_subjects(subject: str, forward: bool) -> None:
    assert is_forward(subject) is forward


def corpus_mail(name: str) -> bytes:
    return (support.data.shared_data() / "email" / name).read_bytes()


def test_a_bounce_becomes_one_event_per_failed_recipient() -> None:
    parsed = parse_message(corpus_mail("sisimai_bounces_autoreplies/bsd_lhost-postfix-01.eml"))
    events = to_bounces(parsed, classify(parsed), NOW)
    assert [(e.pii.email, e.status, e.channel_message_id) for e in events] == [
        ("kijitora@example.org", "5.1.1", "<20130429234532.00000000000@p351355.pool.example.ne.jp>"),
        ("r@p351355.pool.example.ne.jp", "5.1.1", "<20130429234532.00000000000@p351355.pool.example.ne.jp>")]
    assert events[0].contact_key == contact_key("KIJITORA@example.org", fallback="")
    assert "delivery-status" in events[0].reason and events[0].diagnostic


def test_a_delayed_delivery_and_a_resident_message_announce_no_bounce() -> None:
    delay = parse_message(corpus_mail("alaveteli_foi_public_body_mail/track-response-ms-bounce.eml"))
    resident = parse_message(REPLY)
    assert to_bounces(delay, classify(delay), NOW) == []
    assert to_bounces(resident, classify(resident), NOW) == []


def test_a_text_only_bounce_names_its_recipient_without_status() -> None:
    parsed = parse_message(corpus_mail("sisimai_bounces_autoreplies/bsd_lhost-gmail-01.eml"))
    (event,) = to_bounces(parsed, classify(parsed), NOW)
    assert (event.pii.email, event.status) == ("userunknown@example.jp", None)


# --- never raises ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("raw", [
    b"", b"\r\n", b"\x00\xff\xfe", b"garbage without headers", b"Subject: =?utf-8?B?", b"From: <<<>>>@@\r\n\r\n",
    b"Content-Type: multipart/mixed; boundary=\r\n\r\n--\r\n--\r\n", b"Date: Tue, 99 Foo 99999 99:99:99 +9999\r\n",
    b"Content-Type: message/rfc822\r\n\r\nContent-Type: message/rfc822\r\n\r\n" * 50,
    b"Content-Type: text/plain; charset=\"\\\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!!",
    b"Message-ID: " + b"<" + b"x" * 2000 + b"@y>\r\n\r\n",
])
def test_hostile_inputs_parse_without_raising(raw: bytes) -> None:
    parsed = parse_message(raw)
    assert parsed.message_id.startswith("<") and len(parsed.message_id) <= 998


def test_a_non_bytes_input_does_not_raise() -> None:
    assert parse_message(None).message_id_synthesised  # type: ignore[arg-type]


def mutated_corpus() -> list[bytes]:
    rng = random.Random(311)
    mails = sorted((support.data.shared_data() / "email").rglob("*.eml"))
    out = []
    for path in mails:
        data = bytearray(path.read_bytes())
        for _ in range(3):
            copy = bytearray(data)
            for _ in range(rng.randint(1, 20)):
                i = rng.randrange(len(copy))
                copy[i] = rng.randrange(256)
            cut = rng.randrange(len(copy))
            out.append(bytes(copy[:cut] if rng.random() < 0.3 else copy))
    return out


def test_corrupted_copies_of_every_real_mail_parse_without_raising() -> None:
    for raw in mutated_corpus():
        parsed = parse_message(raw)
        assert isinstance(parsed.text, str) and parsed.message_id


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2000))
def test_random_bytes_parse_without_raising(raw: bytes) -> None:
    assert parse_message(raw).message_id
