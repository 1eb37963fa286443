"""Inbound texts (SMS, MMS, WhatsApp through Twilio) and provider status callbacks, read from the webhook
form into plain values, and the intake events made from them.

Twilio's inbound message webhook: ``MessageSid``, ``AccountSid``, ``From``, ``To``, ``Body``,
``NumMedia`` with ``MediaUrl<n>``/``MediaContentType<n>``, and for WhatsApp ``ButtonText``,
``ExternalUserId``, ``Latitude``/``Longitude``. Status callbacks: ``MessageSid``, ``MessageStatus``,
``ErrorCode``, ``To``.
"""

from __future__ import annotations

import base64
import binascii
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal
from uuid import NAMESPACE_URL, UUID, uuid5

from services.intake_sms_voice.domain.contacts import Sender, channel_of, contact_key, e164, sender_of
from shared.events import MessageStatusReceived
from services.intake_sms_voice.domain.location import Contains, Location, shared_location
from shared.events import MessageReceived

MAX_MEDIA = 10
"""Twilio delivers at most 10 media items per message."""

SID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
"""Twilio sids are two letters and 32 hex digits (``SM...``, ``CA...``, ``RE...``); accept any short token."""


class InvalidWebhook(ValueError):
    """A signed request that is not the webhook it was sent to (e.g. no MessageSid): answered 400."""


@dataclass(frozen=True)
class Media:
    """A file attached to an MMS/WhatsApp message: Twilio's URL for it (MediaUrlN) and its MIME type
    (MediaContentTypeN) when given."""

    url: str
    content_type: str | None = None


@dataclass(frozen=True)
class InboundText:
    """One inbound SMS/MMS/WhatsApp message as the resident sent it."""

    message_sid: str
    channel: Literal["sms", "whatsapp"]
    sender: Sender
    to: str
    body: str
    media: tuple[Media, ...] = ()
    shared: Location | None = None
    account_sid: str | None = None
    message_type: str | None = None
    """Twilio's ``MessageType`` (WhatsApp: ``text``, ``image``, ``location``, ``unsupported``...), lower case."""

    def contact_key(self) -> str:
        """The sender's `intake.messages` partition key (the MessageSid's own when no number is known)."""
        return self.sender.contact_key(fallback=self.message_sid, channel=self.channel)


def _sid(params: Mapping[str, str], *names: str) -> str:
    for name in names:
        value = (params.get(name) or "").strip()
        if value:
            if not SID_RE.match(value):
                raise InvalidWebhook(f"{name} is not a Twilio sid")
            return value
    raise InvalidWebhook(f"field {names[0]} is required")


def possibly_base64(text: str) -> str:
    """Twilio sometimes hands a concatenated SMS over base64-encoded: decode a body that is clearly that.

    Same test as nyaruka/courier's ``DecodePossibleBase64``: at least 60 characters once CR/LF are
    removed, a multiple of 4, only base64 characters (padding at the end), strict decoding, and the
    decoded text (invalid UTF-8 dropped) at least half ASCII; and, stricter than courier, no control
    characters besides line breaks and tabs (``AAAA...`` is text, not NUL bytes). Anything else is
    returned unchanged.
    """
    stripped = text.replace("\r", "").replace("\n", "").strip()
    if len(stripped) < 60 or len(stripped) % 4 or not re.fullmatch(r"[A-Za-z0-9+/]+={0,2}", stripped):
        return text
    try:
        raw = base64.b64decode(stripped, validate=True)
    except (binascii.Error, ValueError):
        return text
    decoded = raw.decode("utf-8", errors="ignore")
    if not decoded or sum(1 for c in decoded if ord(c) <= 127) / len(decoded) < 0.5:
        return text
    if any(unicodedata.category(c) == "Cc" and c not in "\n\r\t" for c in decoded):
        return text
    return decoded


def parse_inbound(params: Mapping[str, str], *, forced_channel: Literal["sms", "whatsapp"] | None = None,
                  default_region: str = "US", contains: Contains | None = None) -> InboundText:
    """The message in a Twilio inbound-message webhook form (first value of each field). `contains` (the
    jurisdiction's) puts a shared point through the one location check (`location.shared_location`).

    WhatsApp quick-reply buttons send their label in ``ButtonText``, which is the resident's answer;
    on SMS that field is ignored. Raises `InvalidWebhook` when ``MessageSid`` or ``From`` is missing.
    """
    sid = _sid(params, "MessageSid", "SmsMessageSid", "SmsSid")
    from_ = (params.get("From") or "").strip()
    if not from_:
        raise InvalidWebhook("field From is required")
    to = (params.get("To") or "").strip()
    channel = channel_of(from_, to, forced=forced_channel)
    body = possibly_base64(params.get("Body") or "")
    if channel == "whatsapp" and (params.get("ButtonText") or "").strip():
        body = params["ButtonText"].strip()
    try:
        count = max(0, min(int(params.get("NumMedia") or 0), MAX_MEDIA))
    except ValueError:
        count = 0
    media = tuple(
        Media(url=params[f"MediaUrl{i}"].strip(), content_type=params.get(f"MediaContentType{i}") or None)
        for i in range(count) if (params.get(f"MediaUrl{i}") or "").strip()
    )
    return InboundText(
        message_sid=sid, channel=channel,
        sender=sender_of(from_, external_user_id=params.get("ExternalUserId"), default_region=default_region),
        to=to, body=body.strip(), media=media, shared=shared_location(params, contains=contains),
        account_sid=params.get("AccountSid") or None,
        message_type=(params.get("MessageType") or "").strip().lower()[:40] or None,
    )


def event_id_for(kind: str, *sid: str) -> UUID:
    """The event id of what one provider id produced: a provider retry republishes the very same event
    (the case service's inbox drops it), like `services/intake_web` does for an Open311 token.
    `kind` names the event family (``message``, ``opt_out``, ``status``...), `sid` the provider ids."""
    return uuid5(NAMESPACE_URL, f"omni311:twilio-{kind}:{':'.join(sid)}")


@dataclass(frozen=True)
class TextReport:
    """What to publish for a text that is a report (or part of one)."""

    location: Location | None
    awaiting_location: bool = False
    in_reply_to: tuple[str, ...] = ()
    case_number_hint: str | None = None
    language: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    description: str | None = None
    """The description to publish when not the text as received (a "NEW" word removed, a contact card's text)."""


def message_from_text(msg: InboundText, report: TextReport, *, now: datetime) -> MessageReceived:
    """The `intake.message_received` payload of an inbound text (channel ``sms`` or ``whatsapp``)."""
    loc = report.location
    attributes = dict(report.attributes)
    if report.awaiting_location:
        attributes["awaiting_location"] = True
    if loc is not None:
        attributes["location_source"] = loc.source
        if loc.check is not None:
            attributes["location_check"] = loc.check
    if msg.media:
        attributes["media_content_types"] = [m.content_type for m in msg.media]
    return MessageReceived(
        channel=msg.channel,
        channel_message_id=msg.message_sid,
        contact_key=msg.contact_key(),
        received_at=now,
        description=msg.body if report.description is None else report.description,
        address=loc.address if loc else None,
        lat=loc.lat if loc else None,
        long=loc.long if loc else None,
        media_url=[m.url for m in msg.media],
        requested_datetime=now,
        language=report.language,
        attributes=attributes,
        in_reply_to=list(report.in_reply_to),
        case_number_hint=report.case_number_hint,
        pii=msg.sender.pii(),
    )


# --- status callbacks ---------------------------------------------------------------------------------

STATUS_OUTCOME: dict[str, Literal["pending", "sent", "delivered", "read", "failed"]] = {
    "accepted": "pending", "scheduled": "pending", "queued": "pending", "sending": "pending",
    "sent": "sent", "delivered": "delivered", "read": "read", "partially_delivered": "delivered",
    "undelivered": "failed", "failed": "failed", "canceled": "failed",
}
"""Twilio ``MessageStatus`` values (Programmable Messaging) and what they mean for a delivery."""

OPTED_OUT_ERROR = 21610
"""Twilio error 21610: "Attempt to send to unsubscribed recipient" (the number texted STOP to the carrier)."""


@dataclass(frozen=True)
class StatusReport:
    """An outbound message's status callback: its MessageSid, status (Twilio's, lower case), error code,
    channel, and the recipient (E.164 of ``To``, when given)."""

    message_sid: str
    status: str
    error_code: int | None
    channel: Literal["sms", "whatsapp"]
    recipient: str | None  # E.164 of ``To`` when given

    @property
    def opted_out(self) -> bool:
        """The carrier refused the message because the recipient opted out (Twilio error 21610)."""
        return self.error_code == OPTED_OUT_ERROR

    def contact_key(self) -> str:
        """The recipient's partition key (the MessageSid's own when no number is known)."""
        return contact_key(phone=self.recipient, handle=None, fallback=self.message_sid, channel="status")


def parse_status(params: Mapping[str, str], *, default_region: str = "US") -> StatusReport | None:
    """A message status callback, or None when it names no message or status (ignored, as Twilio may
    post empty pings). Raises `InvalidWebhook` for a status Twilio does not define and for a sid that is
    not one (`SID_RE`: 30 000 '/' made an event its schema refused, answered 503 so Twilio sent it again).
    """
    sid = (params.get("MessageSid") or params.get("SmsSid") or "").strip()
    status = (params.get("MessageStatus") or params.get("SmsStatus") or "").strip().lower()
    if not sid or not status:
        return None
    if not SID_RE.match(sid):
        raise InvalidWebhook("MessageSid is not a Twilio sid")
    if status not in STATUS_OUTCOME:
        raise InvalidWebhook(f"unknown status '{status}', must be one of {', '.join(sorted(STATUS_OUTCOME))}")
    try:
        code = int(params["ErrorCode"]) if (params.get("ErrorCode") or "").strip() else None
    except ValueError:
        code = None
    to = (params.get("To") or "").strip()
    return StatusReport(message_sid=sid, status=status, error_code=code or None,
                        channel=channel_of(params.get("From") or "", to), recipient=e164(to, default_region))


def status_event(report: StatusReport, *, now: datetime) -> MessageStatusReceived:
    """The `intake.message_status_received` of a status callback received at `now` (UTC), its outcome
    from `STATUS_OUTCOME`."""
    return MessageStatusReceived(
        channel=report.channel, provider_message_id=report.message_sid, contact_key=report.contact_key(),
        received_at=now, status=report.status, outcome=STATUS_OUTCOME[report.status],
        error_code=report.error_code, pii=Sender(phone=report.recipient).pii(),
    )
