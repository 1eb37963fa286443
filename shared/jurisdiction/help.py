"""A jurisdiction's help articles (``jurisdictions/<id>/help.yaml``): what the resident portal shows when a
category is picked or typed words match, so a question can be answered without a report.

Contract: docs/residents-and-insights.md, "Help articles". Each article: ``id``, ``service_codes`` (may be
empty), ``keywords`` per language, ``title`` and ``body`` per language (plain text with line breaks),
optional ``url``. Matching is accent- and case-insensitive.
"""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Sequence
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from shared.jurisdiction.errors import JurisdictionConfigError
from shared.jurisdiction.loader import jurisdiction_path

HELP_FILE = "help.yaml"


class HelpArticle(BaseModel):
    """One article. `title`/`body`/`keywords`: language code → text (or phrases)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, max_length=100, pattern=r"^[a-z0-9][a-z0-9_-]*$")
    service_codes: tuple[str, ...] = ()
    keywords: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    title: dict[str, str]
    body: dict[str, str]
    url: str | None = None

    @field_validator("service_codes", mode="before")
    @classmethod
    def _none_is_empty(cls, value: object) -> object:
        return () if value is None else value

    @model_validator(mode="after")
    def _has_text(self) -> HelpArticle:
        if not self.title or not self.body:
            raise ValueError(f"help article {self.id!r} needs a title and a body in at least one language")
        return self

    def text(self, part: str, language: str, default: str = "en") -> str:
        """`part` (``title`` or ``body``) in `language`, else in `default`, else in any language given."""
        texts: dict[str, str] = getattr(self, part)
        return texts.get(language) or texts.get(default) or next(iter(texts.values()))


def fold(text: str) -> str:
    """`text` without accents, case-folded, runs of non-letters as one space (``Déneigement!`` →
    ``deneigement``)."""
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    return " ".join(re.findall(r"\w+", bare))


def match_articles(articles: Sequence[HelpArticle], *, service_code: str | None = None, query: str = "",
                   limit: int = 5) -> list[HelpArticle]:
    """The articles for a category or typed words: those listing `service_code` first, then those with a
    keyword (any language) found in `query` as whole words, or whose folded title contains every word of
    a query of 4+ letters; at most `limit`, each once, in file order within each kind."""
    words = fold(query)
    padded = f" {words} "
    by_code = [a for a in articles if service_code and service_code in a.service_codes]
    by_words: list[HelpArticle] = []
    if words:
        for a in articles:
            keywords = [fold(k) for phrases in a.keywords.values() for k in phrases]
            if any(k and f" {k} " in padded for k in keywords):
                by_words.append(a)
            elif len(words) >= 4 and any(all(w in fold(t) for w in words.split()) for t in a.title.values()):
                by_words.append(a)
    seen: dict[str, HelpArticle] = {}
    for a in (*by_code, *by_words):
        seen.setdefault(a.id, a)
    return list(seen.values())[:limit]


def load_help(name_or_path: str | os.PathLike[str]) -> tuple[HelpArticle, ...]:
    """The help articles next to a jurisdiction's YAML (`name_or_path` as `load_jurisdiction` takes it);
    none when the folder has no ``help.yaml``. Raises `JurisdictionConfigError` for a file that is not
    valid YAML, not a list of articles, or repeats an id."""
    folder = jurisdiction_path(name_or_path).parent
    path = Path(folder) / HELP_FILE
    if not path.is_file():
        return ()
    try:
        document = yaml.safe_load(path.read_text("utf-8"))
    except yaml.YAMLError as exc:
        raise JurisdictionConfigError(f"{path}: not valid YAML: {exc}") from exc
    items = (document or {}).get("articles") if isinstance(document, dict) else document
    if not isinstance(items, list):
        raise JurisdictionConfigError(f"{path}: expected a list of articles (or `articles:`)")
    try:
        articles = tuple(HelpArticle.model_validate(item) for item in items)
    except ValidationError as exc:
        raise JurisdictionConfigError(f"{path}: {exc}") from exc
    ids = [a.id for a in articles]
    repeated = sorted({i for i in ids if ids.count(i) > 1})
    if repeated:
        raise JurisdictionConfigError(f"{path}: repeated article ids {repeated}")
    return articles
