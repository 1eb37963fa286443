"""Whether a resident's next text belongs to the report they just made (docs/channels.md, "Conversations").

After the acknowledgement invites replies, a text on SMS, WhatsApp, Messenger or Instagram from a reporter
whose report is still open, within the conversation window, is a follow-up: it joins that case as a
message (`join`), or, when it is a bare thanks, is recorded there without a reply (`thanks`). It opens a
case of its own (`new`) when there is no such report, the window has passed, the case is closed, the
resident asks for a new report ("NEW ..."), or the text names a problem of another service together with
a place of its own. Pure: the adapters fetch the thread and say whether a text names a place.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from shared.jurisdiction.text import normalize_text, tokens

FollowUp = Literal["join", "thanks", "new"]

NEW_REPORT_WORDS = ("new", "nouveau", "nouvelle", "nuevo", "nueva", "neu", "neue")
"""A first word that asks for a new report ("NEW pothole on Elm St"), case-insensitive; removed from the text."""

THANKS = frozenset({
    "ok", "okay", "k", "kk", "thanks", "thank you", "thanks a lot", "thank you so much", "thx", "ty", "cheers",
    "great", "perfect", "got it", "ok thanks", "ok thank you", "okay thanks", "thanks again", "many thanks",
    "merci", "merci beaucoup", "ok merci", "d accord", "super", "parfait", "gracias", "muchas gracias",
    "vale", "danke", "danke schon", "vielen dank", "grazie", "obrigado", "obrigada", "👍", "🙏", "👌",
    "👍🏻", "👍🏼", "👍🏽", "👍🏾", "👍🏿",
})
"""Bare thanks and acknowledgements (as `normalize_text` folds them, emoji as sent), in the languages our
jurisdictions and their residents use. A text made only of these, with punctuation, is `thanks`."""

PLACES_AFTER_NEW = frozenset({
    "york", "jersey", "brunswick", "hampshire", "mexico", "orleans", "haven", "england", "edinburgh",
    "westminster", "glasgow", "delhi", "zealand", "caledonia", "london", "bedford", "rochelle", "leon",
    "ecosse", "zelande", "ulm",
})
"""Second words of place names that begin with a `NEW_REPORT_WORDS` word ("new york is flooding",
"New Edinburgh park", "Nouvelle Orléans", "Nuevo León"), accents folded: such a text is about that place,
not a request for a new report, and keeps its words. After a separator ("New: York Ave ...") the word is
a request again."""

_NEW_RE = re.compile(r"^\s*(" + "|".join(NEW_REPORT_WORDS) + r")(?![\w'’-])(?P<sep>[\s:,.!-]*)", re.IGNORECASE)


@dataclass(frozen=True)
class Thread:
    """The report a conversation is about: `report_id` is the `channel_message_id` that opened it (what a
    follow-up names in `in_reply_to`), `last_at` when the resident last wrote in it (UTC), `service_code`
    the report's service when known, `open` False when its case is closed."""

    report_id: str
    last_at: datetime
    service_code: str | None = None
    open: bool = True


@dataclass(frozen=True)
class Decision:
    """What to do with a text: `kind` (`join`, `thanks`, `new`) and the `text` to publish (a "NEW" word
    removed)."""

    kind: FollowUp
    text: str


def is_thanks(text: str) -> bool:
    """True when `text` is only a thanks or an acknowledgement ("ok thanks!", "Merci 🙏", "👍")."""
    stripped = text.strip()
    if not stripped or len(stripped) > 60:
        return False
    if stripped in THANKS:
        return True
    emoji = [ch for ch in stripped if not ch.isalnum() and not ch.isspace() and ch not in ".,!?;:-'\"()"]
    words = normalize_text(stripped)
    if words and words not in THANKS:
        return False
    return all(e in THANKS or e in "\ufe0f\u200d" or _is_skin_tone(e) for e in emoji) and bool(words or emoji)


def _is_skin_tone(ch: str) -> bool:
    return "\U0001f3fb" <= ch <= "\U0001f3ff"


def asks_for_new_report(text: str) -> tuple[bool, str]:
    """Whether `text` starts with a request for a new report (`NEW_REPORT_WORDS` as a whole word, not
    joined to the next by a hyphen or an apostrophe, nor the start of a place's name: `PLACES_AFTER_NEW`),
    and the text without it (the text unchanged when it is not one)."""
    m = _NEW_RE.match(text)
    if m is None or not text[m.end():].strip():
        return False, text
    following = normalize_text(text[m.end():]).split()[:1]
    if not m.group("sep").strip() and following and following[0] in PLACES_AFTER_NEW:
        return False, text  # "new york is flooding": a place's name, not "NEW ..."
    return True, text[m.end():]


def services_named(text: str, keywords: Iterable[tuple[str, str]]) -> set[str]:
    """The service codes whose keyword phrase is in `text` as whole words in order (`keywords`: (service
    code, phrase) pairs, the jurisdiction's keywords in every language; both sides stemmed by `tokens`)."""
    words = tokens(text)
    found: set[str] = set()
    for code, phrase in keywords:
        wanted = tokens(phrase)
        if wanted and any(words[i:i + len(wanted)] == wanted for i in range(len(words) - len(wanted) + 1)):
            found.add(code)
    return found


def follow_up_of(text: str, *, thread: Thread | None, now: datetime, window_s: float,
                 names_service: Callable[[str], set[str]], has_place: bool) -> Decision:
    """Join, thanks or new for the text `text` of a contact whose last report is `thread` (None: none on
    this channel). `window_s` is the conversation window in seconds, counted from `thread.last_at`;
    `names_service(text)` the service codes the text names (`services_named`); `has_place` whether the
    text gives a place of its own (an address or a point). Rules: the module docstring."""
    asked, rest = asks_for_new_report(text)
    if asked:
        return Decision("new", rest.strip())
    if thread is None or not thread.open or (now - thread.last_at).total_seconds() > window_s:
        return Decision("new", text)
    if is_thanks(text):
        return Decision("thanks", text)
    named = names_service(text)
    if has_place and named and thread.service_code not in named:
        return Decision("new", text)
    return Decision("join", text)
