"""What the router decides on and how a decision is written: the input of an opened case, the input
of a re-routing when a message gave a case its location or staff gave it another category, and a
decision in the event's shape. Pure."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.router.domain.model import RoutingInput
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


def decide_input(request: RoutingInput, jurisdiction: Jurisdiction, now: datetime) -> RoutingFields:
    """The routing of one request: the domain's decision (`route`) in the event's shape."""
    d = route(request, jurisdiction, now)
    return RoutingFields(
        service_code=d.service_code, service_name=d.service_name, category_source=d.category_source,
        agency_responsible=d.agency_responsible, queue=d.queue, priority=d.priority,
        district=d.district_id, sla_due_at=d.sla_due_at, rule_id=d.rule_id, config_version=d.config_version,
        matched_keywords=list(d.matched_keywords), score=d.score,
    )


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
                    previous: dict[str, Any] | None = None) -> dict[str, Any]:
    """The decision as kept in the log: the event's fields, the input it was decided on and, for a
    re-routing, what the previous decision said (queue, district, rule, category)."""
    logged = {**fields.model_dump(mode="json"), "input": request.model_dump(mode="json")}
    if previous is not None:
        logged["previous"] = {k: previous.get(k) for k in ("queue", "district", "rule_id", "service_code")}
    return logged
