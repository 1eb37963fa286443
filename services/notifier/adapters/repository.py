"""SQL access to the `notifier` schema (contacts, case statuses, opt-outs, bounced addresses, deliveries,
resident profiles and link requests), on the connection of the caller's transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from services.notifier.domain.model import CaseStatus, Contact
from services.notifier.domain.outcomes import Interrupted, OptOut, SentNotice, Undeliverable
from services.notifier.domain.profiles import LinkedContact, LinkRequest, Preference, Profile

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
            "UPDATE deliveries SET recipient_key = 'erased:' || id, intent = NULL, "
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
                             channel: str, status: str, reason: str | None, at: datetime,
                             owner: UUID | None = None, intent: dict[str, Any] | None = None) -> int | None:
        """Claim the one delivery of (case, causing event, recipient) with `status` ``sending`` (to be sent)
        or ``suppressed`` (with its `reason`); returns its id, or None when it was already claimed. A
        delivery without a case (`case_id` None: a request to write as text) is one per (cause, recipient)
        (the partial unique index `deliveries_without_case`). `owner`: the instance id of the notifier
        process that will send it (`beat`), which the sweeper watches; `intent`: what it will send (a JSON
        object, PII: kept until the outcome)."""
        return await self.conn.fetchval(  # type: ignore[no-any-return]
            "INSERT INTO deliveries (case_id, cause_event_id, recipient_key, kind, channel, status, claimed_at, "
            "reason, owner, intent) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) "
            "ON CONFLICT DO NOTHING RETURNING id",
            case_id, cause_event_id, recipient_key, kind, channel, status, at, reason, owner, intent,
        )

    async def mark_attempted(self, delivery_id: int) -> bool:
        """Mark a ``sending`` delivery as handed to its provider now, just before the send; False when it was
        no longer ours to send (settled or taken over by a sweeper, or attempted already): then nothing
        may be sent."""
        done = await self.conn.fetchval(
            "UPDATE deliveries SET attempted_at = now() WHERE id = $1 AND status = 'sending' "
            "AND attempted_at IS NULL RETURNING id", delivery_id)
        return done is not None

    async def take_over(self, delivery_id: int, owner: UUID) -> None:
        """Make process `owner` the sender of a delivery whose owner died before sending it, marked attempted
        now (the row is locked by `interrupted_deliveries` in the caller's transaction)."""
        await self.conn.execute("UPDATE deliveries SET owner = $2, attempted_at = now() WHERE id = $1",
                                delivery_id, owner)

    async def finish_delivery(self, delivery_id: int, *, status: str, provider_message_id: str | None,
                              reason: str | None, at: datetime) -> bool:
        """Record how a claimed send ended (``sent`` with the provider's message id, or ``failed``), once:
        only a row still ``sending`` changes. Returns False when the sweeper settled it first (its outcome
        already recorded and published); the row is then left as settled."""
        done = await self.conn.fetchval(
            "UPDATE deliveries SET status = $2, provider_message_id = $3, reason = $4, finished_at = $5, "
            "intent = NULL WHERE id = $1 AND status = 'sending' RETURNING id",
            delivery_id, status, provider_message_id, reason, at,
        )
        return done is not None

    async def beat(self, instance_id: UUID, at: datetime) -> None:
        """Say that the notifier process `instance_id` lives (its deliveries are in its hands), at the
        database's clock; `at` (UTC) is its start the first time. Forgets processes silent for 7 days
        (their rows, unowned, are then settled by age)."""
        await self.conn.execute(
            "INSERT INTO senders (instance_id, started_at, beat_at) VALUES ($1, $2, now()) "
            "ON CONFLICT (instance_id) DO UPDATE SET beat_at = now()", instance_id, at)
        await self.conn.execute("DELETE FROM senders WHERE beat_at < now() - interval '7 days'")

    async def interrupted_deliveries(self, claimed_before: datetime, silent_for_s: float, limit: int, *,
                                     own: UUID | None = None, in_flight: Sequence[int] = ()) -> list[Interrupted]:
        """Up to `limit` deliveries still ``sending`` that were claimed before `claimed_before` and whose
        owner has not beaten (`beat`) for `silent_for_s` seconds of the database's clock (it died between the
        claim and the send's record; a row without a known owner counts as silent), or whose owner is `own`
        (the caller's process: its delivery gave up) when not attempted since `claimed_before` and not in
        `in_flight` (ids it is delivering now), oldest first, with what each would send and whether it was
        handed to a provider, locked for this transaction (``FOR UPDATE SKIP LOCKED``: two sweepers never
        take the same row)."""
        rows = await self.conn.fetch(
            "SELECT d.id, d.case_id, d.cause_event_id, d.kind, d.channel, d.recipient_key, d.intent, "
            "d.attempted_at IS NOT NULL AS attempted FROM deliveries d "
            "WHERE d.status = 'sending' AND d.claimed_at < $1 AND (NOT EXISTS (SELECT 1 FROM senders s "
            "WHERE s.instance_id = d.owner AND s.beat_at >= now() - make_interval(secs => $2)) "
            "OR (d.owner = $4 AND (d.attempted_at IS NULL OR d.attempted_at < $1) "
            "AND d.id <> ALL($5::bigint[]))) "
            "ORDER BY d.claimed_at, d.id LIMIT $3 FOR UPDATE OF d SKIP LOCKED",
            claimed_before, silent_for_s, limit, own, list(in_flight))
        return [Interrupted(r["id"], SentNotice(r["case_id"], r["cause_event_id"], r["kind"], r["channel"],
                                                r["recipient_key"]), r["intent"], r["attempted"]) for r in rows]

    async def record_provider_status(self, provider_message_id: str, status: str) -> SentNotice | None:
        """Keep what the provider said of the message it gave `provider_message_id`; returns the delivery
        it belongs to, None when no delivery of ours has that id."""
        row = await self.conn.fetchrow(
            "UPDATE deliveries SET provider_status = $2 WHERE provider_message_id = $1 "
            "RETURNING case_id, cause_event_id, kind, channel, recipient_key", provider_message_id, status)
        return SentNotice(**dict(row)) if row else None

    # --- resident profiles (docs/integrations.md section 3) -------------------------------------------------

    async def preferences(self, contact_keys: list[str]) -> dict[str, Preference]:
        """What the profiles of `contact_keys` say of notices, by contact key (keys without a profile are
        absent): preferred channel, language and every contact of the profile, newest link first."""
        rows = await self.conn.fetch(
            "SELECT k.contact_key AS asked, p.profile_id, p.preferred_channel, p.language, "
            "pc.contact_key, pc.kind, pc.address FROM profile_contacts k "
            "JOIN profiles p ON p.profile_id = k.profile_id JOIN profile_contacts pc ON pc.profile_id = p.profile_id "
            "WHERE k.contact_key = ANY($1::text[]) ORDER BY k.contact_key, pc.linked_at DESC, pc.contact_key",
            contact_keys)
        found: dict[str, Preference] = {}
        for r in rows:
            known = found.get(r["asked"])
            contact = (r["contact_key"], r["kind"], r["address"])
            found[r["asked"]] = (Preference(r["profile_id"], r["preferred_channel"], r["language"], (contact,))
                                 if known is None else Preference(known.profile_id, known.preferred_channel,
                                                                  known.language, (*known.contacts, contact)))
        return found

    async def lock_contact_keys(self, contact_keys: list[str]) -> None:
        """Serialise, until the transaction ends, every link or link request touching one of `contact_keys`
        (transaction-level advisory locks, taken in key order so two callers never wait on each other)."""
        for key in sorted(set(contact_keys)):
            await self.conn.execute("SELECT pg_advisory_xact_lock(hashtextextended('notifier.profile:' || $1, 0))",
                                    key)

    async def profile(self, profile_id: UUID) -> Profile | None:
        """A profile with its contacts (oldest link first); None when there is none."""
        row = await self.conn.fetchrow(
            "SELECT profile_id, preferred_channel, language, created_at FROM profiles WHERE profile_id = $1",
            profile_id)
        if row is None:
            return None
        contacts = await self.conn.fetch(
            "SELECT contact_key, kind, address, linked_by, linked_at FROM profile_contacts WHERE profile_id = $1 "
            "ORDER BY linked_at, contact_key", profile_id)
        return Profile(**dict(row), contacts=tuple(LinkedContact(**dict(c)) for c in contacts))

    async def profile_of(self, contact_key: str) -> Profile | None:
        """The profile `contact_key` belongs to; None when it has none."""
        profile_id = await self.conn.fetchval("SELECT profile_id FROM profile_contacts WHERE contact_key = $1",
                                              contact_key)
        return await self.profile(profile_id) if profile_id is not None else None

    async def create_profile(self, profile_id: UUID, preferred_channel: str | None, language: str | None,
                             at: datetime) -> None:
        """A new profile without contacts yet."""
        await self.conn.execute(
            "INSERT INTO profiles (profile_id, preferred_channel, language, created_at, updated_at) "
            "VALUES ($1, $2, $3, $4, $4)", profile_id, preferred_channel, language, at)

    async def absorb_profile(self, survivor: UUID, absorbed: UUID) -> None:
        """Move every contact of `absorbed` to `survivor` and delete `absorbed` (two profiles joined)."""
        await self.conn.execute("UPDATE profile_contacts SET profile_id = $1 WHERE profile_id = $2", survivor, absorbed)
        await self.conn.execute("DELETE FROM profiles WHERE profile_id = $1", absorbed)

    async def add_profile_contact(self, profile_id: UUID, contact: LinkedContact) -> None:
        """Link `contact` to the profile; a key already in it keeps its first link."""
        await self.conn.execute(
            "INSERT INTO profile_contacts (contact_key, profile_id, kind, address, linked_by, linked_at) "
            "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (contact_key) DO NOTHING",
            contact.contact_key, profile_id, contact.kind, contact.address, contact.linked_by, contact.linked_at)

    async def set_profile_preferences(self, profile_id: UUID, preferred_channel: str | None, language: str | None,
                                      at: datetime) -> None:
        """Replace the profile's preferred channel and language."""
        await self.conn.execute(
            "UPDATE profiles SET preferred_channel = $2, language = $3, updated_at = $4 WHERE profile_id = $1",
            profile_id, preferred_channel, language, at)

    async def remove_profile_contact(self, profile_id: UUID, contact_key: str) -> bool:
        """Unlink one contact of the profile, deleting the profile when it has none left; False when the
        key is not a contact of that profile."""
        status = await self.conn.execute(
            "DELETE FROM profile_contacts WHERE profile_id = $1 AND contact_key = $2", profile_id, contact_key)
        if not status.endswith(" 1"):
            return False
        await self.conn.execute(
            "DELETE FROM profiles p WHERE profile_id = $1 AND NOT EXISTS "
            "(SELECT 1 FROM profile_contacts c WHERE c.profile_id = p.profile_id)", profile_id)
        return True

    async def link_requests_since(self, email_key: str, phone_key: str, since: datetime) -> tuple[int, int]:
        """(requests for the email key, for the phone key) made at or after `since`."""
        row = await self.conn.fetchrow(
            "SELECT (SELECT count(*) FROM link_requests WHERE email_key = $1 AND created_at >= $3) AS email, "
            "(SELECT count(*) FROM link_requests WHERE phone_key = $2 AND created_at >= $3) AS phone",
            email_key, phone_key, since)
        return int(row["email"]), int(row["phone"])

    async def add_link_request(self, request: LinkRequest) -> None:
        """Keep a new link request (its codes as digests only), its sends `sending`."""
        await self.conn.execute(
            "INSERT INTO link_requests (link_id, email, phone, email_key, phone_key, preferred_channel, language, "
            "email_code_hash, sms_code_hash, attempts, max_attempts, created_at, expires_at) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
            request.link_id, request.email, request.phone, request.email_key, request.phone_key,
            request.preferred_channel, request.language, request.email_code_hash, request.sms_code_hash,
            request.attempts, request.max_attempts, request.created_at, request.expires_at)

    async def link_request(self, link_id: UUID) -> LinkRequest | None:
        """The link request, locked for this transaction (`FOR UPDATE`: two confirmations of it take turns);
        None when there is none."""
        row = await self.conn.fetchrow(
            "SELECT link_id, email, phone, email_key, phone_key, preferred_channel, language, email_code_hash, "
            "sms_code_hash, attempts, max_attempts, created_at, expires_at, confirmed_at, profile_id "
            "FROM link_requests WHERE link_id = $1 FOR UPDATE", link_id)
        return LinkRequest(**dict(row)) if row else None

    async def count_link_attempt(self, link_id: UUID) -> int:
        """One more try of the request's codes; returns the tries used."""
        return int(await self.conn.fetchval(
            "UPDATE link_requests SET attempts = attempts + 1 WHERE link_id = $1 RETURNING attempts", link_id))

    async def confirm_link_request(self, link_id: UUID, profile_id: UUID, at: datetime) -> None:
        """The request's codes were right: it linked its contacts into `profile_id` at `at`."""
        await self.conn.execute(
            "UPDATE link_requests SET confirmed_at = $3, profile_id = $2, attempts = attempts + 1 WHERE link_id = $1",
            link_id, profile_id, at)

    async def record_code_sends(self, link_id: UUID, *, email_status: str, sms_status: str, error: str | None) -> None:
        """How the request's two sends ended (``sent`` or ``failed``, with the first error)."""
        await self.conn.execute(
            "UPDATE link_requests SET email_status = $2, sms_status = $3, send_error = $4 WHERE link_id = $1",
            link_id, email_status, sms_status, error)
