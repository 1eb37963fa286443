"""Which channel answers a reporter, Meta's reply window, and SMS segments as Twilio bills them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.notifier.domain.channels import route_for, short_text, sms_segments, within_reply_window
from services.notifier.domain.messages import Notice

NOW = datetime(2026, 3, 14, 15, 0, tzinfo=UTC)


# --- segments -------------------------------------------------------------------------------------------


def test_plain_ascii_fits_160_septets_in_one_gsm7_segment() -> None:
    s = sms_segments("a" * 160)
    assert (s.encoding, s.units, s.count) == ("GSM-7", 160, 1)


def test_one_septet_more_makes_two_segments_of_153() -> None:
    assert sms_segments("a" * 161).count == 2
    assert sms_segments("a" * 306).count == 2
    assert sms_segments("a" * 307).count == 3


def test_escape_characters_count_double() -> None:
    s = sms_segments("€" * 80)
    assert (s.encoding, s.units, s.count) == ("GSM-7", 160, 1)
    assert sms_segments("€" * 81).count == 2
    assert sms_segments("[a]{b}^~|\\").units == 18  # eight escapes and two letters


def test_an_escape_sequence_is_never_split_across_segments() -> None:
    # 152 septets then a two-septet escape: 154 would not fit the first segment, so it starts the second
    assert sms_segments("a" * 152 + "€" + "a" * 152).count == 3
    assert sms_segments("a" * 151 + "€" + "a" * 153).count == 2


def test_french_accents_of_the_gsm_alphabet_stay_gsm7() -> None:
    s = sms_segments("Votre dossier est fermé. À bientôt? non: é è ù à ì ò Ç É")
    assert s.encoding == "UCS-2"  # ô is not in GSM 03.38
    s = sms_segments("Dossier fermé, merci. Déjà réparé à 9h. É è ù à")
    assert (s.encoding, s.count) == ("GSM-7", 1)


def test_one_non_gsm_character_switches_the_whole_text_to_ucs2() -> None:
    s = sms_segments("a" * 69 + "ê")
    assert (s.encoding, s.units, s.count) == ("UCS-2", 70, 1)
    assert sms_segments("a" * 70 + "ê").count == 2
    assert sms_segments("ç" * 134).count == 2  # lower-case ç is not GSM-7 (only Ç is)
    assert sms_segments("ç" * 135).count == 3


def test_an_emoji_counts_two_ucs2_units_and_is_not_split() -> None:
    s = sms_segments("😀" * 35)
    assert (s.encoding, s.units, s.count) == ("UCS-2", 70, 1)
    assert sms_segments("😀" * 36).count == 2
    # 66 units then an emoji: 68 would not fit the first segment of 67
    assert sms_segments("a" * 66 + "😀" + "a" * 66).count == 3


# --- short texts ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("language", ["en", "fr"])
@pytest.mark.parametrize("kind", ["acknowledgement", "merged", "status_changed", "closed"])
def test_every_text_notice_fits_two_segments_with_the_whole_case_number(kind: str, language: str) -> None:
    notice = Notice(kind=kind, service_request_id="311-000123456", language=language,  # type: ignore[arg-type]
                    merged_into_service_request_id="311-000999888", status_notes="Réparé 🚧 " * 60)
    text = short_text(notice, "Ville de Montréal 311")
    assert sms_segments(text).count <= 2
    assert "311-000123456" in text
    if kind == "merged":
        assert "311-000999888" in text


def test_long_notes_are_shortened_never_the_case_number() -> None:
    notice = Notice(kind="closed", service_request_id="311-000123", language="en", status_notes="x " * 400)
    text = short_text(notice)
    assert text.startswith("City 311: case 311-000123 is closed. x")
    assert text.endswith("…")
    assert sms_segments(text).count == 2


def test_a_program_name_too_long_for_the_wording_still_keeps_the_case_number() -> None:
    text = short_text(Notice(kind="acknowledgement", service_request_id="311-42", language="fr"), "P" * 250)
    assert text.endswith("311-42")


# --- channel choice ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("channel", "message_id", "expected"), [
    ("sms", "SM1", "twilio"), ("voice", "CA1", "twilio"), ("phone", "agent-1", "twilio"),
    ("whatsapp", "SM1", "twilio"), ("whatsapp", "wamid.HBg", "meta"), ("messenger", "m_1", "meta"),
    ("instagram", "aWdf", "meta"), ("mastodon", "1101", "mastodon"), ("email", "<a@b>", "email"),
    ("web", "t1", "email"), ("open311", "t1", "email"),
])
def test_the_reporter_is_answered_on_the_channel_they_used(channel: str, message_id: str, expected: str) -> None:
    assert route_for(channel, channel_message_id=message_id, phone="+16175550123", handle="12345",
                     email="ann@example.org") == expected


def test_a_reporter_without_the_address_of_their_channel_gets_email_or_nothing() -> None:
    assert route_for("sms", channel_message_id="SM1", phone=None, handle=None, email="ann@example.org") == "email"
    assert route_for("messenger", channel_message_id="m_1", phone=None, handle=None, email=None) is None
    assert route_for("open311", channel_message_id="t", phone="+16175550123", handle=None, email=None) is None


def test_a_portal_reporter_who_chose_sms_is_texted() -> None:
    # The portal keeps only the address of the channel the resident chose: a phone alone means SMS.
    assert route_for("web", channel_message_id="t", phone="+16175550123", handle=None, email=None) == "twilio"


# --- reply window --------------------------------------------------------------------------------------


def test_the_reply_window_is_open_for_24_hours_after_the_residents_last_message() -> None:
    assert within_reply_window(NOW - timedelta(hours=23, minutes=59), NOW)
    assert not within_reply_window(NOW - timedelta(hours=24), NOW)
    assert not within_reply_window(NOW - timedelta(days=3), NOW)
    assert not within_reply_window(None, NOW)
    assert within_reply_window(NOW - timedelta(hours=30), NOW, hours=168)
