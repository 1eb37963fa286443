"""How every omni311 web page picks its language (English or French) and fills a message from a catalogue.
Each service keeps its own catalogue (a mapping language → key → text); this module holds the rules they
share. Pure.

A text may hold ``{name}`` fields filled by `translate`. A key missing in French falls back to English, a
key missing in both is shown as itself (a gap is visible, never a crash).
"""

from __future__ import annotations

from collections.abc import Mapping

LANGUAGES = ("en", "fr")
"""The languages of every page."""
DEFAULT_LANGUAGE = "en"
LANGUAGE_COOKIE = "lang"
"""The cookie a chosen language is kept in (``?lang=`` sets it)."""

Catalogue = Mapping[str, Mapping[str, str]]
"""A service's messages: language → key → text."""


def translate(messages: Catalogue, language: str, key: str, **fields: object) -> str:
    """The text of `key` in `language` from `messages` (French falls back to English, an unknown key is
    itself), with ``{name}`` fields filled from `fields`; a field the text does not use is ignored."""
    text = messages.get(language, {}).get(key) or messages.get(DEFAULT_LANGUAGE, {}).get(key) or key
    try:
        return text.format(**fields) if fields else text
    except (KeyError, IndexError, ValueError):
        return text


def choose_language(*chosen: str | None, accept_language: str | None, default: str = DEFAULT_LANGUAGE) -> str:
    """The language of a page: the first of `chosen` (e.g. ``?lang=``, then the `LANGUAGE_COOKIE`) that
    names one of `LANGUAGES`, else the first supported language of ``Accept-Language`` (RFC 9110 §12.5.4,
    q-values honoured, ``q=0`` refused), else `default` (English when it is not one of ours)."""
    for choice in chosen:
        if choice in LANGUAGES:
            return str(choice)
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        primary = tag.strip().lower().split("-")[0]
        if primary in LANGUAGES and q > 0:
            ranked.append((-q, index, primary))
    if ranked:
        return sorted(ranked)[0][2]
    return default if default in LANGUAGES else DEFAULT_LANGUAGE


def other_language(language: str) -> str:
    """The language the switch in the header offers: French from English and English from French."""
    return "fr" if language == "en" else "en"
