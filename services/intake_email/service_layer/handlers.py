"""Ingest one raw message from the mailbox: keep the bytes, decide what it is (`domain.decisions`), publish what follows.

Consumes raw RFC 5322 messages (from the IMAP watcher); produces `intake.message_received` (a
resident's message) and `intake.bounce_received` (one per permanently failed recipient of a bounce)
through the outbox. One transaction per message: cursor claim, raw bytes (stored before parsing),
outcome, media, outbox rows and cursor advance (a unit of work on `adapters.repository.MailRepository`),
so a message is never lost and never published twice. Auto-replies and reports are kept with their reason
and publish nothing (RFC 3834: never answered).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from services.intake_email.adapters.repository import MailRepository
from services.intake_email.config import SERVICE
from services.intake_email.domain.decisions import CityMailbox, Decision, decide
from shared.logs import get_logger
from shared.service_layer import UnitOfWork

log = get_logger(__name__)


@dataclass(frozen=True)
class Deps:
    """`mailbox`: the cursor key; `authserv_id`: our mail server's id in Authentication-Results;
    `own_addresses`: the city's own addresses (case-folded), whose mail is a loop, never a report;
    `media_url`: the public URL of a stored image; `unit_of_work(now)`: one message's unit of work on
    `MailRepository` (PostgreSQL's, bound by the entry point; tests pass an in-memory one)."""

    mailbox: str
    authserv_id: str
    own_addresses: frozenset[str]
    media_url: Callable[[UUID], str]
    unit_of_work: Callable[[datetime], UnitOfWork[MailRepository]]

    def city(self) -> CityMailbox:
        """What `domain.decisions.decide` needs to know of the city's mailbox."""
        return CityMailbox(producer=SERVICE, authserv_id=self.authserv_id, own_addresses=self.own_addresses,
                           media_url=self.media_url)


async def ingest(deps: Deps, *, uidvalidity: int, uid: int, raw: bytes, now: datetime) -> str:
    """Ingest the message `uid` of mailbox generation `uidvalidity`, exactly once.

    Returns the kind recorded ("message", "bounce", "auto_reply", "report", "duplicate", "own",
    "unparseable") or "already_ingested" when the cursor is past `uid`. Raises only database errors
    (the transaction is then rolled back and the message is fetched again later).
    """
    async with deps.unit_of_work(now) as uow:
        mail = uow.repo
        if not await mail.claim_uid(deps.mailbox, uidvalidity, uid):
            return "already_ingested"
        row_id = await mail.store_raw(deps.mailbox, uidvalidity, uid, raw, now)
        _parsed, decision = await asyncio.to_thread(decide, raw, deps.city(), now)
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
