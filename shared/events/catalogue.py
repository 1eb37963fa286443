"""Version 1 of every omni311 event payload (DESIGN.md "Events"), with Open311 field names.

Personal data (email, phone, handle, name) sits under one `pii` object so that it can be masked in
logs and listed per event in the registry. Adding an optional field keeps the version; anything else is a
new class with `schema_version = 2` published alongside this one.
"""

from __future__ import annotations

from typing import Any, Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from shared.events.envelope import EventData

Channel = Literal["open311", "web", "email", "sms", "voice", "phone", "whatsapp", "messenger", "instagram", "mastodon"]
Status = Literal["open", "closed"]


class Pii(BaseModel):
    """Personal data of a reporter: every field here is masked in logs and listed as PII in the registry."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    email: str | None = None
    phone: str | None = None
    handle: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    name: str | None = None

    def is_empty(self) -> bool:
        return not any(self.model_dump().values())


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


class CaseFields(EventData):
    """Fields shared by the case events that carry the whole report."""

    case_id: UUID
    service_request_id: str
    jurisdiction_id: str


class CaseOpened(CaseFields):
    """`case.opened` v1: a new case was opened from an intake message."""

    event_type = "case.opened"
    schema_version = 1

    channel: Channel
    channel_message_id: str
    contact_key: str
    service_code: str | None = None
    description: str = ""
    address: str | None = None
    zipcode: str | None = None
    lat: float | None = None
    long: float | None = None
    media_url: list[str] = Field(default_factory=list)
    requested_datetime: AwareDatetime
    language: str | None = None
    status: Status = "open"
    reply_to_message_id: str | None = None
    pii: Pii = Field(default_factory=Pii)


class CaseMessageAdded(CaseFields):
    """`case.message_added` v1: a further message from a reporter was threaded onto an existing case.

    `address`/`zipcode`/`lat`/`long` are set only when this message gave a case that had no location its
    location (e.g. the answer to the SMS location question): the router re-routes the case with it.
    """

    event_type = "case.message_added"
    schema_version = 1

    message_id: UUID
    channel: Channel
    channel_message_id: str
    description: str = ""
    media_url: list[str] = Field(default_factory=list)
    pii: Pii = Field(default_factory=Pii)
    address: str | None = None
    zipcode: str | None = None
    lat: float | None = Field(default=None, ge=-90, le=90)
    long: float | None = Field(default=None, ge=-180, le=180)


class RoutingFields(BaseModel):
    """What the router decided for a case (shared by `routing.decided` and `case.routed`)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    service_code: str
    service_name: str
    category_source: Literal["service_code", "keywords", "fallback"]
    agency_responsible: str
    queue: str
    priority: int = Field(ge=1, le=5)
    district: str | None = None
    sla_due_at: AwareDatetime | None = None
    rule_id: str
    config_version: str
    matched_keywords: list[str] = Field(default_factory=list)
    score: float | None = None


class RoutingDecided(EventData):
    """`routing.decided` v1, from the router: category, district, queue, priority and SLA of one case."""

    event_type = "routing.decided"
    schema_version = 1

    case_id: UUID
    routing: RoutingFields


class CaseRouted(CaseFields):
    """`case.routed` v1: the case service applied a routing decision.

    Carries the location, text and opening time so that the duplicate detector needs nothing else.
    """

    event_type = "case.routed"
    schema_version = 1

    routing: RoutingFields
    description: str = ""
    lat: float | None = None
    long: float | None = None
    requested_datetime: AwareDatetime


class DedupDecided(EventData):
    """`dedup.decided` v1, from the duplicate detector: `case_id` looks like a duplicate of `duplicate_of`.

    `distance_m` in metres; `text_similarity` and `score` in [0, 1].
    """

    event_type = "dedup.decided"
    schema_version = 1

    case_id: UUID
    duplicate_of: UUID
    score: float = Field(ge=0, le=1)
    distance_m: float = Field(ge=0)
    text_similarity: float = Field(ge=0, le=1)
    window_hours: float
    radius_m: float
    evidence: dict[str, Any] = Field(default_factory=dict)


class CaseMerged(CaseFields):
    """`case.merged` v1: this case was merged into `merged_into` (which stays open) and is now closed."""

    event_type = "case.merged"
    schema_version = 1

    merged_into: UUID
    merged_into_service_request_id: str
    status_notes: str


class CaseStatusChanged(CaseFields):
    """`case.status_changed` v1: staff changed the Open311 status of a case (e.g. closed it)."""

    event_type = "case.status_changed"
    schema_version = 1

    status: Status
    status_notes: str | None = None


class NotificationOutcome(EventData):
    """`notification.recorded` v1, from the notifier: one attempt to tell a reporter something.

    `recipient_key` is a non-reversible key of the address; the address itself is PII.
    """

    event_type = "notification.recorded"
    schema_version = 1

    case_id: UUID
    cause_event_id: UUID
    kind: Literal["acknowledgement", "merged", "status_changed", "closed"]
    channel: Channel
    recipient_key: str
    outcome: Literal["sent", "failed", "suppressed"]
    reason: str | None = None
    provider_message_id: str | None = None
    pii: Pii = Field(default_factory=Pii)
    # Set when this record reports what the provider later said of a message already sent (a Twilio
    # status callback, a WhatsApp status): `outcome` is then "sent" (queued/sent/delivered/read) or "failed".
    delivery_status: Literal["pending", "sent", "delivered", "read", "failed"] | None = None


MessagingChannel = Literal["sms", "whatsapp"]


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


ALL_EVENTS: tuple[type[EventData], ...] = (
    MessageReceived,
    BounceReceived,
    CaseOpened,
    CaseMessageAdded,
    RoutingDecided,
    CaseRouted,
    DedupDecided,
    CaseMerged,
    CaseStatusChanged,
    NotificationOutcome,
    OptOutReceived,
    OptInReceived,
    MessageStatusReceived,
    DeliveryStatusReceived,
)
