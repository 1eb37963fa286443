"""Draft of the event a WhatsApp status becomes, until it is added to the shared catalogue.

`intake.delivery_status_received` v1 would travel on `intake.messages` keyed by the recipient's
`contact_key` (same formula as their messages, so it orders with them), produced by intake_social (and
later intake_sms_voice for Twilio status callbacks) and consumed by the notifier, which owns
deliveries: it marks the delivery sent/delivered/read/failed by `provider_message_id`, and on
``failed`` falls back to another channel the reporter gave. `conversation_expires_at` is WhatsApp's
end of the customer-service window, the notifier's limit for free-form replies. This mirrors
`intake.bounce_received` (a failed email delivery on the same topic, consumed by the notifier).
Until then intake_social logs and counts these; nothing is published.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from shared.events import EventData, Pii
from shared.events.catalogue import Channel

DeliveryStatus = Literal["sent", "delivered", "read", "failed"]


class ProviderError(BaseModel):
    """One error the platform reported for a delivery (WhatsApp Cloud API error `code` and `title`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    code: str
    title: str = ""
    detail: str | None = None


class DeliveryStatusReceived(EventData):
    """`intake.delivery_status_received` v1 (draft): the platform reports what became of a message we sent.

    `provider_message_id` is the platform's id of our message (the wamid the Send API returned, which
    the notifier recorded as `provider_message_id`); `reported_at` is the platform's time of the status
    (UTC); `received_at` when we received the webhook. The recipient's id is personal data (`pii.handle`,
    and `pii.phone` when it is a phone number).
    """

    event_type = "intake.delivery_status_received"
    schema_version = 1

    channel: Channel
    provider_message_id: str = Field(min_length=1, max_length=998)
    contact_key: str = Field(min_length=1)
    status: DeliveryStatus
    reported_at: AwareDatetime
    received_at: AwareDatetime
    errors: list[ProviderError] = Field(default_factory=list)
    conversation_id: str | None = None
    conversation_expires_at: AwareDatetime | None = None
    pricing_category: str | None = None
    pii: Pii = Field(default_factory=Pii)
