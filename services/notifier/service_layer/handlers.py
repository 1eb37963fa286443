"""Notifier handlers: acknowledge `case.opened`, report `case.merged` and status changes, and stop
mailing addresses that bounce.

Consumes `case.opened`, `case.merged`, `case.status_changed` from `cases.lifecycle` and
`intake.bounce_received` from `intake.messages`; produces `notification.recorded` on
`notifications.outcomes` through the outbox. Each message goes out at most once per (case, causing
event, recipient): the delivery row is committed before the send. A reply threaded onto a case
(`case.message_added`) is not consumed, so it never gets a second acknowledgement.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from typing import Any
from uuid import UUID

import asyncpg

from services.notifier.domain.messages import Notice, compose_email, language_of, recipient_key
from shared.db.inbox import claim
from shared.db.outbox import enqueue
from shared.events import (
    BounceReceived,
    CaseMerged,
    CaseOpened,
    CaseStatusChanged,
    Envelope,
    NotificationOutcome,
    Pii,
)
from shared.kafka import Delivery
from shared.logs import get_logger

SERVICE = "notifier"
log = get_logger(__name__)


@dataclass(frozen=True)
class Deps:
    pool: asyncpg.Pool
    send_email: Callable[[EmailMessage], Awaitable[None]]
    mail_from: str
    mail_from_name: str
    reply_subaddress: bool = True


async def _claim(conn: asyncpg.Connection, env: Envelope, d: Delivery) -> bool:
    return await claim(conn, SERVICE, env.event_id, topic=d.topic, partition=d.partition, offset=d.offset)


async def on_case_opened(env: Envelope, d: Delivery, deps: Deps, now: datetime) -> str:
    """Remember how to reach the reporter, then acknowledge with the case number."""
    opened = env.payload(CaseOpened)
    reply_to = opened.channel_message_id if opened.channel == "email" else None
    name = opened.pii.name or " ".join(x for x in (opened.pii.first_name, opened.pii.last_name) if x) or None
    async with deps.pool.acquire() as conn, conn.transaction():
        if not await _claim(conn, env, d):
            return "duplicate"
        await conn.execute(
            "INSERT INTO contacts (case_id, service_request_id, contact_key, channel, email, phone, display_name, "
            "language, reply_to_message_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) "
            "ON CONFLICT (case_id) DO NOTHING",
            opened.case_id, opened.service_request_id, opened.contact_key, opened.channel, opened.pii.email,
            opened.pii.phone, name, language_of(opened.language), reply_to,
        )
    contact = await _contact(deps, opened.case_id)
    notice = Notice(kind="acknowledgement", service_request_id=opened.service_request_id,
                    language=contact["language"], display_name=name, description=opened.description or None)
    return await _notify(env, deps, now, opened.case_id, contact, notice, in_reply_to=reply_to)


async def on_case_merged(env: Envelope, d: Delivery, deps: Deps, now: datetime) -> str:
    """Tell the reporter of the merged case which case their report now follows."""
    merged = env.payload(CaseMerged)
    async with deps.pool.acquire() as conn, conn.transaction():
        if not await _claim(conn, env, d):
            return "duplicate"
        await conn.execute("UPDATE contacts SET merged_into = $2 WHERE case_id = $1", merged.case_id,
                           merged.merged_into)
    contact = await _contact(deps, merged.case_id)
    if contact is None:
        return "no_contact"
    notice = Notice(kind="merged", service_request_id=merged.service_request_id, language=contact["language"],
                    display_name=contact["display_name"],
                    merged_into_service_request_id=merged.merged_into_service_request_id)
    return await _notify(env, deps, now, merged.case_id, contact, notice,
                         in_reply_to=contact["reply_to_message_id"])


async def on_status_changed(env: Envelope, d: Delivery, deps: Deps, now: datetime) -> str:
    """Tell the reporter of the case, and of every case merged into it, about a status change."""
    changed = env.payload(CaseStatusChanged)
    async with deps.pool.acquire() as conn, conn.transaction():
        if not await _claim(conn, env, d):
            return "duplicate"
        rows = await conn.fetch("SELECT * FROM contacts WHERE case_id = $1 OR merged_into = $1", changed.case_id)
    results = []
    for contact in rows:
        notice = Notice(kind="closed" if changed.status == "closed" else "status_changed",
                        service_request_id=changed.service_request_id, language=contact["language"],
                        display_name=contact["display_name"], status_notes=changed.status_notes)
        results.append(await _notify(env, deps, now, contact["case_id"], dict(contact), notice,
                                     in_reply_to=contact["reply_to_message_id"]))
    return ",".join(results) or "no_contact"


async def on_bounce(env: Envelope, d: Delivery, deps: Deps, now: datetime) -> str:
    """Mark the bounced address undeliverable: later notices to it are recorded as suppressed."""
    bounce = env.payload(BounceReceived)
    if not bounce.pii.email:
        raise ValueError("intake.bounce_received without pii.email")
    rkey = recipient_key(bounce.channel, bounce.pii.email)
    async with deps.pool.acquire() as conn, conn.transaction():
        if not await _claim(conn, env, d):
            return "duplicate"
        await conn.execute(
            "INSERT INTO undeliverable (recipient_key, channel, reason, status, bounce_message_id, first_at, last_at) "
            "VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT (recipient_key) DO UPDATE SET "
            "reason = EXCLUDED.reason, status = EXCLUDED.status, bounce_message_id = EXCLUDED.bounce_message_id, "
            "bounces = undeliverable.bounces + 1, last_at = EXCLUDED.last_at",
            rkey, bounce.channel, bounce.reason[:500], bounce.status, bounce.channel_message_id, now,
        )
    return "marked_undeliverable"


async def _contact(deps: Deps, case_id: UUID) -> dict[str, Any] | None:
    row = await deps.pool.fetchrow("SELECT * FROM contacts WHERE case_id = $1", case_id)
    return dict(row) if row else None


async def _notify(env: Envelope, deps: Deps, now: datetime, case_id: UUID, contact: dict[str, Any] | None,
                  notice: Notice, *, in_reply_to: str | None) -> str:
    if contact is None or not contact.get("email"):
        return "no_email"  # other channels arrive with their adapters (issues 4 and 5)
    address = contact["email"]
    rkey = recipient_key("email", address)
    async with deps.pool.acquire() as conn, conn.transaction():
        opted_out = await conn.fetchval("SELECT reason FROM opt_outs WHERE recipient_key = $1", rkey)
        if not opted_out:
            bounced = await conn.fetchval("SELECT reason FROM undeliverable WHERE recipient_key = $1", rkey)
            opted_out = f"undeliverable: {bounced}"[:500] if bounced else None
        claimed = await conn.fetchval(
            "INSERT INTO deliveries (case_id, cause_event_id, recipient_key, kind, channel, status, claimed_at, reason) "
            "VALUES ($1, $2, $3, $4, 'email', $5, $6, $7) ON CONFLICT DO NOTHING RETURNING id",
            case_id, env.event_id, rkey, notice.kind, "suppressed" if opted_out else "sending", now, opted_out,
        )
        if claimed is None:
            return "already_attempted"
        if opted_out:
            await _record(conn, env, now, case_id, notice, rkey, "suppressed", opted_out, None, address)
            return "suppressed"
    provider_id = None
    try:
        message = compose_email(notice, to_address=address, from_address=deps.mail_from,
                                from_name=deps.mail_from_name, now=now, in_reply_to=in_reply_to,
                                reply_subaddress=deps.reply_subaddress)
        provider_id = str(message["Message-ID"])
        await deps.send_email(message)
        outcome, reason = "sent", None
    except Exception as exc:  # noqa: BLE001 - any failure is recorded; never retried (at most once)
        outcome, reason = "failed", f"{type(exc).__name__}: {exc}"[:500]
        log.warning("email_failed", case_id=str(case_id), error=reason)
    async with deps.pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "UPDATE deliveries SET status = $2, provider_message_id = $3, reason = $4, finished_at = $5 WHERE id = $1",
            claimed, outcome, provider_id, reason, now,
        )
        await _record(conn, env, now, case_id, notice, rkey, outcome, reason, provider_id, address)
    return outcome


async def _record(conn: asyncpg.Connection, env: Envelope, now: datetime, case_id: UUID, notice: Notice,
                  rkey: str, outcome: str, reason: str | None, provider_id: str | None, address: str) -> None:
    event = NotificationOutcome(case_id=case_id, cause_event_id=env.event_id, kind=notice.kind, channel="email",
                                recipient_key=rkey, outcome=outcome, reason=reason,
                                provider_message_id=provider_id, pii=Pii(email=address))
    await enqueue(conn, env.caused_by(event, subject=str(case_id), producer=SERVICE, now=now), schema=SERVICE)
