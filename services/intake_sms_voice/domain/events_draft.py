"""Draft payloads this service publishes besides `intake.message_received`, until they join the shared
catalogue (`shared/events/catalogue.py` + `registry.json`; see the service README for the exact entry).

All three travel on `intake.messages`, keyed by `contact_key` like `intake.bounce_received`, so that an
opt-out orders with that resident's messages. Consumers that do not know them (the case service today)
commit them untouched. Personal data sits under `pii` (``pii.phone``, ``pii.handle``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, Field

from shared.events import EventData, Pii

MessagingChannel = Literal["sms", "whatsapp"]


class OptOutReceived(EventData):
    """`intake.opt_out_received` v1: this resident asked for no more messages on this channel.

    From a keyword text (`source` ``keyword``: STOP, ARRÊT...; `channel_message_id` is its MessageSid) or
    from the provider refusing one of our messages because the number opted out at the carrier
    (`source` ``provider_error``, `error_code` 21610; `channel_message_id` is the refused message's sid).
    The notifier marks the contact opted out and sends nothing more there until `intake.opt_in_received`.
    """

    event_type = "intake.opt_out_received"
    schema_version = 1

    channel: MessagingChannel
    channel_message_id: str = Field(min_length=1, max_length=998)
    contact_key: str = Field(min_length=1)
    received_at: AwareDatetime
    source: Literal["keyword", "provider_error"]
    keyword: str | None = None
    error_code: int | None = None
    language: Literal["en", "fr"] | None = None
    pii: Pii = Field(default_factory=Pii)


class OptInReceived(EventData):
    """`intake.opt_in_received` v1: the resident texted START (UNSTOP, DÉBUT...): messages may resume."""

    event_type = "intake.opt_in_received"
    schema_version = 1

    channel: MessagingChannel
    channel_message_id: str = Field(min_length=1, max_length=998)
    contact_key: str = Field(min_length=1)
    received_at: AwareDatetime
    keyword: str
    language: Literal["en", "fr"] | None = None
    pii: Pii = Field(default_factory=Pii)


class MessageStatusReceived(EventData):
    """`intake.message_status_received` v1: the provider's status callback for one of our outbound messages.

    `provider_message_id` is the MessageSid the notifier got when sending; `status` is Twilio's
    ``MessageStatus`` (queued, sent, delivered, read, undelivered, failed...); `error_code` Twilio's
    ``ErrorCode`` when given (e.g. 30003 unreachable, 63018 rate limited). `contact_key` is the
    recipient's key when the callback names the recipient, else a key of the message id.
    """

    event_type = "intake.message_status_received"
    schema_version = 1

    channel: MessagingChannel
    provider_message_id: str = Field(min_length=1, max_length=998)
    contact_key: str = Field(min_length=1)
    received_at: AwareDatetime
    status: str
    outcome: Literal["pending", "sent", "delivered", "read", "failed"]
    error_code: int | None = None
    pii: Pii = Field(default_factory=Pii)


DRAFT_EVENTS: tuple[type[EventData], ...] = (OptOutReceived, OptInReceived, MessageStatusReceived)
