"""Which notice a case lifecycle event means for one reporter (or supervisor). Pure.

`case.opened` → an acknowledgement with the case number; `case.routed` with a place to confirm → "Did you
mean <matched>?" (`location_confirmation`); `case.routed` after a written place was not found → "We could
not find <place>. Where is it?" once per case (`place_question`); `case.merged` → the case their report now
follows (and, when that case was already closed, its closure); `case.status_changed` → `closed` or
`status_changed` (with the workflow's text for the status when it has one), to the case's reporter and to
every reporter merged into it; `case.public_update` → the staff's text to all of them; `case.reply_requested`
→ the staff's text to one of them; `case.unmerged` → their report is its own case again;
`case.escalated` → an email to the supervisors; `case.followed` → a confirmation to the new follower, who
then hears the status notices and public updates (never a reply, never a survey); a case that first
reaches a `resolved` or `closed` workflow status → one survey invitation per reporter. A chat report
(Messenger, Instagram, WhatsApp Cloud, Mastodon) opened without any place is acknowledged with the
question where it is (`asks_where`). `intake.message_unsupported` (no case) → one request to write the
report as text (`text_request`), once per channel message (`text_request_cause`).
"""

from __future__ import annotations

from datetime import UTC, tzinfo
from urllib.parse import quote
from uuid import UUID, uuid5

from services.notifier.domain.messages import Escalation, Notice, language_of
from services.notifier.domain.model import CaseStatus, Contact, reporter_name
from shared.contacts import scrub_contacts
from shared.events import (
    CaseEscalated,
    CaseFollowed,
    CaseMerged,
    CaseOpened,
    CasePublicUpdate,
    CaseReplyRequested,
    CaseRouted,
    CaseStatusChanged,
    CaseUnmerged,
    MessageUnsupported,
)


def acknowledgement(opened: CaseOpened, contact: Contact) -> Notice:
    """The acknowledgement of an opened case: the name and description of this event, the language
    of the stored contact (the first `case.opened` of the case stored it), and the question where the
    problem is when `asks_where`."""
    return Notice(kind="acknowledgement", service_request_id=opened.service_request_id,
                  language=contact.language,  # type: ignore[arg-type]
                  display_name=reporter_name(opened), description=opened.description or None,
                  ask_location=asks_where(opened))


CHAT_CHANNELS = ("messenger", "instagram", "mastodon")
"""Chat channels whose adapters cannot ask for a place at intake (docs/channels.md, "One location check"):
WhatsApp joins them when it came through WhatsApp Cloud (message ids ``wamid.``); WhatsApp and SMS through
Twilio ask in their own conversation."""


def asks_where(opened: CaseOpened) -> bool:
    """Whether the acknowledgement of `opened` also asks where the problem is ("Where is it? Reply with the
    address or share your location."): a report from a chat channel (`CHAT_CHANNELS`, or WhatsApp Cloud)
    with no point (`lat`/`long`) and no written `address`. The answer comes back as a follow-up that joins
    the case (docs/channels.md, "Conversations")."""
    chat = opened.channel in CHAT_CHANNELS or (opened.channel == "whatsapp"
                                               and opened.channel_message_id.startswith("wamid."))
    has_place = (opened.lat is not None and opened.long is not None) or bool((opened.address or "").strip())
    return chat and not has_place


def asks_in_conversation(contact: Contact) -> bool:
    """Whether the reporter's own intake channel asks "Did you mean" within its conversation (docs/judgement.md,
    "Places from words"): a text through Twilio (`sms`, or `whatsapp` not from WhatsApp Cloud, whose message
    ids start ``wamid.``), whose answer the conversation cookie threads onto the case."""
    return contact.channel == "sms" or (contact.channel == "whatsapp"
                                        and not (contact.channel_message_id or "").startswith("wamid."))


def location_confirmation(routed: CaseRouted, contact: Contact) -> Notice | None:
    """The question a reporter is asked when the router could place their written address only with a
    confidence in the confirm band (`routing.location.status` ``confirm``): "Did you mean <matched>? Reply
    YES, or send the address." in their language, on their channel; the router reads the answer
    (`case.message_added`). None for any other decision, for a staff recategorisation (`source` ``manual``),
    for a case that already has its point, for a follower, and for a text reporter whose SMS conversation
    asks itself (`asks_in_conversation`)."""
    location = routed.routing.location
    if (location is None or location.status != "confirm" or not location.matched or routed.routing.source != "automatic"
            or (routed.lat is not None and routed.long is not None) or contact.follower
            or asks_in_conversation(contact)):
        return None
    return Notice(kind="location_confirm", service_request_id=routed.service_request_id,
                  language=contact.language, display_name=contact.display_name,  # type: ignore[arg-type]
                  matched=location.matched)


ASKING_CHANNELS = ("sms", "whatsapp", "messenger", "instagram", "mastodon")
"""Channels whose reporter can answer where the problem is by replying in their conversation (the answer
joins the case, docs/channels.md "Conversations"); email, web, voice and Open311 reports are not asked."""


def place_question(routed: CaseRouted, contact: Contact) -> Notice | None:
    """The question a reporter is asked when the router found nothing for the place their report wrote
    (`routing.location.status` ``not_found`` with the `query` it looked up): "We could not find <place>.
    Where is it? Reply with the address or the nearest corner." in their language, on their channel
    (`ASKING_CHANNELS`); the router reads the answer (`case.message_added`). None for any other decision, a
    report that wrote no place (no `query`: the acknowledgement, or the SMS conversation, already asked
    "Where is it?" of a report with neither point nor address, `asks_where`), a staff recategorisation
    (`source` ``manual``), a case with a point, a follower, and another channel. Once per case
    (`place_question_cause`)."""
    location = routed.routing.location
    if (location is None or location.status != "not_found" or not (location.query or "").strip()
            or routed.routing.source != "automatic" or (routed.lat is not None and routed.long is not None)
            or contact.follower or contact.channel not in ASKING_CHANNELS):
        return None
    return Notice(kind="location_not_found", service_request_id=routed.service_request_id,
                  language=contact.language, display_name=contact.display_name,  # type: ignore[arg-type]
                  matched=" ".join(location.query.split()))  # type: ignore[union-attr]


def place_question_cause(case_id: UUID) -> UUID:
    """The cause of the question after a place not found: the same for every routing decision of a case,
    so a reporter is asked at most once per case (the deliveries' unique key)."""
    return uuid5(_PLACE_QUESTION, str(case_id))


def merge_notice(merged: CaseMerged, contact: Contact) -> Notice:
    """Tells the reporter of the merged case which case (`merged_into_service_request_id`) theirs follows."""
    return Notice(kind="merged", service_request_id=merged.service_request_id,
                  language=contact.language, display_name=contact.display_name,  # type: ignore[arg-type]
                  merged_into_service_request_id=merged.merged_into_service_request_id)


def late_closure(survivor: CaseStatus | None, contact: Contact, text: str | None = None) -> Notice | None:
    """The closure a reporter merged into an already-closed case still hears of, with the workflow's
    `text` for its status when there is one; None when the surviving case is not closed, was closed
    without telling its reporters (`notify` false), or no status was heard for it.

    `cases.lifecycle` is keyed by case, so the survivor's `case.status_changed` and the merged case's
    `case.merged` may arrive in either order; the notice is caused by the closing event
    (`survivor.event_id`), so that it still goes out at most once to that reporter.
    """
    if survivor is None or survivor.status != "closed" or not survivor.notify:
        return None
    return Notice(kind="closed", service_request_id=survivor.service_request_id,
                  language=contact.language, display_name=contact.display_name,  # type: ignore[arg-type]
                  status_notes=survivor.status_notes, text=text)


def _for(contact: Contact, text: str | None, region: str) -> str | None:
    """`text` as `contact` may read it: a follower (anyone may follow any case) gets it with email addresses
    and phone numbers scrubbed, as the public reads and open data show it; a reporter as written."""
    return scrub_contacts(text, region) if text and contact.follower else text


def status_notice(changed: CaseStatusChanged, contact: Contact, text: str | None = None, *,
                  region: str = "US") -> Notice:
    """A status change as told to one reporter of the case (or of a case merged into it), or a follower:
    `closed` when the Open311 status is ``closed``, else `status_changed`, with the workflow's `text` for
    the new status in the reporter's language (None: the generic sentence of an update or closure) and
    the staff's notes (scrubbed of contact data for a follower; `region`: where phone numbers without
    ``+`` are read)."""
    return Notice(kind="closed" if changed.status == "closed" else "status_changed",
                  service_request_id=changed.service_request_id,
                  language=contact.language, display_name=contact.display_name,  # type: ignore[arg-type]
                  status_notes=_for(contact, changed.status_notes, region), text=text, follower=contact.follower)


def public_update_notice(update: CasePublicUpdate, contact: Contact, *, region: str = "US") -> Notice:
    """A staff member's public update (`text`, as written; scrubbed of contact data for a follower) to one
    reporter of the case or of a case merged into it, or a follower, under the case's number, framed in
    the reporter's language."""
    return Notice(kind="public_update", service_request_id=update.service_request_id,
                  language=contact.language, display_name=contact.display_name,  # type: ignore[arg-type]
                  text=_for(contact, update.text, region), follower=contact.follower)


def reply_notice(reply: CaseReplyRequested, contact: Contact) -> Notice:
    """A staff member's reply (`text`) to the one reporter `contact_key`, under the case's number."""
    return Notice(kind="reply", service_request_id=reply.service_request_id,
                  language=contact.language, display_name=contact.display_name,  # type: ignore[arg-type]
                  text=reply.text)


def unmerge_notice(unmerged: CaseUnmerged, contact: Contact) -> Notice:
    """Tells the reporter of the unmerged case that their report (`service_request_id`) is its own case
    again, no longer following `unmerged_from_service_request_id`. The staff's `reason` is not told: it
    was written for the timeline, not for a resident."""
    return Notice(kind="unmerged", service_request_id=unmerged.service_request_id,
                  language=contact.language, display_name=contact.display_name,  # type: ignore[arg-type]
                  merged_into_service_request_id=unmerged.unmerged_from_service_request_id)


def reporter_of(contacts: list[Contact], contact_key: str, case_id: UUID) -> Contact | None:
    """The reporter `contact_key` among the contacts following a case: the one of the case itself first,
    else of a case merged into it; None when no contact has that key."""
    mine = [c for c in contacts if c.contact_key == contact_key]
    mine.sort(key=lambda c: c.case_id != case_id)
    return mine[0] if mine else None


def escalation_notice(escalated: CaseEscalated, *, workbench_base_url: str, tz: tzinfo = UTC,
                      language: str = "en") -> Notice:
    """The email a supervisor gets when an escalation rule acted (`case.escalated`): case number, service,
    due time written in `tz` (the jurisdiction's time zone, e.g. ``2025-03-17 11:00 EDT``), what the rule
    did, and the link ``{workbench_base_url}/cases/{service_request_id}`` to the case in the workbench."""
    due = escalated.due_at.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z") if escalated.due_at else None
    link = f"{workbench_base_url.rstrip('/')}/cases/{quote(escalated.service_request_id, safe='')}"
    return Notice(kind="escalation", service_request_id=escalated.service_request_id, language=language,
                  escalation=Escalation(rule_id=escalated.rule_id, trigger=escalated.trigger, link=link,
                                        service_name=escalated.service_name, due=due,
                                        priority=escalated.priority, previous_priority=escalated.previous_priority,
                                        queue=escalated.queue, previous_queue=escalated.previous_queue))


SURVEY_STATUSES = ("resolved", "closed")
"""The workflow statuses whose first reaching invites the reporters to the survey (docs/residents-and-
insights.md, "Events"): not `duplicate`, `cancelled` or `referred_out`, which closed nothing we did."""

_SURVEY = UUID("8d3b5f0e-6a41-4c2e-9f17-0b5e2d7c4a91")
_TEXT_REQUEST = UUID("5b0f2c7e-93d4-4a1b-8e6f-2c9d1a7b3e54")
_FOLLOW = UUID("1f6e9c2a-7b3d-4e58-a0c4-5d2f8e1b7c63")
_PLACE_QUESTION = UUID("c4a7e2d9-5b18-4f63-9e0a-7d3b6f1c8e25")


def invites_survey(status: str, workflow_status: str | None) -> bool:
    """Whether a case in this Open311 `status` and workflow status is one its reporters are asked about:
    Open311 ``closed`` in one of `SURVEY_STATUSES`."""
    return status == "closed" and workflow_status in SURVEY_STATUSES


def survey_cause(case_id: UUID) -> UUID:
    """The cause of a case's survey invitations: the same for every closure of the case, so each reporter is
    invited once per case whatever reopens and closes it again (the deliveries' unique key)."""
    return uuid5(_SURVEY, str(case_id))


def follow_cause(case_id: UUID, contact_key: str) -> UUID:
    """The cause of a follower's confirmation: one per (case, follower)."""
    return uuid5(_FOLLOW, f"{case_id}\x00{contact_key}")


def follow_confirmation(followed: CaseFollowed, contact: Contact) -> Notice:
    """The confirmation a new follower gets: they follow the case (and, by SMS, how to stop)."""
    return Notice(kind="followed", service_request_id=followed.service_request_id,
                  language=contact.language, follower=True)  # type: ignore[arg-type]


def survey_invitation(service_request_id: str, contact: Contact, link: str) -> Notice:
    """The survey invitation a reporter gets once their case (`service_request_id`: the closed case, the
    survivor for a report merged into it) is resolved or closed: `link` is their own survey address."""
    return Notice(kind="survey_invitation", service_request_id=service_request_id,
                  language=contact.language, display_name=contact.display_name,  # type: ignore[arg-type]
                  link=link)


def with_followers(reporters: list[Contact], followers: list[Contact]) -> list[Contact]:
    """Who hears a public notice of a case: its reporters (those of merged cases included), then its
    followers, each contact key once (a reporter who also follows hears it as a reporter)."""
    seen = {c.contact_key for c in reporters}
    out = list(reporters)
    for f in followers:
        if f.contact_key not in seen:
            seen.add(f.contact_key)
            out.append(f)
    return out


def text_request_cause(channel: str, channel_message_id: str) -> UUID:
    """The cause of the request to write as text that answers one unsupported message: the same for every
    copy of that message's `intake.message_unsupported` (a provider's retry, a republished event), so it is
    sent once per (`channel`, `channel_message_id`) (the deliveries' unique key without a case)."""
    return uuid5(_TEXT_REQUEST, f"{channel}\x00{channel_message_id}")


def text_request(unsupported: MessageUnsupported, default_language: str = "en") -> Notice:
    """The one short request to write the report as text ("Please write your report as text") that
    answers a message kind we cannot read, in the message's `language`, else `default_language` (the
    jurisdiction's first locale), English when neither has texts. It names no case (there is none)."""
    return Notice(kind="text_request", service_request_id="",
                  language=language_of(unsupported.language, default_language))
