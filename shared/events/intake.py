"""Intake events (topic `intake.messages`, keyed by the sender's `contact_key`), from the channel adapters.

Version 1 of what the adapters saw of residents (a message, a bounce, an opt-out or opt-in) and of the
fate of our own messages (provider statuses), with Open311 field names. Adding an optional field keeps
the version; anything else is a new class with `schema_version = 2`, declared alongside the first.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from shared.events.common import Channel, MessagingChannel, Pii
from shared.events.declaration import event
from shared.events.envelope import EventData
from shared.events.topics import INTAKE_MESSAGES


@event(
    topic=INTAKE_MESSAGES,
    producers=("intake_web", "intake_email", "intake_sms_voice", "intake_social"),
    consumers=("case",),
    example={
        "channel": "email", "channel_message_id": "<CAF=abc@mail.example.org>", "contact_key": "ck:3f9a1c",
        "received_at": "2025-03-14T15:09:26Z", "service_code": None, "description": "Big pothole at 12 Main St",
        "address": "12 Main St", "lat": 42.3601, "long": -71.0589, "media_url": ["https://files.example.org/p.jpg"],
        "requested_datetime": "2025-03-14T15:09:26Z", "language": "en", "attributes": {"ward": 7},
        "in_reply_to": ["<prev@mail.example.org>"],
        "pii": {"email": "ann.dupont@example.org", "phone": "+16175550123", "first_name": "Ann",
                "last_name": "Dupont"},
    },
)
class MessageReceived(EventData):
    """`intake.message_received` v1: one contact from a resident on any channel, as the adapter saw it.

    `contact_key` is the partition key: a stable, non-reversible key of the sender (hash of the channel
    address), so that order per reporter holds. `channel_message_id` is the channel's own id
    (Open311 token, Message-ID, MessageSid, mid, status id); intake is idempotent on
    (`channel`, `channel_message_id`).
    """

    event_type = "intake.message_received"
    schema_version = 1

    channel: Channel
    channel_message_id: str = Field(min_length=1, max_length=998)
    contact_key: str = Field(min_length=1)
    received_at: AwareDatetime
    service_code: str | None = None
    description: str = ""
    address: str | None = None
    address_id: str | None = None
    zipcode: str | None = None
    lat: float | None = Field(default=None, ge=-90, le=90)
    long: float | None = Field(default=None, ge=-180, le=180)
    media_url: list[str] = Field(default_factory=list)
    requested_datetime: AwareDatetime | None = None
    language: str | None = None
    attributes: dict[str, Any] = Field(default_factory=dict)
    in_reply_to: list[str] = Field(default_factory=list)
    case_number_hint: str | None = None
    agent_id: str | None = None
    client_id: str | None = None
    pii: Pii = Field(default_factory=Pii)
    # Email only: the DMARC verdict our own mail server wrote in Authentication-Results (RFC 8601), so
    # that staff see a "fail" instead of trusting it silently. None on channels without such a check.
    sender_authenticated: Literal["pass", "fail", "none"] | None = None


@event(
    topic=INTAKE_MESSAGES,
    producers=("intake_email",),
    consumers=("notifier",),
    example={
        "channel": "email", "channel_message_id": "<dsn-1@mx.example.org>", "contact_key": "ck:3f9a1c",
        "received_at": "2025-03-14T15:09:26Z", "reason": "delivery status notification", "status": "5.1.1",
        "diagnostic": "smtp; 550 5.1.1 user unknown", "pii": {"email": "ann.dupont@example.org"},
    },
)
class BounceReceived(EventData):
    """`intake.bounce_received` v1, from intake_email: mail to `pii.email` could not be delivered.

    One event per failed recipient of a bounce or delivery status notification (RFC 3464); keyed by
    the failed recipient's `contact_key` (same formula as intake), so it orders with that reporter's
    messages. `channel_message_id` is the bounce's own Message-ID; `status` the RFC 3463 code when
    the report gave one (e.g. ``5.1.1``). Only permanent failures are announced: a delayed delivery
    is not a bounce.
    """

    event_type = "intake.bounce_received"
    schema_version = 1

    channel: Channel
    channel_message_id: str = Field(min_length=1, max_length=998)
    contact_key: str = Field(min_length=1)
    received_at: AwareDatetime
    reason: str
    status: str | None = None
    diagnostic: str | None = None
    pii: Pii = Field(default_factory=Pii)


@event(
    topic=INTAKE_MESSAGES,
    producers=("intake_sms_voice",),
    consumers=("notifier",),
    example={
        "channel": "sms", "channel_message_id": "SM0123456789abcdef", "contact_key": "ck:5e1b",
        "received_at": "2025-03-14T15:09:26Z", "source": "keyword", "keyword": "ARRÊT", "language": "fr",
        "pii": {"phone": "+15145550123"},
    },
)
class OptOutReceived(EventData):
    """`intake.opt_out_received` v1, from intake_sms_voice: this resident asked for no more messages here.

    From a keyword text (`source` ``keyword``: STOP, ARRÊT...; `channel_message_id` is its MessageSid) or
    from the provider refusing one of our messages because the number opted out at the carrier
    (`source` ``provider_error``, `error_code` 21610; `channel_message_id` is the refused message's sid).
    Keyed by `contact_key` so that it orders with that resident's messages. The notifier marks the
    recipient opted out and sends nothing more there until `intake.opt_in_received`.
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


@event(
    topic=INTAKE_MESSAGES,
    producers=("intake_sms_voice",),
    consumers=("notifier",),
    example={
        "channel": "sms", "channel_message_id": "SMfedcba9876543210", "contact_key": "ck:5e1b",
        "received_at": "2025-03-14T15:09:26Z", "keyword": "START", "language": "en",
        "pii": {"phone": "+15145550123"},
    },
)
class OptInReceived(EventData):
    """`intake.opt_in_received` v1, from intake_sms_voice: the resident texted START (UNSTOP, DÉBUT...)."""

    event_type = "intake.opt_in_received"
    schema_version = 1

    channel: MessagingChannel
    channel_message_id: str = Field(min_length=1, max_length=998)
    contact_key: str = Field(min_length=1)
    received_at: AwareDatetime
    keyword: str
    language: Literal["en", "fr"] | None = None
    pii: Pii = Field(default_factory=Pii)


@event(
    topic=INTAKE_MESSAGES,
    producers=("intake_sms_voice",),
    consumers=("notifier",),
    example={
        "channel": "sms", "provider_message_id": "SM00aa11bb22cc33dd", "contact_key": "ck:5e1b",
        "received_at": "2025-03-14T15:09:26Z", "status": "undelivered", "outcome": "failed", "error_code": 21610,
        "pii": {"phone": "+15145550123"},
    },
)
class MessageStatusReceived(EventData):
    """`intake.message_status_received` v1, from intake_sms_voice: Twilio's status callback for one of our
    outbound messages.

    `provider_message_id` is the MessageSid the notifier got when sending; `status` is Twilio's
    ``MessageStatus`` (queued, sent, delivered, read, undelivered, failed...); `error_code` Twilio's
    ``ErrorCode`` when given (e.g. 30003 unreachable, 21610 opted out). `contact_key` is the
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


class ProviderError(BaseModel):
    """One error a platform reported for a delivery (WhatsApp Cloud API error `code` and `title`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    code: str
    title: str = ""
    detail: str | None = None


@event(
    topic=INTAKE_MESSAGES,
    producers=("intake_social",),
    consumers=("notifier",),
    example={
        "channel": "whatsapp", "provider_message_id": "wamid.HBgLMTUxNDU1NTAxMjMVAgARGBI=", "contact_key": "ck:77aa",
        "status": "failed", "reported_at": "2025-03-14T15:09:26Z", "received_at": "2025-03-14T15:09:26Z",
        "errors": [{"code": "131047", "title": "Re-engagement message"}],
        "pii": {"phone": "+15145550123", "handle": "15145550123"},
    },
)
class DeliveryStatusReceived(EventData):
    """`intake.delivery_status_received` v1, from intake_social: what became of a message we sent.

    `provider_message_id` is the platform's id of our message (the wamid the Send API returned, which
    the notifier recorded); `reported_at` the platform's time of the status (UTC); `received_at` when we
    received the webhook. `conversation_expires_at` is WhatsApp's end of the customer-service window.
    The recipient's id is personal data (`pii.handle`, and `pii.phone` when it is a phone number).
    """

    event_type = "intake.delivery_status_received"
    schema_version = 1

    channel: Channel
    provider_message_id: str = Field(min_length=1, max_length=998)
    contact_key: str = Field(min_length=1)
    status: Literal["sent", "delivered", "read", "failed"]
    reported_at: AwareDatetime
    received_at: AwareDatetime
    errors: list[ProviderError] = Field(default_factory=list)
    conversation_id: str | None = None
    conversation_expires_at: AwareDatetime | None = None
    pricing_category: str | None = None
    pii: Pii = Field(default_factory=Pii)


@event(
    topic=INTAKE_MESSAGES,
    producers=("intake_social",),
    consumers=("case",),
    example={
        "channel": "instagram", "channel_message_id": "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQx",
        "contact_key": "ck_3f9a1c0b7d2e4f5a6b7c8d9e0f1a2b3c", "received_at": "2025-03-14T15:09:26Z",
        "pii": {"handle": "1789012345678901"},
    },
)
class MessageWithdrawn(EventData):
    """`intake.message_withdrawn` v1, from intake_social: the resident deleted ("unsent") a message they had
    sent us (Instagram and Messenger ``message`` webhooks with ``is_deleted``). `channel_message_id` names
    the withdrawn message (the one an earlier `intake.message_received` carried). The case service removes
    its text and media from the case and from every public view and puts the deletion on the timeline; a
    withdrawal that arrives before its message is kept, and the message is then held without its words.
    """

    event_type = "intake.message_withdrawn"
    schema_version = 1

    channel: Channel
    channel_message_id: str = Field(min_length=1, max_length=998)
    contact_key: str = Field(min_length=1)
    received_at: AwareDatetime
    pii: Pii = Field(default_factory=Pii)


@event(
    topic=INTAKE_MESSAGES,
    producers=("intake_social",),
    consumers=("notifier",),
    example={
        "channel": "whatsapp", "channel_message_id": "wamid.HBgLMTUxNDU1NTAxMjMVAgASGBQzQUI=",
        "contact_key": "ck_3f9a1c0b7d2e4f5a6b7c8d9e0f1a2b3c", "received_at": "2025-03-14T15:09:26Z",
        "kind": "poll", "language": "en", "pii": {"phone": "+15145550123", "handle": "15145550123"},
    },
)
class MessageUnsupported(EventData):
    """`intake.message_unsupported` v1, from intake_social: a resident sent a kind of message we cannot read
    as a report (`kind`, the platform's own name for it: ``poll``, ``order``, ``unsupported``...). The
    message itself is kept raw by the adapter and listed to staff; this event asks the notifier to answer
    on the same channel with one short request to write the report as text (in `language`, the
    jurisdiction's first locale when None), at most once per (`channel`, `channel_message_id`).
    """

    event_type = "intake.message_unsupported"
    schema_version = 1

    channel: Channel
    channel_message_id: str = Field(min_length=1, max_length=998)
    contact_key: str = Field(min_length=1)
    received_at: AwareDatetime
    kind: str = Field(min_length=1, max_length=64)
    language: str | None = None
    pii: Pii = Field(default_factory=Pii)
