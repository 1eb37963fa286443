"""Insights handlers: keep the public projection of every case.

Consumes from `cases.lifecycle`: `case.opened`, `case.routed`, `case.status_changed`, `case.merged`,
`case.unmerged`, `case.recategorised`, `case.sla_breached`, `case.followed`, `case.survey_answered`,
`case.personal_data_erased`; from `intake.messages`: `intake.help_deflected`. Produces nothing. Each
handler runs in the unit of work of its event (inbox claim and projection change: one transaction), so a
redelivered event changes nothing twice.
"""

from __future__ import annotations

from functools import partial
from typing import Protocol

from services.insights.adapters.repository import InsightsRepository
from services.insights.domain import (
    case_row,
    deflection,
    erasure,
    merge_change,
    recategorisation,
    routing_change,
    status_change,
    survey_answer,
    unmerge_change,
)
from services.insights.domain.figures import UNCLASSIFIED, UNKNOWN
from services.insights.domain.projection import DepartmentOf
from shared.events import (
    CaseFollowed,
    CaseMerged,
    CaseOpened,
    CasePersonalDataErased,
    CaseRecategorised,
    CaseRouted,
    CaseSlaBreached,
    CaseStatusChanged,
    CaseSurveyAnswered,
    CaseUnmerged,
    HelpDeflected,
)
from shared.events.envelope import Envelope
from shared.service_layer import Handlers, UnitOfWork

Uow = UnitOfWork[InsightsRepository]


class Meter(Protocol):
    """The event counters, counted once the event's unit of work committed."""

    def opened(self, channel: str, service_code: str) -> None: ...

    def deflected(self, article_id: str) -> None: ...


def _envelope(uow: Uow) -> Envelope:
    assert uow.envelope is not None, "an insights handler always runs for a consumed event"
    return uow.envelope


def _found(found: bool, word: str) -> str:
    return word if found else "unknown_case"


async def on_case_opened(opened: CaseOpened, uow: Uow, *, region: str, meter: Meter) -> str:
    """Keep the new case (public fields, scrubbed text) and count it: "projected"."""
    new = await uow.repo.open_case(case_row(opened, at=_envelope(uow).occurred_at, region=region))
    if new:
        async def count() -> None:
            meter.opened(opened.channel or UNKNOWN, opened.service_code or UNCLASSIFIED)
        uow.after_commit(count)
    return "projected"


async def on_case_routed(routed: CaseRouted, uow: Uow, *, region: str, department_of: DepartmentOf) -> str:
    """Category, department, district, SLA due time and point: "routed"."""
    await uow.repo.route(routing_change(routed, at=_envelope(uow).occurred_at, region=region,
                                        department_of=department_of))
    return "routed"


async def on_status_changed(changed: CaseStatusChanged, uow: Uow, *, region: str) -> str:
    """Open311 and workflow status, public notes, close time; returns the new status."""
    found = await uow.repo.change_status(status_change(changed, at=_envelope(uow).occurred_at, region=region))
    return _found(found, changed.status)


async def on_case_merged(merged: CaseMerged, uow: Uow, *, region: str) -> str:
    """Closed as a duplicate: "merged"."""
    return _found(await uow.repo.merge(merge_change(merged, at=_envelope(uow).occurred_at, region=region)), "merged")


async def on_case_unmerged(unmerged: CaseUnmerged, uow: Uow) -> str:
    """Its own case again: "unmerged"."""
    return _found(await uow.repo.unmerge(unmerge_change(unmerged, at=_envelope(uow).occurred_at)), "unmerged")


async def on_case_recategorised(recategorised: CaseRecategorised, uow: Uow, *, region: str) -> str:
    """Staff's new category (the router's next `case.routed` names it): "recategorised"."""
    change = recategorisation(recategorised, at=_envelope(uow).occurred_at, region=region)
    return _found(await uow.repo.recategorise(change), "recategorised")


async def on_sla_breached(breached: CaseSlaBreached, uow: Uow) -> str:
    """Still open at its due time: "breached"."""
    return _found(await uow.repo.mark_breached(breached.case_id, _envelope(uow).occurred_at), "breached")


async def on_case_followed(followed: CaseFollowed, uow: Uow) -> str:
    """One more follower (who follows is not kept): "followed"."""
    return _found(await uow.repo.add_follower(followed.case_id), "followed")


async def on_survey_answered(answered: CaseSurveyAnswered, uow: Uow) -> str:
    """The rating, for the count and the mean: "surveyed"."""
    await uow.repo.add_survey(survey_answer(answered, event_id=_envelope(uow).event_id))
    return "surveyed"


async def on_personal_data_erased(erased: CasePersonalDataErased, uow: Uow) -> str:
    """Description and address blanked for good: "erased"."""
    return _found(await uow.repo.erase(erasure(erased, at=_envelope(uow).occurred_at)), "erased")


async def on_help_deflected(deflected: HelpDeflected, uow: Uow, *, meter: Meter) -> str:
    """One deflection for its article, counted: "deflected"."""
    if await uow.repo.add_deflection(deflection(deflected, event_id=_envelope(uow).event_id)):
        async def count() -> None:
            meter.deflected(deflected.article_id)
        uow.after_commit(count)
    return "deflected"


def handlers(*, region: str, department_of: DepartmentOf, meter: Meter) -> Handlers:
    """What insights consumes, with its configuration bound: `region` (ISO 3166 alpha-2) is where phone
    numbers without ``+`` are read when scrubbing, `department_of` maps a routed queue to its department."""
    return {
        CaseOpened.event_type: (CaseOpened, partial(on_case_opened, region=region, meter=meter)),
        CaseRouted.event_type: (CaseRouted, partial(on_case_routed, region=region, department_of=department_of)),
        CaseStatusChanged.event_type: (CaseStatusChanged, partial(on_status_changed, region=region)),
        CaseMerged.event_type: (CaseMerged, partial(on_case_merged, region=region)),
        CaseUnmerged.event_type: (CaseUnmerged, on_case_unmerged),
        CaseRecategorised.event_type: (CaseRecategorised, partial(on_case_recategorised, region=region)),
        CaseSlaBreached.event_type: (CaseSlaBreached, on_sla_breached),
        CaseFollowed.event_type: (CaseFollowed, on_case_followed),
        CaseSurveyAnswered.event_type: (CaseSurveyAnswered, on_survey_answered),
        CasePersonalDataErased.event_type: (CasePersonalDataErased, on_personal_data_erased),
        HelpDeflected.event_type: (HelpDeflected, partial(on_help_deflected, meter=meter)),
    }
