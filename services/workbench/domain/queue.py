"""Queue views, their filters and order, and the SLA badge of a case (pure)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

SLA_STATES = ("ok", "warning", "breached", "paused", "none")
"""The SLA states of the case API (docs/staff-work.md, `GET /staff/cases` `sla_state`)."""

SLA_TAG_CLASS = {
    "ok": "wb-tag--ok",
    "warning": "wb-tag--warning",
    "breached": "wb-tag--breached",
    "paused": "wb-tag--paused",
    "none": "wb-tag--none",
}
"""A USWDS tag (``usa-tag``) modifier per SLA state; colours in ``static/workbench.css`` meet WCAG AA contrast."""

FILTERS = ("status", "sla_state", "district", "service_code", "channel")
"""The filters a queue page passes on to ``GET /staff/cases`` as they are (comma lists allowed for status)."""

MAX_CASES = 200
"""How many cases one queue page asks for (the case API allows up to 500)."""


@dataclass(frozen=True)
class QueueView:
    """One choice of the queue selector: `id` as in the page's ``view`` parameter (``mine``,
    ``department``, ``all`` or ``queue:<id>``), its label key and fields, and the case API query it makes."""

    id: str
    label_key: str
    label_fields: Mapping[str, str]
    query: Mapping[str, str]


def queue_views(*, department: str | None, is_admin: bool, queues: Sequence[Mapping[str, Any]]) -> list[QueueView]:
    """The queue views a staff member may pick: their own cases, their department's (all its queues, then
    each queue), every department for an administrator. `queues` are ``GET /staff/config`` queues (``id``,
    ``name``, ``department_id``, ``supervisor`` true for an escalation queue); the case
    API decides which ones a role may read, so a supervisor queue listed here may still answer 403."""
    views = [QueueView("mine", "queue.mine", {}, {"assignee": "me"})]
    if department is not None:
        views.append(QueueView("department", "queue.department", {}, {}))
    if is_admin:
        views.append(QueueView("all", "queue.all", {}, {}))
    for q in queues:
        qid = str(q.get("id") or "")
        owner = q.get("department_id")
        if not qid or (not is_admin and owner is not None and owner != department):
            continue
        key = "queue.supervisor" if q.get("supervisor") else "queue.queue"
        views.append(QueueView(f"queue:{qid}", key, {"name": str(q.get("name") or qid)}, {"queue": qid}))
    return views


def start_view(*, role: str, department: str | None) -> str:
    """The view a staff member starts on (sign-in, the navigation's queue link): an administrator on every
    department (``all``), a supervisor on their department's (``department``; they work its queue, and
    after a replay nothing is assigned to them), department staff and anyone else on their own cases
    (``mine``; an empty one links to the department's). `role` is the highest role held
    (`shared.auth.Principal.role`)."""
    if role == "administrator":
        return "all"
    if role == "supervisor" and department is not None:
        return "department"
    return "mine"


def start_path(*, role: str, department: str | None) -> str:
    """The queue page a staff member lands on after signing in: ``/queue?view=<start_view>``."""
    return f"/queue?view={start_view(role=role, department=department)}"


def view_query(views: Sequence[QueueView], view_id: str | None, filters: Mapping[str, str | None],
               default: str = "mine") -> tuple[QueueView, dict[str, str]]:
    """The chosen view (`default` for a missing or unknown id, else the first, "my cases") and the case API
    query: the view's own parameters plus each non-empty filter of `FILTERS` (anything else is dropped),
    and `limit`."""
    chosen = (next((v for v in views if v.id == view_id), None) or next((v for v in views if v.id == default), None)
              or views[0])
    query = dict(chosen.query)
    for name in FILTERS:
        value = (filters.get(name) or "").strip()
        if value:
            query[name] = value
    query["limit"] = str(MAX_CASES)
    return chosen, query


def _instant(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and value:
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    return None


def sla_of(case: Mapping[str, Any]) -> Mapping[str, Any]:
    """The ``sla`` object of a case (``due_at``, ``warn_at``, ``state``, ``paused_at``); a case listing
    that carries ``sla_state``/``sla_due_at`` at the top level is read the same way; ``{}`` without one."""
    sla = case.get("sla")
    if isinstance(sla, Mapping):
        return sla
    found = {k: case[f"sla_{k}"] for k in ("state", "due_at", "warn_at", "paused_at") if f"sla_{k}" in case}
    return found


def sla_state(case: Mapping[str, Any]) -> str:
    """The case's SLA state, one of `SLA_STATES` (``none`` when the case has no clock or an unknown state)."""
    state = sla_of(case).get("state")
    return state if state in SLA_STATES else "none"


def due_at(case: Mapping[str, Any]) -> datetime | None:
    """When the case is due (aware UTC), from its SLA (``sla.due_at``, or a list row's ``sla_due_at``); None
    without."""
    return _instant(sla_of(case).get("due_at"))


def by_due_time(cases: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Cases soonest due first; a paused clock or no due time after every dated case, then by case number."""
    def key(case: Mapping[str, Any]) -> tuple[int, float, str]:
        due = due_at(case)
        paused = sla_state(case) == "paused"
        return (1 if due is None or paused else 0, due.timestamp() if due else 0.0,
                str(case.get("service_request_id", "")))
    return sorted(cases, key=key)
