"""Router handlers: decide category, district, queue, priority and SLA for each case.

Consumes `case.opened`, `case.message_added` when it carries the location a case lacked, and
`case.recategorised` (staff gave the case another `service_code`) from `cases.lifecycle`; produces
`routing.decided` on `routing.decisions` through the outbox, and keeps each case's decision in its log
with the rule id, config version and the input it was decided on. Each handler runs in the unit of work
of its event (inbox claim, decision log, outbox: one transaction).
"""

from __future__ import annotations

from functools import partial

from services.router.adapters.repository import RouterRepository
from services.router.domain import (
    decide_input,
    located_input,
    logged_decision,
    manual,
    recategorised_input,
    routing_input,
)
from shared.events import CaseMessageAdded, CaseOpened, CaseRecategorised, RoutingDecided
from shared.jurisdiction import Jurisdiction
from shared.service_layer import Handlers, UnitOfWork


async def on_case_opened(opened: CaseOpened, uow: UnitOfWork[RouterRepository], *, jurisdiction: Jurisdiction) -> str:
    """Route a new case once: a second `case.opened` for a case already in the log changes nothing."""
    request = routing_input(opened)
    fields = decide_input(request, jurisdiction, uow.now)
    assert uow.envelope is not None
    if not await uow.repo.add_decision(opened.case_id, uow.envelope.event_id, uow.now, fields,
                                       logged_decision(fields, request)):
        return "already_routed"
    await uow.emit(RoutingDecided(case_id=opened.case_id, routing=fields), subject=opened.case_id)
    return fields.category_source


async def on_message_added(added: CaseMessageAdded, uow: UnitOfWork[RouterRepository], *,
                           jurisdiction: Jurisdiction) -> str:
    """Re-route a case when a message gave it the location it lacked (the district, and with it the
    queue and rules, depend on the place); any other message changes nothing here."""
    if added.lat is None or added.long is None:
        return "no_location"
    logged = await uow.repo.decision_for_update(added.case_id)
    if logged is None:
        # case.opened precedes it on the same partition; without a first decision there is nothing to redo.
        return "not_routed"
    request = located_input(logged.decision.get("input"), logged.service_code, logged.decided_at, added)
    if request is None:
        return "already_located"
    fields = decide_input(request, jurisdiction, uow.now)
    assert uow.envelope is not None
    await uow.repo.replace_decision(added.case_id, uow.envelope.event_id, uow.now, fields,
                                    logged_decision(fields, request, previous=logged.decision))
    await uow.emit(RoutingDecided(case_id=added.case_id, routing=fields), subject=added.case_id)
    return "rerouted"


async def on_case_recategorised(event: CaseRecategorised, uow: UnitOfWork[RouterRepository], *,
                                jurisdiction: Jurisdiction) -> str:
    """Decide again with the staff's `service_code`: queue, priority, rules and an SLA due time counted
    from the case's `requested_datetime`, published as any decision with `source` ``manual``.

    Returns ``"recategorised"``, or ``"already_recategorised"`` when the log already holds this event's
    decision (the inbox makes a redelivery a no-op; this covers a decision logged under another consumer
    name). A case the router never routed gets this as its first decision.
    """
    assert uow.envelope is not None
    logged = await uow.repo.decision_for_update(event.case_id)
    if logged is not None and logged.event_id == uow.envelope.event_id:
        return "already_recategorised"
    request = recategorised_input(event, logged.decision.get("input") if logged else None)
    fields = manual(decide_input(request, jurisdiction, uow.now))
    record = logged_decision(fields, request, previous=logged.decision if logged else None)
    record["recategorised"] = {"actor": event.actor, "actor_role": event.actor_role, "reason": event.reason,
                               "previous_service_code": event.previous_service_code}
    if logged is None:
        await uow.repo.add_decision(event.case_id, uow.envelope.event_id, uow.now, fields, record)
    else:
        await uow.repo.replace_decision(event.case_id, uow.envelope.event_id, uow.now, fields, record)
    await uow.emit(RoutingDecided(case_id=event.case_id, routing=fields), subject=event.case_id)
    return "recategorised"


def handlers(jurisdiction: Jurisdiction) -> Handlers:
    """What the router consumes, with its configuration bound."""
    return {
        CaseOpened.event_type: (CaseOpened, partial(on_case_opened, jurisdiction=jurisdiction)),
        CaseMessageAdded.event_type: (CaseMessageAdded, partial(on_message_added, jurisdiction=jurisdiction)),
        CaseRecategorised.event_type: (CaseRecategorised, partial(on_case_recategorised, jurisdiction=jurisdiction)),
    }
