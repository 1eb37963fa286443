"""The voice menu (IVR) as plain data: languages, prompts, the numbered list of problems, the state a
call carries from step to step, and the intake messages a call produces.

Steps: language choice → kind of problem (speech, or a digit from the jurisdiction's services) → place
(speech, or a ZIP/postal code on the keypad) → recorded details with transcription. The state travels
in the query string of our own action URLs, which Twilio signs with the request: nothing is stored.

A call makes at most two messages: the report when the recording ends (channel_message_id = CallSid,
recording as media), and the transcript when Twilio's transcription callback arrives
(channel_message_id = RecordingSid, ``in_reply_to=[CallSid]``, so the case service threads it onto
the call's case; it also carries the problem and place, so it stands alone if the first never came).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

from services.intake_sms_voice.domain.contacts import Sender
from services.intake_sms_voice.domain.keywords import fold
from shared.events import MessageReceived

Lang = Literal["en", "fr"]
LANG_CODES: dict[str, str] = {"en": "en-US", "fr": "fr-CA"}
"""Speech recognition and text-to-speech language per menu language (Twilio language tags)."""

MAX_TEXT = 200
"""Characters kept of a spoken answer (it travels in URLs)."""

MAX_RECORDING_S = 120
"""Longest recording; Twilio transcribes recordings of at most two minutes."""

PROMPTS: dict[str, dict[str, str]] = {
    "en": {
        "welcome": "Thank you for calling {program}. For English, press 1.",
        "problem": "Please say in a few words what the problem is, for example a pothole or a street light "
                   "that is out.",
        "menu_item": "For {label}, press {digit}.",
        "place": "Where is it? Say the street address or the nearest intersection, or type the ZIP code "
                 "followed by the pound key.",
        "record": "After the tone, describe the problem in more detail. Press the pound key or hang up when "
                  "you are done.",
        "thanks": "Thank you. Your report has been received. Goodbye.",
        "nothing": "Sorry, we did not get your report. Please call again. Goodbye.",
    },
    "fr": {
        "welcome": "Merci d'avoir appelé {program}. Pour le service en français, appuyez sur le 2.",
        "problem": "Dites en quelques mots quel est le problème, par exemple un nid-de-poule ou un lampadaire "
                   "éteint.",
        "menu_item": "Pour {label}, appuyez sur le {digit}.",
        "place": "Où est-ce? Dites l'adresse ou l'intersection la plus proche, ou tapez le code postal suivi "
                 "du carré.",
        "record": "Après le signal sonore, décrivez le problème plus en détail. Appuyez sur le carré ou "
                  "raccrochez quand vous avez terminé.",
        "thanks": "Merci. Votre signalement a bien été reçu. Au revoir.",
        "nothing": "Désolé, nous n'avons pas reçu votre signalement. Veuillez rappeler. Au revoir.",
    },
}


@dataclass(frozen=True)
class MenuItem:
    """One keypad choice: `digit` 1–9, an Open311 `service_code`, and its spoken label per language."""

    digit: str
    service_code: str
    labels: Mapping[str, str]

    def label(self, lang: str) -> str:
        """The spoken label in `lang`, else the English one, else the service code."""
        return self.labels.get(lang) or self.labels.get("en") or self.service_code


def build_menu(services: Iterable[tuple[str, Mapping[str, str]]]) -> tuple[MenuItem, ...]:
    """Digits 1–9 for the first nine `(service_code, {lang: label})` pairs, in the jurisdiction's order."""
    return tuple(MenuItem(digit=str(i), service_code=code, labels=dict(labels))
                 for i, (code, labels) in enumerate(list(services)[:9], start=1))


@dataclass(frozen=True)
class CallState:
    """What a call has told us so far."""

    lang: Lang = "en"
    service_code: str | None = None
    problem: str | None = None
    place: str | None = None
    zipcode: str | None = None

    def to_query(self) -> dict[str, str]:
        """The state as query parameters of the next action URL (empty fields left out)."""
        out = {"lang": self.lang}
        for key in ("service_code", "problem", "place", "zipcode"):
            value = getattr(self, key)
            if value:
                out[key] = value
        return out

    @classmethod
    def from_query(cls, query: Mapping[str, str], locales: Iterable[str] = ("en", "fr")) -> CallState:
        """Read the state back; unknown languages fall back to the first locale, texts are trimmed."""
        allowed = [x for x in locales if x in LANG_CODES] or ["en"]
        lang = query.get("lang") if query.get("lang") in allowed else allowed[0]
        code = query.get("service_code")
        zipcode = query.get("zipcode")
        return cls(
            lang=lang,  # type: ignore[arg-type]
            service_code=code if code and re.fullmatch(r"[\w.:-]{1,64}", code) else None,
            problem=_spoken(query.get("problem")),
            place=_spoken(query.get("place")),
            zipcode=zipcode if zipcode and re.fullmatch(r"[0-9A-Za-z -]{3,10}", zipcode) else None,
        )


def _spoken(text: str | None) -> str | None:
    if not text:
        return None
    clean = re.sub(r"\s+", " ", text).strip()
    return clean[:MAX_TEXT] or None


def opening(locales: tuple[str, ...]) -> CallState | None:
    """Where a new call starts: None asks for the language first (the language menu); a jurisdiction
    with a single voice language skips that menu, and the call starts in it (the problem menu next)."""
    return CallState(lang=locales[0]) if len(locales) == 1 else None  # type: ignore[arg-type]


def choose_language(digits: str | None, speech: str | None, locales: Iterable[str] = ("en", "fr")) -> Lang:
    """1 → English, 2 → French; or a spoken "English"/"français"; else the jurisdiction's first locale."""
    allowed = [x for x in locales if x in LANG_CODES] or ["en"]
    wanted: str | None = None
    if digits:
        wanted = {"1": "en", "2": "fr"}.get(digits.strip()[:1])
    elif speech:
        said = fold(speech)
        wanted = "fr" if re.search(r"FRAN|FRENCH", said) else "en" if re.search(r"ENGL|ANGLAIS", said) else None
    return wanted if wanted in allowed else allowed[0]  # type: ignore[return-value]


def with_problem(state: CallState, *, digits: str | None, speech: str | None,
                 menu: tuple[MenuItem, ...]) -> CallState:
    """Record the kind of problem: a menu digit gives its service code and label, speech is kept as said."""
    if digits:
        item = next((m for m in menu if m.digit == digits.strip()[:1]), None)
        if item is not None:
            return replace(state, service_code=item.service_code, problem=item.label(state.lang))
    return replace(state, problem=_spoken(speech) or state.problem)


def with_place(state: CallState, *, digits: str | None, speech: str | None) -> CallState:
    """Record the place: speech is the address as said; typed digits are a ZIP/postal code."""
    zipcode = digits.strip().strip("#*") if digits else None
    if zipcode and not re.fullmatch(r"\d{3,10}", zipcode):
        zipcode = None
    return replace(state, place=_spoken(speech) or state.place, zipcode=zipcode or state.zipcode)


def recording_file_url(recording_url: str) -> str:
    """Where a call's recording is downloaded as MP3: Twilio serves a recording's URL as WAV without an
    extension (WAV is no type `shared.media` keeps) and as MP3 with ``.mp3`` appended (Twilio REST API,
    "Recording" resource, "Fetch a Recording media file"). A ``.wav`` URL is read as its MP3 too; an
    ``.mp3`` one is unchanged."""
    parts = urlsplit(recording_url)
    path = parts.path
    if path.lower().endswith(".mp3"):
        return recording_url
    if path.lower().endswith(".wav"):
        path = path[:-4]
    return urlunsplit(parts._replace(path=path + ".mp3"))


def call_report(*, call_sid: str, caller: Sender, state: CallState, recording_url: str | None,
                recording_sid: str | None, duration_s: int | None, now: datetime) -> MessageReceived | None:
    """The report of a call when its recording ends (None when the caller gave nothing at all).

    channel ``voice``, channel_message_id = CallSid; the recording URL is the media (Twilio's link: the
    handler replaces it by our copy, downloaded from `recording_file_url`).
    """
    if not (state.problem or state.place or recording_url):
        return None
    attributes: dict[str, object] = {"ivr_language": state.lang}
    if recording_sid:
        attributes["recording_sid"] = recording_sid
        attributes["awaiting_transcription"] = True
    if duration_s is not None:
        attributes["recording_duration_s"] = duration_s
    if not state.place and not state.zipcode:
        attributes["awaiting_location"] = True
    return MessageReceived(
        channel="voice", channel_message_id=call_sid,
        contact_key=caller.contact_key(fallback=call_sid, channel="voice"),
        received_at=now, service_code=state.service_code, description=state.problem or "",
        address=state.place, zipcode=state.zipcode, media_url=[recording_url] if recording_url else [],
        requested_datetime=now, language=state.lang, attributes=attributes, pii=caller.pii(),
    )


def transcript_message(*, call_sid: str, recording_sid: str, caller: Sender, state: CallState,
                       transcript: str, recording_url: str | None, now: datetime) -> MessageReceived:
    """The transcript of a call's recording: channel_message_id = RecordingSid, threaded to the CallSid."""
    return MessageReceived(
        channel="voice", channel_message_id=recording_sid,
        contact_key=caller.contact_key(fallback=call_sid, channel="voice"),
        received_at=now, service_code=state.service_code,
        description=transcript.strip(), address=state.place, zipcode=state.zipcode,
        media_url=[recording_url] if recording_url else [], requested_datetime=now, language=state.lang,
        attributes={"transcript_of_call": call_sid, "ivr_language": state.lang,
                    **({"problem": state.problem} if state.problem else {})},
        in_reply_to=[call_sid], pii=caller.pii(),
    )
