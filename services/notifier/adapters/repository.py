"""SQL access to the `notifier` schema (contacts, case statuses, opt-outs, bounced addresses, deliveries),
on the connection of the caller's transaction."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg

from services.notifier.domain.model import CaseStatus, Contact
from services.notifier.domain.outcomes import OptOut, SentNotice, Undeliverable

_CONTACT = ("case_id, service_request_id, contact_key, channel, email, phone, display_name, language, "
            "reply_to_message_id, handle, last_inbound_at, channel_message_id, merged_into")

_INCIDENT = ("WITH RECURSIVE incident(case_id) AS (SELECT $1::uuid UNION "
             "SELECT c.case_id FROM contacts c JOIN incident i ON c.merged_into = i.case_id)")
"""The case $1 and every case merged into it, directly or through a chain of merges (UNION: a cycle ends)."""


class NotifierRepository:
    """Everything the notifier stores: how to reach each reporter (`contacts`) and follower (`followers`),
    the last status of each case (`case_status`), who opted out (`opt_outs`), which addresses bounced
    (`undeliverable`) and one row per (case, causing event, recipient) for each notice (`deliveries`; per
    (causing event, recipient) for a notice without a case), on
    `conn` (in the caller's transaction). Times are UTC; recipients are named by `recipient_key` only. Every method raises
    `asyncpg.PostgresError` when its statement fails (the unit of work then rolls back)."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    # --- contacts --------------------------------------------------------------------------------------

    async def add_contact(self, contact: Contact) -> None:
        """Keep how to reach a case's reporter; a case already known keeps its first contact."""
        await self.conn.execute(
            "INSERT INTO contacts (case_id, service_request_id, contact_key, channel, email, phone, display_name, "
            "language, reply_to_message_id, handle, last_inbound_at, channel_message_id) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT (case_id) DO NOTHING",
            contact.case_id, contact.service_request_id, contact.contact_key, contact.channel, contact.email,
            contact.phone, contact.display_name, contact.language, contact.reply_to_message_id, contact.handle,
            contact.last_inbound_at, contact.channel_message_id,
        )

    async def contact(self, case_id: UUID) -> Contact | None:
        """The contact of a case's reporter; None when the notifier never saw the case opened."""
        row = await self.conn.fetchrow(f"SELECT {_CONTACT} FROM contacts WHERE case_id = $1", case_id)
        return Contact(**dict(row)) if row else None

    async def contacts_following(self, case_id: UUID) -> list[Contact]:
        """The reporters of a case and of every case merged into it, also through chained merges (A into B,
        then B into C: A's reporter follows C; `_INCIDENT`)."""
        rows = await self.conn.fetch(f"{_INCIDENT} SELECT {_CONTACT} FROM contacts "
                                     "WHERE case_id IN (SELECT case_id FROM incident)", case_id)
        return [Contact(**dict(r)) for r in rows]

    async def add_follower(self, follower: Contact, at: datetime) -> bool:
        """Keep a follower of a case (`follower` from `model.contact_of_follower`: channel ``email`` or
        ``sms`` with that address), followed at `at`. False, changing nothing, when that contact key
        already follows that case."""
        status = await self.conn.execute(
            "INSERT INTO followers (case_id, service_request_id, contact_key, channel, email, phone, language, "
            "followed_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (case_id, contact_key) DO NOTHING",
            follower.case_id, follower.service_request_id, follower.contact_key, follower.channel, follower.email,
            follower.phone, follower.language, at)
        return bool(status.endswith(" 1"))

    async def followers_of(self, case_id: UUID) -> list[Contact]:
        """The followers of a case and of the cases merged into it, also through chained merges (whose
        reporters' contacts say so, `_INCIDENT`), as
        contacts (`follower` true), in the order they followed; erased ones (no address left) included."""
        rows = await self.conn.fetch(
            f"{_INCIDENT} SELECT case_id, service_request_id, contact_key, channel, email, phone, language "
            "FROM followers WHERE case_id IN (SELECT case_id FROM incident) ORDER BY followed_at, contact_key", case_id)
        return [Contact(**dict(r), follower=True) for r in rows]

    async def mark_merged(self, case_id: UUID, merged_into: UUID) -> None:
        """The reporter of `case_id` now follows `merged_into` (they hear of its status changes)."""
        await self.conn.execute("UPDATE contacts SET merged_into = $2 WHERE case_id = $1", case_id, merged_into)

    async def unmark_merged(self, case_id: UUID, merged_from: UUID) -> bool:
        """The reporter of `case_id` no longer follows `merged_from` (a staff unmerge): they are the reporter
        of their own case again. False when they did not follow it (no contact, or another case)."""
        status = await self.conn.execute(
            "UPDATE contacts SET merged_into = NULL WHERE case_id = $1 AND merged_into = $2", case_id, merged_from)
        return bool(status.endswith(" 1"))

    async def erase_personal_data(self, case_id: UUID, contact_keys: list[str], at: datetime) -> tuple[int, int]:
        """Erase what the notifier holds of the reporters (and followers) `contact_keys` and of the reporter
        and followers of `case_id` (retention, `case.personal_data_erased`): their contacts keep the case and
        channel but lose email, phone, handle, name and message ids (followers their email and phone), and those cases' remembered status notes (staff free
        text); the deliveries of those contacts' cases stay, with the
        recipient key replaced by ``erased:<id>`` and email addresses and phone numbers masked in their
        reasons. Opt-outs and bounces stay (keyed, not reversible; what keeps a STOP honoured). Returns
        (contacts erased, deliveries blanked)."""
        cases = await self.conn.fetch(
            "UPDATE contacts SET email = NULL, phone = NULL, handle = NULL, display_name = NULL, "
            "reply_to_message_id = NULL, channel_message_id = NULL, erased_at = coalesce(erased_at, $3) "
            "WHERE case_id = $1 OR contact_key = ANY($2::text[]) RETURNING case_id", case_id, contact_keys, at)
        followed = await self.conn.fetch(
            "UPDATE followers SET email = NULL, phone = NULL, erased_at = coalesce(erased_at, $3) "
            "WHERE case_id = $1 OR contact_key = ANY($2::text[]) RETURNING case_id", case_id, contact_keys, at)
        ids = list({case_id, *(r["case_id"] for r in cases), *(r["case_id"] for r in followed)})
        await self.conn.execute("UPDATE case_status SET status_notes = NULL WHERE case_id = ANY($1::uuid[])", ids)
        blanked = await self.conn.execute(
            "UPDATE deliveries SET recipient_key = 'erased:' || id, "
            r"reason = regexp_replace(regexp_replace(reason, '[^\s<>()@]+@[^\s<>()@]+', '[erased]', 'g'), "
            r"'\+?[0-9][0-9 ().-]{6,}[0-9]', '[erased]', 'g') "
            "WHERE case_id = ANY($1::uuid[]) AND recipient_key NOT LIKE 'erased:%'", ids)
        return len(cases), int(blanked.rsplit(" ", 1)[-1])

    async def last_email_to(self, case_id: UUID, recipient_key: str) -> str | None:
        """The Message-ID of the last email sent about `case_id` to `recipient_key`, None when there is none:
        what a later email to them answers (`In-Reply-To`), so that it stays in the case's thread."""
        return await self.conn.fetchval(  # type: ignore[no-any-return]
            "SELECT provider_message_id FROM deliveries WHERE case_id = $1 AND recipient_key = $2 "
            "AND channel = 'email' AND status = 'sent' AND provider_message_id IS NOT NULL "
            "ORDER BY finished_at DESC, id DESC LIMIT 1", case_id, recipient_key)

    async def move_reply_window(self, case_id: UUID, channel: str, handle: str | None, at: datetime) -> bool:
        """The reporter wrote again at `at`: their last message moves there (never back), when the message
        came on the channel they reported on, from the same handle when one is given. False when the
        case's reporter is not who wrote (another channel or account, or no contact)."""
        status = await self.conn.execute(
            "UPDATE contacts SET last_inbound_at = greatest(last_inbound_at, $3) "
            "WHERE case_id = $1 AND channel = $2 AND handle IS NOT DISTINCT FROM coalesce($4, handle)",
            case_id, channel, at, handle,
        )
        return bool(status.endswith(" 1"))

    # --- case statuses ---------------------------------------------------------------------------------

    async def case_status(self, case_id: UUID) -> CaseStatus | None:
        """The last status heard of a case; None when none was."""
        row = await self.conn.fetchrow(
            "SELECT case_id, service_request_id, status, status_notes, event_id, workflow_status, notify "
            "FROM case_status WHERE case_id = $1", case_id)
        return CaseStatus(**dict(row)) if row else None

    async def set_case_status(self, status: CaseStatus, at: datetime) -> None:
        """Remember the case's latest status (replacing the one heard before)."""
        await self.conn.execute(
            "INSERT INTO case_status (case_id, service_request_id, status, status_notes, event_id, at, "
            "workflow_status, notify) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (case_id) DO UPDATE SET "
            "status = EXCLUDED.status, status_notes = EXCLUDED.status_notes, event_id = EXCLUDED.event_id, "
            "at = EXCLUDED.at, workflow_status = EXCLUDED.workflow_status, notify = EXCLUDED.notify",
            status.case_id, status.service_request_id, status.status, status.status_notes, status.event_id, at,
            status.workflow_status, status.notify,
        )

    # --- opt-outs and bounces --------------------------------------------------------------------------

    async def opt_out(self, opt_out: OptOut, at: datetime) -> None:
        """Record (or renew) a recipient's opt-out."""
        await self.conn.execute(
            "INSERT INTO opt_outs (recipient_key, channel, reason, at, source, message_id) "
            "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (recipient_key) DO UPDATE SET reason = EXCLUDED.reason, "
            "at = EXCLUDED.at, source = EXCLUDED.source, message_id = EXCLUDED.message_id",
            opt_out.recipient_key, opt_out.channel, opt_out.reason, at, opt_out.source, opt_out.message_id,
        )

    async def opt_in(self, recipient_key: str) -> None:
        """Clear a recipient's opt-out (nothing to do when there was none)."""
        await self.conn.execute("DELETE FROM opt_outs WHERE recipient_key = $1", recipient_key)

    async def mark_undeliverable(self, address: Undeliverable, at: datetime) -> None:
        """Record a bounce of an address, counting repeated ones."""
        await self.conn.execute(
            "INSERT INTO undeliverable (recipient_key, channel, reason, status, bounce_message_id, first_at, last_at) "
            "VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT (recipient_key) DO UPDATE SET "
            "reason = EXCLUDED.reason, status = EXCLUDED.status, bounce_message_id = EXCLUDED.bounce_message_id, "
            "bounces = undeliverable.bounces + 1, last_at = EXCLUDED.last_at",
            address.recipient_key, address.channel, address.reason, address.status, address.bounce_message_id, at,
        )

    async def blocks(self, recipient_key: str) -> tuple[str | None, str | None]:
        """(the recipient's opt-out reason, their address's bounce reason); None where there is none."""
        row = await self.conn.fetchrow(
            "SELECT (SELECT reason FROM opt_outs WHERE recipient_key = $1) AS opted_out, "
            "(SELECT reason FROM undeliverable WHERE recipient_key = $1) AS undeliverable", recipient_key)
        return row["opted_out"], row["undeliverable"]

    # --- deliveries ------------------------------------------------------------------------------------

    async def claim_delivery(self, *, case_id: UUID | None, cause_event_id: UUID, recipient_key: str, kind: str,
                             channel: str, status: str, reason: str | None, at: datetime) -> int | None:
        """Claim the one delivery of (case, causing event, recipient) with `status` ``sending`` (to be sent)
        or ``suppressed`` (with its `reason`); returns its id, or None when it was already claimed. A
        delivery without a case (`case_id` None: a request to write as text) is one per (cause, recipient)
        (the partial unique index `deliveries_without_case`)."""
        return await self.conn.fetchval(  # type: ignore[no-any-return]
            "INSERT INTO deliveries (case_id, cause_event_id, recipient_key, kind, channel, status, claimed_at, "
            "reason) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING RETURNING id",
            case_id, cause_event_id, recipient_key, kind, channel, status, at, reason,
        )

    async def finish_delivery(self, delivery_id: int, *, status: str, provider_message_id: str | None,
                              reason: str | None, at: datetime) -> None:
        """Record how a claimed send ended (``sent`` with the provider's message id, or ``failed``)."""
        await self.conn.execute(
            "UPDATE deliveries SET status = $2, provider_message_id = $3, reason = $4, finished_at = $5 WHERE id = $1",
            delivery_id, status, provider_message_id, reason, at,
        )

    async def interrupted_deliveries(self, claimed_before: datetime, limit: int) -> list[tuple[int, SentNotice]]:
        """Up to `limit` deliveries still ``sending`` that were claimed before `claimed_before` (their send's
        record never came: the notifier stopped in between), oldest first, locked for this transaction
        (``FOR UPDATE SKIP LOCKED``: two sweepers never take the same row)."""
        rows = await self.conn.fetch(
            "SELECT id, case_id, cause_event_id, kind, channel, recipient_key FROM deliveries "
            "WHERE status = 'sending' AND claimed_at < $1 ORDER BY claimed_at, id LIMIT $2 FOR UPDATE SKIP LOCKED",
            claimed_before, limit)
        return [(r["id"], SentNotice(r["case_id"], r["cause_event_id"], r["kind"], r["channel"], r["recipient_key"]))
                for r in rows]

    async def record_provider_status(self, provider_message_id: str, status: str) -> SentNotice | None:
        """Keep what the provider said of the message it gave `provider_message_id`; returns the delivery
        it belongs to, None when no delivery of ours has that id."""
        row = await self.conn.fetchrow(
            "UPDATE deliveries SET provider_status = $2 WHERE provider_message_id = $1 "
            "RETURNING case_id, cause_event_id, kind, channel, recipient_key", provider_message_id, status)
        return SentNotice(**dict(row)) if row else None
