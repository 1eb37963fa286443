"""What one raw message is, and what to publish and keep for it: parse, classify, and build its events (no I/O).

A resident's message becomes one `intake.message_received`; a bounce one `intake.bounce_received` per
permanently failed recipient that is not the city's own address (a delay announces nothing); our own
mail coming back is a loop (`own`); auto-replies and reports publish nothing (RFC 3834: never answered); a
message without sender address, or with no subject, no new text and no attachment, is kept as `unparseable`
(listed under /problems) and publishes nothing.
Event and media ids derive from the Message-ID, so the same mail read twice decides the same ids.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from shared.events import BounceReceived, Envelope, MessageReceived, Pii

from services.intake_email.domain.classify import authenticity, classify
from services.intake_email.domain.intake import contact_key, is_forward, to_intake
from services.intake_email.domain.language import detect_language
from services.intake_email.domain.parse import Attachment, ParsedEmail, parse_message
from services.intake_email.domain.reply import new_text


@dataclass(frozen=True)
class CityMailbox:
    """What the city's mailbox knows of itself. `producer`: the service name on the envelopes;
    `authserv_id`: our mail server's id in Authentication-Results (RFC 8601), whose DMARC verdict is
    trusted; `own_addresses`: the city's own addresses (case-folded), whose mail is a loop, never a
    report; `media_url(media_id)`: the public URL of a stored image."""

    producer: str
    authserv_id: str
    own_addresses: frozenset[str]
    media_url: Callable[[UUID], str]


@dataclass
class Media:
    """An image of a message to store, under its stable id (`media_id_for`)."""

    media_id: UUID
    attachment: Attachment


@dataclass
class Decision:
    """What one raw message is (`kind`, and the rule that said so in `reason`), and what to publish
    (`envelopes`) and keep for it (`media`, a summary of each attachment, `problems` met reading it)."""

    kind: str
    reason: str
    message_id: str | None = None
    problems: list[str] = field(default_factory=list)
    sender_authenticated: str | None = None
    envelopes: list[Envelope] = field(default_factory=list)
    media: list[Media] = field(default_factory=list)
    attachments: list[dict[str, Any]] = field(default_factory=list)


def media_id_for(message_id: str, content: bytes) -> UUID:
    """Stable id of an image of a message: the same mail read twice names the same media."""
    return uuid5(NAMESPACE_URL, f"omni311:email-media:{message_id}:{hashlib.sha256(content).hexdigest()}")


def decide(raw: bytes, city: CityMailbox, now: datetime) -> tuple[ParsedEmail | None, Decision]:
    """Parse, classify and build the events of one message, received at `now` (UTC). Never raises: a
    failure of any step makes the message 'unparseable' with the error in `problems` (the raw bytes are
    kept)."""
    try:
        parsed = parse_message(raw)
    except Exception as exc:  # noqa: BLE001 - parse_message promises not to raise; a bug must not block the mailbox
        return None, Decision("unparseable", "parser error", problems=[f"{type(exc).__name__}: {exc}"[:300]])
    decision = Decision("pending", "", message_id=parsed.message_id, problems=list(parsed.problems))
    try:
        _decide(parsed, city, now, decision)
    except Exception as exc:  # noqa: BLE001 - same: keep it, show it, go on with the next message
        decision.kind, decision.reason = "unparseable", "could not build the intake event"
        decision.problems.append(f"{type(exc).__name__}: {exc}"[:300])
        decision.envelopes.clear()
        decision.media.clear()
    return parsed, decision


def _decide(parsed: ParsedEmail, city: CityMailbox, now: datetime, d: Decision) -> None:
    if any(p.startswith("unparseable message") for p in parsed.problems):
        d.kind, d.reason = "unparseable", "the message could not be read"
        return
    d.sender_authenticated = authenticity(parsed, city.authserv_id)
    d.attachments = [{"filename": a.filename, "content_type": a.content_type, "size": len(a.content),
                      "publishable": a.publishable} for a in parsed.attachments]
    verdict = classify(parsed)
    d.kind, d.reason = verdict.kind, verdict.reason
    if parsed.signatures:
        d.reason += f"; signed ({', '.join(parsed.signatures)}; not verified)"
    sender = (parsed.from_addr.address if parsed.from_addr else "").strip().casefold()
    if verdict.kind == "message" and sender and sender in city.own_addresses:
        d.kind, d.reason = "own", "sent from the city's own address (a mail loop)"
        return
    if verdict.kind == "bounce":
        _bounce(parsed, verdict.failed_recipients, verdict.transient, city, now, d)
        return
    if verdict.kind != "message":
        return
    if not sender or "@" not in sender:
        # Every mail client writes a From address; without one nobody can be answered and the bytes are
        # most likely not a resident's mail. Kept and listed under /problems for staff, no case.
        d.kind, d.reason = "unparseable", "no sender address"
        return
    for attachment in parsed.attachments:
        if attachment.is_image and attachment.content:
            d.media.append(Media(media_id_for(parsed.message_id, attachment.content), attachment))
    for item, summary in zip(parsed.attachments, d.attachments):
        match = next((m for m in d.media if m.attachment is item), None)
        summary["media_id"] = str(match.media_id) if match else None
    urls = [city.media_url(m.media_id) for m in d.media if m.attachment.publishable]
    text = new_text(parsed.text, forward=is_forward(parsed.subject))
    if not text.strip() and not parsed.subject.strip() and not parsed.attachments:
        # Nothing a case could say (quoted lines and blank HTML count as nothing): kept and listed under
        # /problems for staff, no empty case.
        d.kind, d.reason = "unparseable", "empty message: no subject, no new text and no attachment"
        return
    message = to_intake(parsed, text, now, detect_language(text or parsed.subject), urls)
    message = MessageReceived.model_validate({**message.model_dump(), "sender_authenticated": d.sender_authenticated})
    d.envelopes.append(Envelope.new_flow(
        message, subject=message.contact_key, producer=city.producer, now=now,
        event_id=uuid5(NAMESPACE_URL, f"omni311:email:{parsed.message_id}"),
    ))


def _bounce(parsed: ParsedEmail, failed: tuple[str, ...], transient: bool, city: CityMailbox, now: datetime,
            d: Decision) -> None:
    if transient:
        d.reason += "; delivery only delayed, address kept"
        return
    recipients = [a for a in failed if a.casefold() not in city.own_addresses]
    if not recipients:
        d.problems.append("bounce names no failed recipient")
        return
    for address in recipients:
        status = next((b for b in parsed.delivery_status
                       if address.casefold() in {(b.final_recipient or "").casefold(),
                                                 (b.original_recipient or "").casefold()}), None)
        event = BounceReceived(
            channel="email", channel_message_id=parsed.message_id,
            contact_key=contact_key(address, fallback=parsed.message_id), received_at=now,
            reason=d.reason[:500], status=status.status or None if status else None,
            diagnostic=status.diagnostic or None if status else None, pii=Pii(email=address),
        )
        d.envelopes.append(Envelope.new_flow(
            event, subject=event.contact_key, producer=city.producer, now=now,
            event_id=uuid5(NAMESPACE_URL, f"omni311:email-bounce:{parsed.message_id}:{address.casefold()}"),
        ))
