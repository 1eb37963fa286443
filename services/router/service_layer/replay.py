"""The replay of a draft routing configuration over the last days of logged decisions, and the versions
that decide live: what the router's staff API and `python -m tools.evaluate rules` both call."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from services.router.domain import ModelSuggestions, ReplayRow, RoutingInput, needs_text_classification, replay
from services.router.service_layer.handlers import TextClassifier
from shared.jurisdiction import Jurisdiction

__all__ = ["MAX_DAYS", "classify_with", "replay_rules", "versions"]

MAX_DAYS = 366
"""The longest window a replay reads, in days."""


def classify_with(model: TextClassifier, jurisdiction: Jurisdiction) -> Callable[[RoutingInput], ModelSuggestions]:
    """A classifier version asked again for every replayed input (``--model``): its top 3 for inputs whose
    category comes from the text, its version only for the others."""

    def classify(request: RoutingInput) -> ModelSuggestions:
        if not needs_text_classification(request, jurisdiction):
            return ModelSuggestions(model_version=model.version)
        return ModelSuggestions(model_version=model.version, suggestions=list(model.top(request.text, k=3))[:3])

    return classify


async def replay_rules(read_since: Callable[[datetime], Awaitable[list[ReplayRow]]], *, live: Jurisdiction,
                       draft: Jurisdiction, now: datetime, days: float, model: TextClassifier | None = None,
                       examples: int = 5) -> dict[str, Any]:
    """The decisions logged in the `days` (> 0, at most `MAX_DAYS`) before `now` (aware UTC), decided again
    under `draft` (with `model` asked again when given) and compared with what was decided: the report of
    `services.router.domain.replay`, plus ``days``, ``since`` and ``until``. The routing runs in a worker
    thread, so a server's event loop keeps answering.

    Raises:
        ValueError: `days` out of range.
    """
    if not 0 < days <= MAX_DAYS:
        raise ValueError(f"days must be in (0, {MAX_DAYS}], got {days}")
    since = now - timedelta(days=days)
    rows = await read_since(since)
    classify = classify_with(model, draft) if model is not None else None
    report = await asyncio.to_thread(replay, rows, live, draft, classify=classify, examples=examples)
    return {**report, "days": days, "since": since.isoformat(), "until": now.isoformat(),
            "model": model.version if model is not None else None}


def versions(jurisdiction: Jurisdiction, model: TextClassifier | None, geocoder: str | None) -> dict[str, Any]:
    """What decides live: the jurisdiction's config version and routing rule ids (in order), the learned
    model's version (None: keyword routing), the geocoder (provider name) and their thresholds."""
    spec = jurisdiction.classification
    return {
        "jurisdiction": jurisdiction.id,
        "config_version": jurisdiction.config_version,
        "rule_ids": [r.id for r in jurisdiction.routing_rules],
        "model_version": model.version if model is not None else None,
        "classification": {"method": "model" if model is not None else "keywords",
                           "min_probability": spec.model.min_probability if spec.model is not None else None,
                           "min_score": spec.min_score},
        "geocoder": geocoder,
        "geocoding": {"provider": jurisdiction.geocoding.provider, "accept_from": jurisdiction.geocoding.accept_from,
                      "confirm_from": jurisdiction.geocoding.confirm_from},
    }
