"""The public history of a case: what anyone may read of its timeline on the resident portal. Pure.

Shown: the opening, the routing (category and department), every workflow status change with its Open311
status and public `status_notes`, staff's public updates, merges and unmerges (with the other case's
number), survey answers (the rating only) and how many people follow the case. Never shown: internal
notes, replies to one reporter, messages, notifications, contact data (an email address or phone number
written into a status note or a public update is scrubbed, as the open-data exports do), staff names or
ids, roles, priorities, SLA events. Contract: docs/residents-and-insights.md (the public history route).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.case.domain.records import merged_notes
from shared.contacts import scrub_contacts

_STATUS_KINDS = ("status_changed", "claimed", "assigned")
"""Entries whose `after` may move the workflow status (an assignment of a new case makes it `assigned`);
only the status is shown of them."""


def _moved(detail: dict[str, Any]) -> dict[str, Any]:
    after = detail.get("after")
    return after if isinstance(after, dict) else {}


def _department_name(jurisdiction: Any, queue_id: str | None, service_code: str | None) -> str | None:
    queue = jurisdiction.queue(queue_id) if queue_id else None
    service = jurisdiction.service(service_code) if service_code else None
    department_id = queue.department_id if queue is not None else (service.department_id if service else None)
    department = jurisdiction.department(department_id) if department_id else None
    return department.name if department is not None else None


def _scrubbed(text: Any, region: str) -> Any:
    return scrub_contacts(text, region) if isinstance(text, str) and text else text


def public_history(case: dict[str, Any], entries: list[dict[str, Any]], *, jurisdiction: Any, followers: int,
                   merged_into: str | None = None, region: str = "US") -> dict[str, Any]:
    """The public history of `case` (a `cases` row) from its timeline `entries` (`at` aware UTC, `kind`,
    `detail`, oldest first), `followers` the number of people following it and `merged_into` the number of
    the case it was merged into (None: not merged). `jurisdiction` (a `shared.jurisdiction.Jurisdiction`)
    names services, departments and the Open311 side of each workflow status.

    Returns ``{"service_request_id", "status", "workflow_status", "status_notes", "merged_into",
    "followers", "entries"}``; each entry is ``{"at", "kind"}`` plus, by kind: ``routed``: `service_code`,
    `service_name`, `department`, `text` ("<service> — <department>"; a `routed` entry written without a
    `service_code`, as cases routed before the entry carried one were, takes the case's own code; the name is
    the jurisdiction's, else the case's `service_name`, else the code); ``status_changed``: `status`,
    `workflow_status`, `status_notes` (the status the case then had, whichever staff action or rule moved
    it); ``public_update``: `text`; ``merged`` / ``absorbed`` / ``unmerged`` / ``released``: `other_case`
    (the other case's number; `merged` and `unmerged` also carry the status they left the case in);
    ``survey_answered``: `rating`; ``opened``: nothing more. Anything else on the timeline is left out.
    Every `status_notes` and public update `text` has its email addresses and phone numbers replaced by
    ``[email]`` / ``[phone]`` (`shared.contacts.scrub_contacts`, numbers without ``+`` read in `region`,
    ISO 3166 alpha-2).
    """
    workflow = jurisdiction.workflow
    state: dict[str, Any] = {"status": "open", "workflow_status": workflow.initial, "status_notes": None}

    def open311(ws: str | None, fallback: str) -> str:
        return workflow.open311(ws) if ws and workflow.has(ws) else fallback

    def status_entry(at: datetime, kind: str = "status_changed") -> dict[str, Any]:
        return {"at": at, "kind": kind, **state, "status_notes": _scrubbed(state["status_notes"], region)}

    out: list[dict[str, Any]] = []
    for entry in entries:
        kind, at = entry["kind"], entry["at"]
        detail = entry.get("detail") or {}
        after = _moved(detail)
        if kind == "opened":
            out.append({"at": at, "kind": "opened"})
        elif kind == "routed":
            code = detail.get("service_code") or case.get("service_code")
            service = jurisdiction.service(code) if code else None
            name = (service.service_name if service is not None else None) or case.get("service_name") or code
            department = _department_name(jurisdiction, detail.get("queue"), code)
            out.append({"at": at, "kind": "routed", "service_code": code, "service_name": name,
                        "department": department, "text": " — ".join(x for x in (name, department) if x) or None})
            if after.get("workflow_status") and after["workflow_status"] != state["workflow_status"]:
                state.update(workflow_status=after["workflow_status"],
                             status=open311(after["workflow_status"], state["status"]))
                out.append(status_entry(at))
        elif kind in _STATUS_KINDS:
            if not {"workflow_status", "status", "status_notes"} & after.keys():
                continue  # an assignment that left the status as it was: nothing public happened
            if "workflow_status" in after:
                state["workflow_status"] = after["workflow_status"]
                state["status"] = open311(after["workflow_status"], after.get("status", state["status"]))
            elif "status" in after:
                state["status"] = after["status"]
            if "status_notes" in after:
                state["status_notes"] = after["status_notes"]
            out.append(status_entry(at))
        elif kind == "public_update":
            out.append({"at": at, "kind": "public_update", "text": _scrubbed(detail.get("text"), region)})
        elif kind == "merged":
            other = detail.get("merged_into")
            state.update(status="closed", workflow_status=after.get("workflow_status") or workflow.merged_status,
                         status_notes=merged_notes({"service_request_id": other}) if other else None)
            out.append({**status_entry(at, "merged"), "other_case": other})
        elif kind == "unmerged":
            ws = after.get("workflow_status", state["workflow_status"])
            state.update(workflow_status=ws, status=open311(ws, "open"), status_notes=None)
            out.append({**status_entry(at, "unmerged"), "other_case": detail.get("unmerged_from")})
        elif kind == "absorbed":
            out.append({"at": at, "kind": "absorbed", "other_case": detail.get("duplicate")})
        elif kind == "released":
            before = detail.get("before") if isinstance(detail.get("before"), dict) else {}
            out.append({"at": at, "kind": "released", "other_case": before.get("duplicate")})
        elif kind == "survey_answered":
            out.append({"at": at, "kind": "survey_answered", "rating": detail.get("rating")})
    return {"service_request_id": case["service_request_id"], "status": case["status"],
            "workflow_status": case["workflow_status"], "status_notes": _scrubbed(case["status_notes"], region),
            "merged_into": merged_into, "followers": followers, "entries": out}
