"""Routing rules tried before they go live: the router's logged decisions decided again under a draft
configuration (or another classifier), and what would change. Pure (docs/judgement.md, "Rule changes tried
before they go live")."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import ValidationError

from services.router.domain.decisions import logged_place, logged_suggestions
from services.router.domain.model import ModelSuggestions, RoutingDecision, RoutingInput
from services.router.domain.routing import needs_text_classification, route
from shared.jurisdiction import Jurisdiction

__all__ = ["CHANGE_KINDS", "ReplayRow", "replay"]

CHANGE_KINDS = ("service_code", "department", "queue", "priority", "district", "rule_id", "sla_due_at",
                "location")
"""What a change may touch, in the order the report lists them."""

UNKNOWN = "(unknown)"
"""The department of a logged queue that no configuration knows any more."""

_NOT_LOGGED = object()
"""A field the logged decision does not have (logged before the router recorded it, as `location` before
issue 11): not compared, so its absence is no change."""


@dataclass(frozen=True)
class ReplayRow:
    """One logged decision: the case, when it was decided (UTC; the replay decides again as of then, so
    SLA due times compare) and the logged decision (the event's fields, ``input``, ``suggestions``,
    ``place``, ``department``, ``service_request_id`` as `logged_decision` wrote them)."""

    case_id: UUID
    decided_at: datetime
    decision: dict[str, Any]


def _department(jurisdiction: Jurisdiction, queue_id: str | None) -> str | None:
    queue = jurisdiction.queue(queue_id) if queue_id else None
    return queue.department_id if queue is not None else None


def _before(row: ReplayRow, live: Jurisdiction) -> dict[str, Any]:
    """The logged decision per kind; `_NOT_LOGGED` for a field the log does not have (a logged null,
    such as no location after a geocoder failure, is a value and compares)."""
    d = row.decision

    def logged(key: str) -> Any:
        return d[key] if key in d else _NOT_LOGGED

    location = logged("location")
    return {
        "service_code": logged("service_code"),
        "department": d.get("department") or _department(live, d.get("queue")) or UNKNOWN,
        "queue": logged("queue"),
        "priority": logged("priority"),
        "district": logged("district"),
        "rule_id": logged("rule_id"),
        "sla_due_at": logged("sla_due_at"),
        "location": location if location is _NOT_LOGGED else (location or {}).get("status"),
    }


def _after(decision: RoutingDecision) -> dict[str, Any]:
    return {
        "service_code": decision.service_code,
        "department": decision.department,
        "queue": decision.queue,
        "priority": decision.priority,
        "district": decision.district_id,
        "rule_id": decision.rule_id,
        "sla_due_at": decision.sla_due_at.isoformat().replace("+00:00", "Z"),
        "location": decision.location.status if decision.location is not None else None,
    }


def _same(kind: str, before: Any, after: Any) -> bool:
    if kind == "sla_due_at" and before and after:
        return datetime.fromisoformat(str(before).replace("Z", "+00:00")) == datetime.fromisoformat(
            str(after).replace("Z", "+00:00"))
    return before == after


def _counts(values: Counter[str], others: Counter[str], key: str) -> list[dict[str, Any]]:
    names = sorted(set(values) | set(others))
    return [{key: n, "before": values[n], "after": others[n], "change": others[n] - values[n]} for n in names]


def replay(rows: Iterable[ReplayRow], live: Jurisdiction, draft: Jurisdiction, *,
           classify: Callable[[RoutingInput], ModelSuggestions | None] | None = None,
           examples: int = 5) -> dict[str, Any]:
    """Decide every logged decision again under `draft` and report what would change.

    Each row's logged ``input`` is routed as of its ``decided_at`` with the logged geocoder lookup (no
    place is looked up again) and, for the category, `classify(input)` when given (another classifier
    version), else the logged model suggestions when the draft configures a model (none: the draft's
    keywords; the keywords too when the model was not asked then). A staff recategorisation keeps the
    staff's ``service_code`` (it is in the input). "Before"
    is the logged decision itself; its department comes from the log, else from `live`'s queues.

    A field the logged decision lacks (``location`` in decisions logged before the router recorded it) is
    not compared: such a decision is compared on the fields it has, and ``not_logged`` counts, per kind,
    the compared decisions that lacked it.

    Returns a JSON-ready report: ``decisions`` (compared), ``changed``, ``unchanged``, ``skipped`` (rows
    logged without their input), ``not_logged`` (per kind of `CHANGE_KINDS`, decisions compared without
    it), ``failed`` (inputs the draft could not route, with up to `examples` of
    them), ``changes`` (count per kind of `CHANGE_KINDS`), ``by_department`` and ``by_queue`` (counts
    before and after), ``examples`` (up to `examples` per kind: case id, service request id, before ->
    after, rule before and after) and the versions compared.
    """
    with_model = draft.classification.model is not None
    compared = changed = skipped = 0
    failed: list[dict[str, Any]] = []
    kinds: Counter[str] = Counter()
    not_logged: Counter[str] = Counter()
    dept_before: Counter[str] = Counter()
    dept_after: Counter[str] = Counter()
    queue_before: Counter[str] = Counter()
    queue_after: Counter[str] = Counter()
    shown: dict[str, list[dict[str, Any]]] = {k: [] for k in CHANGE_KINDS}
    model_versions: Counter[str] = Counter()
    for row in rows:
        logged_input = row.decision.get("input")
        if not logged_input:
            skipped += 1
            continue
        try:
            request = RoutingInput.model_validate(logged_input)
            suggestions = classify(request) if classify is not None else (
                logged_suggestions(row.decision) if with_model else None)
            if suggestions is not None and not suggestions.suggestions and needs_text_classification(request, draft):
                # The model was not asked then (the report's own code, which the draft no longer knows).
                suggestions = None
            decision = route(request, draft, row.decided_at, suggestions=suggestions,
                             place=logged_place(row.decision))
        except (ValueError, ValidationError, OverflowError) as exc:
            failed.append({"case_id": str(row.case_id), "error": str(exc)[:300]})
            continue
        compared += 1
        if decision.model_version:
            model_versions[decision.model_version] += 1
        before, after = _before(row, live), _after(decision)
        queue = None if before["queue"] is _NOT_LOGGED else before["queue"]
        if before["department"] == UNKNOWN:
            before["department"] = _department(draft, queue) or UNKNOWN
        dept_before[before["department"]] += 1
        dept_after[after["department"]] += 1
        queue_before[str(queue)] += 1
        queue_after[after["queue"]] += 1
        not_logged.update(k for k in CHANGE_KINDS if before[k] is _NOT_LOGGED)
        moved = [k for k in CHANGE_KINDS if before[k] is not _NOT_LOGGED and not _same(k, before[k], after[k])]
        if not moved:
            continue
        changed += 1
        for kind in moved:
            kinds[kind] += 1
            if len(shown[kind]) < examples:
                shown[kind].append({
                    "case_id": str(row.case_id),
                    "service_request_id": row.decision.get("service_request_id"),
                    "decided_at": row.decided_at.isoformat(),
                    "before": before[kind], "after": after[kind],
                    "rule_before": None if before["rule_id"] is _NOT_LOGGED else before["rule_id"],
                    "rule_after": after["rule_id"],
                })
    return {
        "jurisdiction": draft.id,
        "live_config_version": live.config_version,
        "draft_config_version": draft.config_version,
        "model_versions": dict(model_versions),
        "decisions": compared,
        "changed": changed,
        "unchanged": compared - changed,
        "skipped": skipped,
        "not_logged": {k: not_logged[k] for k in CHANGE_KINDS if not_logged[k]},
        "failed": len(failed),
        "failures": failed[:examples],
        "changes": {k: kinds[k] for k in CHANGE_KINDS},
        "by_department": _counts(dept_before, dept_after, "department"),
        "by_queue": _counts(queue_before, queue_after, "queue"),
        "examples": {k: v for k, v in shown.items() if v},
    }
