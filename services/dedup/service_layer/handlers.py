"""Dedup handlers: keep the projection of open cases and decide duplicates.

Consumes `case.routed`, `case.merged`, `case.status_changed` from `cases.lifecycle`; produces
`dedup.decided` on `dedup.decisions` through the outbox. Each handler runs in the unit of work of its
event (inbox claim, projection, decision log, outbox: one transaction).
"""

from __future__ import annotations

from functools import partial

from services.dedup.adapters.repository import DedupRepository
from services.dedup.domain import (
    IsFallback,
    PolicyFor,
    after_merge,
    after_status_change,
    best_match,
    decision,
    known_point,
    projected,
    search_for,
)
from shared.events import CaseMerged, CaseRouted, CaseStatusChanged
from shared.service_layer import Handlers, UnitOfWork


async def on_case_routed(routed: CaseRouted, uow: UnitOfWork[DedupRepository], *, policy_for: PolicyFor,
                         is_fallback: IsFallback) -> str:
    """Add the case to the projection and, if an open case of the same kind is near and alike, announce
    it as a duplicate of that case ("duplicate_found"; else "unique"). A case without a known point is
    projected as location unknown and never matched."""
    code = routed.routing.service_code
    await uow.repo.lock_category(code)
    point = known_point(routed.lat, routed.long, is_fallback)
    policy = policy_for(code)
    match = None
    if point is not None:
        candidates = await uow.repo.candidates(search_for(routed, point, policy))
        match = best_match(candidates, routed.description, policy)
    await uow.repo.project(projected(routed, point, match))
    if match is None:
        return "unique"
    decided = decision(routed, match, policy)
    assert uow.envelope is not None
    await uow.repo.add_decision(decided, decided_at=uow.now, event_id=uow.envelope.event_id)
    await uow.emit(decided, subject=routed.case_id)
    return "duplicate_found"


async def on_case_merged(merged: CaseMerged, uow: UnitOfWork[DedupRepository]) -> str:
    """A merged case is closed and no longer a target ("closed")."""
    await uow.repo.change_target(after_merge(merged))
    return "closed"


async def on_status_changed(changed: CaseStatusChanged, uow: UnitOfWork[DedupRepository]) -> str:
    """A closed case is no longer a target, a reopened one is again; returns the new status."""
    await uow.repo.change_target(after_status_change(changed))
    return changed.status


def handlers(policy_for: PolicyFor, is_fallback: IsFallback) -> Handlers:
    """What the duplicate detector consumes, with its configuration bound."""
    return {
        CaseRouted.event_type: (CaseRouted, partial(on_case_routed, policy_for=policy_for, is_fallback=is_fallback)),
        CaseMerged.event_type: (CaseMerged, on_case_merged),
        CaseStatusChanged.event_type: (CaseStatusChanged, on_status_changed),
    }
