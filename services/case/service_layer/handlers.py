"""Case handlers: open and thread cases, apply routing and merges, keep duplicate suggestions, record
notifications, followers and survey answers; the workflow status moves they make.

Consumes `intake.message_received`, `intake.follow_requested`, `intake.survey_answered`,
`intake.message_withdrawn`, `routing.decided`, `dedup.decided`, `dedup.suggested`, `notification.recorded`
(and the `forwarding.*` events, handled in `service_layer/forwarding.py`);
produces `case.opened`, `case.message_added`, `case.message_withdrawn`,
`case.routed`, `case.merged`, `case.status_changed` (a reporter's answer to a case waiting on them),
`case.followed` and `case.survey_answered` on `cases.lifecycle` through the outbox. Each handler runs in
one unit of work: inbox claim, state change, timeline, SLA clock and outbox rows commit together. An event about a case this service does not hold raises `ValueError`, which
dead-letters it. Staff commands are in `service_layer/staff.py`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any, Protocol
from uuid import UUID, uuid5
from zoneinfo import ZoneInfo

from services.case.adapters.repository import CaseRepository
from services.case.domain import records
from services.case.domain.commands import SYSTEM
from services.case.domain.rules import (
    CheckedLocation,
    case_number,
    checked_location,
    clean_text,
    find_case_number,
    location_added,
    plan_merge,
    transcript_description,
)
from services.case.domain.staff import sla_move
from services.case.domain.threading import case_id_for, is_repeat, message_id_for, thread_into
from shared.events import (
    CaseForwarded,
    CaseOpened,
    DedupDecided,
    DedupSuggested,
    Envelope,
    FollowRequested,
    ForwardFailed,
    MessageReceived,
    MessageWithdrawn,
    NotificationRecorded,
    RoutingDecided,
    StatusReported,
    SurveyAnswered,
)
from shared.jurisdiction import Jurisdiction
from shared.logs import get_logger
from shared.service_layer import Handlers, UnitOfWork
from shared.surveys import survey_jti

log = get_logger(__name__)

Uow = UnitOfWork[CaseRepository]
Case = dict[str, Any]


class Clocks(Protocol):
    """The SLA clock hooks (`service_layer/timers.py`), each on the caller's unit of work with the case as
    it is after the change."""

    async def armed(self, uow: Uow, case_row: Case, due_at: Any, *, jurisdiction: Jurisdiction
                    ) -> dict[str, Any] | None: ...
    async def pause(self, uow: Uow, case_row: Case) -> None: ...
    async def resume(self, uow: Uow, case_row: Case, *, jurisdiction: Jurisdiction) -> None: ...
    async def stop(self, uow: Uow, case_row: Case) -> None: ...


def _consumed(uow: Uow) -> Envelope:
    assert uow.envelope is not None, "an event handler runs in the unit of work of its event"
    return uow.envelope


async def follow_sla(uow: Uow, case_after: Case, previous: str, *, jurisdiction: Jurisdiction,
                     clocks: Clocks | None) -> None:
    """Move the case's SLA clock as its workflow status went from `previous` to
    `case_after["workflow_status"]` (`domain.staff.sla_move`: stop on a closed status, pause on entering
    a pausing one, resume on leaving it or on reopening). `clocks` None: no clock is kept."""
    if clocks is None:
        return
    move = sla_move(jurisdiction.workflow, previous, case_after["workflow_status"])
    if move == "stop":
        await clocks.stop(uow, case_after)
    elif move == "pause":
        await clocks.pause(uow, case_after)
    elif move == "resume":
        await clocks.resume(uow, case_after, jurisdiction=jurisdiction)


def _cleaned(value: Any) -> Any:
    """`value` (a message as JSON-like data) with `clean_text` applied to every string in it: a NUL in any
    text (a reporter's name, the address, a channel id) would make PostgreSQL refuse the whole message."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {k: _cleaned(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_cleaned(v) for v in value]
    return value


async def accept_message(msg: MessageReceived, uow: Uow, *, jurisdiction: Jurisdiction,
                         clocks: Clocks | None = None) -> str:
    """Open a case for a new intake message, or thread it onto the case it answers
    (`domain.threading.thread_into`).

    Idempotent twice over: on the event id (inbox) and on (channel, channel_message_id), so a provider
    retry published as a new event never opens a second case. The case number's prefix is the
    jurisdiction's id and its year the local one (the jurisdiction's time zone); a new case starts in the
    workflow's `initial` status. Returns "opened", "added" or "duplicate".

    A message carrying a point goes through the location check again (`rules.checked_location`, the
    jurisdiction's boundaries): a swapped point is used swapped, a 0,0 placeholder or a point off the Earth
    is dropped; that verdict, or the one the adapter put on the message (``attributes.location_check``), is
    kept in the case's `attributes` as ``location_check`` and on the timeline (`location_checked`).

    A message whose withdrawal came first (`withdraw_message`) is held without its text and media, with a
    `message_withdrawn` timeline entry and `case.message_withdrawn`.
    """
    msg = cleaned_message(msg)
    facts = await uow.repo.threading_facts(
        msg.channel, msg.channel_message_id, hinted=find_case_number(msg.case_number_hint, jurisdiction.id),
        reply_ids=msg.in_reply_to, reserve_number=True)
    if is_repeat(facts):
        log.info("intake_duplicate", channel=msg.channel)
        return "duplicate"
    msg, place = located_message(msg, jurisdiction)
    withdrawn = facts.withdrawn_first
    if withdrawn:  # the resident deleted it before it reached us: held without its words
        msg = msg.model_copy(update={"description": "", "media_url": []})
    existing = thread_into(facts, msg.contact_key)
    if existing is not None:
        await uow.repo.upsert_reporter(msg.contact_key, msg.channel, msg.pii.model_dump(), uow.now)
        outcome = await _add_message(msg, existing, uow, jurisdiction=jurisdiction, clocks=clocks, place=place)
    else:  # the reporter is remembered in the statement that opens the case
        outcome = await _open_case(msg, uow, jurisdiction=jurisdiction, place=place, number=facts.reserved_number)
    if withdrawn:
        w = MessageWithdrawn(channel=msg.channel, channel_message_id=msg.channel_message_id,
                             contact_key=msg.contact_key, received_at=msg.received_at)
        held = await uow.repo.message_by_key(msg.channel, msg.channel_message_id)
        assert held is not None, "the message was stored just now"
        await _withdraw(w, held, uow, before_arrival=True)
    return outcome


def cleaned_message(msg: MessageReceived) -> MessageReceived:
    """`msg` with `rules.clean_text` applied to every text in it (`_cleaned`), validated again only when
    that changed something. Raises `pydantic.ValidationError` when the cleaned message no longer fits."""
    dumped = msg.model_dump()
    cleaned = _cleaned(dumped)
    if cleaned != dumped:  # only a message that held a control character is validated again
        msg = MessageReceived.model_validate(cleaned)
    return msg


def located_message(msg: MessageReceived, jurisdiction: Jurisdiction) -> tuple[MessageReceived, CheckedLocation]:
    """`msg` with its point as the location check leaves it (`rules.checked_location` against the
    jurisdiction's boundaries: a swapped point swapped back, a placeholder or a point off the Earth
    dropped), and that check."""
    place = checked_location(msg.lat, msg.long, msg.attributes, contains=jurisdiction.contains)
    if place.corrected:  # the swapped point is used, a placeholder or a point off the Earth dropped
        msg = msg.model_copy(update={"lat": place.lat, "long": place.long})
    return msg, place


@dataclass(frozen=True)
class Opening:
    """What opening a case for an intake message writes (`CaseRepository.open_case`'s arguments) and
    announces: `reporter` (contact_key, channel, pii, now), the `cases` and `messages` rows, the timeline
    `entries` at `at` for `event_id`, and `opened` (`case.opened`, subject `case_id`)."""

    case_id: UUID
    reporter: tuple[str, str, dict[str, Any], datetime]
    case_row: dict[str, Any]
    message_row: dict[str, Any]
    at: datetime
    event_id: UUID
    entries: list[tuple[str, dict[str, Any]]]
    opened: CaseOpened


def opening(msg: MessageReceived, env: Envelope, now: datetime, *, jurisdiction: Jurisdiction,
            place: CheckedLocation, number: int) -> Opening:
    """The case `msg` (cleaned and located) opens, consumed in `env` at `now` (aware UTC), with sequence
    number `number`: its id derives from the intake key (`threading.case_id_for`), its case number is the
    jurisdiction's prefix with the local year of the report (`rules.case_number`), it starts in the workflow's
    `initial` status; timeline `opened`, then `location_checked` when the location was checked."""
    case_id = case_id_for(msg.channel, msg.channel_message_id)
    year = records.requested_at(msg).astimezone(ZoneInfo(jurisdiction.timezone)).year
    service_request_id = case_number(jurisdiction.id, year, number)
    entries = [records.opened_entry(msg, service_request_id)]
    if place.check:
        entries.append(records.location_checked_entry(place.check, corrected=place.corrected))
    return Opening(
        case_id=case_id, reporter=(msg.contact_key, msg.channel, msg.pii.model_dump(), now),
        case_row=records.new_case_row(msg, case_id=case_id, number=service_request_id,
                                      jurisdiction_id=jurisdiction.id, correlation_id=env.correlation_id, now=now,
                                      workflow_status=jurisdiction.workflow.initial, location_check=place.check),
        message_row=records.message_row(msg, case_id=case_id,
                                        message_id=message_id_for(msg.channel, msg.channel_message_id),
                                        event_id=env.event_id),
        at=now, event_id=env.event_id, entries=entries,
        opened=records.case_opened(msg, case_id=case_id, number=service_request_id, jurisdiction_id=jurisdiction.id))


async def _add_message(msg: MessageReceived, case_id: UUID, uow: Uow, *, jurisdiction: Jurisdiction,
                       clocks: Clocks | None, place: CheckedLocation) -> str:
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
    update = records.threaded_update(case, msg, located=located, described=described, now=uow.now)
    if place.check:
        update["attributes"] = records.with_location_check(case["attributes"], place.check)
    await uow.repo.update_case(case_id, update)
    for kind, detail in records.threaded_entries(case, msg, message_id=message_id, located=located,
                                                 described=described):
        await uow.repo.add_timeline(case_id, uow.now, kind, env.event_id, detail)
    if place.check:
        kind, detail = records.location_checked_entry(place.check, corrected=place.corrected, message_id=message_id)
        await uow.repo.add_timeline(case_id, uow.now, kind, env.event_id, detail)
    await uow.emit(records.message_added(case, msg, message_id=message_id, jurisdiction_id=jurisdiction.id,
                                         located=located), subject=case_id)
    await _resume_on_reply(case, msg, uow, jurisdiction=jurisdiction, clocks=clocks)
    return "added"


async def _resume_on_reply(case: Case, msg: MessageReceived, uow: Uow, *, jurisdiction: Jurisdiction,
                           clocks: Clocks | None) -> None:
    """A reporter's message on an open case whose status is `resume_on_reply` (waiting on them) moves it
    to the workflow's `resume_to`: timeline `status_changed` by ``system``, `case.status_changed`, the
    SLA clock resumed. A message from someone who is not a reporter of the case (nor of a case merged
    into it) moves nothing."""
    workflow = jurisdiction.workflow
    current = case["workflow_status"]
    if case["status"] != "open" or not workflow.has(current) or not workflow.status(current).resume_on_reply:
        return
    if msg.contact_key not in await uow.repo.reporters_of(case["case_id"]):
        return
    to = workflow.resume_to
    await uow.repo.update_case(case["case_id"], {"workflow_status": to, "updated_datetime": uow.now})
    await uow.repo.add_timeline(case["case_id"], uow.now, "status_changed", _consumed(uow).event_id, {
        "actor": SYSTEM, "actor_name": SYSTEM, "role": SYSTEM, "reason": "the reporter answered",
        "before": {"workflow_status": current}, "after": {"workflow_status": to}})
    await uow.emit(records.status_changed(case, status=workflow.open311(to), workflow_status=to, previous=current,
                                          notes=case["status_notes"], notify=workflow.status(to).notify),
                   subject=case["case_id"])
    after = await uow.repo.get_case(case["case_id"])
    assert after is not None
    await follow_sla(uow, after, current, jurisdiction=jurisdiction, clocks=clocks)


async def _open_case(msg: MessageReceived, uow: Uow, *, jurisdiction: Jurisdiction, place: CheckedLocation,
                     number: int | None) -> str:
    """Open the case `msg` asks for: its reporter, case, first message and timeline (`opened`, then
    `location_checked` when the location was checked) in one statement (`CaseRepository.open_case`), and
    `case.opened`. `number` is the sequence number the threading look-up reserved (None: one is taken now)."""
    o = opening(msg, _consumed(uow), uow.now, jurisdiction=jurisdiction, place=place,
                number=number if number is not None else await uow.repo.next_case_number())
    await uow.repo.open_case(o.reporter, o.case_row, o.message_row, at=o.at, event_id=o.event_id, entries=o.entries)
    await uow.emit(o.opened, subject=o.case_id)
    return "opened"


async def withdraw_message(w: MessageWithdrawn, uow: Uow) -> str:
    """A resident deleted ("unsent") a message (`intake.message_withdrawn`, from intake_social, which
    verified the platform's signature: the sender of the deletion is the message's author). Its words go:
    the message's text and media are emptied, and when it opened the case the case's description, media
    and Open311 answers too (the retention job's erasure, `adapters/retention.py`; the location check
    stays); a threaded message's photos leave the case's media. The case's events already published are
    forgotten from the outbox (their payloads quote the words), a `message_withdrawn` timeline entry (the
    reporter, no word quoted) is written and `case.message_withdrawn` emitted. Every public view (Open311,
    the portal) reads the case, so the words are gone from them.

    Kept once per message in `withdrawals`: the same withdrawal again (a replay under another event id)
    changes nothing ("already_withdrawn"). A withdrawal of a message not held yet is kept
    ("kept_until_the_message"); the message, when it comes, is held without its words (`accept_message`).
    Returns "withdrawn" otherwise."""
    w = MessageWithdrawn.model_validate(_cleaned(w.model_dump()))
    if not await uow.repo.record_withdrawal(records.withdrawal_row(w, event_id=_consumed(uow).event_id)):
        return "already_withdrawn"
    held = await uow.repo.message_by_key(w.channel, w.channel_message_id)
    if held is None:
        log.info("withdrawal_before_message", channel=w.channel)
        return "kept_until_the_message"
    await _withdraw(w, held, uow, before_arrival=False)
    return "withdrawn"


async def _withdraw(w: MessageWithdrawn, held: dict[str, Any], uow: Uow, *, before_arrival: bool) -> None:
    """Empty the held message (`held`: `message_by_key`'s row) and, when it opened its case, the case's
    words; timeline, outbox and the withdrawal's record (see `withdraw_message`)."""
    case = await uow.repo.get_case(held["case_id"], for_update=True)
    assert case is not None, "a message is on a case that exists"
    case_id = case["case_id"]
    opened = case_id == case_id_for(w.channel, w.channel_message_id)
    await uow.repo.erase_message(held["message_id"], "")
    if opened:
        await uow.repo.erase_case_text(case_id, "", case["status_notes"])
        kept = records.with_location_check({}, (case["attributes"] or {}).get("location_check"))
        update: dict[str, Any] = {"attributes": kept} if kept else {}
    else:
        update = {"media_url": records.media_kept(case["media_url"], held["media_url"])}
    await uow.repo.update_case(case_id, {**update, "updated_datetime": uow.now})
    await uow.repo.forget_published_events(case_id)
    await uow.repo.apply_withdrawal(w.channel, w.channel_message_id, case_id, uow.now)
    kind, detail = records.withdrawn_entry(w, message_id=held["message_id"], opened_the_case=opened,
                                           before_arrival=before_arrival)
    await uow.repo.add_timeline(case_id, uow.now, kind, _consumed(uow).event_id, detail)
    await uow.emit(records.case_message_withdrawn(case, w, message_id=held["message_id"], opened_the_case=opened),
                   subject=case_id)
    log.info("message_withdrawn", case_id=str(case_id), channel=w.channel, opened_the_case=opened)


async def apply_routing(decision: RoutingDecided, uow: Uow, *, jurisdiction: Jurisdiction,
                        clocks: Clocks | None = None) -> str:
    """Apply the router's decision to the case (category, queue, priority, district, SLA, the decision as
    JSON), move a case still in the workflow's `initial` status to `on_routed`, write `routed` on its
    timeline (with the decision's `source`: ``manual`` answers a staff recategorisation) and announce
    `case.routed`; an open case's SLA clock is armed with the decision's due time. A later decision
    overwrites an earlier one. A case without a point adopts the point of a decision that placed its
    written address (`records.placed_point`: ``location.status`` ``placed``; timeline `located`), and its
    `case.routed` carries that point; a case with a point never moves. Returns "routed"; raises `ValueError` for a case this service does not
    hold."""
    r = decision.routing
    workflow = jurisdiction.workflow
    # The case and its SLA clock locked and read at once: arming the clock below reads it no more.
    case = await uow.repo.case_with_clock(decision.case_id)
    if case is None:
        raise ValueError(f"routing decision for unknown case {decision.case_id}")
    before = case["workflow_status"]
    after = workflow.on_routed if before == workflow.initial else before
    placed = records.placed_point(case, r)
    update = {**records.routing_update(r, uow.now), "workflow_status": after, **placed}
    entries = [records.routed_entry(r, before=before, after=after)]
    if placed:
        entries.append(records.placed_entry(r))
    clock = None
    if clocks is not None and case["status"] == "open" and r.sla_due_at is not None:
        # The case as stored after the change is the locked row with this update: no second read; the armed
        # clock is saved in the change's own statement.
        clock = await clocks.armed(uow, {**case, **update}, r.sla_due_at, jurisdiction=jurisdiction)
    await uow.repo.change_case(decision.case_id, update, at=uow.now, event_id=_consumed(uow).event_id, entries=entries,
                               clock=clock)
    await uow.emit(records.case_routed({**case, **placed}, r), subject=decision.case_id)
    return "routed"


async def merge_cases(uow: Uow, case_id: UUID, duplicate_of: UUID, *, jurisdiction: Jurisdiction,
                      clocks: Clocks | None, event_id: UUID | None, detail: dict[str, Any]
                      ) -> tuple[str | None, Case | None, Case | None]:
    """Merge `case_id` into the surviving end of `duplicate_of`'s merge chain if both are open
    (`rules.plan_merge`), the two rows locked in a stable order first: the duplicate is closed in the
    workflow's `merged_status` (remembering its status for an unmerge), both timelines say so (`merged`,
    `absorbed`, each with `detail`), the duplicate's SLA clock stops and `case.merged` is emitted (with
    the duplicate's correlation id for a staff action). Returns (skip reason or None, duplicate as stored
    after, survivor); raises `ValueError` when `case_id` is unknown."""
    await uow.repo.lock_cases(sorted([case_id, duplicate_of]))
    candidate = await uow.repo.case_state(case_id)
    if candidate is None:
        raise ValueError(f"merge of unknown case {case_id}")
    plan = plan_merge(candidate, await uow.repo.merge_chain(duplicate_of))
    if plan.skip_reason or plan.survivor is None or plan.duplicate is None:
        return plan.skip_reason or "nothing to merge", None, None
    survivor = await uow.repo.get_case(plan.survivor)
    dup = await uow.repo.get_case(plan.duplicate)
    assert survivor is not None and dup is not None, "both cases are locked in this transaction"
    workflow = jurisdiction.workflow
    await uow.repo.update_case(plan.duplicate, records.merge_update(
        survivor, workflow_before=dup["workflow_status"], merged_status=workflow.merged_status, now=uow.now))
    await uow.repo.add_timeline(plan.duplicate, uow.now, "merged", event_id, {
        "merged_into": survivor["service_request_id"], **detail,
        **({"before": {"workflow_status": dup["workflow_status"], "status": dup["status"]},
            "after": {"workflow_status": workflow.merged_status, "status": "closed",
                      "merged_into": survivor["service_request_id"]}} if "actor" in detail else {})})
    await uow.repo.add_timeline(plan.survivor, uow.now, "absorbed", event_id,
                                {"duplicate": dup["service_request_id"], **detail})
    correlation = None if uow.envelope is not None else dup["correlation_id"]
    await uow.emit(records.case_merged(dup, survivor), subject=plan.duplicate, correlation_id=correlation)
    merged = await uow.repo.get_case(plan.duplicate)
    assert merged is not None
    await follow_sla(uow, merged, dup["workflow_status"], jurisdiction=jurisdiction, clocks=clocks)
    return None, merged, survivor


async def apply_dedup(decision: DedupDecided, uow: Uow, *, jurisdiction: Jurisdiction,
                      clocks: Clocks | None = None) -> str:
    """Merge a case into the one the duplicate detector matched, if both are still open (`merge_cases`);
    a skipped merge is written on the timeline with why. Returns "merged" or "skipped"; raises
    `ValueError` for an unknown case.
    """
    event_id = _consumed(uow).event_id
    evidence: dict[str, Any] = {"score": decision.score, "distance_m": decision.distance_m,
                                "text_similarity": decision.text_similarity}
    skipped, _, _ = await merge_cases(uow, decision.case_id, decision.duplicate_of, jurisdiction=jurisdiction,
                                      clocks=clocks, event_id=event_id, detail=evidence)
    if skipped:
        await uow.repo.add_timeline(decision.case_id, uow.now, "merge_skipped", event_id,
                                    {"reason": skipped, "duplicate_of": str(decision.duplicate_of)})
        return "skipped"
    return "merged"


SUGGESTION_NAMESPACE = UUID("5b0c7f2e-8d1a-4c39-9e57-2f6a1d3b9c40")


async def record_suggestion(suggestion: DedupSuggested, uow: Uow) -> str:
    """Put a possible duplicate (`dedup.suggested`: a score between the review and merge thresholds) on
    the staff review list as a pending suggestion, with a `merge_suggested` timeline entry. Idempotent on
    the event id (the suggestion's id derives from it) and on the pair: a pair already pending is kept
    as it is. Returns "suggested" or "already_pending"; raises `ValueError` for an unknown case."""
    event_id = _consumed(uow).event_id
    for case_id in (suggestion.case_id, suggestion.duplicate_of):
        if await uow.repo.get_case(case_id) is None:
            raise ValueError(f"duplicate suggestion for unknown case {case_id}")
    if await uow.repo.pending_suggestion(suggestion.case_id, suggestion.duplicate_of) is not None:
        return "already_pending"
    suggestion_id = uuid5(SUGGESTION_NAMESPACE, str(event_id))
    evidence = {**suggestion.evidence, "distance_m": suggestion.distance_m,
                "text_similarity": suggestion.text_similarity, "review_threshold": suggestion.review_threshold,
                "merge_threshold": suggestion.merge_threshold}
    await uow.repo.insert_suggestion({
        "id": suggestion_id, "case_id": suggestion.case_id, "duplicate_of": suggestion.duplicate_of,
        "score": suggestion.score, "evidence": evidence, "event_id": event_id, "created_at": uow.now})
    await uow.repo.add_timeline(suggestion.case_id, uow.now, "merge_suggested", event_id, {
        "suggestion_id": str(suggestion_id), "duplicate_of": str(suggestion.duplicate_of), "score": suggestion.score})
    return "suggested"


async def record_notification(outcome: NotificationRecorded, uow: Uow) -> str:
    """Write what the notifier did (`notification.recorded`) on the case timeline as
    `notification_<outcome>` (e.g. `notification_sent`, with its `kind` and the finer `notice`: a public
    update, a reply, an unmerge, an escalation); remember our outbound message id
    (`provider_message_id`, if any) so that a reply to it threads onto the case. Emits nothing. Returns
    "recorded"; raises `ValueError` for an unknown case."""
    if await uow.repo.get_case(outcome.case_id) is None:
        raise ValueError(f"notification outcome for unknown case {outcome.case_id}")
    await uow.repo.add_timeline(outcome.case_id, uow.now, f"notification_{outcome.outcome}",
                                _consumed(uow).event_id, {
                                    "kind": outcome.kind, "notice": outcome.notice, "channel": outcome.channel,
                                    "reason": outcome.reason, "recipient_key": outcome.recipient_key})
    if outcome.provider_message_id:
        await uow.repo.record_outbound(outcome.provider_message_id, outcome.case_id)
    return "recorded"


async def _survivor(uow: Uow, case: Case) -> Case:
    """The case at the surviving end of `case`'s merge chain (`case` itself when it is not merged)."""
    if case["merged_into"] is None:
        return case
    chain = await uow.repo.merge_chain(case["case_id"])
    survivor = await uow.repo.get_case(chain[-1].case_id)
    assert survivor is not None, "a merge chain names cases that exist"
    return survivor


async def follow_case(follow: FollowRequested, uow: Uow) -> str:
    """Someone asked on the portal to hear about a case (`intake.follow_requested`): keep them in `followers`
    of the case, or of its survivor when it was merged (docs/residents-and-insights.md, "Events"), their
    address kept as a reporter's is (`reporters`, erased by retention), a `followed` timeline entry and
    `case.followed` with the address for the notifier. Once per (case, contact key): a second follow
    changes nothing and returns "already_following"; else "followed".

    Raises `ValueError` (the event is dead-lettered, kept and reported, as an event about an unknown case
    is) for a case number this service does not hold and for a request whose `pii` lacks the address of its
    `notify_channel` (an email for ``email``, a phone for ``sms``)."""
    follow = FollowRequested.model_validate(_cleaned(follow.model_dump()))
    if records.follower_address(follow) is None:
        raise ValueError(f"follow by {follow.notify_channel} without that address in pii")
    asked = await uow.repo.case_by_number(follow.service_request_id)
    if asked is None:
        raise ValueError(f"follow of unknown case {follow.service_request_id}")
    case = await _survivor(uow, asked)
    env = _consumed(uow)
    await uow.repo.upsert_reporter(follow.contact_key, follow.channel, follow.pii.model_dump(), uow.now)
    if not await uow.repo.add_follower(records.follower_row(follow, case_id=case["case_id"], event_id=env.event_id,
                                                            now=uow.now)):
        return "already_following"
    requested = asked["service_request_id"] if asked["case_id"] != case["case_id"] else None
    kind, detail = records.followed_entry(follow, requested=requested)
    await uow.repo.add_timeline(case["case_id"], uow.now, kind, env.event_id, detail)
    await uow.emit(records.case_followed(case, follow), subject=case["case_id"])
    return "followed"


async def record_survey(answer: SurveyAnswered, uow: Uow) -> str:
    """A reporter's answer to the satisfaction survey (`intake.survey_answered`), one per survey token
    (`channel_message_id`, the token's ``jti``). The token names no reporter (its event's `contact_key` is
    ``survey:<jti>``, a partition key only), so the reporter is found by recomputing the ``jti`` of each
    reporter of the case and of the cases merged into it (`shared.surveys.survey_jti`: case number and
    contact key). From such a reporter it is kept ``accepted`` in `survey_answers` under their contact key,
    written on the timeline ("Survey: 4/5 — comment") and announced as `case.survey_answered` with their
    contact key; when no reporter's ``jti`` matches it is kept ``refused`` with the reason (under the
    event's key), on no timeline and in no event. Returns "answered", "refused" or "already_answered" (the
    same token again, e.g. the portal's retry after a crash: nothing changes).

    Raises `ValueError` (dead-lettered) for a case number this service does not hold."""
    case = await uow.repo.case_by_number(answer.service_request_id)
    if case is None:
        raise ValueError(f"survey answer for unknown case {answer.service_request_id}")
    if await uow.repo.survey_answer_outcome(answer.channel_message_id) is not None:
        return "already_answered"
    env = _consumed(uow)
    comment = clean_text(answer.comment).strip()
    reporter = next((key for key in await uow.repo.reporters_of(case["case_id"])
                     if survey_jti(answer.service_request_id, key) == answer.channel_message_id), None)
    if reporter is not None:
        answer = answer.model_copy(update={"contact_key": reporter})
    reason = None if reporter else f"not a reporter of case {case['service_request_id']}"
    await uow.repo.insert_survey_answer(records.survey_row(
        answer, case_id=case["case_id"], comment=comment, outcome="accepted" if reporter else "refused",
        reason=reason, event_id=env.event_id, now=uow.now))
    if reporter is None:
        log.warning("survey_answer_refused", case_id=str(case["case_id"]), reason="not a reporter")
        return "refused"
    kind, detail = records.survey_entry(answer, comment)
    await uow.repo.add_timeline(case["case_id"], uow.now, kind, env.event_id, detail)
    await uow.emit(records.case_survey_answered(case, answer, comment), subject=case["case_id"])
    return "answered"


CONSUMED_TYPES = frozenset({
    MessageReceived.event_type, FollowRequested.event_type, SurveyAnswered.event_type, MessageWithdrawn.event_type,
    RoutingDecided.event_type, DedupDecided.event_type, DedupSuggested.event_type, NotificationRecorded.event_type,
    CaseForwarded.event_type, ForwardFailed.event_type, StatusReported.event_type,
})
"""The event types the case service handles: the keys of `handlers(...)`'s table. Any other event on a topic
it reads is another consumer's (the notifier's bounces and statuses, insights' deflections on
`intake.messages`): `dispatch_batch` leaves it unclaimed and untouched, and the set-based paths do the same."""


def handlers(jurisdiction: Jurisdiction, *, clocks: Clocks | None = None) -> Handlers:
    """What the case service consumes, as the dispatch table `{event_type: (payload class, handler)}`
    (`shared.service_layer.Handlers`), with the loaded `jurisdiction` bound (its id is the case-number
    prefix, its time zone the year of a case number, its workflow the statuses) and the SLA `clocks`
    (None: no clock is kept)."""
    from services.case.service_layer import forwarding  # it builds on staff.py, which imports this module

    bound = {"jurisdiction": jurisdiction, "clocks": clocks}
    return {
        MessageReceived.event_type: (MessageReceived, partial(accept_message, **bound)),
        FollowRequested.event_type: (FollowRequested, follow_case),
        SurveyAnswered.event_type: (SurveyAnswered, record_survey),
        MessageWithdrawn.event_type: (MessageWithdrawn, withdraw_message),
        RoutingDecided.event_type: (RoutingDecided, partial(apply_routing, **bound)),
        DedupDecided.event_type: (DedupDecided, partial(apply_dedup, **bound)),
        DedupSuggested.event_type: (DedupSuggested, record_suggestion),
        NotificationRecorded.event_type: (NotificationRecorded, record_notification),
        CaseForwarded.event_type: (CaseForwarded, forwarding.record_forwarded),
        ForwardFailed.event_type: (ForwardFailed, forwarding.record_forward_failed),
        StatusReported.event_type: (StatusReported, partial(forwarding.apply_reported_status, **bound)),
    }
