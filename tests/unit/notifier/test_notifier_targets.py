"""Where a notice goes for a stored contact: the resident's channel, Meta's reply window, the email fallback,
and what suppresses it (the window, an opt-out, a bounce)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

from services.notifier.domain.model import Contact
from services.notifier.domain.targets import Target, choose_target, suppression
from shared.events import Pii

NOW = datetime(2026, 3, 14, 15, 0, tzinfo=UTC)
WINDOW_H = 24.0


def contact(**kw: Any) -> Contact:
    fields: dict[str, Any] = {"case_id": uuid4(), "service_request_id": "DEMO-26-000001", "contact_key": "k",
                              "channel": "email", "channel_message_id": "x", "phone": None, "handle": None,
                              "email": None, "last_inbound_at": NOW - timedelta(minutes=5)}
    return Contact(**(fields | kw))


def test_an_sms_reporter_is_answered_by_sms_and_a_twilio_whatsapp_one_by_whatsapp() -> None:
    t = choose_target(contact(channel="sms", phone="+16135550123"), NOW, WINDOW_H)
    assert t is not None and (t.route, t.channel, t.address, t.blocked) == ("twilio", "sms", "+16135550123", None)
    t = choose_target(contact(channel="whatsapp", channel_message_id="SM1", phone="+16135550123"), NOW, WINDOW_H)
    assert t is not None and (t.route, t.channel) == ("twilio", "whatsapp")


def test_a_messenger_reporter_inside_the_window_is_answered_on_messenger() -> None:
    t = choose_target(contact(channel="messenger", handle="123", email="ann@example.org"), NOW, WINDOW_H)
    assert t is not None and (t.route, t.channel, t.address, t.blocked) == ("meta", "messenger", "123", None)


def test_outside_the_window_the_reporter_gets_email_when_they_gave_one() -> None:
    late = NOW - timedelta(hours=25)
    t = choose_target(contact(channel="instagram", handle="123", email="ann@example.org", last_inbound_at=late), NOW,
                      WINDOW_H)
    assert t is not None and (t.route, t.channel, t.address, t.blocked) == ("email", "email", "ann@example.org", None)


def test_outside_the_window_without_another_channel_the_notice_is_suppressed_with_the_reason() -> None:
    late = NOW - timedelta(hours=25)
    t = choose_target(contact(channel="messenger", handle="123", last_inbound_at=late), NOW, WINDOW_H)
    assert t is not None and t.route == "meta" and t.blocked and "24 h reply window" in t.blocked


def test_a_mastodon_reporter_is_answered_on_mastodon_whatever_the_time() -> None:
    t = choose_target(contact(channel="mastodon", handle="@ann@social.example",
                              last_inbound_at=NOW - timedelta(days=9)), NOW, WINDOW_H)
    assert t is not None and (t.route, t.address, t.blocked) == ("mastodon", "@ann@social.example", None)


def test_a_contact_with_no_address_for_any_channel_has_no_target() -> None:
    assert choose_target(contact(channel="web"), NOW, WINDOW_H) is None


def test_the_window_block_comes_first_then_the_opt_out_then_the_bounce() -> None:
    free = Target("twilio", "sms", "+16135550123", Pii(phone="+16135550123"))
    late = Target("meta", "messenger", "123", Pii(handle="123"), blocked="outside the window")
    assert suppression(free, opted_out=None, undeliverable=None) is None
    assert suppression(late, opted_out="opted out (keyword STOP)", undeliverable="x") == "outside the window"
    assert suppression(free, opted_out="opted out (keyword STOP)", undeliverable="x") == "opted out (keyword STOP)"
    assert suppression(free, opted_out=None, undeliverable="5.1.1 " + "x" * 600) == ("undeliverable: 5.1.1 " +
                                                                                     "x" * 600)[:500]
