"""Who wrote or called: Twilio addresses (phone numbers, ``whatsapp:+E.164``, WhatsApp user ids) as
E.164 personal data and a stable, non-reversible contact key."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal


from shared.contacts import anonymous_contact_key
from shared.contacts import contact_key as shared_contact_key
from shared.contacts import e164 as shared_e164
from shared.events import Pii

WHATSAPP_PREFIX = "whatsapp:"

BSUID_RE = re.compile(r"^[A-Z]{2}\.[A-Za-z0-9]{1,64}$")
"""A WhatsApp business-scoped user id as Twilio sends it in ``ExternalUserId`` or ``From``
(``whatsapp:US.1234``): country code, a dot, an opaque id. Anything else is ignored."""

ANONYMOUS_CALLERS = frozenset({"anonymous", "restricted", "unknown", "unavailable", "private", "+266696687",
                               "266696687"})
"""Caller ids Twilio uses for a withheld number ("+266696687" spells ANONYMOUS on a keypad)."""


@dataclass(frozen=True)
class Sender:
    """The resident behind a webhook: `phone` in E.164 when known, `handle` a WhatsApp user id."""

    phone: str | None
    handle: str | None = None

    def pii(self) -> Pii:
        """The sender's personal data as events carry it (`pii.phone`, `pii.handle`)."""
        return Pii(phone=self.phone, handle=self.handle)

    def contact_key(self, *, fallback: str, channel: str) -> str:
        """The `intake.messages` partition key (see `contact_key`)."""
        return contact_key(phone=self.phone, handle=self.handle, fallback=fallback, channel=channel)


def contact_key(*, phone: str | None, handle: str | None, fallback: str, channel: str) -> str:
    """``ck_`` + hash of the E.164 number, so that a resident's texts, calls and web reports (which hash
    ``phone:<number>`` the same way) share one key and keep their order. Without a number, the hash of
    the WhatsApp user id; with neither (withheld caller id), a key of the message itself (`fallback`,
    e.g. the CallSid), which orders with nothing else.
    """
    if phone:
        return shared_contact_key("phone", phone)
    if handle:
        return shared_contact_key("account", f"whatsapp:{handle}")
    return anonymous_contact_key(channel, fallback)


def e164(raw: str | None, default_region: str = "US") -> str | None:
    """The number in E.164 (``+14133881111``), or None for short codes, withheld ids and non-numbers:
    `shared.contacts.e164` after the ``whatsapp:`` prefix and Twilio's withheld-caller ids are removed."""
    if raw is None:
        return None
    text = raw.strip()
    if text.lower().startswith(WHATSAPP_PREFIX):
        text = text[len(WHATSAPP_PREFIX):]
    if text.lower() in ANONYMOUS_CALLERS:
        return None
    return shared_e164(text, default_region)


def channel_of(from_: str, to: str, *, forced: Literal["sms", "whatsapp"] | None = None) -> Literal["sms", "whatsapp"]:
    """``whatsapp`` when either address carries the ``whatsapp:`` prefix (or the route says so), else ``sms``."""
    if forced:
        return forced
    if from_.lower().startswith(WHATSAPP_PREFIX) or to.lower().startswith(WHATSAPP_PREFIX):
        return "whatsapp"
    return "sms"


def bsuid(raw: str | None) -> str | None:
    """The WhatsApp user id in ``whatsapp:US.1234`` (or ``US.1234``), or None when it is not one."""
    if not raw:
        return None
    text = raw.strip()
    if text.lower().startswith(WHATSAPP_PREFIX):
        text = text[len(WHATSAPP_PREFIX):]
    return text if BSUID_RE.match(text) else None


def sender_of(from_: str, *, external_user_id: str | None = None, default_region: str = "US") -> Sender:
    """The sender of an inbound message or call from Twilio's ``From`` (and WhatsApp ``ExternalUserId``).

    ``From`` may be a phone number, ``whatsapp:+E.164`` or, for WhatsApp users who hide their number,
    ``whatsapp:<user id>``. An ``ExternalUserId`` that is not a user id is ignored.
    """
    phone = e164(from_, default_region)
    handle = bsuid(external_user_id) or (None if phone else bsuid(from_))
    return Sender(phone=phone, handle=handle)
