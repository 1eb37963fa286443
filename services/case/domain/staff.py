"""Staff rules that need no I/O: who may do what to which case (roles and department scoping), the
assignment rules, the workflow moves a claim or an Open311 status change makes, reply texts from canned
responses, the audit detail every staff action writes, the SLA clock moves and masked reporter addresses.

Source: docs/staff-work.md ("Roles and tokens", "Workflow", "Case service staff API", "Audit"). A case is
a `dict` of the `cases` columns (`adapters.repository.CASE_COLUMNS`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from services.case.domain.commands import Actor
from services.case.domain.rules import district_names, routing_facts
from shared.contacts import mask_email, mask_phone

CALL_AGENT, DEPARTMENT_STAFF, SUPERVISOR, ADMINISTRATOR = "call_agent", "department_staff", "supervisor", "administrator"
STAFF = frozenset({DEPARTMENT_STAFF, SUPERVISOR, ADMINISTRATOR})
ANY_ROLE = frozenset({CALL_AGENT, *STAFF})

ACTION_ROLES: dict[str, frozenset[str]] = {
    "read": ANY_ROLE, "list": STAFF, "claim": STAFF, "assign": STAFF, "transition": STAFF, "priority": STAFF,
    "recategorise": STAFF, "note": ANY_ROLE, "update": STAFF, "reply": STAFF, "merge": STAFF, "unmerge": STAFF,
    "suggestion": STAFF, "status": STAFF,
}
"""Which roles may take each action (docs/staff-work.md, the staff API table); department scoping comes on
top (`authorise`)."""

WORKS_CLOSED = frozenset({"read", "note", "transition", "status", "update", "reply", "unmerge", "suggestion"})
"""Actions allowed on a case whose Open311 status is closed (a transition may reopen it; rejecting a
duplicate suggestion changes nothing but the timeline, so a case closed since it was suggested does not
leave a suggestion stuck on the review list)."""
WORKS_MERGED = frozenset({"read", "note", "unmerge", "suggestion"})
"""Actions allowed on a case merged into another (the survivor is where the work goes on)."""


class StaffError(Exception):
    """A staff command refused; `status` is the HTTP status the API answers with, `str()` the reason
    shown to the staff member. Nothing was changed."""

    status = 400


class Forbidden(StaffError):
    """The role or the department does not allow this action on this case (403)."""

    status = 403


class NotFound(StaffError):
    """No such case or suggestion (404)."""

    status = 404


class Conflict(StaffError):
    """The case's state refuses the action: a transition the workflow does not allow, a merge the merge
    rules skip, a case already closed, merged or claimed (409)."""

    status = 409


class Invalid(StaffError):
    """The request names something that does not exist or lacks what the rule requires (422)."""

    status = 422


def case_department(case: dict[str, Any], jurisdiction: Any) -> str | None:
    """The department id a case belongs to: its queue's department, else its service's, else None (an
    unrouted case of no known service). `jurisdiction` is a `shared.jurisdiction.Jurisdiction`."""
    queue = jurisdiction.queue(case["queue"]) if case.get("queue") else None
    if queue is not None:
        return str(queue.department_id)
    service = jurisdiction.service(case["service_code"]) if case.get("service_code") else None
    return str(service.department_id) if service is not None else None


def authorise(actor: Actor, action: str, case: dict[str, Any], jurisdiction: Any) -> None:
    """Raise `Forbidden` unless `actor` may take `action` (a key of `ACTION_ROLES`) on `case`, and
    `Conflict` when the case's state refuses it (`WORKS_CLOSED`, `WORKS_MERGED`).

    An administrator may act on every case; a call agent takes only the actions its role allows (notes,
    reads) on any case; department staff and supervisors only on the cases of their own department
    (`case_department`); a case of no department is never theirs (an administrator routes it)."""
    if actor.role not in ACTION_ROLES[action]:
        raise Forbidden(f"the role {actor.role} may not {action} a case")
    if actor.role in (DEPARTMENT_STAFF, SUPERVISOR):
        department = case_department(case, jurisdiction)
        if department is None or department != actor.department:
            raise Forbidden(f"case {case['service_request_id']} is not in a queue of your department")
    if case.get("merged_into") is not None and action not in WORKS_MERGED:
        raise Conflict(f"case {case['service_request_id']} is merged into another case; unmerge it first")
    if case["status"] != "open" and action not in WORKS_CLOSED:
        raise Conflict(f"case {case['service_request_id']} is closed; reopen it first")


def visible_queues(actor: Actor, jurisdiction: Any) -> list[str] | None:
    """The queue ids whose cases `actor` may list: None for an administrator (every case), the
    department's queues for a supervisor, the same without the department's supervisor queue for
    department staff; raises `Forbidden` for a role that lists no queue (call agents) or a staff member
    whose token names no department of the jurisdiction."""
    if actor.role == ADMINISTRATOR:
        return None
    if actor.role not in (DEPARTMENT_STAFF, SUPERVISOR):
        raise Forbidden(f"the role {actor.role} may not list cases")
    department = jurisdiction.department(actor.department) if actor.department else None
    if department is None:
        raise Forbidden("your token names no department of this jurisdiction")
    supervisors = getattr(department, "supervisor_queue", None)
    return [q.id for q in department.queues if actor.role == SUPERVISOR or q.id != supervisors]


def own_case_queues(actor: Actor, jurisdiction: Any) -> list[str]:
    """The queues outside `visible_queues` where `actor` still lists the cases assigned to them: for
    department staff their department's supervisor queue (an escalation moves a case there and its
    assignee keeps working it, `authorise` allows it); empty for every other role."""
    if actor.role != DEPARTMENT_STAFF or not actor.department:
        return []
    department = jurisdiction.department(actor.department)
    supervisors = getattr(department, "supervisor_queue", None) if department is not None else None
    return [supervisors] if supervisors else []


def department_teams(case: dict[str, Any], jurisdiction: Any) -> set[str]:
    """Team ids of the case's department (empty when it has none or no department)."""
    department_id = case_department(case, jurisdiction)
    department = jurisdiction.department(department_id) if department_id else None
    return {t.id for t in getattr(department, "teams", ())} if department is not None else set()


def check_assignment(actor: Actor, case: dict[str, Any], *, assignee: str | None, team: str | None,
                     reason: str | None, jurisdiction: Any) -> None:
    """The assignment rules (docs/staff-work.md): a team must be one of the case's department (else
    `Invalid`); reassigning a case another person holds needs a `reason` (else `Invalid`); department
    staff assign only to themselves or to one of their own teams, and only a case that is theirs or
    nobody's (else `Forbidden`: a case another person holds is a supervisor's to reassign, as
    `check_claim` says, be it to another person, to a team or to no one); supervisors and administrators
    assign anyone."""
    if team is not None and team not in department_teams(case, jurisdiction):
        raise Invalid(f"team {team} is not a team of the case's department")
    held = case.get("assignee")
    if actor.role == DEPARTMENT_STAFF and held not in (None, actor.subject):
        raise Forbidden(f"the case is assigned to {held}; ask a supervisor to reassign it")
    if held is not None and assignee != held and not (reason and reason.strip()):
        raise Invalid(f"the case is assigned to {held}: a reason is required to reassign it")
    if actor.role == DEPARTMENT_STAFF:
        if assignee is not None and assignee != actor.subject:
            raise Forbidden("department staff may assign a case only to themselves; ask a supervisor")
        if team is not None and team not in actor.teams:
            raise Forbidden(f"department staff may assign a case only to their own team, not {team}")


def check_claim(actor: Actor, case: dict[str, Any]) -> None:
    """A case another person holds is not claimed by department staff (`Conflict`; a supervisor
    reassigns it); supervisors and administrators may take it over."""
    held = case.get("assignee")
    if held not in (None, actor.subject) and actor.role == DEPARTMENT_STAFF:
        raise Conflict(f"case {case['service_request_id']} is already assigned to {held}; ask a supervisor")


def status_after_assignment(workflow: Any, current: str, assignee: str | None, team: str | None) -> str:
    """The workflow status a claim or an assignment leaves: a case still `initial` or `on_routed` (new,
    acknowledged) moves to `on_assigned` when the workflow allows it; any other status (and an
    unassignment) stays."""
    if assignee is None and team is None:
        return current
    if current in (workflow.initial, workflow.on_routed) and workflow.on_assigned in workflow.allowed(current):
        return str(workflow.on_assigned)
    return current


def status_for_open311(workflow: Any, current: str, wanted: str) -> str | None:
    """The workflow status the older `POST /cases/{sid}/status` moves a case to for an Open311 status
    `wanted` (``open``/``closed``): None when the case already has it; otherwise the first allowed
    transition mapped to it, preferring ``closed`` then ``resolved`` for closing and `resume_to` for
    reopening, never the merged status. Raises `Conflict` when none is allowed."""
    if workflow.open311(current) == wanted:
        return None
    allowed = [s for s in workflow.staff_moves(current) if workflow.open311(s) == wanted]
    preferred = ("closed", "resolved") if wanted == "closed" else (workflow.resume_to,)
    for status in (*preferred, *allowed):
        if status in allowed:
            return str(status)
    raise Conflict(f"no transition from {current} leads to an Open311 {wanted} status")


def reply_text(canned: Iterable[Any], *, canned_response_id: str | None, text: str | None,
               language: str | None, default_language: str) -> tuple[str, str]:
    """The text and language of a staff reply: the given `text` (stripped) if any, else the canned response
    `canned_response_id` (a `CannedResponse` of the jurisdiction) in `language` (else
    `default_language`). Raises `Invalid` for an unknown canned response, one with no text in that
    language, or neither text nor canned response."""
    lang = language or default_language
    if text and text.strip():
        return text.strip(), lang
    if not canned_response_id:
        raise Invalid("a reply needs a text or a canned_response_id")
    response = next((c for c in canned if c.id == canned_response_id), None)
    if response is None:
        raise Invalid(f"unknown canned response {canned_response_id}")
    if lang not in response.text:
        raise Invalid(f"canned response {canned_response_id} has no text in {lang}")
    return str(response.text[lang]), lang


def audit(actor: Actor, before: dict[str, Any], after: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """The `detail` of a staff action's timeline entry (docs/staff-work.md "Audit"): `actor` (token `sub`),
    `actor_name`, `role`, `before` and `after` (the fields it changed, JSON values), and `extra` (e.g.
    `reason`)."""
    return {"actor": actor.subject, "actor_name": actor.name, "role": actor.role, "before": before,
            "after": after, **extra}


def changed(case: dict[str, Any], fields: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(`before`, `after`) of the keys of `fields` whose value differs from the case's, as JSON values
    (ids and times as strings)."""
    keys = [k for k in fields if case.get(k) != fields[k]]
    return ({k: _json(case.get(k)) for k in keys}, {k: _json(fields[k]) for k in keys})


def _json(value: Any) -> Any:
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def mask_address(pii: dict[str, Any]) -> str | None:
    """A reporter's address as staff lists show it, enough to tell two apart and no more, in the shape of
    the notifier's profiles (docs/integrations.md, section 3): ``a***@example.org`` for an email
    (`shared.contacts.mask_email`), ``+1 514-***-0123`` for a phone number (`shared.contacts.mask_phone`),
    ``@a***`` for a handle; None when there is none."""
    email, phone, handle = pii.get("email"), pii.get("phone"), pii.get("handle")
    if email and "@" in email:
        return mask_email(email)
    if phone:
        return mask_phone(phone)
    if handle:
        bare = handle.lstrip("@")
        return f"@{bare[:1]}***"
    return None


def sla_move(workflow: Any, before: str, after: str) -> str | None:
    """What a workflow move `before` → `after` does to the SLA clock: ``stop`` on entering an Open311
    closed status, ``pause`` on entering a status with `pauses_sla` from one without, ``resume`` on leaving
    a pausing status for a running one or on reopening a closed case, None otherwise, and None for a status
    the workflow does not declare (docs/staff-work.md "SLA clocks")."""
    if before == after or not (workflow.has(before) and workflow.has(after)):
        return None  # a status the configuration no longer declares moves no clock rather than failing
    a, b = workflow.status(before), workflow.status(after)
    if b.open311 == "closed":
        return None if a.open311 == "closed" else "stop"
    if a.open311 == "closed":
        return "resume"
    if b.pauses_sla and not a.pauses_sla:
        return "pause"
    if a.pauses_sla and not b.pauses_sla:
        return "resume"
    return None


def _label(workflow: Any, status_id: str, language: str = "en") -> str:
    return str(workflow.status(status_id).label(language)) if workflow.has(status_id) else status_id


def staff_case_row(case: dict[str, Any], jurisdiction: Any, *, sla_state_: str, sla_due_at: datetime | None
                   ) -> dict[str, Any]:
    """One line of a staff case list: number, Open311 and workflow status (with its EN and FR labels),
    category, channel, place, queue and department, assignee and team, priority, the SLA badge and due
    time, times, how the point was found (`location_source`: ``report``, ``geocoded`` or None) and the
    routing facts (`extended_attributes`, `rules.routing_facts`: the classifier's suggestions, the
    location status). JSON-ready except times (aware datetimes)."""
    workflow = jurisdiction.workflow
    ws = case["workflow_status"]
    return {
        "service_request_id": case["service_request_id"], "status": case["status"], "workflow_status": ws,
        "status_label": _label(workflow, ws), "status_labels": {lang: _label(workflow, ws, lang) for lang in ("en", "fr")},
        "service_code": case["service_code"], "service_name": case["service_name"], "channel": case["channel"],
        "description": case["description"], "address": case["address"], "lat": case["lat"], "long": case["long"],
        "district": case["district"], "queue": case["queue"], "department": case_department(case, jurisdiction),
        "agency_responsible": case["agency_responsible"], "assignee": case["assignee"], "team": case["team"],
        "priority": case["priority"], "sla_state": sla_state_, "sla_due_at": sla_due_at,
        "requested_datetime": case["requested_datetime"], "updated_datetime": case["updated_datetime"],
        "media_url": list(case["media_url"] or []), "language": case["language"],
        "location_source": case.get("location_source"),
        "extended_attributes": routing_facts(case, district_names(jurisdiction)),
    }


def attribute_view(case: dict[str, Any], jurisdiction: Any) -> list[dict[str, Any]]:
    """The case's Open311 answers (`case["attributes"]`, code → value or list of values) as staff read
    them: ``[{"code", "label", "value", "display"}]``, in the order of the case's service's definition, then
    any other answers (e.g. the case was recategorised since) in code order. `label` is the attribute's
    `description` (found on the case's service, else on any service with that code; else the code);
    `value` is as stored (text, or a list for a multivaluelist); `display` the values' names for a list
    attribute (joined with ", "), else the value as text."""
    # The location check kept beside the answers is no answer (staff read it on the timeline).
    answers: dict[str, Any] = {k: v for k, v in (case.get("attributes") or {}).items() if k != "location_check"}
    service = jurisdiction.service(case["service_code"]) if case.get("service_code") else None
    own = [a for a in (service.attributes if service is not None else ()) if a.code in answers]
    rest = sorted(code for code in answers if code not in {a.code for a in own})
    view = []
    for code in [a.code for a in own] + rest:
        spec = next((a for a in own if a.code == code), None) or next(
            (a for s in jurisdiction.services for a in s.attributes if a.code == code), None)
        value = answers[code]
        values = value if isinstance(value, list) else [value]
        names = {v.key: v.name for v in spec.values} if spec is not None else {}
        view.append({"code": code, "label": spec.description if spec is not None else code, "value": value,
                     "display": ", ".join(str(names.get(v, v)) for v in values)})
    return view


def staff_case_detail(case: dict[str, Any], jurisdiction: Any, *, sla: dict[str, Any], merged_into: str | None,
                      messages: list[dict[str, Any]], reporters: list[dict[str, Any]],
                      merged: list[dict[str, Any]], timeline: list[dict[str, Any]],
                      external_requests: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """What `GET /staff/cases/{sid}` answers (docs/staff-work.md): the list row's fields, `merged_into`
    (the survivor's number), `sla` (`due_at`, `warn_at`, `state`, `paused_at`), `allowed_transitions`
    (ids; the merged status left out: it is reached by a merge), `messages` (`text`, `media_url`,
    `channel`, `received_at`), `reporters` (`contact_key`, `channel`, masked `address`, `case`,
    `merged`), `merged` (the cases merged into it), `attributes` (the Open311 answers, `attribute_view`),
    the whole `timeline`, internal notes included, and `external_requests` (the Open311 endpoints it was
    forwarded to, `StaffReads.external_requests`; docs/integrations.md, "Open311 forwarding")."""
    workflow = jurisdiction.workflow
    ws = case["workflow_status"]
    allowed = list(workflow.staff_moves(ws)) if workflow.has(ws) else []
    return {
        **staff_case_row(case, jurisdiction, sla_state_=sla["state"], sla_due_at=sla["due_at"]),
        "case_id": str(case["case_id"]), "status_notes": case["status_notes"], "zipcode": case["zipcode"],
        "merged_into": merged_into, "sla": sla, "allowed_transitions": allowed,
        "messages": [{"message_id": str(m["message_id"]), "text": m["description"], "media_url": list(m["media_url"]),
                      "channel": m["channel"], "received_at": m["received_at"]} for m in messages],
        "reporters": [{"contact_key": r["contact_key"], "channel": r["channel"],
                       "address": mask_address(r["pii"] or {}), "case": r["case"], "merged": r["merged"]}
                      for r in reporters],
        "merged": [{"service_request_id": m["service_request_id"], "status": m["status"]} for m in merged],
        "attributes": attribute_view(case, jurisdiction),
        "timeline": timeline,
        "external_requests": list(external_requests or []),
    }


def staff_config(jurisdiction: Any) -> dict[str, Any]:
    """What the workbench needs to render its forms (`GET /staff/config`): the statuses (labels EN/FR,
    Open311 side, pauses/notify/terminal, allowed transitions), the departments with their queues and
    teams, the queues flat, the services, and the canned responses (title and text EN/FR)."""
    workflow = jurisdiction.workflow
    return {
        "jurisdiction_id": jurisdiction.id, "locales": list(jurisdiction.locales),
        "workflow": {"initial": workflow.initial, "on_routed": workflow.on_routed,
                     "on_assigned": workflow.on_assigned, "resume_to": workflow.resume_to,
                     "merged_status": workflow.merged_status},
        "statuses": [{"id": s.id, "open311": s.open311, "terminal": s.terminal, "pauses_sla": s.pauses_sla,
                      "notify": s.notify, "labels": {lang: s.label(lang) for lang in ("en", "fr")},
                      "transitions": list(workflow.allowed(s.id))} for s in workflow.statuses],
        "departments": [{"id": d.id, "name": d.name, "supervisor_queue": d.supervisor_queue,
                         "queues": [q.id for q in d.queues], "teams": [{"id": t.id, "name": t.name} for t in d.teams]}
                        for d in jurisdiction.departments],
        "queues": [{"id": q.id, "name": q.name, "department_id": q.department_id,
                    "supervisor": q.id == d.supervisor_queue} for d in jurisdiction.departments for q in d.queues],
        "teams": [{"id": t.id, "name": t.name, "department_id": d.id} for d in jurisdiction.departments
                  for t in d.teams],
        "services": [{"service_code": s.service_code, "service_name": s.service_name,
                      "department_id": s.department_id, "group": s.group} for s in jurisdiction.services],
        "canned_responses": [{"id": c.id, "title": dict(c.title), "text": dict(c.text)}
                             for c in jurisdiction.canned_responses],
    }


def reporter_case_row(case: dict[str, Any]) -> dict[str, Any]:
    """One case of a person's history (`GET /staff/reporters/cases`; docs/integrations.md, "One resident
    profile across channels"), from a row of `StaffReads.cases_of_contacts`: number, Open311 and workflow
    status, category, the case's channel, the contact key it is listed for, when requested (aware UTC),
    address, and `merged_from` (the number of that key's case merged into it, or None)."""
    return {"service_request_id": case["service_request_id"], "status": case["status"],
            "workflow_status": case["workflow_status"], "service_code": case["service_code"],
            "service_name": case["service_name"], "channel": case["channel"], "contact_key": case["reporter_key"],
            "requested_datetime": case["requested_datetime"], "address": case["address"],
            "merged_from": case["merged_from"]}
