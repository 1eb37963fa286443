"""Every message kind kept (docs/channels.md): a WhatsApp contact card shared through Twilio (a
``text/vcard`` media item) is read into the message's text (``attributes.shared_contact``); a message we
cannot read at all is published as it came and answered with one short request to write it as text."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from conftest import make_harness, sms_form
from services.intake_sms_voice.domain.contact_card import read_card

CARD_URL = "https://api.twilio.com/2010-04-01/Accounts/AC0/Messages/MM1/Media/ME1"
CARD = (b"BEGIN:VCARD\r\nVERSION:3.0\r\nN:Roe;Jane;;;\r\nFN:Jane Roe\r\n"
        b"TEL;type=CELL;waid=16135550100:+1 613-555-0100\r\nEMAIL:jane.roe@example.org\r\nEND:VCARD\r\n")
WHATSAPP = "whatsapp:+15145550123"


def _messages(xml: str) -> list[str]:
    return [m.text or "" for m in ET.fromstring(xml).iter("Message")]


@pytest.mark.parametrize("content_type", ["text/vcard", "text/x-vcard"])
async def test_a_shared_contact_card_becomes_the_messages_text(content_type: str) -> None:
    h = make_harness(media={CARD_URL: CARD})
    await h.post("/twilio/whatsapp", sms_form(body="", from_=WHATSAPP, NumMedia="1", MediaUrl0=CARD_URL,
                                              MediaContentType0=content_type))
    [env] = h.publisher.published
    # The same card text as a WhatsApp Cloud card (shared.intake.contact_card); its words only in the description.
    assert env.data["description"] == "Contact: Jane Roe\nPhone: +1 613-555-0100 (CELL)\nEmail: jane.roe@example.org"
    assert env.data["attributes"]["shared_contact"] == {"cards": 1}
    assert h.media.asked == [(CARD_URL, "AC" + "0" * 32)], "read with the account's credentials"


async def test_a_card_after_a_report_joins_it_with_the_cards_text() -> None:
    from services.intake_sms_voice.domain import conversation

    h = make_harness(media={CARD_URL: CARD})
    r = await h.post("/twilio/whatsapp", sms_form(sid="SM" + "1" * 32, body="No heat in my building at 12 Oak Ave",
                                                  from_=WHATSAPP))
    await h.post("/twilio/whatsapp", sms_form(sid="SM" + "2" * 32, body="the manager", from_=WHATSAPP,
                                              NumMedia="1", MediaUrl0=CARD_URL, MediaContentType0="text/vcard"),
                 cookies={conversation.COOKIE: r.cookies.get(conversation.COOKIE)})
    joined = h.publisher.published[-1].data
    assert joined["in_reply_to"] == ["SM" + "1" * 32]
    assert joined["description"] == ("the manager\nContact: Jane Roe\nPhone: +1 613-555-0100 (CELL)\n"
                                     "Email: jane.roe@example.org")


async def test_bare_bytes_of_no_known_type_are_kept_and_the_resident_asked_for_text() -> None:
    h = make_harness()
    url = "https://api.twilio.com/2010-04-01/Accounts/AC0/Messages/MM2/Media/ME2"
    r = await h.post("/twilio/sms", sms_form(body="", NumMedia="1", MediaUrl0=url,
                                             MediaContentType0="application/octet-stream"))
    [env] = h.publisher.published
    assert env.data["media_url"] == [url] and env.data["attributes"]["unreadable"] is True
    assert _messages(r.text) == ["Demoville 311: we cannot read that message. Please write your report as text."]


async def test_an_unsupported_whatsapp_message_is_kept_and_answered_with_a_request_for_text() -> None:
    h = make_harness()
    r = await h.post("/twilio/whatsapp", sms_form(body="", from_=WHATSAPP, MessageType="unsupported"))
    [env] = h.publisher.published
    assert env.data["channel"] == "whatsapp" and env.data["attributes"]["unreadable"] is True
    assert _messages(r.text) == ["Demoville 311: we cannot read that message. Please write your report as text."]


async def test_a_card_that_cannot_be_fetched_keeps_its_link_and_asks_for_text() -> None:
    h = make_harness()  # the media reader knows no URL
    r = await h.post("/twilio/whatsapp", sms_form(body="", from_=WHATSAPP, NumMedia="1", MediaUrl0=CARD_URL,
                                                  MediaContentType0="text/vcard"))
    [env] = h.publisher.published
    assert env.data["media_url"] == [CARD_URL] and "shared_contact" not in env.data["attributes"]
    assert "write your report as text" in _messages(r.text)[0]


async def test_a_photo_without_words_is_not_unreadable_it_gets_the_location_question() -> None:
    h = make_harness()
    r = await h.post("/twilio/sms", sms_form(body="", NumMedia="1", MediaUrl0=CARD_URL.replace("ME1", "ME3"),
                                             MediaContentType0="image/jpeg"))
    assert "unreadable" not in h.publisher.published[0].data["attributes"]
    assert "Where exactly" in _messages(r.text)[0]


@pytest.mark.parametrize("data", [b"", b"not a card", b"BEGIN:VCARD\r\nVERSION:3.0\r\nEND:VCARD\r\n",
                                  b"BEGIN:VCARD\r\n" + b"X" * 70_000])
def test_what_is_no_contact_card(data: bytes) -> None:
    assert read_card(data) is None


def test_a_vcard_4_with_a_tel_uri_and_only_a_structured_name() -> None:
    card = read_card(b"BEGIN:VCARD\nVERSION:4.0\nN:Roe;Jim;;;\nTEL;VALUE=uri:tel:+1-555-555-5555\nEND:VCARD\n")
    assert card is not None and (card.name, [p for p, _ in card.phones]) == ("Jim Roe", ["+1-555-555-5555"])


async def test_twilios_media_is_read_with_basic_auth_and_a_size_limit() -> None:
    import base64

    import httpx

    from services.intake_sms_voice.adapters.twilio_media import MediaUnreadable, TwilioMedia

    seen: list[str | None] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("authorization"))
        return httpx.Response(200, content=CARD if request.url.path.endswith("ME1") else b"x" * 5000)

    reader = TwilioMedia("tok", transport=httpx.MockTransport(answer))
    await reader.start()
    try:
        assert await reader.read(CARD_URL, account_sid="AC1", max_bytes=4096) == CARD
        assert seen == ["Basic " + base64.b64encode(b"AC1:tok").decode()]
        with pytest.raises(MediaUnreadable):
            await reader.read(CARD_URL.replace("ME1", "ME9"), account_sid="AC1", max_bytes=4096)
        with pytest.raises(MediaUnreadable):
            await reader.read(CARD_URL.replace("https", "http"), account_sid="AC1", max_bytes=4096)
    finally:
        await reader.stop()


PHOTO = "https://api.twilio.com/2010-04-01/Accounts/AC0/Messages/MM5/Media/ME5"
CLIP = "https://api.twilio.com/2010-04-01/Accounts/AC0/Messages/MM5/Media/ME6"


async def test_mms_media_are_kept_by_us_and_the_message_links_to_our_copy() -> None:
    h = make_harness(media={PHOTO: b"jpeg bytes", CLIP: b"mp4 bytes"})
    sid = "SM" + "5" * 32
    await h.post("/twilio/sms", sms_form(sid=sid, body="graffiti at 45 rue Rideau", NumMedia="2", MediaUrl0=PHOTO,
                                         MediaContentType0="image/jpeg", MediaUrl1=CLIP,
                                         MediaContentType1="video/mp4"))
    data = h.publisher.published[0].data
    assert data["media_url"] == ["https://sms.city.example/media/1", "https://sms.city.example/media/2"]
    assert h.media.kept == [(PHOTO, "AC" + "0" * 32, sid), (CLIP, "AC" + "0" * 32, sid)]
    assert "media_failed" not in data["attributes"]


async def test_a_failed_download_keeps_twilios_link_and_says_why() -> None:
    h = make_harness(media={PHOTO: b"jpeg bytes"})
    h.media.refused[CLIP] = "the type 'application/zip' is not one we keep"
    gone = CLIP.replace("ME6", "ME7")
    await h.post("/twilio/whatsapp", sms_form(body="Flooded basement at 12 Oak Ave", from_=WHATSAPP, NumMedia="3",
                                              MediaUrl0=PHOTO, MediaContentType0="image/jpeg", MediaUrl1=CLIP,
                                              MediaContentType1="application/zip", MediaUrl2=gone,
                                              MediaContentType2="image/png"))
    data = h.publisher.published[0].data
    assert data["media_url"] == ["https://sms.city.example/media/1", CLIP, gone]
    assert data["attributes"]["media_failed"] == ["the type 'application/zip' is not one we keep",
                                                  "media answered 404"]


async def test_a_photo_sent_as_a_follow_up_joins_the_report_with_our_copy() -> None:
    from services.intake_sms_voice.domain import conversation

    h = make_harness(media={PHOTO: b"jpeg bytes"})
    r = await h.post("/twilio/sms", sms_form(sid="SM" + "1" * 32, body="Pothole in front of 123 Main St"))
    await h.post("/twilio/sms", sms_form(sid="SM" + "2" * 32, body="", NumMedia="1", MediaUrl0=PHOTO,
                                         MediaContentType0="image/jpeg"),
                 cookies={conversation.COOKIE: r.cookies.get(conversation.COOKIE)})
    photo = h.publisher.published[-1].data
    assert photo["in_reply_to"] == ["SM" + "1" * 32] and photo["media_url"] == ["https://sms.city.example/media/1"]


def _with_photo(size: int) -> bytes:
    import base64
    import os

    photo = base64.b64encode(os.urandom(size)).decode()
    folded = "\r\n ".join(photo[i:i + 74] for i in range(0, len(photo), 74))
    return (f"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Building Manager\r\nTEL;TYPE=CELL:+1 613 555 0100\r\n"
            f"item1.PHOTO;ENCODING=b;TYPE=JPEG:{folded}\r\nEND:VCARD\r\n").encode()


@pytest.mark.parametrize("size", [15_000, 90_000, 600_000])
def test_a_card_carrying_its_contacts_photo_is_read_without_the_photo(size: int) -> None:
    # A phone's contact card carries the contact's picture (base64 in PHOTO): above 64 KB the card was not
    # read at all, its name and number lost and the resident asked to type them.
    card = read_card(_with_photo(size))
    assert card is not None and (card.name, [p for p, _ in card.phones]) == ("Building Manager", ["+1 613 555 0100"])


def test_a_card_in_latin_1_keeps_its_accents() -> None:
    card = read_card("BEGIN:VCARD\r\nVERSION:2.1\r\nFN:Andr\xe9 C\xf4t\xe9\r\nTEL:+16135550100\r\nEND:VCARD\r\n"
                     .encode("latin-1"))
    assert card is not None and card.name == "André Côté"
