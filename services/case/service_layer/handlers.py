"""Case handlers: open and thread cases, apply routing and merges, record notifications, change status.

Consumes `intake.message_received`, `routing.decided`, `dedup.decided`, `notification.recorded`;
produces `case.opened`, `case.message_added`, `case.routed`, `case.merged` (and, for a staff action,
`case.status_changed`) on `cases.lifecycle` through the outbox. Each handler runs in one unit of work:
inbox claim, state change, timeline and outbox rows commit together. An event about a case this service
does not hold raises `ValueError`, which dead-letters it.
"""

from __future__ import annotations

from functools import partial
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from services.case.adapters.repository import CaseRepository
from services.case.domain import records
from services.case.domain.commands import ChangeStatus
from services.case.domain.rules import (
    case_number,
    clean_text,
    find_case_number,
    location_added,
    plan_merge,
    transcript_description,
)
from services.case.domain.threading import case_id_for, is_repeat, message_id_for, thread_into
from shared.events import (
    CaseStatusChanged,
    DedupDecided,
    Envelope,
    MessageReceived,
    NotificationRecorded,
    RoutingDecided,
)
from shared.logs import get_logger
from shared.service_layer import Handlers, UnitOfWork

log = get_logger(__name__)

Uow = UnitOfWork[CaseRepository]


def _consumed(uow: Uow) -> Envelope:
    assert uow.envelope is not None, "an event handler runs in the unit of work of its event"
    return uow.envelope


async def accept_message(msg: MessageReceived, uow: Uow, *, jurisdiction_id: str, tz: ZoneInfo) -> str:
    """Open a case for a new intake message, or thread it onto the case it answers
    (`domain.threading.thread_into`).

    Idempotent twice over: on the event id (inbox) and on (channel, channel_message_id), so a provider
    retry published as a new event never opens a second case. `tz` is the jurisdiction's time zone (the
    year in the case number is the local one). Returns "opened", "added" or "duplicate".
    """
    msg = msg.model_copy(update={"description": clean_text(msg.description)})
    facts = await uow.repo.threading_facts(
        msg.channel, msg.channel_message_id, hinted=find_case_number(msg.case_number_hint, jurisdiction_id),
        reply_ids=msg.in_reply_to)
    if is_repeat(facts):
        log.info("intake_duplicate", channel=msg.channel)
        return "duplicate"
    await uow.repo.upsert_reporter(msg.contact_key, msg.channel, msg.pii.model_dump(), uow.now)
    existing = thread_into(facts, msg.contact_key)
    if existing is not None:
        return await _add_message(msg, existing, uow, jurisdiction_id=jurisdiction_id)
    return await _open_case(msg, uow, jurisdiction_id=jurisdiction_id, tz=tz)


async def _add_message(msg: MessageReceived, case_id: UUID, uow: Uow, *, jurisdiction_id: str) -> str:
    env = _consumed(uow)
    message_id = message_id_for(msg.channel, msg.channel_message_id)
    case = await uow.repo.get_case(case_id, for_update=True)
    assert case is not None, "a threading fact names a case that exists"
    await uow.repo.insert_message(records.message_row(msg, case_id=case_id, message_id=message_id,
                                                      event_id=env.event_id))
    # The answer to the SMS location question, or a call's place, completes a case that had none;
    # a call's transcript becomes the description the voice menu could only guess.
    located = location_added(case, msg.attributes, address=msg.address, zipcode=msg.zipcode,
                             lat=msg.lat, long=msg.long)
    described = transcript_description(case["description"], msg.attributes, msg.description)
    await uow.repo.update_case(case_id, records.threaded_update(case, msg, located=located, described=described,
                                                                now=uow.now))
    for kind, detail in records.threaded_entries(case, msg, message_id=message_id, located=located,
                                                 described=described):
        await uow.repo.add_timeline(case_id, uow.now, kind, env.event_id, detail)
    await uow.emit(records.message_added(case, msg, message_id=message_id, jurisdiction_id=jurisdiction_id,
                                         located=located), subject=case_id)
    return "added"


async def _open_case(msg: MessageReceived, uow: Uow, *, jurisdiction_id: str, tz: ZoneInfo) -> str:
    env = _consumed(uow)
    case_id = case_id_for(msg.channel, msg.channel_message_id)
    year = records.requested_at(msg).astimezone(tz).year
    number = case_number(jurisdiction_id, year, await uow.repo.next_case_number())
    await uow.repo.insert_case(records.new_case_row(msg, case_id=case_id, number=number,
                                                    jurisdiction_id=jurisdiction_id,
                                                    correlation_id=env.correlation_id, now=uow.now))
    await uow.repo.insert_message(records.message_row(
        msg, case_id=case_id, message_id=message_id_for(msg.channel, msg.channel_message_id),
        event_id=env.event_id))
    kind, detail = records.opened_entry(msg, number)
    await uow.repo.add_timeline(case_id, uow.now, kind, env.event_id, detail)
    await uow.emit(records.case_opened(msg, case_id=case_id, number=number, jurisdiction_id=jurisdiction_id),
                   subject=case_id)
    return "opened"


async def apply_routing(decision: RoutingDecided, uow: Uow) -> str:
    """Apply the router's decision to the case (category, queue, priority, district, SLA, the decision as
    JSON), write `routed` on its timeline and announce `case.routed`. A later decision overwrites an
    earlier one. Returns "routed"; raises `ValueError` for a case this service does not hold."""
    r = decision.routing
    case = await uow.repo.get_case(decision.case_id, for_update=True)
    if case is None:
        raise ValueError(f"routing decision for unknown case {decision.case_id}")
    await uow.repo.update_case(decision.case_id, records.routing_update(r, uow.now))
    await uow.repo.add_timeline(decision.case_id, uow.now, "routed", _consumed(uow).event_id,
                                {"queue": r.queue, "rule_id": r.rule_id, "config_version": r.config_version})
    await uow.emit(records.case_routed(case, r), subject=decision.case_id)
    return "routed"


async def apply_dedup(decision: DedupDecided, uow: Uow) -> str:
    """Merge a case into the one the duplicate detector matched, if both are still open
    (`rules.plan_merge`): the survivor is followed along earlier merges; a skipped merge is written on
    the timeline with why. Returns "merged" or "skipped"; raises `ValueError` for an unknown case.
    """
    event_id = _consumed(uow).event_id
    # Lock in a stable order so that two crossing decisions cannot deadlock.
    await uow.repo.lock_cases(sorted([decision.case_id, decision.duplicate_of]))
    candidate = await uow.repo.case_state(decision.case_id)
    if candidate is None:
        raise ValueError(f"dedup decision for unknown case {decision.case_id}")
    plan = plan_merge(candidate, await uow.repo.merge_chain(decision.duplicate_of))
    if plan.skip_reason or plan.survivor is None or plan.duplicate is None:
        await uow.repo.add_timeline(decision.case_id, uow.now, "merge_skipped", event_id,
                                    {"reason": plan.skip_reason, "duplicate_of": str(decision.duplicate_of)})
        return "skipped"
    survivor = await uow.repo.get_case(plan.survivor)
    dup = await uow.repo.get_case(plan.duplicate)
    assert survivor is not None and dup is not None, "both cases are locked in this transaction"
    await uow.repo.update_case(plan.duplicate, {
        "status": "closed", "status_notes": records.merged_notes(survivor), "merged_into": plan.survivor,
        "updated_datetime": uow.now,
    })
    evidence: dict[str, Any] = {"score": decision.score, "distance_m": decision.distance_m,
                                "text_similarity": decision.text_similarity}
    await uow.repo.add_timeline(plan.duplicate, uow.now, "merged", event_id,
                                {"merged_into": survivor["service_request_id"], **evidence})
    await uow.repo.add_timeline(plan.survivor, uow.now, "absorbed", event_id,
                                {"duplicate": dup["service_request_id"], **evidence})
    await uow.emit(records.case_merged(dup, survivor), subject=plan.duplicate)
    return "merged"


async def record_notification(outcome: NotificationRecorded, uow: Uow) -> str:
    """Write what the notifier did (`notification.recorded`) on the case timeline as
    `notification_<outcome>` (e.g. `notification_sent`); remember our outbound message id
    (`provider_message_id`, if any) so that a reply to it threads onto the case. Emits nothing. Returns
    "recorded"; raises `ValueError` for an unknown case."""
    if await uow.repo.get_case(outcome.case_id) is None:
        raise ValueError(f"notification outcome for unknown case {outcome.case_id}")
    await uow.repo.add_timeline(outcome.case_id, uow.now, f"notification_{outcome.outcome}",
                                _consumed(uow).event_id, {
                                    "kind": outcome.kind, "channel": outcome.channel, "reason": outcome.reason,
                                    "recipient_key": outcome.recipient_key})
    if outcome.provider_message_id:
        await uow.repo.record_outbound(outcome.provider_message_id, outcome.case_id)
    return "recorded"


async def change_status(change: ChangeStatus, uow: Uow) -> dict[str, Any] | None:
    """Staff set a case's Open311 status (a unit of work with no consumed event); returns the case as
    stored afterwards, or None when it does not exist. Setting what the case already has changes nothing;
    otherwise the timeline records the actor and `case.status_changed` is emitted with the case's own
    correlation id (a staff action starts no intake flow; tracing keeps the case's)."""
    case = await uow.repo.get_case(change.case_id, for_update=True)
    if case is None:
        return None
    if case["status"] == change.status and case["status_notes"] == change.status_notes:
        return case
    await uow.repo.update_case(change.case_id, {"status": change.status, "status_notes": change.status_notes,
                                                "updated_datetime": uow.now})
    await uow.repo.add_timeline(change.case_id, uow.now, "status_changed", None,
                                {"status": change.status, "status_notes": change.status_notes,
                                 "actor": change.actor})
    changed = CaseStatusChanged(case_id=change.case_id, service_request_id=case["service_request_id"],
                                jurisdiction_id=case["jurisdiction_id"], status=change.status,
                                status_notes=change.status_notes)
    await uow.emit(changed, subject=change.case_id, correlation_id=case["correlation_id"])
    return await uow.repo.get_case(change.case_id)


def handlers(jurisdiction_id: str, tz: ZoneInfo) -> Handlers:
    """What the case service consumes, as the dispatch table `{event_type: (payload class, handler)}`
    (`shared.service_layer.Handlers`), with the jurisdiction bound: `jurisdiction_id` (the case-number
    prefix) and `tz` (its time zone, for the year in a case number)."""
    return {
        MessageReceived.event_type: (MessageReceived, partial(accept_message, jurisdiction_id=jurisdiction_id,
                                                               tz=tz)),
        RoutingDecided.event_type: (RoutingDecided, apply_routing),
        DedupDecided.event_type: (DedupDecided, apply_dedup),
        NotificationRecorded.event_type: (NotificationRecorded, record_notification),
    }
