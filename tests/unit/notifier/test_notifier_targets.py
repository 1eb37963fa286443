"""Where a notice goes for a stored contact: the resident's channel, Meta's reply window, the email fallback."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from services.notifier.service_layer.handlers import Deps, _target

NOW = datetime(2026, 3, 14, 15, 0, tzinfo=UTC)
DEPS = Deps(pool=None, send_email=None, mail_from="city@omni311.test", mail_from_name="City 311")  # type: ignore[arg-type]


def contact(**kw: Any) -> dict[str, Any]:
    return {"channel": "email", "channel_message_id": "x", "phone": None, "handle": None, "email": None,
            "last_inbound_at": NOW - timedelta(minutes=5)} | kw


def test_an_sms_reporter_is_answered_by_sms_and_a_twilio_whatsapp_one_by_whatsapp() -> None:
    t = _target(DEPS, contact(channel="sms", phone="+16135550123"), NOW)
    assert t is not None and (t.route, t.channel, t.address, t.blocked) == ("twilio", "sms", "+16135550123", None)
    t = _target(DEPS, contact(channel="whatsapp", channel_message_id="SM1", phone="+16135550123"), NOW)
    assert t is not None and (t.route, t.channel) == ("twilio", "whatsapp")


def test_a_messenger_reporter_inside_the_window_is_answered_on_messenger() -> None:
    t = _target(DEPS, contact(channel="messenger", handle="123", email="ann@example.org"), NOW)
    assert t is not None and (t.route, t.channel, t.address, t.blocked) == ("meta", "messenger", "123", None)


def test_outside_the_window_the_reporter_gets_email_when_they_gave_one() -> None:
    late = NOW - timedelta(hours=25)
    t = _target(DEPS, contact(channel="instagram", handle="123", email="ann@example.org", last_inbound_at=late), NOW)
    assert t is not None and (t.route, t.channel, t.address, t.blocked) == ("email", "email", "ann@example.org", None)


def test_outside_the_window_without_another_channel_the_notice_is_suppressed_with_the_reason() -> None:
    late = NOW - timedelta(hours=25)
    t = _target(DEPS, contact(channel="messenger", handle="123", last_inbound_at=late), NOW)
    assert t is not None and t.route == "meta" and t.blocked and "24 h reply window" in t.blocked


def test_a_mastodon_reporter_is_answered_on_mastodon_whatever_the_time() -> None:
    t = _target(DEPS, contact(channel="mastodon", handle="@ann@social.example", last_inbound_at=NOW - timedelta(days=9)),
                NOW)
    assert t is not None and (t.route, t.address, t.blocked) == ("mastodon", "@ann@social.example", None)


def test_a_contact_with_no_address_for_any_channel_has_no_target() -> None:
    assert _target(DEPS, contact(channel="web"), NOW) is None
