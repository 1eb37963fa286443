"""What the notifier knows of a reporter and a case: the stored contact and the last status heard. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID

from services.notifier.domain.messages import language_of
from shared.events import CaseFollowed, CaseOpened

if TYPE_CHECKING:
    from services.notifier.domain.profiles import Preference


@dataclass(frozen=True)
class Contact:
    """How to reach the reporter of one case (a `contacts` row).

    `channel` is the channel they wrote on; `email`, `phone`, `handle` (Messenger PSID, Instagram IGSID,
    WhatsApp id, ``@user@server``) the addresses they gave; `language` the template language ("en",
    "fr"); `reply_to_message_id` their mail's Message-ID (email reporters only: our mails thread to it);
    `channel_message_id` their message on their channel (a Mastodon reply answers it); `last_inbound_at`
    (UTC) their last message, the start of Meta's reply window; `merged_into` the case theirs joined.
    A follower of the case (`follower` true, a `followers` row) has `channel` ``email`` or ``sms`` and
    only that address. `preference` is what the contact key's profile says of notices to it
    (`profiles.with_preference`), None without a profile.
    """

    case_id: UUID
    service_request_id: str
    contact_key: str
    channel: str
    email: str | None = None
    phone: str | None = None
    display_name: str | None = None
    language: str | None = None
    reply_to_message_id: str | None = None
    handle: str | None = None
    last_inbound_at: datetime | None = None
    channel_message_id: str | None = None
    merged_into: UUID | None = None
    follower: bool = False
    preference: Preference | None = None


@dataclass(frozen=True)
class CaseStatus:
    """The last status the notifier heard of for a case, and the `case.status_changed` that said it:
    the Open311 `status`, the jurisdiction's `workflow_status` (None before the workflow) and whether
    the reporters were told of it (`notify`)."""

    case_id: UUID
    service_request_id: str
    status: str
    status_notes: str | None
    event_id: UUID
    workflow_status: str | None = None
    notify: bool = True


def reporter_name(opened: CaseOpened) -> str | None:
    """The reporter's name as they gave it: `pii.name`, else first and last name, else None."""
    return opened.pii.name or " ".join(x for x in (opened.pii.first_name, opened.pii.last_name) if x) or None


def contact_of(opened: CaseOpened, default_language: str = "en") -> Contact:
    """The contact an opened case gives: its addresses, name and language (`default_language`, the
    jurisdiction's first locale, when the message did not say); the reporter's message starts the reply
    window (`requested_datetime`), and an email reporter's Message-ID is what our mails answer."""
    return Contact(
        case_id=opened.case_id, service_request_id=opened.service_request_id, contact_key=opened.contact_key,
        channel=opened.channel, email=opened.pii.email, phone=opened.pii.phone, display_name=reporter_name(opened),
        language=language_of(opened.language, default_language), reply_to_message_id=reply_to_of(opened),
        handle=opened.pii.handle, last_inbound_at=opened.requested_datetime, channel_message_id=opened.channel_message_id,
    )


def reply_to_of(opened: CaseOpened) -> str | None:
    """The Message-ID our mails about this case answer (`In-Reply-To`): the reporter's own mail, if any."""
    return opened.channel_message_id if opened.channel == "email" else None


def contact_of_follower(followed: CaseFollowed, default_language: str = "en") -> Contact:
    """How to reach a follower of a case (`case.followed`): on the channel they chose (``email`` with
    `pii.email`, ``sms`` with `pii.phone`), in their language; no name, no thread of theirs."""
    return Contact(
        case_id=followed.case_id, service_request_id=followed.service_request_id,
        contact_key=followed.follower_contact_key, channel=followed.notify_channel,
        email=followed.pii.email if followed.notify_channel == "email" else None,
        phone=followed.pii.phone if followed.notify_channel == "sms" else None,
        language=language_of(followed.language, default_language), follower=True,
    )
