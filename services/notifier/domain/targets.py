"""Where a notice goes for a stored contact, and what keeps it from going: the resident's own channel,
Meta's reply window with its email fallback, opt-outs and bounced addresses. Pure: `now` is passed in."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from services.notifier.domain.channels import Route, route_for, within_reply_window
from services.notifier.domain.model import Contact
from services.notifier.domain.profiles import preferred_address
from shared.events import MessageUnsupported, Pii

REASON_MAX = 500
"""Characters kept of a reason recorded on a delivery (`deliveries.reason`, `notification.recorded`)."""


@dataclass(frozen=True)
class Target:
    """One address to send a notice to.

    `route` is the sender (twilio, meta, mastodon, email); `channel` the channel recorded on the
    delivery (email, sms, whatsapp, messenger, instagram, mastodon); `address` the phone, handle or email;
    `pii` the same address as the event's personal data; `blocked` why nothing may be sent there (the
    notice is then recorded `suppressed` with that reason), None when it may go.
    """

    route: Route
    channel: str
    address: str
    pii: Pii
    blocked: str | None = None


def choose_target(contact: Contact, now: datetime, reply_window_h: float = 24.0) -> Target | None:
    """The reporter's target for a notice at `now` (UTC); None when no address answers them.

    The channel they used (`route_for`); on Meta (Messenger, Instagram, WhatsApp Cloud) only within
    `reply_window_h` hours of their last message (Meta's standard messaging window): after it, email
    when they gave one, else the Meta target `blocked` with the reason. Twilio WhatsApp is recorded as
    `whatsapp`, every other Twilio answer as `sms`.
    """
    channel = contact.channel or "email"
    route = route_for(channel, channel_message_id=contact.channel_message_id, phone=contact.phone,
                      handle=contact.handle, email=contact.email)
    email = contact.email
    if route == "meta" and not within_reply_window(contact.last_inbound_at, now, reply_window_h):
        if email:
            route = "email"  # another channel the reporter gave
        else:
            handle = contact.handle or ""
            return Target("meta", channel, handle, Pii(handle=handle),
                          blocked=f"outside the platform's {reply_window_h:g} h reply window; no other channel")
    if route == "twilio" and contact.phone:
        return Target("twilio", "whatsapp" if channel == "whatsapp" else "sms", contact.phone,
                      Pii(phone=contact.phone))
    if route in ("meta", "mastodon") and contact.handle:
        return Target(route, channel, contact.handle, Pii(handle=contact.handle))
    if route == "email" and email:
        return Target("email", "email", email, Pii(email=email))
    return None


def preferred_target(contact: Contact) -> Target | None:
    """Where `contact`'s profile wants notices (docs/integrations.md section 3): its preferred channel to the
    profile's contact of that kind (`profiles.preferred_address`): ``email`` by email, ``sms`` by SMS
    through Twilio. None without a profile, a preferred channel or a contact of that kind."""
    chosen = preferred_address(contact)
    if chosen is None:
        return None
    channel, address = chosen
    if channel == "email":
        return Target("email", "email", address, Pii(email=address))
    return Target("twilio", "sms", address, Pii(phone=address))


def with_profile(usual: Target | None, preferred: Target | None, preferred_blocked: str | None) -> Target | None:
    """The target a notice goes to: the profile's `preferred` one unless it is blocked (`preferred_blocked`:
    its address opted out or bounced, `suppression`'s reason), else the `usual` one (`choose_target`), as
    before the profile."""
    return preferred if preferred is not None and preferred_blocked is None else usual


def text_request_target(unsupported: MessageUnsupported, now: datetime, reply_window_h: float = 24.0) -> Target | None:
    """Where the request to write as text answering `unsupported` goes: the same channel the message came
    on (`route_for`: Messenger, Instagram, WhatsApp Cloud through Meta; SMS and WhatsApp through Twilio;
    Mastodon), never another one; None when that channel is not a chat or text channel (email, web) or the
    event names no address there. On Meta, past `reply_window_h` hours after the message (`received_at`)
    the target is `blocked` (recorded suppressed): there is no other channel to fall back on."""
    pii = unsupported.pii
    route = route_for(unsupported.channel, channel_message_id=unsupported.channel_message_id, phone=pii.phone,
                      handle=pii.handle, email=None)
    if route == "twilio" and pii.phone:
        return Target("twilio", "whatsapp" if unsupported.channel == "whatsapp" else "sms", pii.phone,
                      Pii(phone=pii.phone))
    if route in ("meta", "mastodon") and pii.handle:
        blocked = (f"outside the platform's {reply_window_h:g} h reply window; no other channel"
                   if route == "meta" and not within_reply_window(unsupported.received_at, now, reply_window_h)
                   else None)
        return Target(route, unsupported.channel, pii.handle, Pii(handle=pii.handle), blocked=blocked)
    return None


def suppression(target: Target, *, opted_out: str | None, undeliverable: str | None) -> str | None:
    """Why a notice to `target` is suppressed, or None when it may be sent.

    In this order: the target's own block (outside the reply window), the recipient's opt-out (its
    recorded reason), a bounce of the address (``undeliverable: <bounce reason>``, at most `REASON_MAX`
    characters).
    """
    if target.blocked:
        return target.blocked
    if opted_out:
        return opted_out
    return f"undeliverable: {undeliverable}"[:REASON_MAX] if undeliverable else None
