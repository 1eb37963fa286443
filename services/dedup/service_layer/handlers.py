"""Dedup handlers: keep the projection of open cases and decide duplicates.

Consumes `case.routed`, `case.merged`, `case.unmerged`, `case.status_changed` from `cases.lifecycle`;
produces `dedup.decided` (merge) and `dedup.suggested` (staff review) on `dedup.decisions` through the
outbox. Each handler runs in the unit of work of its event (inbox claim, projection, decision log,
outbox: one transaction; consumed in batches, a savepoint of the batch's transaction), after
`lock_categories` took the batch's category locks.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

from services.dedup.adapters.repository import DedupRepository
from services.dedup.domain import (
    IsFallback,
    PolicyFor,
    after_merge,
    after_status_change,
    after_unmerge,
    best_match,
    decision,
    known_point,
    known_reporter,
    projected,
    search_for,
    suggestion,
    unmerged_pair,
    verdict,
)
from services.dedup.domain.scoring import TextSimilarity
from shared.events import CaseMerged, CaseRouted, CaseStatusChanged, CaseUnmerged
from shared.service_layer import Handlers, UnitOfWork


async def on_case_routed(routed: CaseRouted, uow: UnitOfWork[DedupRepository], *, policy_for: PolicyFor,
                         is_fallback: IsFallback, similarity: TextSimilarity | None = None) -> str:
    """Add the case to the projection and compare it with open cases of the same kind near it (words with
    `similarity`, default the unfitted measure; distance; time from its `requested_datetime`).

    The best match at or above the category's merge threshold is announced as a duplicate
    (`dedup.decided`, "duplicate_found"); one from the review threshold up to it is suggested to staff
    (`dedup.suggested`, "suggested": the case stays its own and a target); else "unique". A case staff
    unmerged from this one is never its match. A case without a known point is projected as location
    unknown and never matched. A candidate opened by the same known reporter (`contact_key`, see
    `known_reporter`) lifts the score (`scoring.REPORTER_LIFT`); an unknown one on either side does not.

    Runs under the category's lock, held until the transaction ends, so that two reports of one kind
    handled at once by two replicas cannot miss each other: `lock_categories` takes it for the batch
    before any handler runs (`dispatch_batch`'s `prepare`); whoever calls this handler otherwise takes it
    first (`DedupRepository.lock_categories`)."""
    code = routed.routing.service_code
    point = known_point(routed.lat, routed.long, is_fallback)
    policy = policy_for(code)
    match = None
    if point is not None:
        candidates = await uow.repo.candidates(search_for(routed, point, policy))
        excluded = await uow.repo.unmerged_with(routed.case_id) if candidates else set()
        match = best_match(candidates, routed.description, policy, floor=policy.review_threshold, excluded=excluded,
                           at=routed.requested_datetime, reporter=known_reporter(routed.contact_key),
                           similarity=similarity)
    outcome = verdict(match, policy)
    await uow.repo.project(projected(routed, point, match if outcome == "merge" else None))
    if match is None or outcome is None:
        return "unique"
    announced = decision(routed, match, policy) if outcome == "merge" else suggestion(routed, match, policy)
    assert uow.envelope is not None
    await uow.repo.add_decision(announced, decided_at=uow.now, event_id=uow.envelope.event_id)
    await uow.emit(announced, subject=routed.case_id)
    return "duplicate_found" if outcome == "merge" else "suggested"


async def lock_categories(payloads: Sequence[Any], uow: UnitOfWork[DedupRepository]) -> None:
    """The batch's first step (`dispatch_batch`'s `prepare`, with the payloads of the events it claimed):
    take the category lock of every case routed in it with both coordinates (the ones `on_case_routed`
    searches candidates for), all at once in one order, held until the batch commits. Locks taken one
    event at a time, in event order, deadlocked two replicas whose batches met two categories in opposite
    orders (PostgreSQL aborted one batch, which was redone whole); now the later batch waits for the
    earlier one's commit and then sees its cases. Raises `asyncpg.PostgresError` when the statement fails
    (the batch is rolled back and retried)."""
    codes = [p.routing.service_code for p in payloads
             if isinstance(p, CaseRouted) and p.lat is not None and p.long is not None]
    if codes:
        await uow.repo.lock_categories(codes)


async def on_case_merged(merged: CaseMerged, uow: UnitOfWork[DedupRepository]) -> str:
    """A merged case is closed and no longer a target ("closed")."""
    await uow.repo.change_target(after_merge(merged))
    return "closed"


async def on_case_unmerged(unmerged: CaseUnmerged, uow: UnitOfWork[DedupRepository]) -> str:
    """Staff undid a merge: the case duplicates nothing and, open again, may be matched by later cases; the
    pair is remembered so that neither is ever matched with the other again ("unmerged")."""
    assert uow.envelope is not None
    await uow.repo.change_target(after_unmerge(unmerged))
    await uow.repo.remember_unmerge(unmerged_pair(unmerged), unmerged_at=uow.now, event_id=uow.envelope.event_id)
    return "unmerged"


async def on_status_changed(changed: CaseStatusChanged, uow: UnitOfWork[DedupRepository]) -> str:
    """A closed case is no longer a target, a reopened one is again; returns the new status."""
    await uow.repo.change_target(after_status_change(changed))
    return changed.status


async def text_measure(uow: UnitOfWork[DedupRepository], *, limit: int) -> TextSimilarity:
    """The text measure fitted on the projection's `limit` latest texts (its IDF and form labels), in a
    unit of work that claims nothing; the unfitted form while fewer than 50 texts are known."""
    async with uow:
        texts = await uow.repo.recent_descriptions(limit)
    return TextSimilarity.fit(texts)


def handlers(policy_for: PolicyFor, is_fallback: IsFallback, similarity: TextSimilarity | None = None) -> Handlers:
    """What the duplicate detector consumes, with its configuration (and its fitted text measure) bound."""
    return {
        CaseRouted.event_type: (CaseRouted, partial(on_case_routed, policy_for=policy_for, is_fallback=is_fallback,
                                                    similarity=similarity)),
        CaseMerged.event_type: (CaseMerged, on_case_merged),
        CaseUnmerged.event_type: (CaseUnmerged, on_case_unmerged),
        CaseStatusChanged.event_type: (CaseStatusChanged, on_status_changed),
    }
