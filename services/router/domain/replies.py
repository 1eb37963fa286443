"""Residents' replies to "Did you mean 1200 MAIN ST?": a short yes in English or French. Pure."""

from __future__ import annotations

import re
import unicodedata

__all__ = ["is_affirmative"]

# Whole replies (after folding case, accents and punctuation) that say yes. Short on purpose: "yes but it
# is at 1300 Main" is no confirmation, it names another place.
_YES = frozenset({
    "y", "yes", "yes please", "yes thanks", "yes thank you", "yeah", "yep", "yup", "ok", "okay", "ok yes",
    "correct", "that s it", "that s right", "thats it", "thats right", "right", "exactly", "yes that s it",
    "yes that s right", "yes correct", "sure",
    "o", "oui", "ouais", "oui merci", "oui s il vous plait", "oui svp", "c est ca", "c est bien ca",
    "oui c est ca", "oui c est bien ca", "exact", "exactement", "tout a fait", "d accord", "oui exact",
    "c est exact", "oui c est exact",
})
_NOT_WORD = re.compile(r"[^a-z0-9]+")


def _fold(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(c for c in plain if not unicodedata.combining(c))
    return _NOT_WORD.sub(" ", plain).strip()


def is_affirmative(text: str) -> bool:
    """True when the whole reply is a short yes (EN/FR): "yes", "Y", "yes please", "oui", "Oui !",
    "c'est ça", "OK". Case, accents, punctuation and emoji are ignored; anything longer or naming
    something else ("yes, at 1300 Main St", "no") is not a yes."""
    return _fold(text) in _YES
