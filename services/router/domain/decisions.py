"""What the router decides on and how a decision is written: the input of an opened case, the input
of a re-routing when a message gave a case its location or staff gave it another category, what the
decision log kept for a re-routing (the model's suggestions, the geocoder's lookup), and a decision in the
event's shape. Pure."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.router.domain.model import ModelSuggestions, PlaceLookup, RoutingDecision, RoutingInput
from services.router.domain.routing import route
from shared.events import CaseMessageAdded, CaseOpened, CaseRecategorised, RoutingFields
from shared.jurisdiction import Jurisdiction


def routing_input(opened: CaseOpened) -> RoutingInput:
    """What the router decides on for an opened case."""
    # A lone latitude or longitude is no place at all (intake requires both; older events may not).
    lat, long = (opened.lat, opened.long) if opened.lat is not None and opened.long is not None else (None, None)
    return RoutingInput(
        service_code=opened.service_code, description=opened.description, lat=lat, long=long,
        address=opened.address, requested_datetime=opened.requested_datetime, language=opened.language,
    )


def fields_of(d: RoutingDecision) -> RoutingFields:
    """A decision in the event's shape (`routing.decided` v1 ``routing``)."""
    return RoutingFields(
        service_code=d.service_code, service_name=d.service_name, category_source=d.category_source,
        agency_responsible=d.agency_responsible, queue=d.queue, priority=d.priority,
        district=d.district_id, sla_due_at=d.sla_due_at, rule_id=d.rule_id, config_version=d.config_version,
        matched_keywords=list(d.matched_keywords), score=d.score, classifier=d.classifier, location=d.location,
    )


def decide_input(request: RoutingInput, jurisdiction: Jurisdiction, now: datetime, *,
                 suggestions: ModelSuggestions | None = None, place: PlaceLookup | None = None) -> RoutingFields:
    """The routing of one request: the domain's decision (`route`) in the event's shape."""
    return fields_of(route(request, jurisdiction, now, suggestions=suggestions, place=place))


def decide(opened: CaseOpened, jurisdiction: Jurisdiction, now: datetime) -> RoutingFields:
    """The routing of one opened case."""
    return decide_input(routing_input(opened), jurisdiction, now)


def located_input(logged: dict[str, Any] | None, service_code: str, decided_at: datetime,
                  added: CaseMessageAdded) -> RoutingInput | None:
    """The first routing's input with the location a later message gave the case; None when there is
    nothing to re-route (no point in the message, or the case was already routed with a point).

    `logged` is the input kept with the first decision; a decision logged before inputs were kept is
    re-routed on its decided category, with no text and the SLA counted from its decision time.
    """
    if added.lat is None or added.long is None:
        return None
    base = (RoutingInput.model_validate(logged) if logged else
            RoutingInput(service_code=service_code, requested_datetime=decided_at))
    if base.lat is not None and base.long is not None:
        return None
    return base.model_copy(update={"lat": added.lat, "long": added.long,
                                   "address": base.address or added.address})


def recategorised_input(event: CaseRecategorised, logged: dict[str, Any] | None) -> RoutingInput:
    """The input of a staff recategorisation: the staff's ``service_code`` (so the category is theirs,
    ``category_source`` ``service_code``), the case's text and place as the event carries them, and the
    SLA counted from the case's ``requested_datetime``.

    Where the event has no point (or no text), the first routing's logged input gives it; its
    ``language`` and ``title`` are kept. A lone latitude or longitude is no place.
    """
    base = RoutingInput.model_validate(logged) if logged else RoutingInput()
    has_point = event.lat is not None and event.long is not None
    return base.model_copy(update={
        "service_code": event.service_code,
        "description": event.description or base.description,
        "lat": event.lat if has_point else base.lat,
        "long": event.long if has_point else base.long,
        "address": event.address or base.address,
        "requested_datetime": event.requested_datetime,
    })


def manual(fields: RoutingFields) -> RoutingFields:
    """A decision asked for by staff: the same fields with ``source`` ``manual``."""
    return fields.model_copy(update={"source": "manual"})


def logged_decision(fields: RoutingFields, request: RoutingInput,
                    previous: dict[str, Any] | None = None, *, decision: RoutingDecision | None = None,
                    suggestions: ModelSuggestions | None = None, place: PlaceLookup | None = None,
                    service_request_id: str | None = None) -> dict[str, Any]:
    """The decision as kept in the log: the event's fields, the input it was decided on and, for a
    re-routing, what the previous decision said (queue, district, rule, category).

    With `decision`: its ``department``, ``notes`` and ``model_version`` (None without a model). What the
    judges said, so that a replay decides on the same evidence without asking them again: ``suggestions``
    (the model's version and top 3) and ``place`` (the geocoder's lookup: query, answer, error, confirmed).
    """
    logged = {**fields.model_dump(mode="json"), "input": request.model_dump(mode="json")}
    if decision is not None:
        logged.update(department=decision.department, notes=list(decision.notes),
                      model_version=decision.model_version)
    if suggestions is not None:
        logged["suggestions"] = suggestions.model_dump(mode="json")
    if place is not None:
        logged["place"] = place.model_dump(mode="json")
    if service_request_id is not None:
        logged["service_request_id"] = service_request_id
    if previous is not None:
        logged["previous"] = {k: previous.get(k) for k in ("queue", "district", "rule_id", "service_code")}
    return logged


def logged_suggestions(logged: dict[str, Any] | None) -> ModelSuggestions | None:
    """The model's suggestions a logged decision was made on (None: no model then, or logged before)."""
    kept = (logged or {}).get("suggestions")
    return ModelSuggestions.model_validate(kept) if kept else None


def logged_place(logged: dict[str, Any] | None) -> PlaceLookup | None:
    """The geocoder's lookup a logged decision was made on (None: the report had a point, or logged before)."""
    kept = (logged or {}).get("place")
    return PlaceLookup.model_validate(kept) if kept else None


def awaits_place(logged: dict[str, Any] | None) -> bool:
    """True when a logged decision had no usable place, so a resident's later words may give it one: its
    input has no point and its ``location`` is absent (the geocoder failed, or a decision logged without
    it) or ``not_found``. A decision with a point of its own, a placed one (the case has a point from
    then on: it never moves) and one awaiting "Did you mean ...?" (`pending_confirmation`) answer False."""
    if logged is None:
        return False
    kept = logged.get("input") or {}
    if kept.get("lat") is not None and kept.get("long") is not None:
        return False
    status = (logged.get("location") or {}).get("status")
    return status is None or status == "not_found"


def logged_input(logged: dict[str, Any], service_code: str, decided_at: datetime) -> RoutingInput:
    """The input a logged decision was made on; a decision logged before inputs were kept is decided again
    on its category, with no text and the SLA counted from its decision time."""
    kept = logged.get("input")
    return (RoutingInput.model_validate(kept) if kept else
            RoutingInput(service_code=service_code, requested_datetime=decided_at))


def pending_confirmation(logged: dict[str, Any] | None) -> PlaceLookup | None:
    """The lookup the resident was asked to confirm ("Did you mean 1200 MAIN ST?"): the logged decision's
    ``location.status`` is ``confirm`` and its lookup has an answer. None otherwise."""
    location = (logged or {}).get("location") or {}
    lookup = logged_place(logged)
    if location.get("status") != "confirm" or lookup is None or lookup.answer is None:
        return None
    return lookup
