"""Notification events (topic `notifications.outcomes`, keyed by `case_id`): what the notifier did, v1."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import Field

from shared.events.common import Channel, Pii
from shared.events.declaration import event
from shared.events.envelope import EventData
from shared.events.topics import NOTIFICATIONS_OUTCOMES


@event(
    topic=NOTIFICATIONS_OUTCOMES,
    producers=("notifier",),
    consumers=("case",),
    example={
        "case_id": "6f1c8f5e-2f7a-4c55-9b1e-0d1f2a3b4c5d", "cause_event_id": "0b7a1a2c-3d4e-4f50-8a6b-7c8d9e0f1a2b",
        "kind": "acknowledgement", "channel": "email", "recipient_key": "rk:9d2e", "outcome": "sent",
        "provider_message_id": "<ack-1@omni311.test>", "pii": {"email": "ann.dupont@example.org"},
    },
)
class NotificationRecorded(EventData):
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
    # What was told when `kind` (the v1 values) is only the nearest one: a staff member's public update
    # or reply and a workflow status notice come as `status_changed` (or `closed`), the undoing of a merge
    # as `merged`, an escalation email to a supervisor (staff, not a resident) as `status_changed`.
    notice: Literal["public_update", "reply", "unmerged", "escalation"] | None = None

