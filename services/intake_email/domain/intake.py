"""Build the `intake.message_received` payload of one resident email, and the `intake.bounce_received`
events of a bounce (channel ``email``)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime

from shared.contacts import anonymous_contact_key
from shared.contacts import contact_key as shared_contact_key
from shared.events import BounceReceived, MessageReceived, Pii

from services.intake_email.domain.classify import Authenticity, Classification
from services.intake_email.domain.parse import ParsedEmail

_FORWARD_SUBJECT = re.compile(r"^\s*(re\s*:\s*)*(fwd?|tr|wg|rv|enc)\s*:", re.IGNORECASE)
_HINT_BODY_LINES = 5
_MAX_HINT = 2000


def contact_key(address: str | None, *, fallback: str) -> str:
    """The partition key of a sender: a hash of the case-folded address.

    Same formula as the web channel's email key, so a resident who writes and also uses the portal
    with the same address orders as one reporter. Without an address, a key of its own from
    `fallback` (the Message-ID).
    """
    if address and address.strip():
        return shared_contact_key("email", address)
    return anonymous_contact_key("email", fallback)


def is_forward(subject: str) -> bool:
    """A subject that says the mail forwards another (Fwd:, FW:, TR:, WG:, RV:, ENC:)."""
    return bool(_FORWARD_SUBJECT.match(subject or ""))


def case_number_hint(parsed: ParsedEmail, new_text: str) -> str | None:
    """Where a case number may be quoted: the subject, the recipient addresses (our acknowledgement's
    Reply-To is ``311+NYC-26-000042@city``), then the first lines of the new text; None when empty."""
    parts = [parsed.subject]
    parts += [box.address for box in (*parsed.to, *parsed.cc) if box.address]
    parts += [line for line in new_text.splitlines() if line.strip()][:_HINT_BODY_LINES]
    hint = "\n".join(part.strip() for part in parts if part and part.strip())
    return hint[:_MAX_HINT] or None


def to_intake(parsed: ParsedEmail, new_text: str, now: datetime, language: str | None,
              media_urls: Sequence[str] = (), *, authenticity: Authenticity | None = None) -> MessageReceived:
    """The intake payload of one resident email.

    `new_text` is the reply's own text (`new_text(parsed.text)`); the subject stands in when it is
    empty. `now` (aware) is the reception time, `media_urls` the stored, metadata-free attachments
    (the adapter uploads them), `authenticity` the DMARC result of our own server ("pass", "fail",
    "none" from `authenticity()`), carried as `sender_authenticated` so staff see a "fail". `in_reply_to` carries In-Reply-To then References,
    so the case service can thread a reply to any message of the conversation.
    Raises pydantic `ValidationError` if `now` is naive.
    """
    sender = parsed.from_addr
    address = sender.address if sender and "@" in sender.address else None
    description = new_text.strip() or parsed.subject.strip()
    return MessageReceived(
        channel="email",
        channel_message_id=parsed.message_id,
        contact_key=contact_key(address, fallback=parsed.message_id),
        received_at=now,
        description=description,
        media_url=list(media_urls),
        requested_datetime=now,
        language=language,
        in_reply_to=list(dict.fromkeys([*parsed.in_reply_to, *parsed.references])),
        case_number_hint=case_number_hint(parsed, new_text),
        pii=Pii(email=address, name=(sender.name or None) if sender else None),
        sender_authenticated=authenticity,
    )


def to_bounces(parsed: ParsedEmail, verdict: Classification, now: datetime) -> list[BounceReceived]:
    """One `intake.bounce_received` per permanently failed recipient of a bounce; none for a delay
    (RFC 3464 ``Action: delayed``) or for anything that is not a bounce.

    Keyed like intake (`contact_key` of the recipient), so the notifier orders it with that
    reporter's messages; `status`/`diagnostic` come from the recipient's delivery-status block.
    """
    if verdict.kind != "bounce" or verdict.transient:
        return []
    blocks = {}
    for block in parsed.delivery_status:
        for address in (block.original_recipient, block.final_recipient):
            if address:
                blocks.setdefault(address.casefold(), block)
    events = []
    for address in verdict.failed_recipients:
        block = blocks.get(address.casefold())
        events.append(BounceReceived(
            channel="email",
            channel_message_id=parsed.message_id,
            contact_key=contact_key(address, fallback=parsed.message_id),
            received_at=now,
            reason=verdict.reason,
            status=(block.status or None) if block else None,
            diagnostic=(block.diagnostic or None) if block else None,
            pii=Pii(email=address),
        ))
    return events
