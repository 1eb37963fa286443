"""Fakes for router tests: the decision log in memory, a learned model that says what it is told, a geocoder
that answers from a table (or fails), and Demoville with a model, an override keyword and geocoding bands."""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Any
from uuid import UUID, uuid4

import yaml

from services.router.adapters.drafts import draft_from_text
from services.router.adapters.repository import LoggedDecision
from services.router.domain import ReplayRow
from shared.events import CaseOpened, RoutingFields, Suggestion
from shared.jurisdiction import Jurisdiction, load_jurisdiction, repo_root
from support.uow import T0, FakeStore

CENTRE = (45.415, -75.70)  # inside the demo district "centre"
NORD = (45.43, -75.70)  # inside the demo district "nord"
CITY_HALL = (45.4175, -75.68)  # demo's fallback "unknown location" point
FAR_AWAY = (40.7, -74.0)  # outside Demoville


class FakeRouterRepository:
    """`RouterRepository` in memory: case_id -> (event_id, decided_at, fields, logged)."""

    def __init__(self) -> None:
        self.rows: dict[UUID, dict[str, Any]] = {}

    async def add_decision(self, case_id: UUID, event_id: UUID, decided_at: datetime, fields: RoutingFields,
                           logged: dict[str, Any]) -> bool:
        if case_id in self.rows:
            return False
        self.rows[case_id] = {"event_id": event_id, "decided_at": decided_at, "fields": fields, "logged": logged}
        return True

    async def decision_for_update(self, case_id: UUID) -> LoggedDecision | None:
        row = self.rows.get(case_id)
        if row is None:
            return None
        return LoggedDecision(service_code=row["fields"].service_code, decided_at=row["decided_at"],
                              decision=row["logged"], event_id=row["event_id"])

    async def replace_decision(self, case_id: UUID, event_id: UUID, decided_at: datetime, fields: RoutingFields,
                               logged: dict[str, Any]) -> None:
        self.rows[case_id] = {"event_id": event_id, "decided_at": decided_at, "fields": fields, "logged": logged}

    def replay_rows(self) -> list[ReplayRow]:
        """The log as the replay reads it."""
        return [ReplayRow(case_id=k, decided_at=r["decided_at"], decision=r["logged"]) for k, r in self.rows.items()]


class FakeModel:
    """A `TextModel` stand-in: `top(text)` answers `answers[text]` (else `default`); `asked` keeps the texts."""

    def __init__(self, answers: dict[str, list[tuple[str, float]]] | None = None, *,
                 default: list[tuple[str, float]] | None = None, version: str = "demo-0123456789ab") -> None:
        self.version = version
        self.answers = answers or {}
        self.default = default or [("pothole", 0.9), ("snow", 0.06), ("tree", 0.02)]
        self.asked: list[str] = []

    def top(self, text: str, k: int = 3) -> list[Suggestion]:
        self.asked.append(text)
        return [Suggestion(service_code=c, probability=p) for c, p in self.answers.get(text, self.default)[:k]]


class Answer:
    """A `GeocodeAnswer` stand-in (the router reads its attributes)."""

    def __init__(self, point: tuple[float, float], confidence: float, matched: str, *, kind: str = "address",
                 source: str = "gazetteer", query: str = "") -> None:
        self.lat, self.long = point
        self.confidence, self.matched, self.kind, self.source, self.query = confidence, matched, kind, source, query


class FakeGeocoder:
    """Answers `places[query]` (None when absent); `down` makes every call raise as a dead server would."""

    def __init__(self, places: dict[str, Answer] | None = None, *, down: bool = False) -> None:
        self.places = places or {}
        self.down = down
        self.asked: list[tuple[str, str | None]] = []

    async def geocode(self, text: str, *, language: str | None = None) -> Answer | None:
        self.asked.append((text, language))
        if self.down:
            raise ConnectionError("geocoding server unreachable")
        return self.places.get(text)


def extract_place(text: str, language: str | None) -> str | None:
    """The written place: whatever follows "at " (a stand-in for `shared.geocode.extract_place`)."""
    _, at, rest = text.partition(" at ")
    place = rest.strip(" .!") if at else ""
    return place or None


def demo_text() -> str:
    return (repo_root() / "jurisdictions" / "demo" / "jurisdiction.yaml").read_text(encoding="utf-8")


def demo_draft(change: Any) -> Jurisdiction:
    """Demoville with `change(document)` applied to its YAML document, built as a draft of the live one."""
    document = yaml.safe_load(demo_text())
    change(document)
    return draft_from_text(yaml.safe_dump(document, allow_unicode=True), live=load_jurisdiction("demo"))


def _judging(document: dict[str, Any]) -> None:
    document["classification"]["model"] = {"train_from": [{"file": "./history.csv"}], "min_probability": 0.6}
    document["geocoding"] = {"accept_from": 0.8, "confirm_from": 0.5}
    needle = next(s for s in document["services"] if s["service_code"] == "needle")
    needle["keywords"]["en"].append({"text": "sharps box", "override": True})


@cache
def judging_demo() -> Jurisdiction:
    """Demoville with a learned model (min_probability 0.6), geocoding bands 0.8/0.5 and the override
    keyword "sharps box" (needle)."""
    return demo_draft(_judging)


__all__ = ["CENTRE", "CITY_HALL", "FAR_AWAY", "NORD", "Answer", "FakeGeocoder", "FakeModel", "FakeRouterRepository",
           "demo_draft", "demo_text", "extract_place", "judging_demo"]


def fake_store() -> FakeStore[FakeRouterRepository]:
    """A unit of work over an in-memory decision log, as the router's consumer opens it."""
    return FakeStore(FakeRouterRepository(), "router")


def opened(description: str, **kw: Any) -> CaseOpened:
    """A demo `case.opened` from an SMS with ``description``, opened at ``T0``; ``kw`` overrides any field."""
    fields: dict[str, Any] = {"case_id": uuid4(), "service_request_id": "DEMO-26-000001", "jurisdiction_id": "demo",
                              "channel": "sms", "channel_message_id": "SM1", "contact_key": "k",
                              "description": description, "requested_datetime": T0}
    return CaseOpened(**{**fields, **kw})
