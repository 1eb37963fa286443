"""Handle one Meta webhook delivery: verify its signature, normalise it, thread it, publish it.

Produces on `intake.messages` (published with acks=all before the webhook is answered, so a 200 means
Kafka has every message of the batch): `intake.message_received` (a report, or a follow-up of the
contact's report with `in_reply_to` and `attributes.conversation`), `intake.message_unsupported` (a kind
we cannot read, kept raw first), `intake.message_withdrawn` (an unsent message) and
`intake.delivery_status_received` (WhatsApp statuses, for the notifier). Receipts and rejected items are
reported through `report` (logs and metrics), never published.

Media (docs/channels.md, "Media kept by us"): a message's files are downloaded and kept by us before it is
published, its `media_url` then holds our URLs; a file that cannot be kept keeps the provider's link, the
reason in `attributes.media_failed`.

Conversations (docs/channels.md, "Conversations"): each message is read against the contact's last report
on its channel (`ConversationStore`) with `shared.intake.conversation.follow_up_of`; whether that report's
case is still open, and its service, are asked of the case API first (`shared.intake.follow_ups`), and a
case API that cannot answer means open (the text joins: staff can split it, a follow-up lost in a new case
is worse).
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from services.intake_social.domain import signature
from services.intake_social.domain.meta import Contains, MetaAccounts, parse_delivery
from services.intake_social.domain.outcomes import (
    Inbound,
    Outcome,
    Rejected,
    StatusReported,
    Summary,
    Unsupported,
    Withdrawn,
)
from services.intake_social.domain.storable import storable
from services.intake_social.service_layer.reading import in_its_language, written_place
from shared.events import Envelope, MessageReceived
from shared.intake import CaseApi
from shared.intake.conversation import Decision, Thread, asks_for_new_report, follow_up_of
from shared.intake.follow_ups import as_its_case_says
from shared.media import with_our_media

Publish = Callable[[Envelope], Awaitable[None]]
"""Publish one envelope on its registry topic, keyed by its subject; returns once the broker acknowledged it
(raises otherwise)."""


DAY_S = 24 * 3600.0


class SignatureRejected(Exception):
    """The body does not carry a valid `X-Hub-Signature-256` for the app secret (or no secret is set)."""


class ConversationStore(Protocol):
    """The last report of each contact on each channel (`adapters/conversations.py`). Raises the
    database's errors (the webhook then answers 503 and Meta sends the batch again)."""

    async def thread_of(self, contact_key: str, channel: str) -> Thread | None:
        """The contact's last report on `channel`, or None."""

    async def opened(self, contact_key: str, channel: str, report_id: str, service_code: str | None,
                     at: datetime) -> None:
        """`report_id` (a message id) is now the contact's report on `channel`, written at `at` (UTC)."""

    async def touched(self, contact_key: str, channel: str, at: datetime) -> None:
        """The contact wrote a follow-up at `at` (UTC)."""


class UnsupportedStore(Protocol):
    """Messages of kinds we cannot read, kept raw (`adapters/unsupported.py`). Raises the database's errors."""

    async def keep(self, *, channel: str, message_id: str, contact_key: str, kind: str, raw: Any,
                   received_at: datetime) -> None:
        """Keep one item as delivered; a second copy changes nothing."""

    async def recent(self, limit: int) -> list[dict[str, Any]]:
        """The latest items kept, newest first."""


class MediaKeeper(Protocol):
    """Downloads a message's media and keeps our copy (`adapters/media.py`)."""

    async def keep(self, url: str, *, channel_message_id: str) -> str:
        """Our URL of the file at `url`. Raises `MediaRefused`/`MediaUnavailable` (the provider's link is
        then kept) and the database's errors."""

    async def forget(self, channel_message_id: str) -> int:
        """Delete every file message `channel_message_id` carried (an unsent message: our copy must not
        outlive it at ``/media/{id}``); how many were deleted. Raises the database's errors."""


@dataclass(frozen=True)
class Place:
    """What the jurisdiction says about places, problems and words: `contains(lat, long)` (the location
    check), `names_service(text)` (the service codes a text names, `shared.intake.conversation.services_named`
    over the jurisdiction's keywords) and `language`, its first locale (the language of a message whose words
    show none)."""

    contains: Contains | None = None
    names_service: Callable[[str], set[str]] = field(default=lambda _text: set())
    language: str = "en"


@dataclass(frozen=True)
class WebhookDeps:
    """What the webhook handler needs: the app secret (bytes; None refuses every delivery), which Meta
    accounts are the city's, the publisher, a reporter for every outcome, the conversations and the kept
    unsupported messages, the case API (is a report's case still open?), the jurisdiction's `place`, the
    conversation window (seconds, `conversation_window_s`), a log callable for case API and download
    trouble, the media keeper (None: provider links are published as they are), and the producer name."""

    app_secret: bytes | None
    accounts: MetaAccounts
    publish: Publish
    report: Callable[[Outcome], None]
    conversations: ConversationStore
    unsupported: UnsupportedStore
    case_api: CaseApi
    place: Place = field(default_factory=Place)
    window_s: float = DAY_S
    warn: Callable[..., None] = field(default=lambda *_a, **_k: None)
    media: MediaKeeper | None = None
    producer: str = "intake_social"


def verify_challenge(mode: str | None, token: str | None, challenge: str | None, expected: str | None) -> str | None:
    """Meta's subscription handshake (GET with `hub.mode=subscribe`, `hub.verify_token`, `hub.challenge`):
    the challenge to echo back when the token is ours, else None (answer 403)."""
    if mode != "subscribe" or not expected or token is None or challenge is None:
        return None
    if not hmac.compare_digest(token.encode(), expected.encode()):
        return None
    return challenge


async def receive_delivery(body: bytes, signature_header: str | None, deps: WebhookDeps, now: datetime) -> Summary:
    """Verify and handle one POSTed delivery; returns the counts of its outcomes.

    `body` must be the raw request bytes: the signature is checked on them before any parsing.
    Raises `SignatureRejected` (nothing is parsed or published), or whatever `deps.publish` raises when
    the broker does not acknowledge (the caller answers 5xx so that Meta delivers the batch again; the
    event ids derive from the message ids, so messages already published are not duplicated).
    """
    if deps.app_secret is None or not signature.verify(deps.app_secret, body, signature_header):
        raise SignatureRejected
    try:
        payload = storable(json.loads(body))
    except (ValueError, RecursionError):
        # Signed but not JSON: sending it again would not help, so it is reported and answered 200.
        outcomes: list[Outcome] = [Rejected(None, "not_json", "$")]
    else:
        outcomes = parse_delivery(payload, accounts=deps.accounts, now=now, contains=deps.place.contains)
    for i, outcome in enumerate(outcomes):
        if isinstance(outcome, Inbound):
            outcome = outcomes[i] = await _converse(outcome, deps, now)
        elif isinstance(outcome, StatusReported):
            st = outcome.status
            await deps.publish(Envelope.new_flow(st, subject=st.contact_key, producer=deps.producer, now=now,
                                                 event_id=outcome.event_id))
        elif isinstance(outcome, Unsupported):
            u = outcome.message
            # Kept before it is announced: a 503 in between makes Meta send it again, and keeping is idempotent.
            await deps.unsupported.keep(channel=u.channel, message_id=u.channel_message_id, contact_key=u.contact_key,
                                        kind=u.kind, raw=outcome.raw, received_at=now)
            await deps.publish(Envelope.new_flow(u, subject=u.contact_key, producer=deps.producer, now=now,
                                                 event_id=outcome.event_id))
        elif isinstance(outcome, Withdrawn):
            w = outcome.message
            if deps.media is not None:
                # The words go from the case (the case service); our copy of its files goes here, before it is
                # announced: forgetting is idempotent, so a 503 in between is safe.
                await deps.media.forget(w.channel_message_id)
            await deps.publish(Envelope.new_flow(w, subject=w.contact_key, producer=deps.producer, now=now,
                                                 event_id=outcome.event_id))
        deps.report(outcome)
    return Summary.of(outcomes)


async def _converse(outcome: Inbound, deps: WebhookDeps, now: datetime) -> Inbound:
    """Keep the message's media, publish it as a report or as a follow-up of the contact's report, and move
    the conversation on; returns the outcome as published. Raises what the publisher or the stores raise."""
    msg = in_its_language(outcome.message, deps.place.language)
    if deps.media is not None:
        keeper, mid = deps.media, msg.channel_message_id
        # No keep_link_on: a database error propagates (503) and Meta sends the batch again.
        msg = await with_our_media(msg, lambda url: keeper.keep(url, channel_message_id=mid), warn=deps.warn)
    thread = await deps.conversations.thread_of(msg.contact_key, msg.channel)
    if thread is not None and thread.report_id == msg.channel_message_id:
        thread = None  # Meta sent the report itself again: it stays the report it was
    if thread is not None and not asks_for_new_report(msg.description)[0] \
            and (now - thread.last_at).total_seconds() <= deps.window_s:
        # Whether the case is open, and its service (a chat report has none until the router decides, and a
        # text naming the report's own problem at its place joins it): the case API's word first.
        thread, _number = await as_its_case_says(thread, msg.channel, deps.case_api, warn=deps.warn)
    # The place the text writes, read once (a shared point or a given address is never replaced).
    written = None if msg.lat is not None or msg.address else written_place(msg)
    decision = _decide(msg, thread, deps, now, has_place=msg.lat is not None or bool(msg.address) or bool(written))
    if decision.kind == "new" or thread is None:
        # The report's words without "NEW"; the place they write is its address (the notifier asks where
        # only when a case has neither point nor address).
        if decision.text != msg.description:
            msg = msg.model_copy(update={"description": decision.text})
            written = None if msg.lat is not None or msg.address else written_place(msg)
        if written:
            msg = msg.model_copy(update={"address": written})
    else:
        attributes = msg.attributes | {"conversation": "thanks" if decision.kind == "thanks" else "follow_up"}
        if msg.lat is not None or msg.address or written:
            # A place shared or written after the report (the acknowledgement asks for one when it had none):
            # the case service gives it to a case without a point (services/case/domain/rules.py,
            # location_added), and the router places a written one (docs/judgement.md, "Places from words").
            attributes["completes_location_of"] = thread.report_id
        if written:
            msg = msg.model_copy(update={"address": written})
        msg = msg.model_copy(update={
            "in_reply_to": [thread.report_id, *(x for x in msg.in_reply_to if x != thread.report_id)],
            "attributes": attributes,
        })
    await deps.publish(Envelope.new_flow(msg, subject=msg.contact_key, producer=deps.producer, now=now,
                                         event_id=outcome.event_id))
    if decision.kind == "new" or thread is None:
        await deps.conversations.opened(msg.contact_key, msg.channel, msg.channel_message_id, msg.service_code, now)
    else:
        await deps.conversations.touched(msg.contact_key, msg.channel, now)
    return Inbound(msg, notes=outcome.notes)


def _decide(msg: MessageReceived, thread: Thread | None, deps: WebhookDeps, now: datetime, *,
            has_place: bool) -> Decision:
    """Join, thanks or new for `msg` after `thread` (`shared.intake.conversation.follow_up_of`); `has_place`:
    a shared point, an address or a place written in the text, a place of its own."""
    return follow_up_of(msg.description, thread=thread, now=now, window_s=deps.window_s,
                        names_service=deps.place.names_service, has_place=has_place)
