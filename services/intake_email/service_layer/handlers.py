"""Ingest one raw message from the mailbox: keep the bytes, decide what it is, publish what follows.

Consumes raw RFC 5322 messages (from the IMAP watcher); produces `intake.message_received` (a
resident's message) and `intake.bounce_received` (one per permanently failed recipient of a bounce)
through the outbox. One transaction per message: cursor claim, raw bytes (stored before parsing),
outcome, media, outbox rows and cursor advance (a unit of work on `adapters.repository.MailRepository`),
so a message is never lost and never published twice. Auto-replies and reports are kept with their reason
and publish nothing (RFC 3834: never answered).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from services.intake_email.adapters import repository as repo
from services.intake_email.adapters.repository import MailRepository
from services.intake_email.config import SERVICE
from services.intake_email.domain import (
    Attachment,
    ParsedEmail,
    authenticity,
    classify,
    contact_key,
    detect_language,
    is_forward,
    new_text,
    parse_message,
    to_intake,
)
from shared.events import BounceReceived, Envelope, MessageReceived, Pii
from shared.logs import get_logger
from shared.service_layer import UnitOfWork

log = get_logger(__name__)


@dataclass(frozen=True)
class Deps:
    """`pool`: the service's asyncpg pool (the watcher's cursor reads, and each message's unit of work);
    `mailbox`: the cursor key; `authserv_id`: our mail server's id in Authentication-Results;
    `own_addresses`: the city's own addresses (case-folded), whose mail is a loop, never a report;
    `media_url`: the public URL of a stored image; `unit_of_work(now)`: one message's unit of work, by
    default PostgreSQL's on `pool` (tests pass an in-memory one)."""

    pool: Any
    mailbox: str
    authserv_id: str
    own_addresses: frozenset[str]
    media_url: Callable[[UUID], str]
    unit_of_work: Callable[[datetime], UnitOfWork[MailRepository]] | None = None

    def transaction(self, now: datetime) -> UnitOfWork[MailRepository]:
        return self.unit_of_work(now) if self.unit_of_work is not None else repo.unit_of_work(self.pool, now)


@dataclass
class Media:
    media_id: UUID
    attachment: Attachment


@dataclass
class Decision:
    """What one raw message is, and what to publish and keep for it."""

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


def decide(raw: bytes, deps: Deps, now: datetime) -> tuple[ParsedEmail | None, Decision]:
    """Parse, classify and build the events of one message (no I/O). Never raises: a failure of any
    step makes the message 'unparseable' with the error in `problems` (the raw bytes are kept)."""
    try:
        parsed = parse_message(raw)
    except Exception as exc:  # noqa: BLE001 - parse_message promises not to raise; a bug must not block the mailbox
        return None, Decision("unparseable", "parser error", problems=[f"{type(exc).__name__}: {exc}"[:300]])
    decision = Decision("pending", "", message_id=parsed.message_id, problems=list(parsed.problems))
    try:
        _decide(parsed, deps, now, decision)
    except Exception as exc:  # noqa: BLE001 - same: keep it, show it, go on with the next message
        decision.kind, decision.reason = "unparseable", "could not build the intake event"
        decision.problems.append(f"{type(exc).__name__}: {exc}"[:300])
        decision.envelopes.clear()
        decision.media.clear()
    return parsed, decision


def _decide(parsed: ParsedEmail, deps: Deps, now: datetime, d: Decision) -> None:
    if any(p.startswith("unparseable message") for p in parsed.problems):
        d.kind, d.reason = "unparseable", "the message could not be read"
        return
    d.sender_authenticated = authenticity(parsed, deps.authserv_id)
    d.attachments = [{"filename": a.filename, "content_type": a.content_type, "size": len(a.content),
                      "publishable": a.publishable} for a in parsed.attachments]
    verdict = classify(parsed)
    d.kind, d.reason = verdict.kind, verdict.reason
    sender = (parsed.from_addr.address if parsed.from_addr else "").strip().casefold()
    if verdict.kind == "message" and sender and sender in deps.own_addresses:
        d.kind, d.reason = "own", "sent from the city's own address (a mail loop)"
        return
    if verdict.kind == "bounce":
        _bounce(parsed, verdict.failed_recipients, verdict.transient, deps, now, d)
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
    urls = [deps.media_url(m.media_id) for m in d.media if m.attachment.publishable]
    text = new_text(parsed.text, forward=is_forward(parsed.subject))
    message = to_intake(parsed, text, now, detect_language(text or parsed.subject), urls)
    message = MessageReceived.model_validate({**message.model_dump(), "sender_authenticated": d.sender_authenticated})
    d.envelopes.append(Envelope.new_flow(
        message, subject=message.contact_key, producer=SERVICE, now=now,
        event_id=uuid5(NAMESPACE_URL, f"omni311:email:{parsed.message_id}"),
    ))


def _bounce(parsed: ParsedEmail, failed: tuple[str, ...], transient: bool, deps: Deps, now: datetime,
            d: Decision) -> None:
    if transient:
        d.reason += "; delivery only delayed, address kept"
        return
    recipients = [a for a in failed if a.casefold() not in deps.own_addresses]
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
            event, subject=event.contact_key, producer=SERVICE, now=now,
            event_id=uuid5(NAMESPACE_URL, f"omni311:email-bounce:{parsed.message_id}:{address.casefold()}"),
        ))


async def ingest(deps: Deps, *, uidvalidity: int, uid: int, raw: bytes, now: datetime) -> str:
    """Ingest the message `uid` of mailbox generation `uidvalidity`, exactly once.

    Returns the kind recorded ("message", "bounce", "auto_reply", "report", "duplicate", "own",
    "unparseable") or "already_ingested" when the cursor is past `uid`. Raises only database errors
    (the transaction is then rolled back and the message is fetched again later).
    """
    async with deps.transaction(now) as uow:
        mail = uow.repo
        if not await mail.claim_uid(deps.mailbox, uidvalidity, uid):
            return "already_ingested"
        row_id = await mail.store_raw(deps.mailbox, uidvalidity, uid, raw, now)
        _parsed, decision = await asyncio.to_thread(decide, raw, deps, now)
        if decision.message_id and decision.kind != "unparseable":
            earlier = await mail.earlier_with_message_id(decision.message_id, row_id)
            if earlier is not None:
                decision = Decision("duplicate", f"Message-ID already ingested (raw message {earlier})",
                                    message_id=decision.message_id, problems=decision.problems,
                                    sender_authenticated=decision.sender_authenticated,
                                    attachments=decision.attachments)
        for m in decision.media:
            a = m.attachment
            await mail.store_media(media_id=m.media_id, raw_message_id=row_id, filename=a.filename,
                                   content_type=a.content_type, content=a.content, publishable=a.publishable,
                                   now=now)
        for env in decision.envelopes:
            await mail.add_to_outbox(env)
        await mail.record_outcome(row_id, message_id=decision.message_id, kind=decision.kind,
                                  reason=decision.reason, problems=decision.problems,
                                  sender_authenticated=decision.sender_authenticated,
                                  attachments=decision.attachments, event_ids=[e.event_id for e in decision.envelopes])
        await mail.advance(deps.mailbox, uid, now)
    # Reasons and problems may quote a subject or a file name (personal data): only their rule goes to
    # the logs; the whole text is on the stored message (/messages, /problems).
    fields = {"uid": uid, "uidvalidity": uidvalidity, "kind": decision.kind,
              "reason": decision.reason.split(":", 1)[0], "events": len(decision.envelopes),
              "media": len(decision.media)}
    if decision.kind == "unparseable" or decision.problems:
        log.warning("email_ingested_with_problems", problems=[p.split(":", 1)[0] for p in decision.problems[:5]],
                    raw_message=row_id, **fields)
    else:
        log.info("email_ingested", raw_message=row_id, **fields)
    return decision.kind
