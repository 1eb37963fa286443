"""Forwarding handlers: what the forwarder reports about a case sent to another system's Open311 endpoint
(docs/integrations.md, "Open311 forwarding").

Consumes `forwarding.case_forwarded` (the endpoint's id or token is kept on the case in
`external_requests`; timeline ``forwarded``), `forwarding.forward_failed` (timeline ``forward_failed``)
and `forwarding.status_reported` (a status change by the endpoint, actor ``open311:<endpoint>``, role
``external_system``: `case.status_changed` through the staff move machinery, `service_layer/staff.py`
`move_by_external`; or, when it moves nothing, timeline ``external_update``). Each runs in the unit of
work of its event (inbox claim: a replayed event changes nothing). An event about a case this service does
not hold raises `ValueError`, which dead-letters it.
"""

from __future__ import annotations

from uuid import UUID

from services.case.domain import forwarding as rules
from services.case.service_layer.handlers import Case, Clocks, Uow
from services.case.service_layer.staff import move_by_external
from shared.events import CaseForwarded, ForwardFailed, StatusReported
from shared.jurisdiction import Jurisdiction
from shared.logs import get_logger

log = get_logger(__name__)


async def _case(uow: Uow, case_id: UUID, what: str) -> Case:
    case = await uow.repo.get_case(case_id, for_update=True)
    if case is None:
        raise ValueError(f"{what} for unknown case {case_id}")
    return case


def _event_id(uow: Uow) -> UUID:
    assert uow.envelope is not None, "an event handler runs in the unit of work of its event"
    return uow.envelope.event_id


async def record_forwarded(ev: CaseForwarded, uow: Uow) -> str:
    """The endpoint accepted the case: keep (endpoint, its id or token, the code sent, when) in
    `external_requests`, one row per (case, endpoint) (a second event, e.g. the id once the token
    resolved, fills what the first lacked; the first `forwarded_at` stays), and write timeline
    ``forwarded`` by the endpoint. Returns "forwarded"; raises `ValueError` for an unknown case."""
    await _case(uow, ev.case_id, "forwarding.case_forwarded")
    await uow.repo.record_forwarded(rules.forwarded_row(ev))
    await uow.repo.add_timeline(ev.case_id, uow.now, "forwarded", _event_id(uow), rules.forwarded_detail(ev))
    return "forwarded"


async def record_forward_failed(ev: ForwardFailed, uow: Uow) -> str:
    """A send or a poll failed: timeline ``forward_failed`` (stage, attempt, error, next attempt or None
    when the forwarder gave up). Returns "recorded"; raises `ValueError` for an unknown case."""
    await _case(uow, ev.case_id, "forwarding.forward_failed")
    await uow.repo.add_timeline(ev.case_id, uow.now, "forward_failed", _event_id(uow), rules.failed_detail(ev))
    return "recorded"


async def apply_reported_status(ev: StatusReported, uow: Uow, *, jurisdiction: Jurisdiction,
                                clocks: Clocks | None = None) -> str:
    """The endpoint reports the request's status: the last one is kept on `external_requests`; a
    ``closed`` of a case open here moves it to the jurisdiction's `forwarding.closed_status`, an ``open``
    of a case closed here to `forwarding.reopened_status` (`domain.forwarding.reported_move`), as a
    status change by ``open311:<endpoint>`` (`staff.move_by_external`: `status_notes` from the report,
    `case.status_changed` so the notifier tells the reporters, SLA clock stopped or resumed). A report
    that moves nothing (new notes, another agency, a status the case already has, a merged case) is a
    timeline ``external_update`` and nothing else. Returns "moved" or "noted"; raises `ValueError` for
    an unknown case."""
    case = await _case(uow, ev.case_id, "forwarding.status_reported")
    await uow.repo.record_reported_status(ev.case_id, ev.endpoint,
                                          external_service_request_id=ev.external_service_request_id,
                                          status=ev.status, agency_responsible=ev.agency_responsible,
                                          updated_datetime=ev.updated_datetime, reported_at=ev.reported_at)
    to = rules.reported_move(case, ev.status, jurisdiction)
    if to is None:
        await uow.repo.add_timeline(ev.case_id, uow.now, "external_update", _event_id(uow),
                                    rules.update_detail(ev, case))
        return "noted"
    await move_by_external(case, rules.external_actor(ev.endpoint), to, uow, notes=ev.status_notes,
                           jurisdiction=jurisdiction, clocks=clocks,
                           detail={"endpoint": ev.endpoint, **rules.reported_facts(ev)})
    log.info("external_status_applied", case_id=str(ev.case_id), endpoint=ev.endpoint, workflow_status=to)
    return "moved"
