"""What each Twilio webhook publishes and answers. Handlers take parsed values, the time and their
dependencies (a publisher, the case API, plain configuration) and return what the route renders.

Produces on `intake.messages`: `intake.message_received` (reports and their follow-ups), and, for the notifier,
`intake.opt_out_received`, `intake.opt_in_received`, `intake.message_status_received`. Every event id
derives from the provider's sid, so a provider retry republishes the same event (one case). Publishing
happens before the answer; a failure propagates and the route answers 503.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from services.intake_sms_voice.config import SERVICE, TwilioSettings
from services.intake_sms_voice.domain import conversation, ivr
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
from services.intake_sms_voice.domain.location import Location, find_location
from services.intake_sms_voice.domain.replies import (
    Lang,
    guess_language,
    keyword_reply,
    location_confirm_question,
    location_question,
    location_thanks,
    status_reply,
)
from shared.events import Envelope, EventData, OptInReceived, OptOutReceived
from shared.geocode import GeocodeAnswer, Geocoder, extract_place
from shared.intake import CaseApi, CaseApiRefused, CaseApiUnavailable, IntakePublisher
from shared.jurisdiction import Jurisdiction
from shared.logs import get_logger

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
    )


def _menu_labels(service: Any) -> dict[str, str]:
    """A keypad choice's words: the English service name, and the first French keyword (names are English)."""
    out = {"en": service.service_name}
    french = service.keywords.get("fr") or ()
    if french:
        out["fr"] = french[0].text
    return out


@dataclass(frozen=True)
class Deps:
    """What the handlers use: the intake publisher (`shared.intake`), the case service's read API, the
    configuration and the jurisdiction's geocoder (`shared.geocode.geocoder_for`; None: written places are
    not looked up, the location question is asked as before)."""

    publisher: IntakePublisher
    case_api: CaseApi
    config: Config
    geocoder: Geocoder | None = None


@dataclass(frozen=True)
class TextReply:
    """How to answer an inbound text. `outcome`: message, media_message, location_answer, opt_out, opt_in,
    help, status_query or ignored; `texts` the ``<Message>``s to send back; `pending` a conversation
    cookie value to set, `clear_pending` to drop it; `event_ids` what was published; `cookie` what the
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

    Keywords (STOP, ARRÊT, START, HELP...) and ``STATUS <case>`` never open a case. A written place without
    a point is looked up with the jurisdiction's geocoder (docs/judgement.md, "Places from words"): found
    with at least `Config.accept_from`, the report carries its point; from `Config.confirm_from` up to it,
    the report waits for its location and the question is "Did you mean <matched>? Reply YES or send the
    address" (a YES attaches that point); below, as before. A report without a usable location is
    published with ``attributes.awaiting_location`` and gets one question back; the
    next text of that conversation (recognised by the signed cookie) is its answer, published with
    ``in_reply_to`` the report's MessageSid so that the case service threads it onto the same case.
    The reply's `cookie` says what to do with the cookie (`conversation.cookie_change`).
    """
    reply = await _answer_text(msg, pending_cookie=pending_cookie, deps=deps, now=now)
    return replace(reply, cookie=conversation.cookie_change(
        pending=reply.pending, clear=reply.clear_pending, received=pending_cookie,
        window_s=deps.config.conversation_window_s))


async def _answer_text(msg: InboundText, *, pending_cookie: str | None, deps: Deps, now: datetime) -> TextReply:
    cfg = deps.config
    key = msg.contact_key()
    keyword = keyword_of(msg.body)
    if keyword is not None:
        return await _keyword(msg, keyword.kind, keyword.keyword, keyword.language, key, deps, now)

    query = status_query_of(msg.body)
    if query is not None:
        request, unavailable = None, False
        if query.case_number:
            try:
                request = await deps.case_api.request(query.case_number)
            except CaseApiUnavailable as exc:
                log.warning("case_api_unreachable", error=str(exc))
                unavailable = True
            except CaseApiRefused as exc:  # up, and will not look this number up: no such case for the texter
                log.info("case_api_refused", status=exc.status)
        text = status_reply(query.language, cfg.program_name, case_number=query.case_number, request=request,
                            unavailable=unavailable)
        return TextReply(outcome="status_query", texts=(text,))

    if not msg.body and not msg.media and msg.shared is None:
        return TextReply(outcome="ignored")

    language = guess_language(msg.body, cfg.default_language) if msg.body else cfg.default_language
    pending = conversation.read_pending_question(cfg.conversation_secret, pending_cookie, contact_key=key, now=now,
                                                 window_s=cfg.conversation_window_s)
    found = msg.shared or find_location(msg.body)
    if pending is not None and pending.sid != msg.message_sid:
        return await _answer_question(msg, pending, found, language, key, deps, now)

    hint = msg.body if quotes_case_number(msg.body) else None
    proposed: GeocodeAnswer | None = None
    if hint is None and (found is None or found.lat is None):
        # A written place without a point: the jurisdiction's geocoder (docs/judgement.md, "Places from words").
        answer = await _geocode(deps, found.address if found else extract_place(msg.body, language), language)
        if answer is not None and answer.confidence >= cfg.accept_from:
            found = Location(source="geocoded", address=found.address if found else answer.query,
                             lat=answer.lat, long=answer.long)
        elif answer is not None and answer.confidence >= cfg.confirm_from:
            proposed, found = answer, None  # asked to confirm: the answer completes the report's place
    awaiting = found is None and hint is None
    report = TextReport(location=found, awaiting_location=awaiting, case_number_hint=hint, language=language)
    env = await _publish_text(msg, report, key, deps, now)
    outcome = "media_message" if msg.media else "message"
    if not awaiting:
        # The acknowledgement with the case number is the notifier's, once the case exists.
        return TextReply(outcome=outcome, event_ids=(env.event_id,))
    if proposed is not None:
        cookie = conversation.pending_cookie(cfg.conversation_secret, message_sid=msg.message_sid, contact_key=key,
                                             now=now, lat=proposed.lat, long=proposed.long, matched=proposed.matched)
        return TextReply(outcome=outcome, texts=(location_confirm_question(language, cfg.program_name,
                                                                           proposed.matched),),
                         pending=cookie, event_ids=(env.event_id,))
    cookie = conversation.pending_cookie(cfg.conversation_secret, message_sid=msg.message_sid, contact_key=key,
                                         now=now)
    return TextReply(outcome=outcome, texts=(location_question(language, cfg.program_name),), pending=cookie,
                     event_ids=(env.event_id,))


async def _answer_question(msg: InboundText, pending: conversation.Pending, found: Location | None, language: Lang,
                           key: str, deps: Deps, now: datetime) -> TextReply:
    """The answer to our one question (the location question, or "Did you mean ...?"): a YES to a
    proposed place attaches that place's point and matched form; a NO asks the location question again
    (the cookie no longer proposes anything); anything else is where it is, as written (a written place the
    geocoder finds with enough confidence carries its point)."""
    cfg = deps.config
    said = confirmation_of(msg.body) if pending.proposed and not msg.shared else None
    if said == "no":
        cookie = conversation.pending_cookie(cfg.conversation_secret, message_sid=pending.sid, contact_key=key,
                                             now=now)
        return TextReply(outcome="location_declined", texts=(location_question(language, cfg.program_name),),
                         pending=cookie)
    if said == "yes":
        answer: Location | None = Location(source="confirmed", address=pending.matched, lat=pending.lat,
                                           long=pending.long)
    else:
        answer = found or (Location(source="answer", address=msg.body[:200]) if msg.body else None)
        if answer is not None and answer.lat is None and answer.address:
            placed = await _geocode(deps, answer.address, language)
            if placed is not None and placed.confidence >= cfg.accept_from:
                answer = Location(source="geocoded", address=answer.address, lat=placed.lat, long=placed.long)
    report = TextReport(location=answer, in_reply_to=(pending.sid,), language=language,
                        attributes={"completes_location_of": pending.sid})
    env = await _publish_text(msg, report, key, deps, now)
    return TextReply(outcome="location_answer", texts=(location_thanks(language, cfg.program_name),),
                     clear_pending=True, event_ids=(env.event_id,))


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
    data = message_from_text(msg, report, now=now)
    return await publish(deps, data, subject=key, event_id=event_id_for("message", msg.message_sid), now=now)


async def _keyword(msg: InboundText, kind: str, word: str, language: Lang, key: str, deps: Deps,
                   now: datetime) -> TextReply:
    cfg = deps.config
    ids: tuple[UUID, ...] = ()
    if kind == "opt_out":
        data: EventData = OptOutReceived(
            channel=msg.channel, channel_message_id=msg.message_sid, contact_key=key, received_at=now,
            source="keyword", keyword=word, language=language, pii=msg.sender.pii())
        ids = ((await publish(deps, data, subject=key, event_id=event_id_for("opt_out", msg.message_sid),
                              now=now)).event_id,)
    elif kind == "opt_in":
        data = OptInReceived(channel=msg.channel, channel_message_id=msg.message_sid, contact_key=key,
                             received_at=now, keyword=word, language=language, pii=msg.sender.pii())
        ids = ((await publish(deps, data, subject=key, event_id=event_id_for("opt_in", msg.message_sid),
                              now=now)).event_id,)
    texts = () if cfg.keyword_replies == "provider" else (keyword_reply(kind, language, cfg.program_name),)  # type: ignore[arg-type]
    return TextReply(outcome=kind, texts=texts, clear_pending=kind == "opt_out", event_ids=ids)


async def receive_status(report: StatusReport, *, deps: Deps, now: datetime) -> tuple[UUID, ...]:
    """A message status callback: the status for the notifier and, on error 21610 (the recipient opted
    out at the carrier), an opt-out for that recipient. Returns the event ids published."""
    key = report.contact_key()
    ids = [(await publish(deps, status_event(report, now=now), subject=key,
                          event_id=event_id_for("status", report.message_sid, report.status,
                                                str(report.error_code or "")), now=now)).event_id]
    if report.opted_out and report.recipient:
        data = OptOutReceived(channel=report.channel, channel_message_id=report.message_sid, contact_key=key,
                              received_at=now, source="provider_error", error_code=report.error_code,
                              pii=Sender(phone=report.recipient).pii())
        ids.append((await publish(deps, data, subject=key, event_id=event_id_for("opt_out", report.message_sid,
                                                                                 "21610"), now=now)).event_id)
    return tuple(ids)


async def call_ended(*, call_sid: str, caller: Sender, state: ivr.CallState, recording_url: str | None,
                     recording_sid: str | None, duration_s: int | None, deps: Deps, now: datetime) -> UUID | None:
    """The recording of a call ended (Record action or recording status callback): publish its report
    once (event id from the CallSid). Returns the event id, None when the caller gave nothing."""
    data = ivr.call_report(call_sid=call_sid, caller=caller, state=state, recording_url=recording_url,
                           recording_sid=recording_sid, duration_s=duration_s, now=now)
    if data is None:
        return None
    env = await publish(deps, data, subject=data.contact_key, event_id=event_id_for("message", call_sid), now=now)
    return env.event_id


async def call_transcribed(*, call_sid: str, recording_sid: str, caller: Sender, state: ivr.CallState,
                           transcript: str | None, status: str | None, recording_url: str | None, deps: Deps,
                           now: datetime) -> UUID | None:
    """Twilio's transcription of a call's recording: published as a message threaded to the call
    (event id from the RecordingSid). A failed or empty transcription publishes nothing: the report of
    the call already carries the recording."""
    if (status or "").lower() != "completed" or not (transcript or "").strip():
        log.info("transcription_unusable", status=status)
        return None
    data = ivr.transcript_message(call_sid=call_sid, recording_sid=recording_sid, caller=caller, state=state,
                                  transcript=transcript or "", recording_url=recording_url, now=now)
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
