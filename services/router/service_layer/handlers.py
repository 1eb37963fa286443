"""Router handlers: decide category, district, queue, priority and SLA for each case.

Consumes `case.opened`, `case.message_added` (when it carries the location a case lacked, or answers
"Did you mean 1200 MAIN ST?") and `case.recategorised` (staff gave the case another `service_code`) from
`cases.lifecycle`; produces `routing.decided` on `routing.decisions` through the outbox, and keeps each
case's decision in its log with the rule id, config version, the input it was decided on and what the
judges said (the learned model's suggestions, the geocoder's lookup). Each handler runs in the unit of work
of its event (inbox claim, decision log, outbox: one transaction); the model and the geocoder are asked
inside it (the geocoder within the jurisdiction's `geocoding.timeout_s`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any, Protocol

from services.router.adapters.repository import RouterRepository
from services.router.domain import (
    ModelSuggestions,
    Place,
    PlaceLookup,
    RoutingInput,
    awaits_place,
    fields_of,
    is_affirmative,
    located_input,
    logged_decision,
    logged_input,
    logged_place,
    logged_suggestions,
    manual,
    needs_text_classification,
    pending_confirmation,
    recategorised_input,
    route,
    routing_input,
)
from shared.events import (
    CaseMessageAdded,
    CaseOpened,
    CaseRecategorised,
    RoutingDecided,
    RoutingFields,
    Suggestion,
)
from shared.jurisdiction import Jurisdiction
from shared.logs import get_logger
from shared.service_layer import Handlers, UnitOfWork

log = get_logger(__name__)


class TextClassifier(Protocol):
    """What the router needs of `shared.judgement.TextModel`: its ``version`` and ``top(text, k)``."""

    @property
    def version(self) -> str: ...

    def top(self, text: str, k: int = 3) -> list[Suggestion]: ...


class Geocoder(Protocol):
    """What the router needs of `shared.geocode.Geocoder`: ``geocode(text, language=...)`` returning an
    answer (lat, long, confidence, matched, kind, source, query) or None."""

    async def geocode(self, text: str, *, language: str | None = None) -> Any: ...


@dataclass(frozen=True)
class Judges:
    """What the handlers ask besides the configuration: the jurisdiction's learned text ``model`` (None:
    keyword routing), its ``geocoder`` (None: reports without a point are not looked up) and
    ``extract_place(text, language)``, which picks the written place out of free text (None when it
    names none)."""

    model: TextClassifier | None = None
    geocoder: Geocoder | None = None
    extract_place: Callable[[str, str | None], str | None] | None = None


def suggestions_for(request: RoutingInput, jurisdiction: Jurisdiction, judges: Judges,
                    logged: dict[str, Any] | None = None) -> ModelSuggestions | None:
    """The model's top 3 for the request's text (None without a model). A re-routing of the same text
    reuses the logged suggestions, so the category does not move because the model file changed; a
    request whose category is its own ``service_code`` (or without text) gets the model's version only."""
    model = judges.model
    if model is None:
        return None
    kept = logged_suggestions(logged)
    if kept is not None and kept.suggestions and logged and logged.get("input"):
        if RoutingInput.model_validate(logged["input"]).text == request.text:
            return kept
    if not needs_text_classification(request, jurisdiction):
        return ModelSuggestions(model_version=model.version)
    return ModelSuggestions(model_version=model.version, suggestions=list(model.top(request.text, k=3))[:3])


async def lookup_for(request: RoutingInput, jurisdiction: Jurisdiction, judges: Judges) -> PlaceLookup | None:
    """The geocoding of a request without a point: its ``address`` when given, else the place written in
    its text; None when it has a point or there is no geocoder."""
    if request.lat is not None or judges.geocoder is None:
        return None
    query = (request.address or "").strip() or None
    if query is None and judges.extract_place is not None:
        try:
            query = judges.extract_place(request.text, request.language)
        except Exception as exc:  # noqa: BLE001 - a text the extractor trips on is routed without a place
            log.warning("extract_place_failed", error_type=type(exc).__name__)
            return PlaceLookup(error=f"extract_place: {type(exc).__name__}")
    if not query:
        return PlaceLookup()
    return await geocode(query, request.language, jurisdiction, judges)


async def geocode(query: str, language: str | None, jurisdiction: Jurisdiction, judges: Judges) -> PlaceLookup:
    """Ask the geocoder about `query`. A failure (server down, timeout after twice the jurisdiction's
    ``geocoding.timeout_s`` seconds, an answer of the wrong shape) is a lookup with an ``error``: the
    event is still routed, without a place."""
    assert judges.geocoder is not None
    try:
        answer = await asyncio.wait_for(judges.geocoder.geocode(query, language=language),
                                        timeout=2 * jurisdiction.geocoding.timeout_s)
        place = Place.model_validate(answer) if answer is not None else None
    except Exception as exc:  # noqa: BLE001 - any failure of the geocoder routes without a place, noted
        log.warning("geocode_failed", error_type=type(exc).__name__)  # never the address itself
        return PlaceLookup(query=query, error=f"{type(exc).__name__}: {exc}"[:300])
    return PlaceLookup(query=query, answer=place)


async def first_decision(opened: CaseOpened, jurisdiction: Jurisdiction, judges: Judges,
                         now: datetime) -> tuple[RoutingFields, dict[str, Any]]:
    """A new case's decision at `now` (aware UTC) and the record logged with it: the model's suggestions, the
    geocoder's lookup of a case without a point, then `route`. Shared by `on_case_opened` and the set-based
    path (`routing_batch`), so both decide and log alike."""
    request = routing_input(opened)
    suggestions = suggestions_for(request, jurisdiction, judges)
    place = await lookup_for(request, jurisdiction, judges)
    decision = route(request, jurisdiction, now, suggestions=suggestions, place=place)
    fields = fields_of(decision)
    record = logged_decision(fields, request, decision=decision, suggestions=suggestions, place=place,
                             service_request_id=opened.service_request_id)
    return fields, record


async def on_case_opened(opened: CaseOpened, uow: UnitOfWork[RouterRepository], *, jurisdiction: Jurisdiction,
                         judges: Judges = Judges()) -> str:
    """Route a new case once: a second `case.opened` for a case already in the log changes nothing."""
    fields, record = await first_decision(opened, jurisdiction, judges, uow.now)
    assert uow.envelope is not None
    if not await uow.repo.add_decision(opened.case_id, uow.envelope.event_id, uow.now, fields, record):
        return "already_routed"
    await uow.emit(RoutingDecided(case_id=opened.case_id, routing=fields), subject=opened.case_id)
    return fields.category_source


async def on_message_added(added: CaseMessageAdded, uow: UnitOfWork[RouterRepository], *,
                           jurisdiction: Jurisdiction, judges: Judges = Judges()) -> str:
    """Re-route a case when a message gave it the location it lacked (the district, and with it the
    queue and rules, depend on the place), or answered the question "Did you mean 1200 MAIN ST?" of a
    decision whose ``location.status`` is ``confirm``: a short yes (EN/FR) places the case at that answer
    (``confirmed``), a reply naming another place is geocoded again (``regeocoded``). On a case whose
    decision found no place (``location`` absent or ``not_found``, no point), a message's ``address`` (the
    answer to "where is it?", `attributes.completes_location_of` at intake), else the place written in its
    text, is looked up and the case routed again as for a first lookup (``located``: placed, or asked to
    confirm); a lookup that finds nothing again changes nothing (``not_found``). A case with a point (its
    own or a placed one) is never moved by words. Any other message changes nothing (``no_location``); a
    failed new lookup keeps the case as it was (``geocode_failed``)."""
    has_point = added.lat is not None and added.long is not None
    if not has_point and not (added.description.strip() or added.address):
        return "no_location"
    logged = await uow.repo.decision_for_update(added.case_id)
    if logged is None:
        # case.opened precedes it on the same partition; without a first decision there is nothing to redo.
        return "not_routed" if has_point else "no_location"
    place: PlaceLookup | None = None
    if has_point:
        request = located_input(logged.decision.get("input"), logged.service_code, logged.decided_at, added)
        if request is None:
            return "already_located"
        result = "rerouted"
    elif awaits_place(logged.decision):
        request = logged_input(logged.decision, logged.service_code, logged.decided_at)
        looked_up = await _look_up_written_place(added, request.language, jurisdiction, judges)
        if isinstance(looked_up, str):
            return looked_up
        place, result = looked_up, "located"
        request = request.model_copy(update={"address": request.address or (added.address or "").strip() or None})
    else:
        pending = pending_confirmation(logged.decision)
        if pending is None:
            return "no_location"
        request = RoutingInput.model_validate(logged.decision["input"])
        if is_affirmative(added.description):
            place, result = pending.model_copy(update={"confirmed": True}), "confirmed"
        else:
            looked_up = await _look_up_written_place(added, request.language, jurisdiction, judges)
            if isinstance(looked_up, str):
                return looked_up
            place, result = looked_up, "regeocoded"
    suggestions = suggestions_for(request, jurisdiction, judges, logged.decision)
    decision = route(request, jurisdiction, uow.now, suggestions=suggestions, place=place)
    fields = fields_of(decision)
    if result == "located" and (fields.location is None or fields.location.status == "not_found"):
        # Nothing found again: the decision stands (the resident was asked once; staff can place it).
        log.info("follow_up_place_not_found", case_id=str(added.case_id))
        return "not_found"
    assert uow.envelope is not None
    await uow.repo.replace_decision(added.case_id, uow.envelope.event_id, uow.now, fields, logged_decision(
        fields, request, previous=logged.decision, decision=decision, suggestions=suggestions, place=place,
        service_request_id=added.service_request_id))
    await uow.emit(RoutingDecided(case_id=added.case_id, routing=fields), subject=added.case_id)
    return result


async def _look_up_written_place(added: CaseMessageAdded, language: str | None, jurisdiction: Jurisdiction,
                                 judges: Judges) -> PlaceLookup | str:
    """The geocoder's lookup of the place a follow-up gives (`_written_place`), or why there is none: the
    handler's result ``no_location`` (no place, or no geocoder) or ``geocode_failed``."""
    query = _written_place(added, language, judges)
    if not query or judges.geocoder is None:
        return "no_location"
    place = await geocode(query, language, jurisdiction, judges)
    return "geocode_failed" if place.error is not None else place


def _written_place(added: CaseMessageAdded, language: str | None, judges: Judges) -> str | None:
    """The place a message gives: its ``address`` (set by the case service when the message completes the
    case's location), else the place written in its text; None when it names none."""
    address = (added.address or "").strip()
    if address:
        return address
    if judges.extract_place is None:
        return None
    try:
        return judges.extract_place(added.description, language)
    except Exception as exc:  # noqa: BLE001 - a text the extractor trips on gives no place
        log.warning("extract_place_failed", error_type=type(exc).__name__)
        return None


async def on_case_recategorised(event: CaseRecategorised, uow: UnitOfWork[RouterRepository], *,
                                jurisdiction: Jurisdiction, judges: Judges = Judges()) -> str:
    """Decide again with the staff's `service_code`: queue, priority, rules and an SLA due time counted
    from the case's `requested_datetime`, published as any decision with `source` ``manual``. Without a
    point in the event or the logged input, the logged geocoder lookup places the case as before.

    Returns ``"recategorised"``, or ``"already_recategorised"`` when the log already holds this event's
    decision (the inbox makes a redelivery a no-op; this covers a decision logged under another consumer
    name). A case the router never routed gets this as its first decision.
    """
    assert uow.envelope is not None
    logged = await uow.repo.decision_for_update(event.case_id)
    if logged is not None and logged.event_id == uow.envelope.event_id:
        return "already_recategorised"
    previous = logged.decision if logged else None
    request = recategorised_input(event, previous.get("input") if previous else None)
    place = logged_place(previous) if request.lat is None else None
    suggestions = suggestions_for(request, jurisdiction, judges, previous)
    decision = route(request, jurisdiction, uow.now, suggestions=suggestions, place=place)
    fields = manual(fields_of(decision))
    record = logged_decision(fields, request, previous=previous, decision=decision, suggestions=suggestions,
                             place=place, service_request_id=event.service_request_id)
    record["recategorised"] = {"actor": event.actor, "actor_role": event.actor_role, "reason": event.reason,
                               "previous_service_code": event.previous_service_code}
    if logged is None:
        await uow.repo.add_decision(event.case_id, uow.envelope.event_id, uow.now, fields, record)
    else:
        await uow.repo.replace_decision(event.case_id, uow.envelope.event_id, uow.now, fields, record)
    await uow.emit(RoutingDecided(case_id=event.case_id, routing=fields), subject=event.case_id)
    return "recategorised"


def handlers(jurisdiction: Jurisdiction, judges: Judges | None = None) -> Handlers:
    """What the router consumes, with its configuration and judges (model, geocoder) bound."""
    j = judges or Judges()
    return {
        CaseOpened.event_type: (CaseOpened, partial(on_case_opened, jurisdiction=jurisdiction, judges=j)),
        CaseMessageAdded.event_type: (CaseMessageAdded, partial(on_message_added, jurisdiction=jurisdiction,
                                                                judges=j)),
        CaseRecategorised.event_type: (CaseRecategorised, partial(on_case_recategorised, jurisdiction=jurisdiction,
                                                                  judges=j)),
    }
