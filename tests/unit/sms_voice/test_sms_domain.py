"""Pure SMS/voice rules: phone numbers to E.164 and contact keys, base64 bodies, where a text says the
problem is, and the signed conversation cookie."""

from __future__ import annotations

from datetime import timedelta

import pytest

from conftest import NOW
from services.intake_sms_voice.domain import conversation
from services.intake_sms_voice.domain.contacts import bsuid, contact_key, e164, sender_of
from services.intake_sms_voice.domain.inbound import possibly_base64
from services.intake_sms_voice.domain.location import find_location
from shared.jurisdiction.text import guess_language


@pytest.mark.parametrize(("raw", "want"), [
    ("+14133881111", "+14133881111"), ("whatsapp:+14133881111", "+14133881111"), ("(514) 555-0123", "+15145550123"),
    ("1-514-555-0123", "+15145550123"), ("+33 6 12 34 56 78", "+33612345678"), ("384387", None), ("2021", None),
    ("Anonymous", None), ("+266696687", None), ("whatsapp:US.1234", None), ("", None),
])
def test_numbers_are_normalised_to_e164(raw: str, want: str | None) -> None:
    assert e164(raw, "US") == want


def test_the_contact_key_is_the_same_for_every_spelling_of_a_number_and_reveals_nothing() -> None:
    keys = {sender_of(x).contact_key(fallback="x", channel="sms") for x in
            ("+15145550123", "whatsapp:+15145550123", "(514) 555-0123")}
    assert len(keys) == 1
    [key] = keys
    assert "5550123" not in key and key.startswith("ck_")
    # The web intake hashes "phone:<number>" the same way, so a resident's channels share one key.
    assert key == contact_key(phone="+15145550123", handle=None, fallback="", channel="")
    anon = sender_of("Anonymous").contact_key(fallback="CA1", channel="voice")
    assert anon.startswith("ck_anon_") and anon != sender_of("Anonymous").contact_key(fallback="CA2", channel="voice")


def test_whatsapp_user_ids_are_kept_only_when_well_formed() -> None:
    assert bsuid("whatsapp:US.1234") == "US.1234"
    assert bsuid("whatsapp:foo_bar") is None and bsuid("+14133881111") is None
    s = sender_of("whatsapp:US.1234", external_user_id="whatsapp:US.1234")
    assert (s.phone, s.handle) == (None, "US.1234")


def test_only_clearly_base64_bodies_are_decoded() -> None:
    encoded = "QmFubm9uIEV4cGxhaW5zIFRoZSBXb3JsZCAuLi4K4oCcVGhlIENhbXAgb2YgdGhlIFNhaW50c+KA"
    assert possibly_base64(encoded) == "Bannon Explains The World ...\n\u201cThe Camp of the Saints"
    for text in ("Msg", "QmFubm9u", "Pothole on Main St " * 5, "A" * 59 + "=", "////" * 20):
        assert possibly_base64(text) == text


@pytest.mark.parametrize(("text", "address"), [
    ("Pothole in front of 123 Main St", "123 Main St"),
    ("tree down at 12 Oak Ave. please help", "12 Oak Ave"),
    ("nid-de-poule devant le 45, rue Sainte-Catherine", "45, rue Sainte-Catherine"),
    ("fuite d eau au 1200 boul. Saint-Laurent", "1200 boul. Saint-Laurent"),
    ("corner of Bank and Somerset.", "corner of Bank and Somerset"),
    ("Main St & 2nd Ave", "Main St & 2nd Ave"),
    ("the pothole at 5th and Main is back", "5th and Main"),
    ("coin de Rideau et King-Edward", "coin de Rideau et King-Edward"),
])
def test_addresses_and_intersections_are_usable_locations(text: str, address: str) -> None:
    loc = find_location(text)
    assert loc is not None and loc.address == address


@pytest.mark.parametrize("text", ["Big pothole, my tire blew", "on Main Street", "I saw 3 cars on Main St",
                                  "light out 2/3 of street", "broken and leaking", "and/or", "Msg",
                                  "see https://example.com/a/b", "0.000, 0.000", "call 514.555.0123"])
def test_vague_texts_are_not_locations(text: str) -> None:
    assert find_location(text) is None


def test_coordinates_and_map_links_are_locations() -> None:
    for text in ("45.42153, -75.69719", "geo:45.4215,-75.6972", "https://maps.apple.com/?ll=45.4215,-75.6972",
                 "https://www.google.com/maps/@45.4215,-75.6972,17z"):
        loc = find_location(text)
        assert loc is not None and (loc.lat, loc.long) == (45.4215 if "153" not in text else 45.42153,
                                                           -75.6972 if "153" not in text else -75.69719)
    assert find_location("91.0000, 10.0000") is None


def test_language_is_guessed_from_common_words() -> None:
    assert guess_language("Le lampadaire est éteint devant chez moi", "en") == "fr"
    assert guess_language("The street light is out in front of my house", "fr") == "en"
    assert guess_language("Msg", "fr") == "fr"


def test_the_conversation_cookie_is_bound_to_its_contact_and_expires() -> None:
    secret = b"k"
    value = conversation.pending_cookie(secret, message_sid="SM1", contact_key="ck_a", now=NOW)
    assert conversation.read_pending(secret, value, contact_key="ck_a", now=NOW + timedelta(hours=1)) == "SM1"
    assert conversation.read_pending(secret, value, contact_key="ck_b", now=NOW) is None
    assert conversation.read_pending(b"other", value, contact_key="ck_a", now=NOW) is None
    assert conversation.read_pending(secret, value, contact_key="ck_a", now=NOW + timedelta(hours=4, seconds=1)) is None
    assert conversation.read_pending(secret, "garbage", contact_key="ck_a", now=NOW) is None


def test_the_cookie_is_set_for_a_question_and_deleted_only_when_one_came_with_the_text() -> None:
    from services.intake_sms_voice.domain.conversation import COOKIE, CookieChange, cookie_change

    assert cookie_change(pending="SM1.1.ab", clear=False, received=None, window_s=14400.9) == \
        CookieChange("SM1.1.ab", 14400, COOKIE)
    assert cookie_change(pending=None, clear=True, received="SM1.1.ab") == CookieChange(None)
    assert cookie_change(pending=None, clear=True, received="") == CookieChange(None), "sent, even empty"
    assert cookie_change(pending=None, clear=True, received=None) is None
    assert cookie_change(pending=None, clear=False, received="SM1.1.ab") is None


def test_a_single_language_jurisdiction_starts_the_call_in_it_and_two_ask_first() -> None:
    from services.intake_sms_voice.domain import ivr

    assert ivr.opening(("fr",)) == ivr.CallState(lang="fr")
    assert ivr.opening(("en", "fr")) is None


@pytest.mark.parametrize("text", ["a" * 600, "1" * 1600, "Main" * 150 + " & " + "b" * 600, "é" * 600])
def test_a_long_word_is_read_in_linear_time(text: str) -> None:
    # The intersection readers backtracked over every split of a long word: 400 letters took 2 s, 800 took
    # 13 s and an SMS of 1600 took minutes, with the webhook's event loop blocked (anyone can text the city).
    import time

    started = time.monotonic()
    find_location(text)
    assert time.monotonic() - started < 0.5
