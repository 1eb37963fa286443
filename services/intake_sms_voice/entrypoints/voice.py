"""Twilio voice webhooks: `POST /twilio/voice` (an incoming call) and the menu's own steps under it
(`language`, `problem`, `place`, then `recorded`, `recording` and `transcription`).

The call's state travels in the query of our own signed action URLs; the end of the recording publishes
the call's report and the transcription a message threaded onto it, both on `intake.messages`."""

from __future__ import annotations

from urllib.parse import quote, urlencode
from uuid import UUID

from fastapi import APIRouter, Response

from services.intake_sms_voice.adapters import twiml
from services.intake_sms_voice.domain import ivr
from services.intake_sms_voice.domain.contacts import Sender, sender_of
from services.intake_sms_voice.domain.inbound import InvalidWebhook
from services.intake_sms_voice.entrypoints.twilio import NO_CONTENT, TWIML, Ctx, Hook, Twilio, Webhook, guarded, xml
from services.intake_sms_voice.service_layer import handlers

router = APIRouter(prefix="/twilio/voice")


def _action(hook: Webhook, step: str, state: ivr.CallState | None = None) -> str:
    """Our own URL for the menu's next `step`, carrying the call's state in its query."""
    query = urlencode(state.to_query(), quote_via=quote) if state else ""
    return f"{hook.root}/twilio/voice/{step}" + (f"?{query}" if query else "")


def _state(tw: Twilio, hook: Webhook) -> ivr.CallState:
    """The call's state as our previous action URL carried it."""
    return ivr.CallState.from_query(hook.query, tw.deps.config.locales)


def _call_sid(hook: Webhook) -> str:
    """The CallSid every voice webhook carries; `InvalidWebhook` (400) without one."""
    sid = (hook.params.get("CallSid") or "").strip()
    if not sid:
        raise InvalidWebhook("field CallSid is required")
    return sid


def _caller(tw: Twilio, hook: Webhook) -> Sender:
    """Who calls (From, else Caller), read in the default region."""
    p = hook.params
    return sender_of(p.get("From") or p.get("Caller") or "", default_region=tw.settings.default_region)


def _text(hook: Webhook, name: str) -> str | None:
    """A form field trimmed, None when absent or blank."""
    return (hook.params.get(name) or "").strip() or None


@router.post("", **TWIML)
async def voice(hook: Hook, tw: Ctx) -> Response:
    """An incoming call: TwiML of the language menu, or straight the problem menu when the handler says
    the call's language is known (`handlers.call_answered`); 400 without a CallSid."""
    _call_sid(hook)
    config = tw.deps.config
    state = handlers.call_answered(deps=tw.deps)
    if state is not None:
        return xml(twiml.problem_prompt(state=state, menu=config.menu, action=_action(hook, "problem", state)))
    return xml(twiml.language_menu(locales=config.locales, program=config.program_name,
                                   action=_action(hook, "language")))


@router.post("/language", **TWIML)
async def voice_language(hook: Hook, tw: Ctx) -> Response:
    """The language menu's answer (Digits or SpeechResult): TwiML of the problem menu in that language."""
    _call_sid(hook)
    state = handlers.language_chosen(digits=hook.params.get("Digits"), speech=hook.params.get("SpeechResult"),
                                     deps=tw.deps)
    return xml(twiml.problem_prompt(state=state, menu=tw.deps.config.menu, action=_action(hook, "problem", state)))


@router.post("/problem", **TWIML)
async def voice_problem(hook: Hook, tw: Ctx) -> Response:
    """The problem menu's answer (a menu digit or speech): TwiML asking where the problem is."""
    _call_sid(hook)
    state = handlers.problem_chosen(_state(tw, hook), digits=hook.params.get("Digits"),
                                    speech=hook.params.get("SpeechResult"), deps=tw.deps)
    return xml(twiml.place_prompt(state=state, action=_action(hook, "place", state)))


@router.post("/place", **TWIML)
async def voice_place(hook: Hook, tw: Ctx) -> Response:
    """The place's answer (speech, or a ZIP/postal code typed): TwiML recording the details, with the
    recording and transcription callbacks."""
    _call_sid(hook)
    state = handlers.place_given(_state(tw, hook), digits=hook.params.get("Digits"),
                                 speech=hook.params.get("SpeechResult"))
    return xml(twiml.record_prompt(state=state, action=_action(hook, "recorded", state),
                                   transcribe_callback=_action(hook, "transcription", state),
                                   recording_callback=_action(hook, "recording", state)))


async def _end_of_recording(tw: Twilio, hook: Webhook) -> UUID | None:
    """Hand the end of the recording to `handlers.call_ended`; the event id published, None when none."""
    p = hook.params
    try:
        duration = int(p["RecordingDuration"]) if p.get("RecordingDuration") else None
    except ValueError:
        duration = None
    return await guarded(tw, handlers.call_ended(
        call_sid=_call_sid(hook), caller=_caller(tw, hook), state=_state(tw, hook),
        recording_url=_text(hook, "RecordingUrl"), recording_sid=_text(hook, "RecordingSid"), duration_s=duration,
        deps=tw.deps, now=tw.rt.clock(), account_sid=_text(hook, "AccountSid")))


@router.post("/recorded", **TWIML)
async def voice_recorded(hook: Hook, tw: Ctx) -> Response:
    """The Record action's end (the caller pressed # or hung up): the call's report published, then
    TwiML saying goodbye (thanks, or "we did not get your report" when the caller gave nothing); 503 when
    Kafka did not take it."""
    event_id = await _end_of_recording(tw, hook)
    tw.rt.log.info("call_report", published=event_id is not None)
    return xml(twiml.goodbye(state=_state(tw, hook), received=event_id is not None))


@router.post("/recording", **NO_CONTENT)
async def voice_recording_status(hook: Hook, tw: Ctx) -> Response:
    """The recording status callback: 204; a completed recording publishes the call's report (503 when
    Kafka did not take it)."""
    # The recording status callback repeats the Record action's report (same event id): a caller who
    # hangs up during the recording is not lost when Twilio skips the action.
    if (hook.params.get("RecordingStatus") or "").lower() == "completed":
        await _end_of_recording(tw, hook)
    return Response(status_code=204)


@router.post("/transcription", **NO_CONTENT)
async def voice_transcription(hook: Hook, tw: Ctx) -> Response:
    """Twilio's transcription callback: 204, a usable transcript published first as a message threaded
    to the call (a failed or empty one publishes nothing); 400 without a RecordingSid or CallSid, 503
    when Kafka did not take it."""
    recording_sid = _text(hook, "RecordingSid")
    if not recording_sid:
        raise InvalidWebhook("field RecordingSid is required")
    await guarded(tw, handlers.call_transcribed(
        call_sid=_call_sid(hook), recording_sid=recording_sid, caller=_caller(tw, hook), state=_state(tw, hook),
        transcript=hook.params.get("TranscriptionText"), status=hook.params.get("TranscriptionStatus"),
        recording_url=_text(hook, "RecordingUrl"), deps=tw.deps, now=tw.rt.clock(),
        account_sid=_text(hook, "AccountSid")))
    return Response(status_code=204)
