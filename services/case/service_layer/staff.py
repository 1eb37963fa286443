"""Staff commands on cases, each one unit of work with no consumed event: claim, assign, transition,
priority, recategorise, internal note, public update, reply, merge, unmerge, and the decision on a
duplicate suggestion (docs/staff-work.md, "Case service staff API").

Every command loads the case locked, checks the actor's role, department and the case's state
(`domain.staff.authorise`), changes what it changes, writes ONE timeline entry per case it touches with
actor, actor_name, role, before and after (`domain.staff.audit`), moves the SLA clock when the workflow
status moved, and emits its event with the case's own correlation id. A refused command raises a
`domain.staff.StaffError` (403, 404, 409, 422) before anything is written, so nothing changes; a command
that would change nothing (the same priority, a claim of one's own case) writes and emits nothing.

Produces on `cases.lifecycle` (outbox): `case.assigned`, `case.status_changed`, `case.priority_set`,
`case.recategorised`, `case.public_update`, `case.reply_requested`, `case.merged`, `case.unmerged`.
Internal notes are timeline entries only: never an event.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from services.case.domain import records
from services.case.domain import staff as rules
from services.case.domain.commands import (
    Actor,
    AddNote,
    Assign,
    ChangeStatus,
    Claim,
    DecideSuggestion,
    Merge,
    PostUpdate,
    Recategorise,
    Reply,
    SetPriority,
    Transition,
    Unmerge,
)
from services.case.domain.rules import clean_text
from services.case.domain.staff import Conflict, Invalid, NotFound, audit, changed
from services.case.service_layer.handlers import Case, Clocks, Uow, follow_sla, merge_cases
from shared.events import (
    CaseAssigned,
    CasePrioritySet,
    CasePublicUpdate,
    CaseRecategorised,
    CaseReplyRequested,
    CaseUnmerged,
)
from shared.events.envelope import EventData
from shared.jurisdiction import Jurisdiction
from shared.jurisdiction.workflow import TransitionNotAllowed, UnknownStatus


async def _load(uow: Uow, case_id: UUID, actor: Actor, action: str, jurisdiction: Jurisdiction) -> Case:
    case = await uow.repo.get_case(case_id, for_update=True)
    if case is None:
        raise NotFound(f"case {case_id} not found")
    rules.authorise(actor, action, case, jurisdiction)
    return case


def _stripped(text: str | None) -> str | None:
    """A staff member's optional free text as stored (`domain.rules.clean_text`: no control character,
    which Open311 XML cannot carry) without its outer white space; None when nothing is left."""
    return (clean_text(text).strip() or None) if text else None


def _who(actor: Actor) -> dict[str, Any]:
    return {"actor": actor.subject, "actor_role": actor.role}


def _case_fields(case: Case) -> dict[str, Any]:
    return {"case_id": case["case_id"], "service_request_id": case["service_request_id"],
            "jurisdiction_id": case["jurisdiction_id"]}


async def _emit(uow: Uow, case: Case, event: EventData) -> None:
    await uow.emit(event, subject=case["case_id"], correlation_id=case["correlation_id"])


async def _set(uow: Uow, case: Case, fields: dict[str, Any]) -> Case:
    await uow.repo.update_case(case["case_id"], {**fields, "updated_datetime": uow.now})
    after = await uow.repo.get_case(case["case_id"])
    assert after is not None, "the case is locked in this transaction"
    return after


async def _entry(uow: Uow, case: Case, kind: str, detail: dict[str, Any]) -> None:
    # A staff command consumes no event; an external system's change (`move_by_external`) names its own.
    caused_by = uow.envelope.event_id if uow.envelope is not None else None
    await uow.repo.add_timeline(case["case_id"], uow.now, kind, caused_by, detail)


async def _assign(uow: Uow, case: Case, actor: Actor, *, assignee: str | None, team: str | None,
                  reason: str | None, kind: str, jurisdiction: Jurisdiction, clocks: Clocks | None) -> Case:
    workflow = jurisdiction.workflow
    fields = {"assignee": assignee, "team": team,
              "workflow_status": rules.status_after_assignment(workflow, case["workflow_status"], assignee, team)}
    before, after = changed(case, fields)
    if not after:
        return case
    stored = await _set(uow, case, fields)
    await _entry(uow, case, kind, audit(actor, before, after, reason=reason))
    await _emit(uow, case, CaseAssigned(**_case_fields(case), **_who(actor), assignee=assignee, team=team,
                                        queue=case["queue"], previous_assignee=case["assignee"], reason=reason))
    if stored["workflow_status"] != case["workflow_status"]:
        await _emit(uow, case, _status_changed(stored, case["workflow_status"], workflow, notes=case["status_notes"]))
    await follow_sla(uow, stored, case["workflow_status"], jurisdiction=jurisdiction, clocks=clocks)
    return stored


def _status_changed(case: Case, previous: str, workflow: Any, *, notes: str | None) -> EventData:
    to = case["workflow_status"]
    return records.status_changed(case, status=workflow.open311(to), workflow_status=to, previous=previous,
                                  notes=notes, notify=workflow.status(to).notify)


async def claim(cmd: Claim, uow: Uow, *, jurisdiction: Jurisdiction, clocks: Clocks | None = None) -> Case:
    """The actor takes the case (assignee = their subject; a new or acknowledged case becomes
    `on_assigned`); emits `case.assigned` (and `case.status_changed` when the status moved). Their own
    case again changes nothing. Raises `Conflict` when department staff claim a case another person
    holds, and what `authorise` raises."""
    case = await _load(uow, cmd.case_id, cmd.actor, "claim", jurisdiction)
    rules.check_claim(cmd.actor, case)
    reason = "claimed" if case["assignee"] in (None, cmd.actor.subject) else "claimed from another assignee"
    return await _assign(uow, case, cmd.actor, assignee=cmd.actor.subject, team=case["team"], reason=reason,
                         kind="claimed", jurisdiction=jurisdiction, clocks=clocks)


async def assign(cmd: Assign, uow: Uow, *, jurisdiction: Jurisdiction, clocks: Clocks | None = None) -> Case:
    """Assign the case to a person and/or a team (`domain.staff.check_assignment`: a reason to reassign;
    department staff only to themselves or their team; supervisors anyone); emits `case.assigned`.
    The same assignment again changes nothing."""
    case = await _load(uow, cmd.case_id, cmd.actor, "assign", jurisdiction)
    rules.check_assignment(cmd.actor, case, assignee=cmd.assignee, team=cmd.team, reason=cmd.reason,
                           jurisdiction=jurisdiction)
    return await _assign(uow, case, cmd.actor, assignee=cmd.assignee, team=cmd.team, reason=_stripped(cmd.reason),
                         kind="assigned", jurisdiction=jurisdiction, clocks=clocks)


async def _move(uow: Uow, case: Case, actor: Actor, to: str, *, notes: str | None, jurisdiction: Jurisdiction,
                clocks: Clocks | None, kind: str = "status_changed", any_move: bool = False,
                extra: dict[str, Any] | None = None) -> Case:
    """Move `case` (locked) to `to`: the workflow must allow it (`any_move`: only `to` must exist), the
    merged status never; the case, ONE timeline entry (`audit` with `extra`), `case.status_changed` and
    the SLA clock."""
    workflow = jurisdiction.workflow
    if to == workflow.merged_status:
        raise Conflict(f"a case becomes {to} by a merge into another case, not by a transition")
    try:
        if any_move:
            workflow.status(to)
        else:
            workflow.check(case["workflow_status"], to)
    except TransitionNotAllowed as exc:
        # Named as staff may move it: the merged status is reached by a merge, never by a transition.
        raise Conflict(str(TransitionNotAllowed(exc.from_id, to, workflow.staff_moves(exc.from_id)))) from None
    except UnknownStatus as exc:
        raise Invalid(str(exc)) from None
    fields = {"workflow_status": to, "status": workflow.open311(to), "status_notes": notes}
    before, after = changed(case, fields)
    stored = await _set(uow, case, fields)
    await _entry(uow, case, kind, audit(actor, before, after, **(extra or {})))
    await _emit(uow, case, _status_changed(stored, case["workflow_status"], workflow, notes=notes))
    await follow_sla(uow, stored, case["workflow_status"], jurisdiction=jurisdiction, clocks=clocks)
    return stored


async def move_by_external(case: Case, actor: Actor, to: str, uow: Uow, *, notes: str | None,
                           jurisdiction: Jurisdiction, clocks: Clocks | None, detail: dict[str, Any]) -> Case:
    """A status change made by an external system (an Open311 endpoint the case was forwarded to,
    `service_layer/forwarding.py`), through the same machinery as a staff transition: `case` (loaded
    locked by the caller) moves to `to`, its Open311 status follows and `notes` become its public
    `status_notes`; timeline ``status_changed`` by `actor` (role ``external_system``) with `detail`
    beside `before`/`after`; `case.status_changed` with the workflow's `notify`, so the reporters are
    told as on a staff change; the SLA clock stops, pauses or resumes as on a staff change. Unlike staff,
    the external system may make any move to a status the workflow declares (`Invalid` for one it does
    not; `Conflict` for the merged status). No role or department check: the event is the authority."""
    return await _move(uow, case, actor, to, notes=_stripped(notes), jurisdiction=jurisdiction, clocks=clocks,
                       any_move=True, extra=detail)


async def transition(cmd: Transition, uow: Uow, *, jurisdiction: Jurisdiction, clocks: Clocks | None = None) -> Case:
    """Move the case to the workflow status `to` (`Workflow.check`; a refused move raises `Conflict` with
    the allowed ones named, an unknown status `Invalid`); its Open311 status follows, `note` becomes the
    public `status_notes`; emits `case.status_changed` (with the workflow's `notify`) and moves the SLA
    clock (pause, resume, stop). The status the case already has changes nothing."""
    case = await _load(uow, cmd.case_id, cmd.actor, "transition", jurisdiction)
    if case["workflow_status"] == cmd.to:
        return case
    notes = _stripped(cmd.note)
    return await _move(uow, case, cmd.actor, cmd.to, notes=notes, jurisdiction=jurisdiction, clocks=clocks)


async def change_status(cmd: ChangeStatus, uow: Uow, *, jurisdiction: Jurisdiction,
                        clocks: Clocks | None = None) -> Case:
    """The older `POST /cases/{sid}/status`: set the Open311 status through the workflow
    (`domain.staff.status_for_open311` picks the status: closed → ``closed`` or ``resolved``, open →
    `resume_to`); the same Open311 status with the same notes changes nothing, with other notes it sets
    them and emits `case.status_changed` with `notify` false. Raises `Conflict` when no allowed transition
    leads there."""
    case = await _load(uow, cmd.case_id, cmd.actor, "status", jurisdiction)
    notes = _stripped(cmd.status_notes)
    to = rules.status_for_open311(jurisdiction.workflow, case["workflow_status"], cmd.status)
    if to is None:
        if case["status_notes"] == notes:
            return case
        before, after = changed(case, {"status_notes": notes})
        stored = await _set(uow, case, {"status_notes": notes})
        await _entry(uow, case, "status_changed", audit(cmd.actor, before, after))
        # New public notes on the same status: announced (Open311 readers see them), told to no one.
        await _emit(uow, case, records.status_changed(
            stored, status=stored["status"], workflow_status=stored["workflow_status"],
            previous=stored["workflow_status"], notes=notes, notify=False))
        return stored
    return await _move(uow, case, cmd.actor, to, notes=notes, jurisdiction=jurisdiction, clocks=clocks)


async def set_priority(cmd: SetPriority, uow: Uow, *, jurisdiction: Jurisdiction) -> Case:
    """Set the priority (1–5, else `Invalid`); emits `case.priority_set`. The same priority changes
    nothing."""
    if not 1 <= cmd.priority <= 5:
        raise Invalid("priority is 1 (most urgent) to 5")
    case = await _load(uow, cmd.case_id, cmd.actor, "priority", jurisdiction)
    before, after = changed(case, {"priority": cmd.priority})
    if not after:
        return case
    stored = await _set(uow, case, {"priority": cmd.priority})
    reason = _stripped(cmd.reason)
    await _entry(uow, case, "priority_set", audit(cmd.actor, before, after, reason=reason))
    await _emit(uow, case, CasePrioritySet(**_case_fields(case), **_who(cmd.actor), priority=cmd.priority,
                                           previous_priority=case["priority"], reason=reason))
    return stored


async def recategorise(cmd: Recategorise, uow: Uow, *, jurisdiction: Jurisdiction) -> Case:
    """Give the case another `service_code` of the jurisdiction (unknown: `Invalid`; a reason is required)
    and emit `case.recategorised` with what the router needs; the router's `routing.decided` (source
    ``manual``) then sets queue, priority and SLA due time. The case's code and name change at once; the
    code it already has changes nothing. A service of another department is allowed (a case sent to the
    wrong department is handed over; the actor then no longer works it); the actor is authorised on the
    case before the code is judged, so another department's case answers 403, not 422."""
    case = await _load(uow, cmd.case_id, cmd.actor, "recategorise", jurisdiction)
    service = jurisdiction.service(cmd.service_code)
    if service is None:
        raise Invalid(f"unknown service_code {cmd.service_code}")
    reason = _stripped(cmd.reason)
    if not reason:
        raise Invalid("a reason is required to recategorise a case")
    fields = {"service_code": service.service_code, "service_name": service.service_name}
    before, after = changed(case, fields)
    if "service_code" not in after:
        return case
    stored = await _set(uow, case, fields)
    await _entry(uow, case, "recategorised", audit(cmd.actor, before, after, reason=reason))
    await _emit(uow, case, CaseRecategorised(
        **_case_fields(case), **_who(cmd.actor), service_code=service.service_code,
        previous_service_code=case["service_code"], reason=reason, description=case["description"],
        address=case["address"], zipcode=case["zipcode"], lat=case["lat"], long=case["long"],
        requested_datetime=case["requested_datetime"]))
    return stored


async def add_note(cmd: AddNote, uow: Uow, *, jurisdiction: Jurisdiction) -> Case:
    """An internal note (kind ``internal_note``): on the timeline only, never in an event, a notification
    or an Open311 answer. Call agents may write one on any case. An empty text is `Invalid`."""
    text = _stripped(cmd.text)
    if not text:
        raise Invalid("an internal note needs a text")
    case = await _load(uow, cmd.case_id, cmd.actor, "note", jurisdiction)
    await _entry(uow, case, "internal_note", audit(cmd.actor, {}, {}, text=text))
    return case


async def post_update(cmd: PostUpdate, uow: Uow, *, jurisdiction: Jurisdiction) -> Case:
    """A public update: timeline ``public_update`` and `case.public_update`, which the notifier sends to every
    reporter of the case, those of the cases merged into it included. An empty text is `Invalid`. The same
    `update_id` again (a form sent twice) changes nothing."""
    text = _stripped(cmd.text)
    if not text:
        raise Invalid("a public update needs a text")
    case = await _load(uow, cmd.case_id, cmd.actor, "update", jurisdiction)
    if await uow.repo.has_timeline_entry(case["case_id"], "public_update", "update_id", str(cmd.update_id)):
        return case
    language = cmd.language or case["language"]
    await _entry(uow, case, "public_update", audit(cmd.actor, {}, {}, update_id=str(cmd.update_id), text=text,
                                                   language=language))
    await _emit(uow, case, CasePublicUpdate(**_case_fields(case), **_who(cmd.actor), update_id=cmd.update_id,
                                            text=text, language=language))
    return case


async def reply(cmd: Reply, uow: Uow, *, jurisdiction: Jurisdiction) -> Case:
    """A reply to one reporter on their channel: `contact_key` must be a reporter of the case or of a case
    merged into it (else `Invalid`); the text is the given one or the jurisdiction's canned response in the
    requested language (`domain.staff.reply_text`; a reporter of unknown language is written to in the
    jurisdiction's first locale: Montréal's French). Timeline ``reply`` and `case.reply_requested`. The same
    `reply_id` again (a form sent twice) changes nothing."""
    case = await _load(uow, cmd.case_id, cmd.actor, "reply", jurisdiction)
    if await uow.repo.has_timeline_entry(case["case_id"], "reply", "reply_id", str(cmd.reply_id)):
        return case
    if cmd.contact_key not in await uow.repo.reporters_of(case["case_id"]):
        raise Invalid(f"{cmd.contact_key} is not a reporter of case {case['service_request_id']}")
    text, language = rules.reply_text(jurisdiction.canned_responses, canned_response_id=cmd.canned_response_id,
                                      text=_stripped(cmd.text), language=cmd.language,
                                      default_language=case["language"] or (jurisdiction.locales or ("en",))[0])
    await _entry(uow, case, "reply", audit(cmd.actor, {}, {}, reply_id=str(cmd.reply_id),
                                           contact_key=cmd.contact_key, text=text, language=language,
                                           canned_response_id=cmd.canned_response_id))
    await _emit(uow, case, CaseReplyRequested(
        **_case_fields(case), **_who(cmd.actor), reply_id=cmd.reply_id, contact_key=cmd.contact_key, text=text,
        language=language, canned_response_id=cmd.canned_response_id))
    return case


async def merge(cmd: Merge, uow: Uow, *, jurisdiction: Jurisdiction, clocks: Clocks | None = None) -> Case:
    """Merge the case into `into` (the end of its merge chain survives), as a dedup merge does
    (`handlers.merge_cases`: same rules, `case.merged`), with the actor on both timelines. The actor must
    be allowed to merge the case and to read `into` and the end of its chain (`authorise`); a merge the rules skip (a closed or merged case, a case
    into itself) raises `Conflict` with the reason."""
    # Lock both in a stable order (as a dedup merge does) so that two crossing merges cannot deadlock.
    await uow.repo.lock_cases(sorted([cmd.case_id, cmd.into]))
    case = await _load(uow, cmd.case_id, cmd.actor, "merge", jurisdiction)
    target = await uow.repo.get_case(cmd.into, for_update=True)
    if target is None:
        raise NotFound(f"case {cmd.into} not found")
    rules.authorise(cmd.actor, "read", target, jurisdiction)
    detail = audit(cmd.actor, {}, {}, reason=cmd.reason)
    skipped, merged, survivor = await merge_cases(uow, case["case_id"], cmd.into, jurisdiction=jurisdiction,
                                                  clocks=clocks, event_id=None, detail=detail)
    if skipped:
        raise Conflict(f"case {case['service_request_id']} cannot be merged: {skipped}")
    assert merged is not None and survivor is not None
    # `into` may itself be merged: the end of its chain survives, and it too must be the actor's to touch
    # (raising here rolls the unit of work back, so nothing is written).
    rules.authorise(cmd.actor, "read", survivor, jurisdiction)
    return merged


async def unmerge(cmd: Unmerge, uow: Uow, *, jurisdiction: Jurisdiction, clocks: Clocks | None = None) -> Case:
    """Undo the merge of the case: open again, in the workflow status it had before the merge (the
    `on_routed` one if none was kept), its own `merged_into` and notes cleared; `unmerged` on its timeline
    and `released` on the survivor's, both steps of the merge kept; emits `case.unmerged` (its reporters
    are told, dedup will not merge the pair again) and resumes its SLA clock. A case not merged raises
    `Conflict`."""
    case = await _load(uow, cmd.case_id, cmd.actor, "unmerge", jurisdiction)
    if case["merged_into"] is None:
        raise Conflict(f"case {case['service_request_id']} is not merged into another case")
    survivor = await uow.repo.get_case(case["merged_into"], for_update=True)
    assert survivor is not None, "merged_into references a case"
    workflow = jurisdiction.workflow
    restored = case["workflow_before_merge"]
    if not restored or not workflow.has(restored) or workflow.open311(restored) != "open":
        restored = workflow.on_routed if case["routing"] is not None else workflow.initial
    fields = {"status": "open", "status_notes": None, "merged_into": None, "workflow_status": restored,
              "workflow_before_merge": None}
    before, after = changed(case, fields)
    after["merged_into"], before["merged_into"] = None, survivor["service_request_id"]
    stored = await _set(uow, case, fields)
    reason = _stripped(cmd.reason)
    await _entry(uow, case, "unmerged", audit(cmd.actor, before, after, reason=reason,
                                              unmerged_from=survivor["service_request_id"]))
    await _entry(uow, survivor, "released", audit(cmd.actor, {"duplicate": case["service_request_id"]}, {},
                                                  reason=reason))
    await _emit(uow, case, CaseUnmerged(**_case_fields(case), **_who(cmd.actor), unmerged_from=survivor["case_id"],
                                        unmerged_from_service_request_id=survivor["service_request_id"],
                                        status="open", workflow_status=restored, reason=reason))
    await follow_sla(uow, stored, case["workflow_status"], jurisdiction=jurisdiction, clocks=clocks)
    return stored


async def decide_suggestion(cmd: DecideSuggestion, uow: Uow, *, jurisdiction: Jurisdiction,
                            clocks: Clocks | None = None) -> Case:
    """Accept (merge the suggested duplicate into the case it matched, as `merge`) or reject a pending
    suggestion, recording who and when; the suggestion's case is answered. Raises `NotFound` for an
    unknown suggestion, `Conflict` for one already decided or a merge the rules refuse (the suggestion
    then stays pending), and what `authorise` raises."""
    suggestion = await uow.repo.get_suggestion(cmd.suggestion_id)
    if suggestion is None:
        raise NotFound(f"suggestion {cmd.suggestion_id} not found")
    if suggestion["status"] != "pending":
        raise Conflict(f"suggestion {cmd.suggestion_id} was already {suggestion['status']}")
    reason = _stripped(cmd.reason)
    if cmd.accept:
        case = await merge(Merge(suggestion["case_id"], cmd.actor, suggestion["duplicate_of"], reason=reason),
                           uow, jurisdiction=jurisdiction, clocks=clocks)
    else:
        case = await _load(uow, suggestion["case_id"], cmd.actor, "suggestion", jurisdiction)
        await _entry(uow, case, "suggestion_rejected", audit(
            cmd.actor, {"suggestion": "pending"}, {"suggestion": "rejected"}, reason=reason,
            suggestion_id=str(cmd.suggestion_id)))
    await uow.repo.decide_suggestion(cmd.suggestion_id, status="accepted" if cmd.accept else "rejected",
                                     decided_by=cmd.actor.subject, decided_at=uow.now, reason=reason)
    return case
