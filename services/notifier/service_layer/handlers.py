"""Notifier handlers: acknowledge `case.opened`, report `case.merged` and status changes on the channel the
resident used (email, SMS/WhatsApp through Twilio, Messenger/Instagram/WhatsApp Cloud, Mastodon direct
messages), keep the opt-out store and record what providers say of our messages.

Consumes `case.opened`, `case.merged`, `case.status_changed`, `case.message_added` from `cases.lifecycle` and
`intake.bounce_received`, `intake.opt_out_received`, `intake.opt_in_received`,
`intake.message_status_received`, `intake.delivery_status_received` from `intake.messages`; produces
`notification.recorded` on `notifications.outcomes` through the outbox. Each message goes out at most once per (case, causing
event, recipient): the delivery row is committed before the send. A reply threaded onto a case
(`case.message_added`) is never acknowledged; it only moves the start of a platform's reply window.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from typing import Any
from uuid import UUID

import asyncpg

from services.notifier.domain.channels import route_for, short_text, within_reply_window
from services.notifier.domain.messages import Notice, compose_email, language_of, recipient_key
from shared.db.inbox import claim
from shared.db.outbox import enqueue
from shared.events import (
    BounceReceived,
    CaseMerged,
    CaseMessageAdded,
    CaseOpened,
    CaseStatusChanged,
    DeliveryStatusReceived,
    Envelope,
    MessageStatusReceived,
    NotificationOutcome,
    OptInReceived,
    OptOutReceived,
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
    twilio: Any = None  # adapters.senders.TwilioSender, None when not configured
    meta: Any = None  # adapters.senders.MetaSender
    mastodon: Any = None  # adapters.senders.MastodonSender
    reply_window_h: float = 24.0
    program_name: str = "City 311"


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
            "language, reply_to_message_id, handle, last_inbound_at, channel_message_id) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT (case_id) DO NOTHING",
            opened.case_id, opened.service_request_id, opened.contact_key, opened.channel, opened.pii.email,
            opened.pii.phone, name, language_of(opened.language), reply_to, opened.pii.handle,
            opened.requested_datetime, opened.channel_message_id,
        )
    contact = await _contact(deps, opened.case_id)
    notice = Notice(kind="acknowledgement", service_request_id=opened.service_request_id,
                    language=contact["language"], display_name=name, description=opened.description or None)
    return await _notify(env, deps, now, opened.case_id, contact, notice, in_reply_to=reply_to)


async def on_message_added(env: Envelope, d: Delivery, deps: Deps, now: datetime) -> str:
    """The reporter wrote again on their own channel: Meta's reply window starts again from this message."""
    added = env.payload(CaseMessageAdded)
    async with deps.pool.acquire() as conn, conn.transaction():
        if not await _claim(conn, env, d):
            return "duplicate"
        updated = await conn.execute(
            "UPDATE contacts SET last_inbound_at = greatest(last_inbound_at, $3) "
            "WHERE case_id = $1 AND channel = $2 AND handle IS NOT DISTINCT FROM coalesce($4, handle)",
            added.case_id, added.channel, env.occurred_at, added.pii.handle,
        )
    return "window_moved" if updated.endswith(" 1") else "not_the_reporter_channel"


async def on_case_merged(env: Envelope, d: Delivery, deps: Deps, now: datetime) -> str:
    """Tell the reporter of the merged case which case their report now follows."""
    merged = env.payload(CaseMerged)
    async with deps.pool.acquire() as conn, conn.transaction():
        if not await _claim(conn, env, d):
            return "duplicate"
        await conn.execute("UPDATE contacts SET merged_into = $2 WHERE case_id = $1", merged.case_id,
                           merged.merged_into)
        survivor = await conn.fetchrow("SELECT * FROM case_status WHERE case_id = $1", merged.merged_into)
    contact = await _contact(deps, merged.case_id)
    if contact is None:
        return "no_contact"
    notice = Notice(kind="merged", service_request_id=merged.service_request_id, language=contact["language"],
                    display_name=contact["display_name"],
                    merged_into_service_request_id=merged.merged_into_service_request_id)
    result = await _notify(env, deps, now, merged.case_id, contact, notice,
                           in_reply_to=contact["reply_to_message_id"])
    if survivor is not None and survivor["status"] == "closed":
        # The case this report joined was closed before the merge reached us (cases.lifecycle is keyed by
        # case, so the two events may arrive in either order): this reporter hears of the closure too,
        # under the closing event, so that it still goes out at most once.
        closed = Notice(kind="closed", service_request_id=survivor["service_request_id"],
                        language=contact["language"], display_name=contact["display_name"],
                        status_notes=survivor["status_notes"])
        result += "," + await _notify(env, deps, now, merged.case_id, contact, closed,
                                      in_reply_to=contact["reply_to_message_id"], cause_id=survivor["event_id"])
    return result


async def on_status_changed(env: Envelope, d: Delivery, deps: Deps, now: datetime) -> str:
    """Tell the reporter of the case, and of every case merged into it, about a status change."""
    changed = env.payload(CaseStatusChanged)
    async with deps.pool.acquire() as conn, conn.transaction():
        if not await _claim(conn, env, d):
            return "duplicate"
        await conn.execute(
            "INSERT INTO case_status (case_id, service_request_id, status, status_notes, event_id, at) "
            "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (case_id) DO UPDATE SET status = EXCLUDED.status, "
            "status_notes = EXCLUDED.status_notes, event_id = EXCLUDED.event_id, at = EXCLUDED.at",
            changed.case_id, changed.service_request_id, changed.status, changed.status_notes, env.event_id, now,
        )
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


async def on_opt_out(env: Envelope, d: Delivery, deps: Deps, now: datetime) -> str:
    """The resident texted STOP (or the carrier refused a message with 21610): send nothing more there."""
    ev = env.payload(OptOutReceived)
    if not ev.pii.phone:
        raise ValueError("intake.opt_out_received without pii.phone")
    async with deps.pool.acquire() as conn, conn.transaction():
        if not await _claim(conn, env, d):
            return "duplicate"
        await _opt_out(conn, recipient_key(ev.channel, ev.pii.phone), ev.channel, ev.source, ev.keyword or str(
            ev.error_code or ""), ev.channel_message_id, now)
    return "opted_out"


async def on_opt_in(env: Envelope, d: Delivery, deps: Deps, now: datetime) -> str:
    """The resident texted START: notices resume."""
    ev = env.payload(OptInReceived)
    if not ev.pii.phone:
        raise ValueError("intake.opt_in_received without pii.phone")
    async with deps.pool.acquire() as conn, conn.transaction():
        if not await _claim(conn, env, d):
            return "duplicate"
        await conn.execute("DELETE FROM opt_outs WHERE recipient_key = $1", recipient_key(ev.channel, ev.pii.phone))
    return "opted_in"


async def on_message_status(env: Envelope, d: Delivery, deps: Deps, now: datetime) -> str:
    """A Twilio status callback: recorded on the case as a delivery outcome; error 21610 opts out."""
    ev = env.payload(MessageStatusReceived)
    reason = f"provider status {ev.status}" + (f" (error {ev.error_code})" if ev.error_code else "")
    async with deps.pool.acquire() as conn, conn.transaction():
        if not await _claim(conn, env, d):
            return "duplicate"
        if ev.error_code == 21610 and ev.pii.phone:
            await _opt_out(conn, recipient_key(ev.channel, ev.pii.phone), ev.channel, "provider_error", "21610",
                           ev.provider_message_id, now)
        return await _delivery_outcome(conn, env, now, ev.provider_message_id, ev.outcome, reason)


async def on_delivery_status(env: Envelope, d: Delivery, deps: Deps, now: datetime) -> str:
    """A WhatsApp Cloud status (sent, delivered, read, failed): recorded on the case as a delivery outcome."""
    ev = env.payload(DeliveryStatusReceived)
    errors = "; ".join(f"{e.code} {e.title}".strip() for e in ev.errors)
    reason = f"provider status {ev.status}" + (f" ({errors})" if errors else "")
    async with deps.pool.acquire() as conn, conn.transaction():
        if not await _claim(conn, env, d):
            return "duplicate"
        return await _delivery_outcome(conn, env, now, ev.provider_message_id, ev.status, reason[:500])


async def _opt_out(conn: asyncpg.Connection, rkey: str, channel: str, source: str, reason: str, message_id: str,
                   now: datetime) -> None:
    await conn.execute(
        "INSERT INTO opt_outs (recipient_key, channel, reason, at, source, message_id) VALUES ($1, $2, $3, $4, $5, $6) "
        "ON CONFLICT (recipient_key) DO UPDATE SET reason = EXCLUDED.reason, at = EXCLUDED.at, "
        "source = EXCLUDED.source, message_id = EXCLUDED.message_id",
        rkey, channel, f"opted out ({source} {reason})".strip()[:500], now, source, message_id,
    )


async def _delivery_outcome(conn: asyncpg.Connection, env: Envelope, now: datetime, provider_message_id: str,
                            status: str, reason: str) -> str:
    row = await conn.fetchrow("UPDATE deliveries SET provider_status = $2 WHERE provider_message_id = $1 "
                              "RETURNING case_id, cause_event_id, kind, channel, recipient_key",
                              provider_message_id, status)
    if row is None:
        return "unknown_message"  # not ours, or sent before this store existed
    event = NotificationOutcome(case_id=row["case_id"], cause_event_id=row["cause_event_id"], kind=row["kind"],
                                channel=row["channel"], recipient_key=row["recipient_key"],
                                outcome="failed" if status == "failed" else "sent", reason=reason,
                                provider_message_id=provider_message_id, delivery_status=status)  # type: ignore[arg-type]
    await enqueue(conn, env.caused_by(event, subject=str(row["case_id"]), producer=SERVICE, now=now), schema=SERVICE)
    return f"status_{status}"


@dataclass(frozen=True)
class _Target:
    route: str  # twilio, meta, mastodon, email
    channel: str  # the channel recorded on the delivery (email, sms, whatsapp, messenger, ...)
    address: str
    pii: Pii
    blocked: str | None = None  # why nothing may be sent there (suppressed)


def _target(deps: Deps, contact: dict[str, Any], now: datetime) -> _Target | None:
    channel = contact.get("channel") or "email"
    route = route_for(channel, channel_message_id=contact.get("channel_message_id"), phone=contact.get("phone"),
                      handle=contact.get("handle"), email=contact.get("email"))
    email = contact.get("email")
    if route == "meta" and not within_reply_window(contact.get("last_inbound_at"), now, deps.reply_window_h):
        if email:
            route = "email"  # another channel the reporter gave
        else:
            return _Target("meta", channel, contact["handle"], Pii(handle=contact["handle"]),
                           blocked=f"outside the platform's {deps.reply_window_h:g} h reply window; no other channel")
    if route == "twilio":
        ch = "whatsapp" if channel == "whatsapp" else "sms"
        return _Target("twilio", ch, contact["phone"], Pii(phone=contact["phone"]))
    if route in ("meta", "mastodon"):
        return _Target(route, channel, contact["handle"], Pii(handle=contact["handle"]))
    if route == "email" and email:
        return _Target("email", "email", email, Pii(email=email))
    return None


async def _notify(env: Envelope, deps: Deps, now: datetime, case_id: UUID, contact: dict[str, Any] | None,
                  notice: Notice, *, in_reply_to: str | None, cause_id: UUID | None = None) -> str:
    """Send `notice` once per (case, causing event, recipient): `cause_id` names the causing event when it
    is not `env`'s own (a closure announced late to a reporter merged afterwards)."""
    cause = cause_id or env.event_id
    target = _target(deps, contact, now) if contact else None
    if target is None:
        return "no_contact"
    address = target.address
    rkey = recipient_key(target.channel, address)
    async with deps.pool.acquire() as conn, conn.transaction():
        blocked = target.blocked or await conn.fetchval("SELECT reason FROM opt_outs WHERE recipient_key = $1", rkey)
        if not blocked:
            bounced = await conn.fetchval("SELECT reason FROM undeliverable WHERE recipient_key = $1", rkey)
            blocked = f"undeliverable: {bounced}"[:500] if bounced else None
        claimed = await conn.fetchval(
            "INSERT INTO deliveries (case_id, cause_event_id, recipient_key, kind, channel, status, claimed_at, reason) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING RETURNING id",
            case_id, cause, rkey, notice.kind, target.channel, "suppressed" if blocked else "sending", now,
            blocked,
        )
        if claimed is None:
            return "already_attempted"
        if blocked:
            await _record(conn, env, cause, now, case_id, notice, target, rkey, "suppressed", blocked, None)
            return "suppressed"
    provider_id = None
    try:
        provider_id = await _send(deps, target, contact or {}, notice, now, in_reply_to)
        outcome, reason = "sent", None
    except Exception as exc:  # noqa: BLE001 - any failure is recorded; never retried (at most once)
        outcome, reason = "failed", f"{type(exc).__name__}: {exc}"[:500]
        log.warning("notice_failed", case_id=str(case_id), channel=target.channel, error=reason)
    async with deps.pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "UPDATE deliveries SET status = $2, provider_message_id = $3, reason = $4, finished_at = $5 WHERE id = $1",
            claimed, outcome, provider_id, reason, now,
        )
        await _record(conn, env, cause, now, case_id, notice, target, rkey, outcome, reason, provider_id)
    return outcome


async def _send(deps: Deps, target: _Target, contact: dict[str, Any], notice: Notice, now: datetime,
                in_reply_to: str | None) -> str:
    """Send on the target's channel; returns the provider's message id. Raises when it cannot."""
    if target.route == "email":
        message = compose_email(notice, to_address=target.address, from_address=deps.mail_from,
                                from_name=deps.mail_from_name, now=now, in_reply_to=in_reply_to,
                                reply_subaddress=deps.reply_subaddress)
        await deps.send_email(message)
        return str(message["Message-ID"])
    text = short_text(notice, deps.program_name)
    if target.route == "twilio":
        if deps.twilio is None:
            raise RuntimeError("Twilio is not configured (OMNI311_TWILIO_ACCOUNT_SID/AUTH_TOKEN/FROM_NUMBER)")
        return await deps.twilio.send(target.address, text, whatsapp=target.channel == "whatsapp")
    if target.route == "meta":
        if deps.meta is None:
            raise RuntimeError("Meta is not configured (OMNI311_META_ACCESS_TOKEN)")
        return await deps.meta.send(target.channel, target.address, text)
    if deps.mastodon is None:
        raise RuntimeError("Mastodon is not configured (OMNI311_MASTODON_API_BASE_URL/ACCESS_TOKEN)")
    return await deps.mastodon.send(target.address, text, contact.get("channel_message_id"))


async def _record(conn: asyncpg.Connection, env: Envelope, cause: UUID, now: datetime, case_id: UUID,
                  notice: Notice, target: _Target, rkey: str, outcome: str, reason: str | None,
                  provider_id: str | None) -> None:
    event = NotificationOutcome(case_id=case_id, cause_event_id=cause, kind=notice.kind,
                                channel=target.channel, recipient_key=rkey, outcome=outcome,  # type: ignore[arg-type]
                                reason=reason, provider_message_id=provider_id, pii=target.pii)
    await enqueue(conn, env.caused_by(event, subject=str(case_id), producer=SERVICE, now=now), schema=SERVICE)
