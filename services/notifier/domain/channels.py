"""Which channel answers a reporter, whether a platform still lets us write, and how texts are billed.

Pure: no I/O; `now` is passed in. SMS segment rules are Twilio's (GSM 03.38 basic set + extension table;
https://www.twilio.com/docs/glossary/what-sms-character-limit).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from services.notifier.domain.messages import Notice

Route = Literal["twilio", "meta", "mastodon", "email"]

# GSM 03.38 default alphabet (one septet each) and its extension table (escape + one septet: two).
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENDED = frozenset("^{}\\[~]|€\f")


@dataclass(frozen=True)
class Segments:
    """How a text is billed: `encoding` GSM-7 or UCS-2, `units` (septets, or UTF-16 code units), `count`."""

    encoding: Literal["GSM-7", "UCS-2"]
    units: int
    count: int


def sms_segments(text: str) -> Segments:
    """Segments Twilio bills for `text`.

    GSM-7 when every character is in the GSM 03.38 alphabet (extension characters such as ``€ [ ] { }``
    count two septets): 160 septets in one segment, 153 per segment when concatenated. Otherwise UCS-2
    (UTF-16 code units, so an emoji outside the BMP counts two): 70, then 67 per segment. An escape
    sequence is never split across segments (a segment that would end on one takes one septet less).
    """
    if all(c in GSM7_BASIC or c in GSM7_EXTENDED for c in text):
        units = sum(2 if c in GSM7_EXTENDED else 1 for c in text)
        if units <= 160:
            return Segments("GSM-7", units, 1 if units else 0)
        count, used = 1, 0
        for c in text:
            w = 2 if c in GSM7_EXTENDED else 1
            if used + w > 153:
                count, used = count + 1, 0
            used += w
        return Segments("GSM-7", units, count)
    units = len(text.encode("utf-16-le")) // 2
    if units <= 70:
        return Segments("UCS-2", units, 1)
    # A surrogate pair is never split across segments.
    count, used = 1, 0
    for c in text:
        w = 2 if ord(c) > 0xFFFF else 1
        if used + w > 67:
            count, used = count + 1, 0
        used += w
    return Segments("UCS-2", units, count)


def route_for(channel: str, *, channel_message_id: str | None, phone: str | None, handle: str | None,
              email: str | None) -> Route | None:
    """The channel that answers a reporter who wrote on `channel` (a case's `channel`), or None.

    Texts and calls (`sms`, `voice`, `phone`, WhatsApp through Twilio) are answered by SMS/WhatsApp with
    Twilio; Messenger, Instagram and WhatsApp Cloud (message ids ``wamid.``) through Meta; Mastodon by a
    direct message. Web, Open311 and email reporters (or any reporter with only an email) by email; a
    portal (`web`) reporter who chose SMS (the portal keeps only the chosen address: a phone) by SMS.
    """
    if channel == "whatsapp" and (channel_message_id or "").startswith("wamid.") and handle:
        return "meta"
    if channel in ("sms", "whatsapp", "voice", "phone") and phone:
        return "twilio"
    if channel in ("messenger", "instagram") and handle:
        return "meta"
    if channel == "mastodon" and handle:
        return "mastodon"
    if email:
        return "email"
    return "twilio" if channel == "web" and phone else None


def within_reply_window(last_inbound_at: datetime | None, now: datetime, hours: float = 24.0) -> bool:
    """Whether a platform with a reply window (Meta: 24 h after the resident's last message) still takes a
    free-form message from us. Unknown last message time: no."""
    return last_inbound_at is not None and now - last_inbound_at < timedelta(hours=hours)


_SMS = {
    "en": {
        "acknowledgement": "{p}: we received your report. Case {n}. Reply to add details. STOP to opt out.",
        "merged": "{p}: your report {n} now follows case {m}, the same problem reported nearby.",
        "status_changed": "{p}: case {n} was updated.{notes}",
        "closed": "{p}: case {n} is closed.{notes}",
        "said": "{p}, case {n}:{notes}",
        "unmerged": "{p}: your report {n} is its own case again, no longer part of case {m}.",
        "followed": "{p}: you now follow case {n}; reply STOP to stop.",
        "survey_invitation": "{p}: case {n} is closed. How did we do? {link}",
        "location_confirm": "{p}, case {n}: Did you mean {q}? Reply YES, or send the address, with your case number.",
        "location_not_found": ("{p}, case {n}: We could not find {q}. Where is it? Reply with the address or the "
                               "nearest corner."),
        "acknowledgement_where": ("{p}: we received your report. Case {n}. Where is it? Reply with the address or "
                                  "share your location."),
        "text_request": "{p}: we cannot read this kind of message. Please write your report as text.",
        "link_code": ("{p}: your code to link this number is {code}. It expires in {minutes} min. If you did not "
                      "ask for it, ignore this text."),
    },
    "fr": {
        "acknowledgement": "{p} : signalement reçu. Dossier {n}. Répondez pour ajouter des détails. STOP pour arrêter.",
        "merged": "{p} : votre signalement {n} suit désormais le dossier {m}, même problème signalé à proximité.",
        "status_changed": "{p} : le dossier {n} a été mis à jour.{notes}",
        "closed": "{p} : le dossier {n} est fermé.{notes}",
        "said": "{p}, dossier {n} :{notes}",
        "unmerged": ("{p} : votre signalement {n} est de nouveau un dossier à part, il ne fait plus partie du "
                     "dossier {m}."),
        "followed": "{p} : vous suivez désormais le dossier {n}; répondez STOP pour arrêter.",
        "survey_invitation": "{p} : le dossier {n} est fermé. Votre avis? {link}",
        "location_confirm": ("{p}, dossier {n} : Vouliez-vous dire {q} ? Répondez OUI, ou envoyez l'adresse, avec "
                             "votre numéro de dossier."),
        "location_not_found": ("{p}, dossier {n} : Nous n'avons pas trouvé {q}. Où est-ce ? Répondez avec l'adresse "
                               "ou le coin de rue le plus proche."),
        "acknowledgement_where": ("{p} : signalement reçu. Dossier {n}. Où est-ce ? Répondez avec l'adresse ou "
                                  "partagez votre position."),
        "text_request": "{p} : nous ne pouvons pas lire ce type de message. Écrivez votre signalement en texte.",
        "link_code": ("{p} : votre code pour lier ce numéro est {code}. Il expire dans {minutes} min. Si vous ne "
                      "l'avez pas demandé, ignorez ce texto."),
    },
}
MAX_SEGMENTS = 2
MAX_SEGMENTS_WRITTEN = 4
"""Segments for a notice that carries written words (a staff member's update or reply, a workflow status
text): Twilio concatenates up to 10; 4 (612 GSM-7 characters) keeps a few sentences whole."""


def short_text(notice: Notice, program: str = "City 311", max_segments: int | None = None) -> str:
    """The notice as a text message of at most `max_segments` segments (SMS, Messenger, Mastodon DM;
    default `MAX_SEGMENTS`, `MAX_SEGMENTS_WRITTEN` when the notice carries `text`).

    A notice with `text` (a public update, a reply, a workflow status text) says it after the case number,
    followed by the staff's notes. The case numbers and a survey's `link` are always whole: what is
    shortened is the text and notes (cut with an ellipsis), then the fixed wording (the shortest form keeps
    only the program name, the case number and the link). A survey invitation may take
    `MAX_SEGMENTS_WRITTEN` segments (its link is a signed token of a few hundred characters), and so may
    the "Did you mean" question (`location_confirm`; the matched place, at most 120 characters, is whole),
    the question after a written place that was not found (`location_not_found`, the same),
    and an acknowledgement that asks where the problem is (`ask_location`: the question is whole). A
    request to write the report as text (`text_request`) and a profile link code (`link_code`, whose code
    is whole) name no case.
    """
    lang = notice.language if notice.language in _SMS else "en"
    kind = "acknowledgement_where" if notice.kind == "acknowledgement" and notice.ask_location else notice.kind
    template = _SMS[lang]["said" if notice.text else kind]
    notes = " ".join(" ".join(x for x in (notice.text, notice.status_notes) if x).split())
    long_form = notice.text or notice.link or notice.matched or notice.ask_location
    limit = max_segments or (MAX_SEGMENTS_WRITTEN if long_form else MAX_SEGMENTS)
    n, m, link = notice.service_request_id, notice.merged_into_service_request_id or "", notice.link or ""
    q = " ".join((notice.matched or "").split())[:120]

    def render(note: str) -> str:
        return template.format(p=program, n=n, m=m, q=q, link=link, notes=f" {note}" if note else "",
                               code=notice.code or "", minutes=notice.valid_minutes or "")

    text = render(notes)
    while notes and sms_segments(text).count > limit:
        notes = notes[: max(0, len(notes) - 10)].rstrip()
        text = render(notes + "…" if notes else "")
    if sms_segments(text).count > limit:
        text = (f"{program} {n} > {m}" if notice.kind in ("merged", "unmerged")
                else f"{program}: {notice.code}" if notice.kind == "link_code"
                else f"{program} {n} {link}" if link else f"{program} {n}")
    return text
