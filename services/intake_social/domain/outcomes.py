"""What one item of a social delivery turned out to be: a resident's message, or why it is not one.

Every item of a webhook batch or of a Mastodon poll yields exactly one outcome, so that nothing is
skipped silently: messages are published, everything else is logged and counted by `kind` and `reason`.
Also the keys every social event is built on: the reporter's contact key and the intake event id.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal
from uuid import NAMESPACE_URL, UUID, uuid5

from shared.contacts import contact_key as shared_contact_key
from shared.events import DeliveryStatusReceived, MessageReceived, MessageUnsupported, MessageWithdrawn


def contact_key(channel: str, sender_id: str) -> str:
    """A stable, non-reversible key of a sender on a channel (the `intake.messages` partition key).

    ``ck_`` + 32 hex digits of SHA-256 over ``<channel>:<sender id>`` (trimmed, case-folded: Mastodon
    handles are case-insensitive, Meta ids are digits). The same person on Messenger and on WhatsApp
    gets two keys: the platforms give no common identifier.
    """
    return shared_contact_key(channel, sender_id)


def event_id_for(channel: str, channel_message_id: str) -> UUID:
    """The intake event id of a platform message id (mid, wamid, status id).

    Meta retries a delivery it did not see answered and may put the same mid in two entries; both give
    the very same event, which the case service claims once.
    """
    return uuid5(NAMESPACE_URL, f"omni311:social-event:{channel}:{channel_message_id}")


@dataclass(frozen=True)
class Inbound:
    """A resident's message, ready to publish. `notes` are problems worth a log line that did not stop it
    (e.g. an unreadable WhatsApp Flow answer)."""

    message: MessageReceived
    notes: tuple[str, ...] = ()
    kind: Literal["message"] = "message"

    @property
    def event_id(self) -> UUID:
        """Derived from the platform's message id (`event_id_for`), so a retried delivery is one event."""
        return event_id_for(self.message.channel, self.message.channel_message_id)

    @property
    def reason(self) -> str:
        """Always ``message`` (the outcome counter's label)."""
        return "message"


@dataclass(frozen=True)
class Unsupported:
    """A resident's message of a kind we cannot read as a report (a WhatsApp ``unsupported``, ``order``,
    ``system`` or poll message, a reaction to nothing, a Messenger attachment type we do not know...).
    `raw` is the item exactly as delivered (JSON-able; it holds the sender's ids and words: personal
    data), kept by the service; `message` asks the notifier for a request to write the report as text."""

    message: MessageUnsupported
    raw: Any
    kind: Literal["unsupported"] = "unsupported"

    @property
    def event_id(self) -> UUID:
        """Derived from the platform's message id, so that Meta's retries are one event."""
        return event_id_for(self.message.channel, f"unsupported:{self.message.channel_message_id}")

    @property
    def channel(self) -> str:
        """The channel it came on."""
        return self.message.channel

    @property
    def reason(self) -> str:
        """The platform's name of the kind (the outcome counter's label)."""
        return self.message.kind


@dataclass(frozen=True)
class Withdrawn:
    """The resident deleted ("unsent") a message they had sent us (Instagram's ``message`` webhook with
    ``is_deleted``): its words must leave the case; never a new case."""

    message: MessageWithdrawn
    kind: Literal["withdrawn"] = "withdrawn"

    @property
    def event_id(self) -> UUID:
        """Derived from the withdrawn message's id, so that Meta's retries are one event."""
        return event_id_for(self.message.channel, f"withdrawn:{self.message.channel_message_id}")

    @property
    def channel(self) -> str:
        """The channel of the withdrawn message."""
        return self.message.channel

    @property
    def reason(self) -> str:
        """Always ``unsent`` (the outcome counter's label)."""
        return "unsent"


@dataclass(frozen=True)
class Ignored:
    """Something that is on purpose not a resident's message: our own echo, an opt-in, a referral, a
    group chat, a "Get started" tap, a second copy of a message in the same batch..."""

    channel: str
    reason: str
    ref: str | None = None
    kind: Literal["ignored"] = "ignored"


@dataclass(frozen=True)
class Receipt:
    """A Messenger/Instagram delivery or read receipt for messages we sent (`mids`; a read receipt
    carries a `watermark` in epoch milliseconds instead)."""

    channel: str
    receipt: Literal["delivery", "read"]
    mids: tuple[str, ...] = ()
    watermark: int | None = None
    kind: Literal["receipt"] = "receipt"

    @property
    def reason(self) -> str:
        """``delivery`` or ``read`` (the outcome counter's label)."""
        return self.receipt


@dataclass(frozen=True)
class StatusReported:
    """A WhatsApp status (sent, delivered, read, failed) of a message we sent: a delivery outcome."""

    status: DeliveryStatusReceived
    kind: Literal["status"] = "status"

    @property
    def event_id(self) -> UUID:
        """Derived from the message id and status, so that Meta's retries republish the same event."""
        return event_id_for(self.status.channel, f"status:{self.status.provider_message_id}:{self.status.status}")

    @property
    def channel(self) -> str:
        """The channel of the message the status is about (``whatsapp``)."""
        return self.status.channel

    @property
    def reason(self) -> str:
        """The status (sent, delivered, read, failed): the outcome counter's label."""
        return self.status.status


@dataclass(frozen=True)
class Rejected:
    """An item that cannot be read (no sender, a bad timestamp, an unknown status...). `where` points at
    it in the delivery (``entry[0].changes[0].messages[1]``); `detail` is safe to log (no personal data)."""

    channel: str | None
    reason: str
    where: str
    detail: str | None = None
    kind: Literal["rejected"] = "rejected"


@dataclass(frozen=True)
class NotForUs:
    """A delivery or entry addressed to another object, page or phone number than ours."""

    channel: str | None
    reason: str
    ref: str | None = None
    kind: Literal["not_for_us"] = "not_for_us"


Outcome = Inbound | Unsupported | Withdrawn | Ignored | Receipt | StatusReported | Rejected | NotForUs


@dataclass
class Summary:
    """Counts of a batch by outcome kind (the webhook's answer body)."""

    counts: dict[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, outcomes: list[Outcome]) -> Summary:
        """The counts of `outcomes` by their `kind`."""
        s = cls()
        for o in outcomes:
            s.counts[o.kind] = s.counts.get(o.kind, 0) + 1
        return s
