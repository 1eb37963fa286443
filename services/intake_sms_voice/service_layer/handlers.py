"""What each Twilio webhook publishes and answers. Handlers take parsed values, the time and their
dependencies (a publisher, the case API, plain configuration) and return what the route renders.

Produces on `intake.messages`: `intake.message_received` (reports and their follow-ups), and, for the notifier,
`intake.opt_out_received`, `intake.opt_in_received`, `intake.message_status_received`. Every event id
derives from the provider's sid, so a provider retry republishes the same event (one case). Publishing
happens before the answer; a failure propagates and the route answers 503. Keeps each number's opt-out
state (`OptOuts`): an opted-out number's texts are published, and answered with nothing
(docs/channels.md, "Opt-outs and pending questions").
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal, Protocol
from uuid import UUID

from services.intake_sms_voice.config import SERVICE, TwilioSettings
from services.intake_sms_voice.domain import conversation, ivr
from services.intake_sms_voice.domain.contact_card import MAX_CARD_BYTES, is_card, read_card
from services.intake_sms_voice.domain.contacts import Sender
from services.intake_sms_voice.domain.inbound import (
    InboundText,
    StatusReport,
    TextReport,
    event_id_for,
    message_from_text,
    status_event,
)
from services.intake_sms_voice.domain.keywords import (
    confirmation_of,
    keyword_of,
    quotes_case_number,
    status_query_of,
)
from services.intake_sms_voice.domain.location import Contains, Location, find_location
from services.intake_sms_voice.domain.replies import (
    Lang,
    follow_up_added,
    keyword_reply,
    location_confirm_question,
    location_question,
    location_thanks,
    status_reply,
    write_as_text,
)
from shared.events import Envelope, EventData, MessageReceived, OptInReceived, OptOutReceived
from shared.geocode import GeocodeAnswer, Geocoder, extract_place
from shared.intake import CaseApi, CaseApiRefused, CaseApiUnavailable, IntakePublisher
from shared.intake.contact_card import SharedContact, cards_attribute
from shared.intake.conversation import Decision, Thread, asks_for_new_report, follow_up_of, services_named
from shared.intake.follow_ups import as_its_case_says
from shared.jurisdiction import Jurisdiction
from shared.jurisdiction.text import guess_language
from shared.logs import get_logger
from shared.media import with_our_media

log = get_logger(__name__)


@dataclass(frozen=True)
class Config:
    """Plain settings the handlers need (built once by the app)."""

    program_name: str = "City 311"
    keyword_replies: Literal["service", "provider"] = "service"
    conversation_secret: bytes = b""
    conversation_window_s: float = conversation.WINDOW_S
    locales: tuple[str, ...] = ("en", "fr")
    menu: tuple[ivr.MenuItem, ...] = ()
    accept_from: float = 0.8
    confirm_from: float = 0.5
    """The jurisdiction's geocoding bands (`geocoding.accept_from`, `confirm_from`): a written place found
    with at least `accept_from` is the report's point; from `confirm_from` up to it the resident is asked
    "Did you mean ...?"."""
    contains: Contains | None = None
    """The jurisdiction's `contains(lat, long)`, for the one location check of every point a text gives
    (`shared.jurisdiction.point_check`); None: points are only checked for range and 0,0."""
    service_keywords: tuple[tuple[str, str], ...] = ()
    """(service code, keyword phrase) of every service in every language: what a follow-up names
    (`shared.intake.conversation.services_named`)."""

    @property
    def default_language(self) -> Lang:
        """The language of a text that shows none: French when the jurisdiction's first locale is, else English."""
        return "fr" if self.locales and self.locales[0] == "fr" else "en"


def configure(twilio: TwilioSettings, jurisdiction: Jurisdiction) -> Config:
    """The handlers' configuration from the Twilio settings and the jurisdiction: its voice languages
    (the menu languages it has, English when none) and its keypad menu of services."""
    token = twilio.auth_token.get_secret_value() if twilio.auth_token else ""
    return Config(
        program_name=twilio.program_name, keyword_replies=twilio.keyword_replies,
        conversation_secret=("omni311-conversation:" + token).encode(),
        conversation_window_s=twilio.conversation_window_s,
        locales=tuple(x for x in jurisdiction.locales if x in ivr.LANG_CODES) or ("en",),
        menu=ivr.build_menu((s.service_code, _menu_labels(s)) for s in jurisdiction.services),
        accept_from=jurisdiction.geocoding.accept_from, confirm_from=jurisdiction.geocoding.confirm_from,
        contains=jurisdiction.contains,
        service_keywords=tuple((s.service_code, k.text) for s in jurisdiction.services
                               for words in s.keywords.values() for k in words),
    )


def _menu_labels(service: Any) -> dict[str, str]:
    """A keypad choice's words: the English service name, and the first French keyword (names are English)."""
    out = {"en": service.service_name}
    french = service.keywords.get("fr") or ()
    if french:
        out["fr"] = french[0].text
    return out


class OptOuts(Protocol):
    """Each number's opt-out state, by contact key (`adapters.opt_outs.PgOptOuts`; tests: a dict)."""

    async def opted_out(self, contact_key: str) -> bool:
        """True when the number's latest change was an opt-out. Raises when the store cannot tell."""

    async def record(self, contact_key: str, *, opted_out: bool, at: datetime) -> None:
        """The number opted out (or back in) at `at` (UTC); an older change than the one kept is ignored."""


class MediaSource(Protocol):
    """The media items a message names (Twilio's ``MediaUrlN``, HTTP basic auth with the account SID and
    auth token; `adapters.twilio_media.TwilioMedia`)."""

    async def read(self, url: str, *, account_sid: str | None, max_bytes: int) -> bytes:
        """The item's bytes (at most `max_bytes`), for a contact card. Raises any exception when it cannot
        be read."""

    async def keep(self, url: str, *, account_sid: str | None, channel_message_id: str) -> str:
        """Download the item, clean it and keep it (`shared.media`); our URL for it. Raises
        `shared.media.MediaRefused`/`MediaUnavailable` (the reason is kept on the message) or any other
        exception (the database's)."""


class _NoOptOuts:
    """No store: nobody is opted out (handlers built without one, as in some tests)."""

    async def opted_out(self, contact_key: str) -> bool:
        return False

    async def record(self, contact_key: str, *, opted_out: bool, at: datetime) -> None:
        return None


@dataclass(frozen=True)
class Deps:
    """What the handlers use: the intake publisher (`shared.intake`), the case service's read API, the
    configuration, the jurisdiction's geocoder (`shared.geocode.geocoder_for`; None: written places are
    not looked up, the location question is asked as before), the opt-out store and the reader of media
    items (None: contact cards are not read, the message is kept with its media link)."""

    publisher: IntakePublisher
    case_api: CaseApi
    config: Config
    geocoder: Geocoder | None = None
    opt_outs: OptOuts = field(default_factory=_NoOptOuts)
    media: MediaSource | None = None


@dataclass(frozen=True)
class TextReply:
    """How to answer an inbound text. `outcome`: message, media_message, unsupported_message, follow_up,
    thanks, location_answer, location_declined, opt_out, opt_in, help, status_query or ignored; `texts` the
    ``<Message>``s to send back (none to an opted-out number, except STOP's and HELP's); `pending` a
    conversation cookie value to set (`conversation.state_cookie`), `clear_pending` to drop it; `event_ids` what was published; `cookie` what the
    answer does to the conversation cookie (`conversation.cookie_change`; None: leave it)."""

    outcome: str
    texts: tuple[str, ...] = ()
    pending: str | None = None
    clear_pending: bool = False
    event_ids: tuple[UUID, ...] = field(default_factory=tuple)
    cookie: conversation.CookieChange | None = None


async def publish(deps: Deps, data: EventData, *, subject: str, event_id: UUID, now: datetime) -> Envelope:
    """Start a flow with `data` under a sid-derived event id and wait for Kafka to acknowledge it."""
    env = Envelope.new_flow(data, subject=subject, producer=SERVICE, now=now, event_id=event_id)
    await deps.publisher.publish(env)
    log.info("intake_published", event_type=env.event_type, event_id=str(env.event_id),
             correlation_id=str(env.correlation_id))
    return env


async def receive_text(msg: InboundText, *, pending_cookie: str | None, deps: Deps, now: datetime) -> TextReply:
    """An inbound SMS/MMS/WhatsApp message, with the conversation cookie it came with (None: none).

    Keywords (STOP, ARRÊT, START, HELP...) and ``STATUS <case>`` never open a case; STOP and START record
    the number's opt-out state and forget the conversation (the cookie is deleted). A text after a report
    of this conversation (the cookie's thread) is a follow-up, thanks or a new report
    (`shared.intake.conversation.follow_up_of`, docs/channels.md "Conversations"): a follow-up is
    published with ``in_reply_to`` the report's MessageSid and ``attributes.conversation`` and answered
    with one short "Added to your report <number>" (a thanks with nothing). A pending question wins: the
    text is its answer. Every point goes through the one location check (`Config.contains`). A written
    place without a point is looked up with the jurisdiction's geocoder (docs/judgement.md, "Places from
    words"): found with at least `Config.accept_from`, the report carries its point; from
    `Config.confirm_from` up to it, the report waits for its location and the question is "Did you mean
    <matched>? Reply YES or send the address" (a YES attaches that point); below, as before. A report
    without a usable location is published with ``attributes.awaiting_location`` and gets one question
    back; the next text of that conversation is its answer, published with ``in_reply_to`` the report's
    MessageSid so that the case service threads it onto the same case. A contact card (``text/vcard``)
    is read into the description (``attributes.shared_contact``); a message we cannot read at all is
    published as it came and answered with a request to write the report as text. Every text of a
    conversation is answered in its language (the cookie's). An opted-out number's texts are published
    and answered with nothing. The reply's `cookie` says what to do with the cookie
    (`conversation.cookie_change`).
    """
    reply = await _answer_text(msg, pending_cookie=pending_cookie, deps=deps, now=now)
    return replace(reply, cookie=conversation.cookie_change(
        pending=reply.pending, clear=reply.clear_pending, received=pending_cookie,
        window_s=deps.config.conversation_window_s))


@dataclass(frozen=True)
class _Content:
    """What a text holds besides its body: its description, a contact card read from it, whether nothing
    in it can be read, the location found (usable) and the location check of a point that could not be used."""

    description: str
    card: SharedContact | None
    unreadable: bool
    found: Location | None
    check: dict[str, Any] | None

    def attributes(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.card is not None:
            out["shared_contact"] = cards_attribute([self.card])
        if self.unreadable:
            out["unreadable"] = True
        return out


async def _answer_text(msg: InboundText, *, pending_cookie: str | None, deps: Deps, now: datetime) -> TextReply:
    cfg = deps.config
    key = msg.contact_key()
    keyword = keyword_of(msg.body)
    if keyword is not None:
        return await _keyword(msg, keyword.kind, keyword.keyword, keyword.language, key, deps, now)

    query = status_query_of(msg.body)
    if query is not None:
        if await _opted_out(deps, key):
            return TextReply(outcome="status_query")  # only STOP's and HELP's answers go to an opted-out number
        return await _status_query(query, deps)

    content = await _content(msg, deps)
    if not content.description and not msg.media and msg.shared is None and not content.unreadable:
        return TextReply(outcome="ignored")

    state = conversation.read_state(cfg.conversation_secret, pending_cookie, contact_key=key, now=now,
                                    window_s=cfg.conversation_window_s)
    said_in = guess_language(content.description, state.language or cfg.default_language) \
        if content.description else (state.language or cfg.default_language)
    silent = await _opted_out(deps, key)
    if state.pending is not None and state.pending.sid != msg.message_sid:
        reply = await _answer_question(msg, state, content, state.language or said_in, key, deps, now)
        return _quiet(reply) if silent else reply

    description = content.description
    if state.thread and state.thread != msg.message_sid:
        decision, number, code = await _follow_up(msg, state, content, said_in, deps, now)
        if decision.kind != "new":
            reply = await _publish_follow_up(msg, state, content, decision, number, code, key, deps, now)
            return _quiet(reply) if silent else reply
        description = decision.text
    else:
        # A first report asks for a new one too ("NEW pothole at ..."): the word goes (docs/channels.md).
        description = follow_up_of(description, thread=None, now=now, window_s=cfg.conversation_window_s,
                                   names_service=lambda _text: set(), has_place=False).text
    reply = await _new_report(msg, replace(content, description=description), said_in, silent, key, deps, now)
    return _quiet(reply) if silent else reply


def _quiet(reply: TextReply) -> TextReply:
    """The reply to an opted-out number: nothing sent (docs/channels.md, "Opt-outs"); the cookie as decided."""
    return replace(reply, texts=())


async def _opted_out(deps: Deps, key: str) -> bool:
    """Whether the number opted out. When the store cannot tell, nothing is sent (a text to an opted-out
    number breaks the carrier rules; a missing question only delays a location): True, logged."""
    try:
        return await deps.opt_outs.opted_out(key)
    except Exception as exc:  # noqa: BLE001 - any store failure: stay silent, the report is published
        log.warning("opt_out_store_unavailable", error=type(exc).__name__)
        return True


async def _status_query(query: Any, deps: Deps) -> TextReply:
    request, unavailable = None, False
    if query.case_number:
        try:
            request = await deps.case_api.request(query.case_number)
        except CaseApiUnavailable as exc:
            log.warning("case_api_unreachable", error=str(exc))
            unavailable = True
        except CaseApiRefused as exc:  # up, and will not look this number up: no such case for the texter
            log.info("case_api_refused", status=exc.status)
    text = status_reply(query.language, deps.config.program_name, case_number=query.case_number, request=request,
                        unavailable=unavailable)
    return TextReply(outcome="status_query", texts=(text,))


async def _content(msg: InboundText, deps: Deps) -> _Content:
    """The description (the body, and a contact card's text), whether the message holds nothing we can read,
    and its location: a shared point, else one written in the body, each through the one location check."""
    card = await _card(msg, deps)
    description = msg.body
    if card is not None:
        description = f"{msg.body}\n{card.as_text()}".strip()
    readable_media = [m for m in msg.media if not is_card(m.content_type) and not _opaque(m.content_type)]
    unreadable = not msg.body and card is None and msg.shared is None and not readable_media and (
        bool(msg.media) or (msg.message_type or "") == "unsupported")
    check = None
    found = None
    for candidate in (msg.shared, find_location(msg.body, contains=deps.config.contains)):
        if candidate is None:
            continue
        check = check or candidate.check
        if candidate.usable:
            found = candidate if candidate.check or not check else replace(candidate, check=check)
            break
    return _Content(description=description, card=card, unreadable=unreadable, found=found,
                    check=None if found is not None else check)


def _opaque(content_type: str | None) -> bool:
    """A media type nobody can open as a photo, sound, video or document: no type, or bare bytes."""
    kind = (content_type or "").split(";")[0].strip().lower()
    return kind in ("", "application/octet-stream", "application/unknown")


async def _card(msg: InboundText, deps: Deps) -> SharedContact | None:
    """The first contact card among the message's media, read (None: none, no media reader, or unreadable)."""
    if deps.media is None:
        return None
    for item in msg.media:
        if not is_card(item.content_type):
            continue
        try:
            data = await deps.media.read(item.url, account_sid=msg.account_sid, max_bytes=MAX_CARD_BYTES)
        except Exception as exc:  # noqa: BLE001 - a card we cannot fetch: the message keeps its link
            log.warning("contact_card_unavailable", error=type(exc).__name__)
            continue
        card = read_card(data)
        if card is not None:
            return card
    return None


async def _new_report(msg: InboundText, content: _Content, language: Lang, silent: bool, key: str, deps: Deps,
                      now: datetime) -> TextReply:
    """A text that is a report of its own: published, with the location question when it has no usable
    place (not to an opted-out number: nobody would be asked), and the conversation now about it."""
    cfg = deps.config
    text = content.description
    found = content.found
    hint = text if quotes_case_number(text) else None
    proposed: GeocodeAnswer | None = None
    if hint is None and (found is None or found.lat is None) and not content.unreadable:
        # A written place without a point: the jurisdiction's geocoder (docs/judgement.md, "Places from words").
        answer = await _geocode(deps, found.address if found else extract_place(text, language), language)
        if answer is not None and answer.confidence >= cfg.accept_from:
            found = Location(source="geocoded", address=found.address if found else answer.query,
                             lat=answer.lat, long=answer.long, check=found.check if found else None)
        elif answer is not None and answer.confidence >= cfg.confirm_from:
            proposed, found = answer, None  # asked to confirm: the answer completes the report's place
    awaiting = found is None and hint is None
    attributes = content.attributes()
    if found is None and content.check is not None:
        attributes["location_check"] = content.check
    report = TextReport(location=found, awaiting_location=awaiting, case_number_hint=hint, language=language,
                        attributes=attributes, description=text)
    env = await _publish_text(msg, report, key, deps, now)
    outcome = "unsupported_message" if content.unreadable else "media_message" if msg.media else "message"
    state = conversation.State(thread=msg.message_sid, thread_at=now, language=language)
    texts: tuple[str, ...] = ()
    if content.unreadable:
        texts = (write_as_text(language, cfg.program_name),)
    elif awaiting and not silent:
        if proposed is not None:
            state = state.with_pending(conversation.Pending(msg.message_sid, proposed.lat, proposed.long,
                                                            proposed.matched))
            texts = (location_confirm_question(language, cfg.program_name, proposed.matched),)
        else:
            state = state.with_pending(conversation.Pending(msg.message_sid))
            texts = (location_question(language, cfg.program_name),)
    # Without a question, the acknowledgement with the case number is the notifier's, once the case exists.
    return TextReply(outcome=outcome, texts=texts, pending=_cookie(cfg, state, key, now), event_ids=(env.event_id,))


def _cookie(cfg: Config, state: conversation.State, key: str, now: datetime) -> str:
    return conversation.state_cookie(cfg.conversation_secret, state, contact_key=key, now=now)


async def _follow_up(msg: InboundText, state: conversation.State, content: _Content, language: Lang, deps: Deps,
                     now: datetime) -> tuple[Decision, str | None, str | None]:
    """Whether a text after the conversation's report joins it, thanks it or opens a new case
    (`shared.intake.conversation.follow_up_of`), with the report's case number and service code when the
    case API told them. The case API is asked unless the window has passed or the text asks for a new
    report: a closed case makes the text new, the case's service tells whether the text names another's;
    when the API cannot answer, the cookie's service code (if any) is used and the case counts as open
    (docs/channels.md)."""
    cfg = deps.config
    has_place = content.found is not None or bool(extract_place(msg.body, language))
    thread = Thread(report_id=state.thread or "", last_at=state.thread_at or now, service_code=state.service_code)

    def decide(t: Thread) -> Decision:
        return follow_up_of(content.description, thread=t, now=now, window_s=cfg.conversation_window_s,
                            names_service=lambda text: services_named(text, cfg.service_keywords),
                            has_place=has_place)

    if asks_for_new_report(content.description)[0] or \
            (now - thread.last_at).total_seconds() > cfg.conversation_window_s:
        return decide(thread), None, state.service_code  # "NEW ..." or the window passed: no need to ask
    # Any failure to ask (not only the client's own errors) leaves the thread open: Twilio does not send a
    # webhook again, so a text must not be lost to the case API.
    thread, number = await as_its_case_says(thread, msg.channel, deps.case_api, warn=log.warning,
                                            unanswered=(Exception,))
    return decide(thread), number, thread.service_code


async def _publish_follow_up(msg: InboundText, state: conversation.State, content: _Content, decision: Decision,
                             number: str | None, code: str | None, key: str, deps: Deps,
                             now: datetime) -> TextReply:
    """A follow-up (or a thanks) published on the conversation's report: ``in_reply_to`` its MessageSid,
    ``attributes.conversation``; answered with "Added to your report <number>" (a thanks: nothing). A place
    it shares or writes (after the notifier's "We could not find <place>...") is published with
    ``attributes.completes_location_of`` the report's MessageSid, as on Meta's channels: the case service
    gives it to a case without a point (services/case/domain/rules.py, location_added)."""
    cfg = deps.config
    language = state.language or cfg.default_language
    kind = "thanks" if decision.kind == "thanks" else "follow_up"
    place = content.found if kind == "follow_up" else None
    attributes = {"conversation": kind, **content.attributes()}
    if place is not None:
        attributes["completes_location_of"] = state.thread or ""
    report = TextReport(location=place, in_reply_to=(state.thread or "",), language=language,
                        attributes=attributes, description=decision.text)
    env = await _publish_text(msg, report, key, deps, now)
    texts: tuple[str, ...] = ()
    if content.unreadable:
        texts = (write_as_text(language, cfg.program_name),)
    elif kind == "follow_up":
        texts = (follow_up_added(language, cfg.program_name, number),)
    kept = conversation.State(thread=state.thread, thread_at=now, service_code=code, language=language)
    return TextReply(outcome=kind, texts=texts, pending=_cookie(cfg, kept, key, now), event_ids=(env.event_id,))


async def _answer_question(msg: InboundText, state: conversation.State, content: _Content, language: Lang,
                           key: str, deps: Deps, now: datetime) -> TextReply:
    """The answer to our one question (the location question, or "Did you mean ...?"): a YES to a
    proposed place attaches that place's point and matched form; a NO asks the location question again
    (the cookie no longer proposes anything); anything else is where it is, as written (a written place the
    geocoder finds with enough confidence carries its point). Answered in the conversation's `language`;
    the conversation is then about the report the answer completed."""
    cfg = deps.config
    pending = state.pending
    assert pending is not None
    conv = replace(state, language=language, pending=None, thread=pending.sid, thread_at=now)
    said = confirmation_of(msg.body) if pending.proposed and not msg.shared else None
    if said == "no":
        asked = conv.with_pending(conversation.Pending(pending.sid))
        return TextReply(outcome="location_declined", texts=(location_question(language, cfg.program_name),),
                         pending=_cookie(cfg, asked, key, now))
    if said == "yes":
        answer: Location | None = Location(source="confirmed", address=pending.matched, lat=pending.lat,
                                           long=pending.long)
    else:
        answer = content.found or (Location(source="answer", address=msg.body[:200]) if msg.body else None)
        if answer is not None and answer.lat is None and answer.address:
            placed = await _geocode(deps, answer.address, language)
            if placed is not None and placed.confidence >= cfg.accept_from:
                answer = Location(source="geocoded", address=answer.address, lat=placed.lat, long=placed.long)
    attributes: dict[str, Any] = {"completes_location_of": pending.sid, **content.attributes()}
    if answer is None and content.check is not None:
        attributes["location_check"] = content.check
    report = TextReport(location=answer, in_reply_to=(pending.sid,), language=language, attributes=attributes,
                        description=content.description)
    env = await _publish_text(msg, report, key, deps, now)
    return TextReply(outcome="location_answer", texts=(location_thanks(language, cfg.program_name),),
                     pending=_cookie(cfg, conv, key, now), event_ids=(env.event_id,))


async def _geocode(deps: Deps, place: str | None, language: str | None) -> GeocodeAnswer | None:
    """The geocoder's answer for a written `place` (None when there is no place, no geocoder, or it
    fails: a report is never lost to a geocoder, the location question is asked instead). Never logs the
    place (a resident's words)."""
    if deps.geocoder is None or not place or not place.strip():
        return None
    try:
        return await deps.geocoder.geocode(place, language=language)
    except Exception as exc:  # noqa: BLE001 - any geocoder failure: ask the resident instead
        log.warning("geocoder_failed", error=type(exc).__name__)
        return None


async def _publish_text(msg: InboundText, report: TextReport, key: str, deps: Deps, now: datetime) -> Envelope:
    """Publish the text as `report` says, its media kept by us first; the envelope published. Raises what
    the publisher raises."""
    data = message_from_text(msg, report, now=now)
    if deps.media is not None:
        media = deps.media
        cards = {m.url for m in msg.media if is_card(m.content_type)}  # a card's text is the description
        # keep_link_on=(Exception,): any failure to keep a file (the database's too) leaves Twilio's link, and
        # the text goes on (docs/channels.md, "Media kept by us").
        data = await with_our_media(
            data, lambda url: media.keep(url, account_sid=msg.account_sid, channel_message_id=msg.message_sid),
            warn=log.warning, skip=cards.__contains__, keep_link_on=(Exception,))
    return await publish(deps, data, subject=key, event_id=event_id_for("message", msg.message_sid), now=now)


async def _keyword(msg: InboundText, kind: str, word: str, language: Lang, key: str, deps: Deps,
                   now: datetime) -> TextReply:
    """STOP/START/HELP and their spellings: an opt-out or opt-in is recorded in the opt-out store and
    published for the notifier, and forgets the conversation (its pending question and thread: the next
    report opens its own case); the confirmation is ours unless the provider sends it."""
    cfg = deps.config
    ids: tuple[UUID, ...] = ()
    if kind == "opt_out":
        await deps.opt_outs.record(key, opted_out=True, at=now)
        data: EventData = OptOutReceived(
            channel=msg.channel, channel_message_id=msg.message_sid, contact_key=key, received_at=now,
            source="keyword", keyword=word, language=language, pii=msg.sender.pii())
        ids = ((await publish(deps, data, subject=key, event_id=event_id_for("opt_out", msg.message_sid),
                              now=now)).event_id,)
    elif kind == "opt_in":
        await deps.opt_outs.record(key, opted_out=False, at=now)
        data = OptInReceived(channel=msg.channel, channel_message_id=msg.message_sid, contact_key=key,
                             received_at=now, keyword=word, language=language, pii=msg.sender.pii())
        ids = ((await publish(deps, data, subject=key, event_id=event_id_for("opt_in", msg.message_sid),
                              now=now)).event_id,)
    texts = () if cfg.keyword_replies == "provider" else (keyword_reply(kind, language, cfg.program_name),)  # type: ignore[arg-type]
    return TextReply(outcome=kind, texts=texts, clear_pending=kind in ("opt_out", "opt_in"), event_ids=ids)


async def receive_status(report: StatusReport, *, deps: Deps, now: datetime) -> tuple[UUID, ...]:
    """A message status callback: the status for the notifier and, on error 21610 (the recipient opted
    out at the carrier), an opt-out for that recipient, recorded in the opt-out store too. Returns the
    event ids published."""
    key = report.contact_key()
    ids = [(await publish(deps, status_event(report, now=now), subject=key,
                          event_id=event_id_for("status", report.message_sid, report.status,
                                                str(report.error_code or "")), now=now)).event_id]
    if report.opted_out and report.recipient:
        await deps.opt_outs.record(key, opted_out=True, at=now)
        data = OptOutReceived(channel=report.channel, channel_message_id=report.message_sid, contact_key=key,
                              received_at=now, source="provider_error", error_code=report.error_code,
                              pii=Sender(phone=report.recipient).pii())
        ids.append((await publish(deps, data, subject=key, event_id=event_id_for("opt_out", report.message_sid,
                                                                                 "21610"), now=now)).event_id)
    return tuple(ids)


async def call_ended(*, call_sid: str, caller: Sender, state: ivr.CallState, recording_url: str | None,
                     recording_sid: str | None, duration_s: int | None, deps: Deps, now: datetime,
                     account_sid: str | None = None) -> UUID | None:
    """The recording of a call ended (Record action or recording status callback): its recording kept by
    us (`_with_our_recording`), then its report published once (event id from the CallSid). Returns the
    event id, None when the caller gave nothing."""
    data = ivr.call_report(call_sid=call_sid, caller=caller, state=state, recording_url=recording_url,
                           recording_sid=recording_sid, duration_s=duration_s, now=now)
    if data is None:
        return None
    data = await _with_our_recording(data, account_sid, deps)
    env = await publish(deps, data, subject=data.contact_key, event_id=event_id_for("message", call_sid), now=now)
    return env.event_id


async def _with_our_recording(data: MessageReceived, account_sid: str | None, deps: Deps) -> MessageReceived:
    """`data` with its recording downloaded as MP3 (`ivr.recording_file_url`, the account SID and auth
    token as for MMS) and kept in the service's media table, `media_url` our ``/media`` URL: Twilio's link
    names the account and needs its credentials, and would be public in Open311's media_url (docs/channels.md,
    "Media kept by us"). The Record action and the recording status callback both keep it: one row (the
    media id derives from the bytes). Any failure keeps Twilio's link with ``attributes.media_failed``
    (the report is never lost; the recording may not be ready when the Record action comes)."""
    if deps.media is None or not data.media_url:
        return data
    media, mid = deps.media, data.channel_message_id
    return await with_our_media(
        data, lambda url: media.keep(ivr.recording_file_url(url), account_sid=account_sid, channel_message_id=mid),
        warn=log.warning, keep_link_on=(Exception,))


async def call_transcribed(*, call_sid: str, recording_sid: str, caller: Sender, state: ivr.CallState,
                           transcript: str | None, status: str | None, recording_url: str | None, deps: Deps,
                           now: datetime, account_sid: str | None = None) -> UUID | None:
    """Twilio's transcription of a call's recording: published as a message threaded to the call
    (event id from the RecordingSid), carrying our copy of the recording (`_with_our_recording`: it stands
    alone if the call's report never came). A failed or empty transcription publishes nothing: the report
    of the call already carries the recording."""
    if (status or "").lower() != "completed" or not (transcript or "").strip():
        log.info("transcription_unusable", status=status)
        return None
    data = ivr.transcript_message(call_sid=call_sid, recording_sid=recording_sid, caller=caller, state=state,
                                  transcript=transcript or "", recording_url=recording_url, now=now)
    data = await _with_our_recording(data, account_sid, deps)
    env = await publish(deps, data, subject=data.contact_key, event_id=event_id_for("message", recording_sid),
                        now=now)
    return env.event_id


def call_answered(*, deps: Deps) -> ivr.CallState | None:
    """An incoming call: None to ask the language first, or the state the call goes on in (a
    single-language jurisdiction skips the language menu: `ivr.opening`)."""
    return ivr.opening(deps.config.locales)


def language_chosen(*, digits: str | None, speech: str | None, deps: Deps) -> ivr.CallState:
    """The language menu's answer (a keypad digit or speech): the call's state in the language chosen,
    the jurisdiction's first one when the answer names none of its languages (`ivr.choose_language`)."""
    return ivr.CallState(lang=ivr.choose_language(digits, speech, deps.config.locales))


def problem_chosen(state: ivr.CallState, *, digits: str | None, speech: str | None, deps: Deps) -> ivr.CallState:
    """The problem menu's answer: a digit of the jurisdiction's menu, or the problem as said (`ivr.with_problem`)."""
    return ivr.with_problem(state, digits=digits, speech=speech, menu=deps.config.menu)


def place_given(state: ivr.CallState, *, digits: str | None, speech: str | None) -> ivr.CallState:
    """The place's answer: an address as said, or a ZIP/postal code typed (`ivr.with_place`)."""
    return ivr.with_place(state, digits=digits, speech=speech)
