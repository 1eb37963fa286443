"""The notifier's fakes for handler tests: the repository in memory (the same conflict rules as its SQL),
senders that keep what left, and event builders."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from email.message import EmailMessage
from collections.abc import Sequence
from typing import Any
from uuid import UUID, uuid4

from services.notifier.domain.model import CaseStatus, Contact
from services.notifier.domain.outcomes import Interrupted, OptOut, SentNotice, Undeliverable
from services.notifier.domain.profiles import LinkedContact, LinkRequest, Preference, Profile
from services.notifier.service_layer import handlers as h
from shared.events import (
    CaseMerged,
    CaseOpened,
    CaseStatusChanged,
    NotificationRecorded,
    OptOutReceived,
)
from support.uow import T0, FakeStore, event

PHONE = "+16135550123"
ADDRESS = "ann@resident.test"


class FakeNotifierRepository:
    """`NotifierRepository` in memory, with the same conflict rules as its SQL."""

    def __init__(self) -> None:
        self.contacts: dict[UUID, Contact] = {}
        self.statuses: dict[UUID, tuple[CaseStatus, datetime]] = {}
        self.opt_outs: dict[str, tuple[OptOut, datetime]] = {}
        self.undeliverable: dict[str, dict[str, Any]] = {}
        self.deliveries: list[dict[str, Any]] = []
        self.followers: dict[tuple[UUID, str], Contact] = {}
        self.profiles: dict[UUID, Profile] = {}
        self.link_requests: dict[UUID, LinkRequest] = {}
        self.beats: dict[UUID, datetime] = {}
        self.link_sends: dict[UUID, tuple[str, str, str | None]] = {}
        self.locked: list[str] = []
        self.clock = datetime.max.replace(tzinfo=UTC)
        """The database's clock, which stamps `attempted_at` (a test moves it; by default every attempt is
        recent, so the sweeper never takes its own process's attempted rows)."""

    async def add_contact(self, contact: Contact) -> None:
        self.contacts.setdefault(contact.case_id, contact)

    async def contact(self, case_id: UUID) -> Contact | None:
        return self.contacts.get(case_id)

    def _incident(self, case_id: UUID) -> set[UUID]:
        """The case and every case merged into it, directly or through a chain (the SQL's `_INCIDENT`)."""
        found, grew = {case_id}, True
        while grew:
            more = {c.case_id for c in self.contacts.values() if c.merged_into in found} - found
            found |= more
            grew = bool(more)
        return found

    async def contacts_following(self, case_id: UUID) -> list[Contact]:
        incident = self._incident(case_id)
        return [c for c in self.contacts.values() if c.case_id in incident]

    async def add_follower(self, follower: Contact, at: datetime) -> bool:
        key = (follower.case_id, follower.contact_key)
        if key in self.followers:
            return False
        self.followers[key] = follower
        return True

    async def followers_of(self, case_id: UUID) -> list[Contact]:
        incident = self._incident(case_id)
        return [f for (cid, _), f in self.followers.items() if cid in incident]

    async def mark_merged(self, case_id: UUID, merged_into: UUID) -> None:
        if case_id in self.contacts:
            self.contacts[case_id] = replace(self.contacts[case_id], merged_into=merged_into)

    async def unmark_merged(self, case_id: UUID, merged_from: UUID) -> bool:
        c = self.contacts.get(case_id)
        if c is None or c.merged_into != merged_from:
            return False
        self.contacts[case_id] = replace(c, merged_into=None)
        return True

    async def erase_personal_data(self, case_id: UUID, contact_keys: list[str], at: datetime) -> tuple[int, int]:
        erased = [c for c in self.contacts.values() if c.case_id == case_id or c.contact_key in contact_keys]
        for c in erased:
            self.contacts[c.case_id] = replace(c, email=None, phone=None, handle=None, display_name=None,
                                               reply_to_message_id=None, channel_message_id=None)
        followed = [f for f in self.followers.values() if f.case_id == case_id or f.contact_key in contact_keys]
        for f in followed:
            self.followers[(f.case_id, f.contact_key)] = replace(f, email=None, phone=None)
        cases = {case_id, *(c.case_id for c in erased), *(f.case_id for f in followed)}
        for cid in cases & set(self.statuses):
            status, at = self.statuses[cid]
            self.statuses[cid] = (replace(status, status_notes=None), at)
        blanked = [d for d in self.deliveries if d["case_id"] in cases and not d["recipient_key"].startswith("erased:")]
        for d in blanked:
            d["recipient_key"] = f"erased:{d['id']}"
        return len(erased), len(blanked)

    async def last_email_to(self, case_id: UUID, recipient_key: str) -> str | None:
        sent = [d for d in self.deliveries if (d["case_id"], d["recipient_key"], d["channel"], d["status"])
                == (case_id, recipient_key, "email", "sent") and d["provider_message_id"]]
        return sent[-1]["provider_message_id"] if sent else None

    async def move_reply_window(self, case_id: UUID, channel: str, handle: str | None, at: datetime) -> bool:
        c = self.contacts.get(case_id)
        if c is None or c.channel != channel or c.handle != (handle if handle is not None else c.handle):
            return False
        self.contacts[case_id] = replace(c, last_inbound_at=max(t for t in (c.last_inbound_at, at) if t))
        return True

    async def case_status(self, case_id: UUID) -> CaseStatus | None:
        return self.statuses[case_id][0] if case_id in self.statuses else None

    async def set_case_status(self, status: CaseStatus, at: datetime) -> None:
        self.statuses[status.case_id] = (status, at)

    async def opt_out(self, opt_out: OptOut, at: datetime) -> None:
        self.opt_outs[opt_out.recipient_key] = (opt_out, at)

    async def opt_in(self, recipient_key: str) -> None:
        self.opt_outs.pop(recipient_key, None)

    async def mark_undeliverable(self, address: Undeliverable, at: datetime) -> None:
        known = self.undeliverable.get(address.recipient_key)
        self.undeliverable[address.recipient_key] = {"address": address, "last_at": at,
                                                     "bounces": known["bounces"] + 1 if known else 1}

    async def blocks(self, recipient_key: str) -> tuple[str | None, str | None]:
        opted = self.opt_outs.get(recipient_key)
        bounced = self.undeliverable.get(recipient_key)
        return (opted[0].reason if opted else None, bounced["address"].reason if bounced else None)

    async def claim_delivery(self, *, case_id: UUID | None, cause_event_id: UUID, recipient_key: str, kind: str,
                             channel: str, status: str, reason: str | None, at: datetime,
                             owner: UUID | None = None, intent: dict[str, Any] | None = None) -> int | None:
        if any((d["case_id"], d["cause_event_id"], d["recipient_key"]) == (case_id, cause_event_id, recipient_key)
               for d in self.deliveries):
            return None
        self.deliveries.append({"id": len(self.deliveries) + 1, "case_id": case_id, "cause_event_id": cause_event_id,
                                "recipient_key": recipient_key, "kind": kind, "channel": channel, "status": status,
                                "reason": reason, "claimed_at": at, "provider_message_id": None,
                                "provider_status": None, "finished_at": None, "owner": owner, "intent": intent,
                                "attempted": False})
        return len(self.deliveries)

    async def mark_attempted(self, delivery_id: int) -> bool:
        row = self.deliveries[delivery_id - 1]
        if row["status"] != "sending" or row["attempted"]:
            return False
        row.update(attempted=True, attempted_at=self.clock)
        return True

    async def take_over(self, delivery_id: int, owner: UUID) -> None:
        self.deliveries[delivery_id - 1].update(owner=owner, attempted=True, attempted_at=self.clock)

    async def finish_delivery(self, delivery_id: int, *, status: str, provider_message_id: str | None,
                              reason: str | None, at: datetime) -> bool:
        row = self.deliveries[delivery_id - 1]
        if row["status"] != "sending":
            return False
        row.update(status=status, provider_message_id=provider_message_id, reason=reason, finished_at=at, intent=None)
        return True

    async def beat(self, instance_id: UUID, at: datetime) -> None:
        # The fake's clock is the unit of work's `now` (the SQL uses the database's).
        self.beats[instance_id] = at

    async def interrupted_deliveries(self, claimed_before: datetime, silent_for_s: float, limit: int, *,
                                     own: UUID | None = None, in_flight: Sequence[int] = ()) -> list[Interrupted]:
        def silent(owner: UUID | None) -> bool:
            beat = self.beats.get(owner) if owner is not None else None
            return beat is None or beat < claimed_before  # claimed_before = now - silent_for_s, as in the sweeper

        def given_up(d: dict[str, Any]) -> bool:  # the SQL's attempted_at is the database's clock: here, the claim's
            return own is not None and d.get("owner") == own and d["id"] not in in_flight and (
                not d.get("attempted") or d["attempted_at"] < claimed_before)

        stale = sorted((d for d in self.deliveries if d["status"] == "sending" and d["claimed_at"] < claimed_before
                        and (silent(d.get("owner")) or given_up(d))), key=lambda d: (d["claimed_at"], d["id"]))[:limit]
        return [Interrupted(d["id"], SentNotice(d["case_id"], d["cause_event_id"], d["kind"], d["channel"],
                                                d["recipient_key"]), d.get("intent"), d.get("attempted", False))
                for d in stale]

    async def record_provider_status(self, provider_message_id: str, status: str) -> SentNotice | None:
        for d in self.deliveries:
            if d["provider_message_id"] == provider_message_id:
                d["provider_status"] = status
                return SentNotice(d["case_id"], d["cause_event_id"], d["kind"], d["channel"], d["recipient_key"])
        return None

    # --- profiles: the same rules as the SQL -------------------------------------------------------------

    async def preferences(self, contact_keys: list[str]) -> dict[str, Preference]:
        found = {}
        for key in contact_keys:
            p = next((p for p in self.profiles.values() if any(c.contact_key == key for c in p.contacts)), None)
            if p is not None:
                newest = sorted(p.contacts, key=lambda c: (-c.linked_at.timestamp(), c.contact_key))
                found[key] = Preference(p.profile_id, p.preferred_channel, p.language,
                                        tuple((c.contact_key, c.kind, c.address) for c in newest))
        return found

    async def lock_contact_keys(self, contact_keys: list[str]) -> None:
        self.locked.extend(sorted(set(contact_keys)))

    async def profile(self, profile_id: UUID) -> Profile | None:
        return self.profiles.get(profile_id)

    async def profile_of(self, contact_key: str) -> Profile | None:
        return next((p for p in self.profiles.values() if any(c.contact_key == contact_key for c in p.contacts)),
                    None)

    async def create_profile(self, profile_id: UUID, preferred_channel: str | None, language: str | None,
                             at: datetime) -> None:
        assert profile_id not in self.profiles
        self.profiles[profile_id] = Profile(profile_id, preferred_channel, language, at, ())

    async def absorb_profile(self, survivor: UUID, absorbed: UUID) -> None:
        gone = self.profiles.pop(absorbed)
        s = self.profiles[survivor]
        self.profiles[survivor] = replace(s, contacts=tuple(sorted(s.contacts + gone.contacts,
                                                                   key=lambda c: (c.linked_at, c.contact_key))))

    async def add_profile_contact(self, profile_id: UUID, contact: LinkedContact) -> None:
        if await self.profile_of(contact.contact_key) is None:
            p = self.profiles[profile_id]
            self.profiles[profile_id] = replace(p, contacts=(*p.contacts, contact))

    async def set_profile_preferences(self, profile_id: UUID, preferred_channel: str | None, language: str | None,
                                      at: datetime) -> None:
        self.profiles[profile_id] = replace(self.profiles[profile_id], preferred_channel=preferred_channel,
                                            language=language)

    async def remove_profile_contact(self, profile_id: UUID, contact_key: str) -> bool:
        p = self.profiles.get(profile_id)
        if p is None or not any(c.contact_key == contact_key for c in p.contacts):
            return False
        left = tuple(c for c in p.contacts if c.contact_key != contact_key)
        if left:
            self.profiles[profile_id] = replace(p, contacts=left)
        else:
            del self.profiles[profile_id]
        return True

    async def link_requests_since(self, email_key: str, phone_key: str, since: datetime) -> tuple[int, int]:
        recent = [r for r in self.link_requests.values() if r.created_at >= since]
        return (sum(r.email_key == email_key for r in recent), sum(r.phone_key == phone_key for r in recent))

    async def add_link_request(self, request: LinkRequest) -> None:
        assert request.link_id not in self.link_requests
        self.link_requests[request.link_id] = request

    async def link_request(self, link_id: UUID) -> LinkRequest | None:
        return self.link_requests.get(link_id)

    async def count_link_attempt(self, link_id: UUID) -> int:
        r = self.link_requests[link_id]
        self.link_requests[link_id] = replace(r, attempts=r.attempts + 1)
        return r.attempts + 1

    async def confirm_link_request(self, link_id: UUID, profile_id: UUID, at: datetime) -> None:
        r = self.link_requests[link_id]
        self.link_requests[link_id] = replace(r, confirmed_at=at, profile_id=profile_id, attempts=r.attempts + 1)

    async def record_code_sends(self, link_id: UUID, *, email_status: str, sms_status: str, error: str | None) -> None:
        self.link_sends[link_id] = (email_status, sms_status, error)


class Sent:
    """What left, by channel; `fail` makes the next sends raise it."""

    def __init__(self) -> None:
        self.emails: list[EmailMessage] = []
        self.texts: list[tuple[str, str, str]] = []  # (sender, address, text)
        self.fail: Exception | None = None

    def _check(self) -> None:
        if self.fail is not None:
            raise self.fail

    async def email(self, message: EmailMessage) -> None:
        self._check()
        self.emails.append(message)

    def count(self) -> int:
        return len(self.emails) + len(self.texts)


class FakeTwilio:
    def __init__(self, sent: Sent) -> None:
        self.sent = sent

    async def send(self, to: str, body: str, *, whatsapp: bool = False) -> str:
        self.sent._check()
        self.sent.texts.append(("whatsapp" if whatsapp else "sms", to, body))
        return f"SM{len(self.sent.texts):032d}"


class FakeMeta:
    def __init__(self, sent: Sent) -> None:
        self.sent = sent

    async def send(self, channel: str, recipient: str, text: str) -> str:
        self.sent._check()
        self.sent.texts.append((channel, recipient, text))
        return f"m_{len(self.sent.texts)}"


class FakeMastodon:
    def __init__(self, sent: Sent) -> None:
        self.sent = sent

    async def send(self, handle: str, text: str, in_reply_to_id: str | None) -> str:
        self.sent._check()
        self.sent.texts.append(("mastodon", handle, f"{text} (re {in_reply_to_id})"))
        return "110"


def table_for(store: FakeStore[FakeNotifierRepository], sent: Sent, *, twilio: bool = True,
              status_texts: dict[tuple[str, str], str] | None = None, **sending: Any) -> Any:
    """The handler table on `store` sending into `sent`; `status_texts` {(status id, language): text} is the
    workflow's status texts of every jurisdiction; `sending` other `Sending` fields (workbench URL, tz)."""
    senders = h.Senders(send_email=sent.email, mail_from="311@city.test", mail_from_name="City 311",
                        twilio=FakeTwilio(sent) if twilio else None, meta=FakeMeta(sent),  # type: ignore[arg-type]
                        mastodon=FakeMastodon(sent))  # type: ignore[arg-type]
    texts = status_texts or {}
    sending.setdefault("workbench_base_url", "https://workbench.city.test")

    def status_text(jurisdiction_id: str, status_id: str, language: str) -> str | None:
        return texts.get((status_id, language)) or texts.get((status_id, "en"))

    # A send's outcome is recorded in a unit of work with the consumed event's envelope that claims nothing.
    return h.handlers(h.Sending(senders, lambda env, now: store.uow(env, now=now, claim=False), reply_window_h=24.0,
                                status_text=status_text, **sending))


def opened(channel: str = "email", *, at: datetime = T0, contact_key: str = "ck", language: str | None = None,
           **pii: str) -> CaseOpened:
    message_id = {"email": f"<{uuid4().hex}@resident.test>", "whatsapp": "wamid.HBg1"}.get(channel, "SM1")
    return CaseOpened(case_id=uuid4(), service_request_id=f"DEMO-26-{uuid4().int % 10**6:06d}",
                      jurisdiction_id="demo", channel=channel, channel_message_id=message_id,  # type: ignore[arg-type]
                      contact_key=contact_key, description="Pothole", requested_datetime=at, language=language,
                      pii=pii or {"email": ADDRESS})


def closed(case: CaseOpened, status: str = "closed", notes: str = "Repaired.") -> CaseStatusChanged:
    return CaseStatusChanged(case_id=case.case_id, service_request_id=case.service_request_id,
                             jurisdiction_id="demo", status=status, status_notes=notes)  # type: ignore[arg-type]


def merge(case: CaseOpened, into: CaseOpened) -> CaseMerged:
    return CaseMerged(case_id=case.case_id, service_request_id=case.service_request_id, jurisdiction_id="demo",
                      merged_into=into.case_id, merged_into_service_request_id=into.service_request_id,
                      status_notes="duplicate")


def opt_out(phone: str = PHONE) -> OptOutReceived:
    return OptOutReceived(channel="sms", channel_message_id="SMstop", contact_key="ck", received_at=T0,
                          source="keyword", keyword="STOP", pii={"phone": phone})


def recorded(store: FakeStore[FakeNotifierRepository]) -> list[NotificationRecorded]:
    return [e.payload(NotificationRecorded) for e in store.emitted("notification.recorded")]


async def handle(store: FakeStore[FakeNotifierRepository], table: Any, payload: Any, *,
                 now: datetime = T0, subject: Any = "s") -> str | None:
    return await store.handle(table, event(payload, subject=subject, now=now), now=now)
