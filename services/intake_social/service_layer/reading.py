"""What a chat message's words say beyond themselves: the language they are in and the place they write.

Pure rules shared by the Meta webhook (`webhooks.py`) and the Mastodon mentions (`mentions.py`): a message
that carries no language is given the one its words show (`shared.jurisdiction.text.guess_language`, the
SMS adapter's rule), else the jurisdiction's first locale, so that the acknowledgement is written in it; a
report with neither a point nor an address carries the place its text writes as its address
(`shared.geocode.extract_place`; the router places it, docs/judgement.md "Places from words"), so that the
notifier does not ask "Where is it?" of a report that said where.
"""

from __future__ import annotations

from shared.events import MessageReceived
from shared.geocode import extract_place
from shared.jurisdiction.text import guess_language


def in_its_language(msg: MessageReceived, default: str) -> MessageReceived:
    """`msg` with a `language`: its own when it has one (a Mastodon status's), else ``fr``/``en`` from its
    words, else `default` (the jurisdiction's first locale, e.g. ``en``)."""
    if msg.language:
        return msg
    return msg.model_copy(update={"language": guess_language(msg.description or "", default)})


def written_place(msg: MessageReceived) -> str | None:
    """The place `msg`'s text writes ("Broken bench at 1 Elm Street" → ``1 Elm Street``), read in its
    language; None when it writes none."""
    return extract_place(msg.description, msg.language) if msg.description else None


def with_written_place(msg: MessageReceived) -> MessageReceived:
    """`msg` with the place its text writes as its `address` when it has neither a point nor an address
    (a shared point or an address given is never replaced); unchanged otherwise."""
    if msg.lat is not None or msg.address:
        return msg
    place = written_place(msg)
    return msg.model_copy(update={"address": place}) if place else msg
