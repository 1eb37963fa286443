"""TwiML answers (Twilio's XML): messaging replies and the voice menu steps, built with the twilio library."""

from __future__ import annotations

from collections.abc import Sequence

from twilio.twiml.messaging_response import MessagingResponse
from twilio.twiml.voice_response import VoiceResponse

from services.intake_sms_voice.domain.ivr import LANG_CODES, MAX_RECORDING_S, PROMPTS, CallState, MenuItem

MEDIA_TYPE = "application/xml"


def messaging(texts: Sequence[str] = ()) -> str:
    """``<Response>`` with one ``<Message>`` per text (none: an empty response, nothing is sent)."""
    r = MessagingResponse()
    for text in texts:
        r.message(text)
    return str(r)


def language_menu(*, locales: Sequence[str], program: str, action: str) -> str:
    """Step 1: press 1 for English, 2 for French (each line spoken in its own language)."""
    r = VoiceResponse()
    g = r.gather(input="dtmf speech", num_digits=1, timeout=5, action=action, method="POST",
                 action_on_empty_result=True, language=LANG_CODES[locales[0]], hints="English, français, French")
    for lang in locales:
        g.say(PROMPTS[lang]["welcome"].format(program=program), language=LANG_CODES[lang])
    r.redirect(action, method="POST")
    return str(r)


def problem_prompt(*, state: CallState, menu: Sequence[MenuItem], action: str) -> str:
    """Step 2: the kind of problem, by speech or a menu digit."""
    lang = state.lang
    r = VoiceResponse()
    hints = ", ".join(item.label(lang) for item in menu)
    g = r.gather(input="speech dtmf", num_digits=1, timeout=6, speech_timeout="auto", action=action,
                 method="POST", action_on_empty_result=True, language=LANG_CODES[lang], hints=hints or None)
    g.say(PROMPTS[lang]["problem"], language=LANG_CODES[lang])
    for item in menu:
        g.say(PROMPTS[lang]["menu_item"].format(label=item.label(lang), digit=item.digit), language=LANG_CODES[lang])
    r.redirect(action, method="POST")
    return str(r)


def place_prompt(*, state: CallState, action: str) -> str:
    """Step 3: the place, by speech (address, intersection) or a typed ZIP/postal code."""
    lang = state.lang
    r = VoiceResponse()
    g = r.gather(input="speech dtmf", finish_on_key="#", timeout=6, speech_timeout="auto", action=action,
                 method="POST", action_on_empty_result=True, language=LANG_CODES[lang])
    g.say(PROMPTS[lang]["place"], language=LANG_CODES[lang])
    r.redirect(action, method="POST")
    return str(r)


def record_prompt(*, state: CallState, action: str, transcribe_callback: str, recording_callback: str) -> str:
    """Step 4: the details, recorded and transcribed; the report is published when the recording ends."""
    lang = state.lang
    r = VoiceResponse()
    r.say(PROMPTS[lang]["record"], language=LANG_CODES[lang])
    r.record(action=action, method="POST", max_length=MAX_RECORDING_S, finish_on_key="#", play_beep=True,
             timeout=5, transcribe=True, transcribe_callback=transcribe_callback,
             recording_status_callback=recording_callback, recording_status_callback_method="POST",
             recording_status_callback_event="completed")
    # Reached only when Twilio skips the action (no audio at all): the report still goes out.
    r.redirect(action, method="POST")
    return str(r)


def goodbye(*, state: CallState, received: bool) -> str:
    """The last words of a call, then hang up."""
    lang = state.lang
    r = VoiceResponse()
    r.say(PROMPTS[lang]["thanks" if received else "nothing"], language=LANG_CODES[lang])
    r.hangup()
    return str(r)
