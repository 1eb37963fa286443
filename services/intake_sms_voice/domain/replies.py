"""What we text back, in English or French: keyword confirmations (CTIA/carrier rules: a STOP gets exactly
one confirmation naming the programme and how to resubscribe; HELP names the programme, what it does and
how to stop), the one location question, and case status answers. Texts stay short (one or two SMS
segments) and name no personal data.
"""

from __future__ import annotations

import re
from typing import Literal

from services.intake_sms_voice.domain.keywords import KeywordKind, fold
from shared.open311.models import ServiceRequest

Lang = Literal["en", "fr"]


def keyword_reply(kind: KeywordKind, language: Lang, program: str) -> str:
    """The confirmation of an opt-out, opt-in or help keyword."""
    texts = {
        ("opt_out", "en"): f"{program}: you are unsubscribed and will get no more texts from us. "
                           "Reply START to resubscribe.",
        ("opt_out", "fr"): f"{program} : vous êtes désabonné et ne recevrez plus de textos de notre part. "
                           "Répondez DEBUT pour vous réabonner.",
        ("opt_in", "en"): f"{program}: you are subscribed again to updates on your reports. "
                          "Reply STOP to unsubscribe, HELP for help.",
        ("opt_in", "fr"): f"{program} : vous êtes de nouveau abonné aux suivis de vos signalements. "
                          "Répondez ARRET pour vous désabonner, AIDE pour de l'aide.",
        ("help", "en"): f"{program}: text a problem and its address to report it; STATUS <case number> for "
                        "an update. Reply STOP to unsubscribe. Emergencies: call 911.",
        ("help", "fr"): f"{program} : textez un problème et son adresse pour le signaler; STATUT <numéro> pour "
                        "un suivi. Répondez ARRET pour vous désabonner. Urgences : 911.",
    }
    return texts[(kind, language)]


def location_question(language: Lang, program: str) -> str:
    """The one question asked when a report has no usable location."""
    if language == "fr":
        return (f"{program} : merci, nous avons votre signalement. Où est-ce exactement? Répondez avec une "
                "adresse, une intersection (ex. rue Rideau et King-Edward) ou partagez votre position.")
    return (f"{program}: thanks, we have your report. Where exactly is it? Reply with an address, an "
            "intersection (e.g. Main St & 2nd Ave) or share your location.")


def location_confirm_question(language: Lang, program: str, matched: str) -> str:
    """The question asked when the place written in a report was found without enough confidence
    (docs/judgement.md, "Places from words"): "Did you mean <matched>? Reply YES or send the address"."""
    place = " ".join(matched.split())[:120]
    if language == "fr":
        return (f"{program} : merci, nous avons votre signalement. Vouliez-vous dire {place} ? Répondez OUI "
                "ou envoyez l'adresse.")
    return f"{program}: thanks, we have your report. Did you mean {place}? Reply YES or send the address."


def location_thanks(language: Lang, program: str) -> str:
    """The answer to a resident who gave the location we asked for."""
    if language == "fr":
        return f"{program} : merci, l'emplacement est ajouté à votre signalement."
    return f"{program}: thank you, the location is added to your report."


def status_reply(language: Lang, program: str, *, case_number: str | None, request: ServiceRequest | None,
                 unavailable: bool = False) -> str:
    """The answer to ``STATUS <case number>``: the Open311 status (and notes) of that request.

    `request` is the case API's Open311 GeoReport v2 view of the case (``status``, ``status_notes``,
    ``service_name``), None when the case does not exist; `unavailable` when the case API did not answer.
    """
    fr = language == "fr"
    if case_number is None:
        return (f"{program} : envoyez STATUT suivi du numéro de dossier, p. ex. STATUT ABC-26-000123." if fr
                else f"{program}: send STATUS and your case number, e.g. STATUS ABC-26-000123.")
    if unavailable:
        return (f"{program} : le suivi est indisponible pour le moment, réessayez dans quelques minutes." if fr
                else f"{program}: status lookups are unavailable right now; please try again in a few minutes.")
    if request is None:
        return (f"{program} : aucun dossier {case_number} n'a été trouvé." if fr
                else f"{program}: we found no case {case_number}.")
    status = request.status or "open"
    word = ({"open": "ouvert", "closed": "fermé"} if fr else {"open": "open", "closed": "closed"}).get(status, status)
    service = request.service_name or request.service_code
    subject = f"{case_number} ({service})" if service else case_number
    text = (f"{program} : le dossier {subject} est {word}." if fr else f"{program}: case {subject} is {word}.")
    notes = re.sub(r"\s+", " ", request.status_notes or "").strip()
    if notes:
        text += f" {notes}"
    return text if len(text) <= 300 else text[:299] + "…"


def language_of_keyword(word: str) -> Lang:
    """French for the French keyword spellings, else English (STOP is both)."""
    return "fr" if fold(word) in {"ARRET", "ARRETER", "AIDE", "DEBUT", "STATUT", "ETAT", "SUIVI"} else "en"


def follow_up_added(language: Lang, program: str, case_number: str | None) -> str:
    """The one short answer to a follow-up that joined the resident's report (docs/channels.md,
    "Conversations"): with the case number when the case API told it, else without."""
    if language == "fr":
        return (f"{program} : ajouté à votre signalement {case_number}." if case_number
                else f"{program} : ajouté à votre signalement.")
    return (f"{program}: added to your report {case_number}." if case_number
            else f"{program}: added to your report.")


def write_as_text(language: Lang, program: str) -> str:
    """The short request sent when a message holds nothing we can read (an unsupported WhatsApp message,
    a file of an unknown type): the message is kept, and the resident is asked for words."""
    if language == "fr":
        return f"{program} : nous ne pouvons pas lire ce message. Veuillez écrire votre signalement en texte."
    return f"{program}: we cannot read that message. Please write your report as text."
