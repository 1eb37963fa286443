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
from services.intake_sms_voice.entrypoints.twilio import Ctx, Hook, Twilio, Webhook, guarded, xml
from services.intake_sms_voice.service_layer import handlers

router = APIRouter(prefix="/twilio/voice")


def _action(hook: Webhook, step: str, state: ivr.CallState | None = None) -> str:
    """Our own URL for the menu's next `step`, carrying the call's state in its query."""
    query = urlencode(state.to_query(), quote_via=quote) if state else ""
    return f"{hook.root}/twilio/voice/{step}" + (f"?{query}" if query else "")


def _state(tw: Twilio, hook: Webhook) -> ivr.CallState:
    return ivr.CallState.from_query(hook.query, tw.deps.config.locales)


def _call_sid(hook: Webhook) -> str:
    sid = (hook.params.get("CallSid") or "").strip()
    if not sid:
        raise InvalidWebhook("field CallSid is required")
    return sid


def _caller(tw: Twilio, hook: Webhook) -> Sender:
    p = hook.params
    return sender_of(p.get("From") or p.get("Caller") or "", default_region=tw.settings.default_region)


def _text(hook: Webhook, name: str) -> str | None:
    return (hook.params.get(name) or "").strip() or None


@router.post("")
async def voice(hook: Hook, tw: Ctx) -> Response:
    _call_sid(hook)
    config = tw.deps.config
    if len(config.locales) == 1:
        state = ivr.CallState(lang=config.locales[0])  # type: ignore[arg-type]
        return xml(twiml.problem_prompt(state=state, menu=config.menu, action=_action(hook, "problem", state)))
    return xml(twiml.language_menu(locales=config.locales, program=config.program_name,
                                   action=_action(hook, "language")))


@router.post("/language")
async def voice_language(hook: Hook, tw: Ctx) -> Response:
    _call_sid(hook)
    config = tw.deps.config
    lang = ivr.choose_language(hook.params.get("Digits"), hook.params.get("SpeechResult"), config.locales)
    state = ivr.CallState(lang=lang)
    return xml(twiml.problem_prompt(state=state, menu=config.menu, action=_action(hook, "problem", state)))


@router.post("/problem")
async def voice_problem(hook: Hook, tw: Ctx) -> Response:
    _call_sid(hook)
    state = ivr.with_problem(_state(tw, hook), digits=hook.params.get("Digits"),
                             speech=hook.params.get("SpeechResult"), menu=tw.deps.config.menu)
    return xml(twiml.place_prompt(state=state, action=_action(hook, "place", state)))


@router.post("/place")
async def voice_place(hook: Hook, tw: Ctx) -> Response:
    _call_sid(hook)
    state = ivr.with_place(_state(tw, hook), digits=hook.params.get("Digits"),
                           speech=hook.params.get("SpeechResult"))
    return xml(twiml.record_prompt(state=state, action=_action(hook, "recorded", state),
                                   transcribe_callback=_action(hook, "transcription", state),
                                   recording_callback=_action(hook, "recording", state)))


async def _end_of_recording(tw: Twilio, hook: Webhook) -> UUID | None:
    p = hook.params
    try:
        duration = int(p["RecordingDuration"]) if p.get("RecordingDuration") else None
    except ValueError:
        duration = None
    return await guarded(tw, handlers.call_ended(
        call_sid=_call_sid(hook), caller=_caller(tw, hook), state=_state(tw, hook),
        recording_url=_text(hook, "RecordingUrl"), recording_sid=_text(hook, "RecordingSid"), duration_s=duration,
        deps=tw.deps, now=tw.rt.clock()))


@router.post("/recorded")
async def voice_recorded(hook: Hook, tw: Ctx) -> Response:
    event_id = await _end_of_recording(tw, hook)
    tw.rt.log.info("call_report", published=event_id is not None)
    return xml(twiml.goodbye(state=_state(tw, hook), received=event_id is not None))


@router.post("/recording")
async def voice_recording_status(hook: Hook, tw: Ctx) -> Response:
    # The recording status callback repeats the Record action's report (same event id): a caller who
    # hangs up during the recording is not lost when Twilio skips the action.
    if (hook.params.get("RecordingStatus") or "").lower() == "completed":
        await _end_of_recording(tw, hook)
    return Response(status_code=204)


@router.post("/transcription")
async def voice_transcription(hook: Hook, tw: Ctx) -> Response:
    recording_sid = _text(hook, "RecordingSid")
    if not recording_sid:
        raise InvalidWebhook("field RecordingSid is required")
    await guarded(tw, handlers.call_transcribed(
        call_sid=_call_sid(hook), recording_sid=recording_sid, caller=_caller(tw, hook), state=_state(tw, hook),
        transcript=hook.params.get("TranscriptionText"), status=hook.params.get("TranscriptionStatus"),
        recording_url=_text(hook, "RecordingUrl"), deps=tw.deps, now=tw.rt.clock()))
    return Response(status_code=204)
