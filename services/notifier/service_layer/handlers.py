"""Notifier handlers: acknowledge `case.opened`, report `case.merged`, the workflow's status notices, staff's
public updates and replies and the undoing of a merge on the channel the resident used (email,
SMS/WhatsApp through Twilio, Messenger/Instagram/WhatsApp Cloud, Mastodon direct messages); confirm a new
follower (`case.followed`) and tell followers the public notices (status notices, public updates); invite
each reporter to the satisfaction survey once when their case is resolved or closed; email the
supervisors on `case.escalated`; erase contacts on `case.personal_data_erased`; keep the opt-out store and
record what providers say of our messages.

Consumes `case.opened`, `case.routed` (a written address to confirm: "Did you mean"), `case.merged`,
`case.status_changed`, `case.message_added`, `case.public_update`,
`case.reply_requested`, `case.unmerged`, `case.escalated`, `case.personal_data_erased`, `case.followed` from
`cases.lifecycle` and
`intake.bounce_received`, `intake.opt_out_received`, `intake.opt_in_received`,
`intake.message_status_received`, `intake.delivery_status_received`, `intake.message_unsupported` from
`intake.messages`; produces `notification.recorded` on `notifications.outcomes` through the outbox.

Each handler runs in the unit of work of its event. A notice is decided there and its delivery row
claimed in the same transaction as the inbox claim (``sending``, or ``suppressed`` with its
`notification.recorded`), so it goes out at most once per (case, cause, recipient) (the cause is the
event, or a public update's `update_id`, a reply's `reply_id`); the send
itself runs after the commit, never inside a transaction, and its outcome (``sent`` or ``failed``, never
retried) is recorded in a unit of work of its own. What a delivery sends is rendered at its claim and
kept in its row (`intent`) until the outcome; an email's Message-ID is derived from its delivery
(`messages.delivery_message_id`), so any copy of it is recognisable. A claim names the notifier process
that sends it (`Sending.instance_id`), and the row is marked just before it is handed to the provider.
When that process dies before recording the outcome (SIGKILL, OOM), the sweeper of any replica finds the
row once the process stopped beating: never handed over, it is sent once from its intent; handed over
(it may have gone out), it is settled ``failed`` (`INTERRUPTED`); either outcome is published, so it
lands on the case timeline: at most once, never hanging (services/notifier/README.md, "Crashes"). A reply threaded onto a case (`case.message_added`) is
never acknowledged; it only moves the start of a platform's reply window (a follow-up, a bare thanks:
docs/channels.md, "Conversations"). A message kind we cannot read (`intake.message_unsupported`) opened
no case: its one request to write as text is a delivery without a case, claimed once per channel message,
and published nowhere (`notification.recorded` v1 needs a case; the row is the record).

The words a handler returns for the log: per notice, ``sending`` (claimed; its outcome follows, appended
after the commit), ``suppressed``, ``already_attempted`` or ``no_contact``; ``not_notified`` for a status
the workflow keeps from the reporters, ``no_recipient`` for an escalation without addresses, ``erased``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
import email
from email import policy
from email.message import EmailMessage
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar
from uuid import UUID

from services.notifier.adapters.repository import NotifierRepository
from services.notifier.domain.channels import short_text
from services.notifier.domain.messages import Notice, compose_email, delivery_message_id, recipient_key
from services.notifier.domain.model import CaseStatus, Contact, contact_of, contact_of_follower
from services.notifier.domain.notices import (
    acknowledgement,
    escalation_notice,
    follow_cause,
    follow_confirmation,
    invites_survey,
    late_closure,
    location_confirmation,
    place_question,
    place_question_cause,
    merge_notice,
    public_update_notice,
    reply_notice,
    reporter_of,
    status_notice,
    survey_cause,
    survey_invitation,
    text_request,
    text_request_cause,
    unmerge_notice,
    with_followers,
)
from services.notifier.domain.outcomes import (
    INTERRUPTED,
    Interrupted,
    Outcome,
    carrier_opt_out,
    interrupted_recorded,
    notice_recorded,
    opt_in_key,
    requested_opt_out,
    resent_recorded,
    send_failure,
    status_recorded,
    twilio_report,
    undeliverable_of,
    whatsapp_report,
)
from services.notifier.domain.profiles import one_per_profile, with_preference
from services.notifier.domain.targets import (
    Target,
    choose_target,
    preferred_target,
    suppression,
    text_request_target,
    with_profile,
)
from services.notifier.service_layer.lanes import SendLanes
from shared.events import (
    BounceReceived,
    CaseEscalated,
    CaseFollowed,
    CaseMerged,
    CaseMessageAdded,
    CaseOpened,
    CasePersonalDataErased,
    CasePublicUpdate,
    CaseReplyRequested,
    CaseRouted,
    CaseStatusChanged,
    CaseUnmerged,
    DeliveryStatusReceived,
    Envelope,
    MessageStatusReceived,
    MessageUnsupported,
    OptInReceived,
    OptOutReceived,
    Pii,
)
from shared.kafka import TRANSIENT_ERRORS
from shared.logs import get_logger
from shared.service_layer import Handlers, UnitOfWork
from shared.surveys import survey_token

if TYPE_CHECKING:
    from services.notifier.adapters.senders import MastodonSender, MetaSender, TwilioSender
    from services.notifier.domain.outcomes import ProviderReport

log = get_logger(__name__)

Uow = UnitOfWork[NotifierRepository]
T = TypeVar("T")
RecordUnitOfWork = Callable[[Envelope, datetime], Uow]
"""record_uow(consumed event, now) -> a unit of work that claims nothing: where a send's outcome is
recorded after the event's own unit of work committed (what it emits is caused by that event)."""


@dataclass(frozen=True)
class Senders:
    """How notices leave: email (`send_email`, e.g. `adapters.mail.SmtpSender.send`, from `mail_from`
    with a Reply-To sub-address per case when `reply_subaddress`) and, when configured, Twilio, Meta and
    Mastodon (None: notices due there are recorded `failed` with the reason). `program_name` opens texts."""

    send_email: Callable[[EmailMessage], Awaitable[None]]
    mail_from: str
    mail_from_name: str
    reply_subaddress: bool = True
    twilio: TwilioSender | None = None
    meta: MetaSender | None = None
    mastodon: MastodonSender | None = None
    program_name: str = "City 311"


StatusText = Callable[[str, str, str], str | None]
"""status_text(jurisdiction_id, workflow status id, language) -> what the jurisdiction's workflow tells
reporters of that status (`texts[language]`, English when that language has none), None when the
jurisdiction or status is unknown or has no text."""


def _no_status_text(jurisdiction_id: str, status_id: str, language: str) -> str | None:
    return None


@dataclass(frozen=True)
class SurveyLinks:
    """How survey invitations' links are written (docs/residents-and-insights.md, "Survey tokens"): tokens
    signed with `secret` (`Settings.survey_secret`, shared with intake_web), valid `ttl_s` seconds, under
    `base_url` (`Settings.portal_base_url`, else `public_base_url`)."""

    secret: str
    ttl_s: int
    base_url: str

    def link(self, service_request_id: str, contact_key: str, language: str | None, now: datetime) -> str:
        """``{base_url}/survey/{token}`` for one reporter of one case, the token made at `now` (aware UTC)."""
        token = survey_token(self.secret, service_request_id=service_request_id, contact_key=contact_key,
                             language=language, now=now, ttl_s=self.ttl_s)
        return f"{self.base_url.rstrip('/')}/survey/{token}"


def _english(jurisdiction_id: str) -> str:
    return "en"


DB_RETRY_S = (0.2, 0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0, 8.0, 8.0)
"""Pauses (seconds) between attempts of a delivery's database steps that met a transient error
(`shared.kafka.TRANSIENT_ERRORS`: PostgreSQL restarting, a connection lost): about 48 s in all, then the
step gives up and this process's own sweeper settles the row (`settle_interrupted`)."""


@dataclass(frozen=True)
class Sending:
    """What the notice handlers need beyond their unit of work: the `senders`, the `record_uow` factory
    for outcomes, Meta's reply window in hours, the workflow's status texts (`status_text`), the staff
    workbench's base URL (`Settings.workbench_base_url`: links in escalation emails), the
    jurisdiction's time zone (due times in them), how survey links are written (`survey`; None: no
    survey invitation is sent) and the region phone numbers are read in (`phone_region`: contact data is
    scrubbed from what followers are told)."""

    senders: Senders
    record_uow: RecordUnitOfWork
    reply_window_h: float = 24.0
    status_text: StatusText = _no_status_text
    workbench_base_url: str = ""
    tz: tzinfo = UTC
    survey: SurveyLinks | None = None
    phone_region: str = "US"
    first_locale: Callable[[str], str] = _english
    """The language a jurisdiction writes in when a reporter's is unknown: its first locale."""
    home_jurisdiction_id: str = ""
    """The jurisdiction the notifier serves (`Settings.jurisdiction`'s id): whose first locale answers an
    event that names none (`intake.message_unsupported`)."""
    instance_id: UUID | None = None
    """This notifier process's id, the `owner` of the deliveries it claims (its sweeper beats under it);
    None (tests): unowned rows, which the sweeper settles by age alone."""
    lanes: SendLanes | None = None
    """Where the sends claimed by a batch run after its commit: at most `lanes.limit` at once, in order per
    case; None: one after another in the consumer's after-commit step (tests, the HTTP profile API)."""
    in_flight: set[int] = field(default_factory=set)
    """Ids of the deliveries this process is delivering right now (from before `mark_attempted` to after the
    record of the outcome): its own sweeper leaves them alone, however old (`settle_interrupted`)."""
    db_retry_s: tuple[float, ...] = DB_RETRY_S


@dataclass(frozen=True)
class _Claimed:
    """A delivery claimed as ``sending`` in the event's unit of work, to be sent after its commit: `intent`
    is what it sends (`_intent`); `case_id` None for a request to write as text (no case)."""

    delivery_id: int
    case_id: UUID | None
    cause_event_id: UUID
    notice: Notice
    target: Target
    intent: dict[str, Any]


# --- lifecycle events: decide, claim, send after the commit ----------------------------------------------


async def on_case_opened(opened: CaseOpened, uow: Uow, *, sending: Sending) -> str:
    """Remember how to reach the reporter, then acknowledge with the case number (threaded to an email
    reporter's own mail)."""
    await uow.repo.add_contact(contact_of(opened, sending.first_locale(opened.jurisdiction_id)))
    contact = await uow.repo.contact(opened.case_id)
    assert contact is not None  # just added, or kept from the case's first `case.opened`
    contact = await _profiled_one(uow, contact)
    return await _notify(uow, sending, contact, acknowledgement(opened, contact))


async def on_case_routed(routed: CaseRouted, uow: Uow, *, sending: Sending) -> str:
    """Ask the reporter "Did you mean <matched>?" when the router could place their written address only
    with a confidence to confirm (`notices.location_confirmation`), once per routing decision, or "We could
    not find <place>. Where is it?" when it found nothing for the place they wrote (`notices.place_question`,
    SMS and chat channels), once per case; on their channel and in their language. ``not_asked`` for any
    other decision (and for a text reporter's "Did you mean", asked in their SMS conversation),
    ``no_contact`` when no reporter is known."""
    contact = await uow.repo.contact(routed.case_id)
    if contact is None:
        return "no_contact"
    contact = await _profiled_one(uow, contact)
    notice = location_confirmation(routed, contact)
    if notice is not None:
        return await _notify(uow, sending, contact, notice)
    notice = place_question(routed, contact)
    if notice is None:
        return "not_asked"
    return await _notify(uow, sending, contact, notice, cause_event_id=place_question_cause(routed.case_id))


async def on_case_merged(merged: CaseMerged, uow: Uow, *, sending: Sending) -> str:
    """Tell the reporter of the merged case which case their report now follows, and of that case's
    closure when it was closed (and its reporters told) before the merge reached us."""
    await uow.repo.mark_merged(merged.case_id, merged.merged_into)
    survivor = await uow.repo.case_status(merged.merged_into)
    contact = await uow.repo.contact(merged.case_id)
    if contact is None:
        return "no_contact"
    contact = await _profiled_one(uow, contact)
    result = await _notify(uow, sending, contact, merge_notice(merged, contact))
    text = (sending.status_text(merged.jurisdiction_id, survivor.workflow_status, contact.language or "en")
            if survivor is not None and survivor.workflow_status else None)
    closed = late_closure(survivor, contact, text)
    if closed is not None and survivor is not None:
        result += "," + await _notify(uow, sending, contact, closed, cause_event_id=survivor.event_id)
    if survivor is not None and invites_survey(survivor.status, survivor.workflow_status):
        # Merged after the survivor was resolved (the events crossed): still asked, once.
        result = ",".join([result, *await _invite(uow, sending, merged.merged_into, survivor.service_request_id,
                                                  [contact])])
    return result


async def on_status_changed(changed: CaseStatusChanged, uow: Uow, *, sending: Sending) -> str:
    """Remember the case's status, then, when the workflow tells reporters of it (`notify`), tell the
    reporter of the case and of every case merged into it, and its followers, with the jurisdiction's text
    for the new workflow status in each one's language (the generic update or closure notice for an event
    without a workflow status, or a status without a text); ``not_notified`` when `notify` is false. A
    case reaching Open311 ``closed`` as `resolved` or `closed` (not a duplicate, a cancellation or a
    referral) invites each reporter to the survey, once per case (`_invite`)."""
    assert uow.envelope is not None
    await uow.repo.set_case_status(CaseStatus(case_id=changed.case_id, service_request_id=changed.service_request_id,
                                              status=changed.status, status_notes=changed.status_notes,
                                              event_id=uow.envelope.event_id, workflow_status=changed.workflow_status,
                                              notify=changed.notify), uow.now)
    reporters, followers = await _profiled_pair(uow, await uow.repo.contacts_following(changed.case_id),
                                                await uow.repo.followers_of(changed.case_id) if changed.notify else [])
    results = []
    if not changed.notify:
        results.append("not_notified")
    else:
        for contact in one_per_profile(with_followers(reporters, followers)):
            text = (sending.status_text(changed.jurisdiction_id, changed.workflow_status, contact.language or "en")
                    if changed.workflow_status else None)
            results.append(await _notify(uow, sending, contact, status_notice(changed, contact, text, region=sending.phone_region)))
    if invites_survey(changed.status, changed.workflow_status):
        results += await _invite(uow, sending, changed.case_id, changed.service_request_id, reporters)
    return ",".join(results) or "no_contact"


async def _invite(uow: Uow, sending: Sending, case_id: UUID, service_request_id: str,
                  reporters: list[Contact]) -> list[str]:
    """Invite each of `reporters` (each contact key once; followers never) to the survey about the case
    `case_id` numbered `service_request_id`, on their channel with their own link; once per (case,
    reporter) whatever closes the case again (`survey_cause`). Nobody is invited when no link can be
    written (`sending.survey` None: a notifier built without survey settings, as some tests are)."""
    if sending.survey is None:
        if reporters:
            log.warning("survey_not_configured", case_id=str(case_id))
        return []
    results = []
    for contact in {c.contact_key: c for c in reversed(reporters) if not c.follower}.values():
        link = sending.survey.link(service_request_id, contact.contact_key, contact.language, uow.now)
        results.append(await _notify(uow, sending, contact, survey_invitation(service_request_id, contact, link),
                                     cause_event_id=survey_cause(case_id)))
    return results


async def on_public_update(update: CasePublicUpdate, uow: Uow, *, sending: Sending) -> str:
    """Send a staff member's public update to every reporter of the case and of every case merged into it,
    each on their own channel (email in their thread), and to its followers, once per (`update_id`,
    recipient)."""
    reporters, followers = await _profiled_pair(uow, await uow.repo.contacts_following(update.case_id),
                                                await uow.repo.followers_of(update.case_id))
    contacts = one_per_profile(with_followers(reporters, followers))
    results = [await _notify(uow, sending, contact, public_update_notice(update, contact, region=sending.phone_region),
                             cause_event_id=update.update_id)
               for contact in contacts]
    return ",".join(results) or "no_contact"


async def on_case_followed(followed: CaseFollowed, uow: Uow, *, sending: Sending) -> str:
    """A new follower of the case: keep them (`followers`, their chosen channel and address) and confirm
    on that channel, once per (case, follower) (`follow_cause`). From then on they hear the case's status
    notices and public updates (never replies to a reporter nor survey invitations), unless opted out."""
    contact = contact_of_follower(followed, sending.first_locale(followed.jurisdiction_id))
    await uow.repo.add_follower(contact, uow.now)
    contact = await _profiled_one(uow, contact)
    return await _notify(uow, sending, contact, follow_confirmation(followed, contact),
                         cause_event_id=follow_cause(followed.case_id, followed.follower_contact_key))


async def on_reply_requested(reply: CaseReplyRequested, uow: Uow, *, sending: Sending) -> str:
    """Send a staff member's reply to the one reporter `contact_key` (of the case, or of a case merged into
    it) on their channel, once per (`reply_id`, recipient). ``no_contact`` when the notifier knows no
    reporter with that key there, or none of their addresses answers."""
    contact = reporter_of(await uow.repo.contacts_following(reply.case_id), reply.contact_key, reply.case_id)
    if contact is None:
        log.warning("reply_without_reporter", case_id=str(reply.case_id), reply_id=str(reply.reply_id))
        return "no_contact"
    contact = await _profiled_one(uow, contact)
    return await _notify(uow, sending, contact, reply_notice(reply, contact), cause_event_id=reply.reply_id)


async def on_case_unmerged(unmerged: CaseUnmerged, uow: Uow, *, sending: Sending) -> str:
    """Staff undid a merge: the reporter of the unmerged case stops following the former survivor
    (`unmerged_from`) and is told their report is its own case again. The case's status is remembered as
    the event gives it."""
    assert uow.envelope is not None
    await uow.repo.unmark_merged(unmerged.case_id, unmerged.unmerged_from)
    await uow.repo.set_case_status(CaseStatus(case_id=unmerged.case_id, service_request_id=unmerged.service_request_id,
                                              status=unmerged.status, status_notes=None,
                                              event_id=uow.envelope.event_id, workflow_status=unmerged.workflow_status,
                                              notify=False), uow.now)
    contact = await uow.repo.contact(unmerged.case_id)
    if contact is None:
        return "no_contact"
    contact = await _profiled_one(uow, contact)
    return await _notify(uow, sending, contact, unmerge_notice(unmerged, contact))


async def on_personal_data_erased(erased: CasePersonalDataErased, uow: Uow) -> str:
    """Retention erased the case's personal data: erase the notifier's copy (the contacts of the case and
    of the reporters `contact_keys`; the addresses in their deliveries), keeping the rows."""
    contacts, deliveries = await uow.repo.erase_personal_data(erased.case_id, erased.contact_keys, uow.now)
    log.info("personal_data_erased", case_id=str(erased.case_id), contacts=contacts, deliveries=deliveries)
    return "erased"


async def on_message_added(added: CaseMessageAdded, uow: Uow) -> str:
    """The reporter wrote again on their own channel: Meta's reply window starts again from this message.
    Nothing is sent: a follow-up joins the case silently and a bare thanks (`attributes.conversation`
    ``thanks`` on the intake message) gets no reply (docs/channels.md, "Conversations")."""
    assert uow.envelope is not None
    moved = await uow.repo.move_reply_window(added.case_id, added.channel, added.pii.handle,
                                             uow.envelope.occurred_at)
    return "window_moved" if moved else "not_the_reporter_channel"


async def on_case_escalated(escalated: CaseEscalated, uow: Uow, *, sending: Sending) -> str:
    """Email each supervisor address of `email_to` (staff, not residents: a plain email with the case
    number, service, due time, what the rule did and the link to the case in the workbench), once per
    (event, address); a bounced address is recorded suppressed. ``no_recipient`` when `email_to` is empty."""
    notice = escalation_notice(escalated, workbench_base_url=sending.workbench_base_url, tz=sending.tz)
    results = []
    for address in dict.fromkeys(a.strip() for a in escalated.email_to if a.strip()):
        target = Target("email", "email", address, Pii(email=address))
        results.append(await _claim(uow, sending, escalated.case_id, target, notice, contact=None))
    return ",".join(results) or "no_recipient"


async def _profiled(uow: Uow, contacts: list[Contact]) -> list[Contact]:
    """`contacts` with what their contact keys' profiles say (`profiles.with_preference`: the profile's
    language, and its preferred channel for `_notify`), in one lookup."""
    if not contacts:
        return contacts
    found = await uow.repo.preferences(sorted({c.contact_key for c in contacts}))
    return [with_preference(c, found.get(c.contact_key)) for c in contacts]


async def _profiled_pair(uow: Uow, reporters: list[Contact], followers: list[Contact]
                         ) -> tuple[list[Contact], list[Contact]]:
    """`reporters` and `followers`, each `_profiled`, in one lookup for both (not one each)."""
    both = await _profiled(uow, [*reporters, *followers])
    return both[:len(reporters)], both[len(reporters):]


async def _profiled_one(uow: Uow, contact: Contact) -> Contact:
    return (await _profiled(uow, [contact]))[0]


async def _notify(uow: Uow, sending: Sending, contact: Contact, notice: Notice, *,
                  cause_event_id: UUID | None = None) -> str:
    """Claim `notice` for `contact` once per (case, cause, recipient) and, unless it is suppressed, send it
    after the commit. `cause_event_id` names the cause when it is not the consumed event (a closure
    announced late to a reporter merged afterwards; a public update's `update_id`, a reply's `reply_id`).
    An email answers our last email to them about their case, else their own mail (the case's thread).

    A contact with a profile (`contact.preference`) is told on the profile's preferred channel, to its
    contact of that kind (`targets.preferred_target`), unless that address opted out or bounced: then
    where it would have gone (`targets.with_profile`). A contact with no address left (erased by retention)
    is not revived by its profile: ``no_contact`` as before. The delivery's recipient stays the reporter's own
    address (their usual target), whichever channel carries the notice, so a cause reaches a reporter
    once even when their profile changes between two events of it; the row's `channel` says which
    channel was used."""
    usual = choose_target(contact, uow.now, sending.reply_window_h)
    if usual is None:
        return "no_contact"
    target: Target | None = usual
    preferred = preferred_target(contact)
    if preferred is not None and (preferred.channel, preferred.address) != (usual.channel, usual.address):
        opted_out, bounced = await uow.repo.blocks(recipient_key(preferred.channel, preferred.address))
        target = with_profile(usual, preferred, suppression(preferred, opted_out=opted_out, undeliverable=bounced))
    assert target is not None
    recipient = recipient_key(usual.channel, usual.address)
    thread: tuple[str, ...] = ()
    if target.route == "email":
        ours = await uow.repo.last_email_to(contact.case_id, recipient)
        thread = tuple(x for x in (contact.reply_to_message_id, ours) if x)
    return await _claim(uow, sending, contact.case_id, target, notice, contact=contact, thread=thread,
                        cause_event_id=cause_event_id, recipient=recipient)


async def _claim(uow: Uow, sending: Sending, case_id: UUID | None, target: Target, notice: Notice, *,
                 contact: Contact | None, thread: tuple[str, ...] = (), cause_event_id: UUID | None = None,
                 reply_to: str | None = None, recipient: str | None = None) -> str:
    """Claim the delivery of `notice` to `target` once per (case, cause, recipient): ``suppressed`` with its
    `notification.recorded` when an opt-out, a bounce or a closed reply window blocks it, else ``sending``
    and sent after the commit. ``already_attempted`` when it was claimed before. `thread`: the Message-IDs
    an email answers, oldest first (`References`; the last is its `In-Reply-To`). `case_id` None: a
    delivery that answers no case (once per (cause, recipient)), recorded in its row only. `recipient`:
    the delivery's recipient key when it is not the target's own (a profile chose another channel)."""
    assert uow.envelope is not None
    cause = cause_event_id or uow.envelope.event_id
    rkey = recipient_key(target.channel, target.address)
    opted_out, bounced = await uow.repo.blocks(rkey)
    blocked = suppression(target, opted_out=opted_out, undeliverable=bounced)
    intent = None if blocked else _intent(sending.senders, target, notice, now=uow.now, thread=thread,
                                          reply_to=contact.channel_message_id if contact else reply_to)
    delivery_id = await uow.repo.claim_delivery(
        case_id=case_id, cause_event_id=cause, recipient_key=recipient or rkey, kind=notice.kind, channel=target.channel,
        status="suppressed" if blocked else "sending", reason=blocked, at=uow.now, owner=sending.instance_id,
        intent=intent)
    if delivery_id is None:
        return "already_attempted"
    if blocked:
        if case_id is not None:
            await uow.emit(notice_recorded(case_id=case_id, cause_event_id=cause, notice=notice, target=target,
                                           outcome="suppressed", reason=blocked), subject=case_id)
        return "suppressed"
    assert intent is not None
    claimed = _Claimed(delivery_id, case_id, cause, notice, target, intent)
    deliver = partial(_deliver, claimed, sending, uow.envelope, uow.now)
    if sending.lanes is None:
        uow.after_commit(deliver)
    else:
        uow.after_commit(partial(_queue, sending, sending.lanes, uow.envelope.subject, claimed.delivery_id, deliver))
    return "sending"


async def _queue(sending: Sending, lanes: SendLanes, lane: str, delivery_id: int,
                 deliver: Callable[[], Awaitable[str]]) -> str:
    """Hand a claimed delivery to `lanes` after the commit, in the lane of the consumed event's partition key
    (`Envelope.subject`: its case), so that the notices of a case go out in the order its events came, as
    Kafka keeps them; it is in `Sending.in_flight` from now on (`_deliver` takes it out), so that this
    process's sweeper never takes a delivery waiting for its turn."""
    sending.in_flight.add(delivery_id)
    return await lanes.submit(lane, deliver)


async def _deliver(claimed: _Claimed, sending: Sending, envelope: Envelope, now: datetime) -> str:
    """Send a claimed notice (after the event's commit) and record its outcome in a unit of work of its
    own: ``sent`` with the provider's message id, or ``failed`` with the reason. The send is never retried;
    the database steps around it are, on a transient error (`_retrying`, `Sending.db_retry_s`): a
    PostgreSQL restart must not leave the row ``sending`` under this live process. When they still fail,
    the error propagates (logged by the caller) and this process's own sweeper settles the row once it is
    no longer in `Sending.in_flight`: sent once when it was never handed over, else ``failed``. When the
    sweeper settled the row first (this process was taken for dead: it stopped beating longer than the
    sweeper's timeout), that settlement stands and nothing more is published (one outcome per delivery):
    ``settled_before`` is returned and logged with what the send did. The row is marked attempted just
    before the send (`mark_attempted`); when it is no longer ours to mark, nothing is sent
    (``settled_before`` too)."""
    sending.in_flight.add(claimed.delivery_id)
    try:
        async def mark() -> bool:
            async with sending.record_uow(envelope, now) as uow:
                return await uow.repo.mark_attempted(claimed.delivery_id)

        if not await _retrying(mark, sending.db_retry_s, "mark_attempted", claimed.delivery_id):
            log.warning("delivery_settled_before_send", delivery_id=claimed.delivery_id,
                        case_id=str(claimed.case_id))
            return "settled_before"
        outcome: Outcome = "sent"
        provider_id: str | None = None
        reason: str | None = None
        try:
            provider_id = await _send(sending.senders, claimed.delivery_id, claimed.cause_event_id, claimed.intent)
        except Exception as exc:  # noqa: BLE001 - any failure is recorded; never retried (at most once)
            outcome, reason = "failed", send_failure(exc)
            log.warning("notice_failed", case_id=str(claimed.case_id), channel=claimed.target.channel, error=reason)

        async def record() -> str:
            async with sending.record_uow(envelope, now) as uow:
                if not await uow.repo.finish_delivery(claimed.delivery_id, status=outcome,
                                                      provider_message_id=provider_id, reason=reason, at=now):
                    log.warning("delivery_settled_before_outcome", delivery_id=claimed.delivery_id,
                                case_id=str(claimed.case_id), outcome=outcome, provider_message_id=provider_id)
                    return "settled_before"
                if claimed.case_id is None:
                    return outcome  # no case: the delivery row is the record
                await uow.emit(notice_recorded(case_id=claimed.case_id, cause_event_id=claimed.cause_event_id,
                                               notice=claimed.notice, target=claimed.target, outcome=outcome,
                                               reason=reason, provider_message_id=provider_id),
                               subject=claimed.case_id)
            return outcome

        return await _retrying(record, sending.db_retry_s, "finish_delivery", claimed.delivery_id)
    finally:
        sending.in_flight.discard(claimed.delivery_id)


async def _retrying(step: Callable[[], Awaitable[T]], pauses_s: tuple[float, ...], what: str,
                       delivery_id: int) -> T:
    """Run `step` (one unit of work of a delivery), again after each pause of `pauses_s` (seconds) while
    it raises one of `shared.kafka.TRANSIENT_ERRORS`; re-raises the last error when the pauses run out,
    and any other error at once. Each failed attempt is logged (`delivery_db_retry`). A step whose commit
    went through unseen is run again: `mark_attempted` then answers False (nothing is sent; the row is
    settled ``failed`` by the sweeper), `finish_delivery` False (``settled_before``: its record stands)."""
    for pause in (*pauses_s, None):
        try:
            return await step()
        except TRANSIENT_ERRORS as exc:
            if pause is None:
                raise
            log.warning("delivery_db_retry", step=what, delivery_id=delivery_id, pause_s=pause,
                        error=f"{type(exc).__name__}: {exc}"[:300])
            await asyncio.sleep(pause)
    raise AssertionError("unreachable")


_KEPT = policy.default.clone(utf8=True, max_line_length=0)
_NO_ID_YET = "<pending@omni311.invalid>"
"""The Message-ID an email is composed with before its delivery id exists; removed from the intent."""


def _intent(senders: Senders, target: Target, notice: Notice, *, now: datetime, thread: tuple[str, ...],
            reply_to: str | None) -> dict[str, Any]:
    """What the delivery of `notice` to `target` sends, rendered once at its claim (a JSON object, kept in
    the row until its outcome, so that another replica can send exactly it): an email as RFC 5322 text
    without its Message-ID (`_send` sets the delivery's), answering `thread`; a text with its address
    (and, for Mastodon, the status it answers, `reply_to`). An email that cannot be addressed keeps the
    error, raised at the send (recorded ``failed`` as before)."""
    if target.route == "email":
        try:
            message = compose_email(notice, to_address=target.address, from_address=senders.mail_from,
                                    from_name=senders.mail_from_name, now=now, message_id=_NO_ID_YET,
                                    in_reply_to=thread[-1] if thread else None, references=thread,
                                    reply_subaddress=senders.reply_subaddress)
        except ValueError as exc:
            return {"route": "email", "error": str(exc)}
        del message["Message-ID"]
        # Kept unfolded and in UTF-8 (RFC 6532 form) so that parsing it back gives the same headers (a
        # folded RFC 2047 subject comes back with a doubled space); the send encodes it as before.
        return {"route": "email", "message": message.as_string(policy=_KEPT)}
    text = short_text(notice, senders.program_name)
    if target.route == "twilio":
        return {"route": "twilio", "to": target.address, "text": text, "whatsapp": target.channel == "whatsapp"}
    if target.route == "meta":
        return {"route": "meta", "channel": target.channel, "to": target.address, "text": text}
    return {"route": "mastodon", "to": target.address, "text": text, "in_reply_to": reply_to}


def email_from_intent(text: str) -> EmailMessage:
    """The email kept in an intent (RFC 5322 text in its UTF-8 form, `_intent`) as a message ready to send.
    A header parsed back keeps its raw non-ASCII text, which the generator then refuses to write
    (`UnicodeEncodeError` for every French subject: found by the Montréal replay), so each such header
    is set again from its decoded value and is encoded as RFC 2047 words at the send, as it was when
    composed."""
    message = email.message_from_string(text, policy=policy.default)
    for name, value in [(n, str(v)) for n, v in message.items() if not str(v).isascii()]:
        message.replace_header(name, value)
    return message  # type: ignore[return-value]


async def _send(senders: Senders, delivery_id: int, cause_event_id: UUID, intent: dict[str, Any]) -> str:
    """Send a delivery's `intent` (`_intent`); returns the provider's message id (an email's Message-ID,
    `messages.delivery_message_id` of the delivery: the same whoever sends it). Twilio and Meta take no
    idempotency key, so a text is never sent twice by us instead (at most once). Raises when it cannot
    (not configured, refused, unreachable; `ValueError` for an email that cannot be addressed)."""
    route = intent["route"]
    if route == "email":
        if "error" in intent:
            raise ValueError(intent["error"])
        message = email_from_intent(intent["message"])
        message["Message-ID"] = delivery_message_id(delivery_id, cause_event_id, senders.mail_from)
        await senders.send_email(message)  # type: ignore[arg-type]
        return str(message["Message-ID"])
    if route == "twilio":
        if senders.twilio is None:
            raise RuntimeError("Twilio is not configured (OMNI311_TWILIO_ACCOUNT_SID/AUTH_TOKEN/FROM_NUMBER)")
        return await senders.twilio.send(intent["to"], intent["text"], whatsapp=intent["whatsapp"])
    if route == "meta":
        if senders.meta is None:
            raise RuntimeError("Meta is not configured (OMNI311_META_ACCESS_TOKEN)")
        return await senders.meta.send(intent["channel"], intent["to"], intent["text"])
    if senders.mastodon is None:
        raise RuntimeError("Mastodon is not configured (OMNI311_MASTODON_API_BASE_URL/ACCESS_TOKEN)")
    return await senders.mastodon.send(intent["to"], intent["text"], intent["in_reply_to"])


# --- intake events: unsupported messages, opt-outs, bounces, provider statuses ----------------------------


async def on_message_unsupported(unsupported: MessageUnsupported, uow: Uow, *, sending: Sending) -> str:
    """A resident sent a message kind we cannot read (intake_social kept it raw): answer on the same
    channel with one short request to write the report as text, in the message's language (else the
    jurisdiction's first locale), once per (`channel`, `channel_message_id`) (`text_request_cause`),
    never to an opted-out or bounced recipient nor outside Meta's reply window (``suppressed``). There is
    no case: the delivery row (without a case) is its record. ``no_contact`` when the channel is not one we
    answer in chat or text, or names no address."""
    target = text_request_target(unsupported, uow.now, sending.reply_window_h)
    if target is None:
        log.warning("text_request_without_target", channel=unsupported.channel, kind=unsupported.kind)
        return "no_contact"
    notice = text_request(unsupported, sending.first_locale(sending.home_jurisdiction_id))
    result = await _claim(uow, sending, None, target, notice, contact=None,
                          cause_event_id=text_request_cause(unsupported.channel, unsupported.channel_message_id),
                          reply_to=unsupported.channel_message_id)
    log.info("text_requested", channel=unsupported.channel, kind=unsupported.kind, result=result)
    return result



async def on_bounce(bounce: BounceReceived, uow: Uow) -> str:
    """Mark the bounced address undeliverable: later notices to it are recorded as suppressed. Raises
    `ValueError` when the bounce names no address (nothing is claimed; the event goes to the DLQ)."""
    await uow.repo.mark_undeliverable(undeliverable_of(bounce), uow.now)
    return "marked_undeliverable"


async def on_opt_out(ev: OptOutReceived, uow: Uow) -> str:
    """The resident texted STOP (or the carrier refused a message with 21610): send nothing more there.
    Raises `ValueError` when the event names no phone (nothing is claimed; the event goes to the DLQ)."""
    await uow.repo.opt_out(requested_opt_out(ev), uow.now)
    return "opted_out"


async def on_opt_in(ev: OptInReceived, uow: Uow) -> str:
    """The resident texted START: notices resume. Raises `ValueError` when the event names no phone
    (nothing is claimed; the event goes to the DLQ)."""
    await uow.repo.opt_in(opt_in_key(ev))
    return "opted_in"


async def on_message_status(ev: MessageStatusReceived, uow: Uow) -> str:
    """A Twilio status callback: recorded on the case as a delivery outcome; error 21610 opts out."""
    opt_out = carrier_opt_out(ev)
    if opt_out is not None:
        await uow.repo.opt_out(opt_out, uow.now)
    return await _provider_status(uow, twilio_report(ev))


async def on_delivery_status(ev: DeliveryStatusReceived, uow: Uow) -> str:
    """A WhatsApp Cloud status (sent, delivered, read, failed): recorded on the case as a delivery outcome."""
    return await _provider_status(uow, whatsapp_report(ev))


async def _provider_status(uow: Uow, report: ProviderReport) -> str:
    sent = await uow.repo.record_provider_status(report.provider_message_id, report.status)
    if sent is None:
        return "unknown_message"  # not ours, or sent before this store existed
    record = status_recorded(sent, report)
    if record is not None:  # a delivery without a case keeps the status in its row only
        await uow.emit(record, subject=sent.case_id)
    return f"status_{report.status}"


# --- the sweeper: deliveries a crash left open -----------------------------------------------------------


async def settle_interrupted(uow: Uow, *, older_than_s: float, instance_id: UUID | None = None,
                             senders: Senders | None = None, record_uow: RecordUnitOfWork | None = None,
                             in_flight: set[int] | None = None, db_retry_s: tuple[float, ...] = (),
                             limit: int = 100) -> int:
    """Say that this process (`instance_id`, when given) lives, then settle the deliveries still ``sending``
    `older_than_s` seconds after their claim whose owner has been silent as long (it stopped between the
    commit and the send's record: killed, out of memory, its host gone), and this process's own such rows
    that it is not delivering (not in `in_flight`; not attempted, or attempted as long ago): their delivery
    gave up on the database (PostgreSQL restarting longer than `Sending.db_retry_s`). One never handed to
    its provider is certainly unsent: this process takes it over and sends it once from its intent after
    the commit (`senders`, outcome recorded in `record_uow`, retried after `db_retry_s` pauses like
    `_deliver`'s; needs all three of `instance_id`, `senders` and `record_uow`). One handed over (it may have
    gone out), or without an intent, is recorded ``failed`` with the reason `INTERRUPTED`, never sent again.
    Either outcome is published as `notification.recorded` (the case service puts it on the timeline, where
    staff see it; services/notifier/README.md, "Crashes"). Another live owner's rows are never settled,
    however slow its sends. Returns how many rows were taken, at most `limit` per call (STYLE rule 11)."""
    if instance_id is not None:
        await uow.repo.beat(instance_id, uow.now)
    stale = await uow.repo.interrupted_deliveries(uow.now - timedelta(seconds=older_than_s), older_than_s, limit,
                                                  own=instance_id, in_flight=sorted(in_flight or ()))
    failed = resent = 0
    for row in stale:
        if row.resendable and instance_id is not None and senders is not None and record_uow is not None:
            await uow.repo.take_over(row.delivery_id, instance_id)
            uow.after_commit(partial(_resend, row, senders, record_uow, uow.now, db_retry_s, in_flight))
            resent += 1
            continue
        await uow.repo.finish_delivery(row.delivery_id, status="failed", provider_message_id=None, reason=INTERRUPTED,
                                       at=uow.now)
        record = interrupted_recorded(row.sent)
        if record is not None:
            await uow.emit(record, subject=row.sent.case_id)
        failed += 1
    if stale:
        log.warning("interrupted_deliveries_settled", failed=failed, resending=resent,
                    cases=[str(r.sent.case_id) for r in stale][:20])
    return len(stale)


async def _resend(row: Interrupted, senders: Senders, record_uow: RecordUnitOfWork, now: datetime,
                  db_retry_s: tuple[float, ...] = (), in_flight: set[int] | None = None) -> str:
    """Send a delivery taken over from a dead owner, or from this process's own delivery that gave up on
    the database (after the sweeper's commit), and record its outcome: ``sent`` (reason `RESENT`) or
    ``failed`` with the send's error, published without PII; the record is retried after `db_retry_s`
    pauses on a transient error (`_retrying`). The row is in `in_flight` (this process's sweeper leaves it
    alone) until its outcome is recorded."""
    assert row.intent is not None
    if in_flight is not None:
        in_flight.add(row.delivery_id)
    try:
        return await _resend_in_flight(row, senders, record_uow, now, db_retry_s)
    finally:
        if in_flight is not None:
            in_flight.discard(row.delivery_id)


async def _resend_in_flight(row: Interrupted, senders: Senders, record_uow: RecordUnitOfWork, now: datetime,
                            db_retry_s: tuple[float, ...]) -> str:
    assert row.intent is not None
    outcome: Outcome = "sent"
    provider_id: str | None = None
    reason: str | None = None
    try:
        provider_id = await _send(senders, row.delivery_id, row.sent.cause_event_id, row.intent)
    except Exception as exc:  # noqa: BLE001 - any failure is recorded; never retried (at most once)
        outcome, reason = "failed", send_failure(exc)
        log.warning("notice_failed", case_id=str(row.sent.case_id), channel=row.sent.channel, error=reason)

    async def record() -> str:
        async with record_uow(None, now) as uow:  # type: ignore[arg-type] - no consumed event: a flow of its own
            if not await uow.repo.finish_delivery(row.delivery_id, status=outcome, provider_message_id=provider_id,
                                                  reason=reason, at=now):
                return "settled_before"
            record = resent_recorded(row.sent, outcome, reason, provider_id)
            if record is not None:
                await uow.emit(record, subject=row.sent.case_id)
        return outcome

    result = await _retrying(record, db_retry_s, "finish_delivery", row.delivery_id)
    log.info("interrupted_delivery_resent", delivery_id=row.delivery_id, case_id=str(row.sent.case_id),
             outcome=outcome)
    return result


def handlers(sending: Sending) -> Handlers:
    """What the notifier consumes, with its senders, outcome recorder and reply window bound."""
    return {
        CaseOpened.event_type: (CaseOpened, partial(on_case_opened, sending=sending)),
        CaseRouted.event_type: (CaseRouted, partial(on_case_routed, sending=sending)),
        CaseMerged.event_type: (CaseMerged, partial(on_case_merged, sending=sending)),
        CaseStatusChanged.event_type: (CaseStatusChanged, partial(on_status_changed, sending=sending)),
        CaseMessageAdded.event_type: (CaseMessageAdded, on_message_added),
        CasePublicUpdate.event_type: (CasePublicUpdate, partial(on_public_update, sending=sending)),
        CaseReplyRequested.event_type: (CaseReplyRequested, partial(on_reply_requested, sending=sending)),
        CaseUnmerged.event_type: (CaseUnmerged, partial(on_case_unmerged, sending=sending)),
        CaseEscalated.event_type: (CaseEscalated, partial(on_case_escalated, sending=sending)),
        CasePersonalDataErased.event_type: (CasePersonalDataErased, on_personal_data_erased),
        CaseFollowed.event_type: (CaseFollowed, partial(on_case_followed, sending=sending)),
        BounceReceived.event_type: (BounceReceived, on_bounce),
        OptOutReceived.event_type: (OptOutReceived, on_opt_out),
        OptInReceived.event_type: (OptInReceived, on_opt_in),
        MessageStatusReceived.event_type: (MessageStatusReceived, on_message_status),
        DeliveryStatusReceived.event_type: (DeliveryStatusReceived, on_delivery_status),
        MessageUnsupported.event_type: (MessageUnsupported, partial(on_message_unsupported, sending=sending)),
    }
