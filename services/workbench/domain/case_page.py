"""What the case page shows of a case beyond its fields (pure): who did a timeline entry, whether the
signed-in user may claim the case, how the router judged it (the classifier's suggestions, the place
found from words), and where it was forwarded."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from shared.auth import Principal, Role

_ROLE_WORDS = {"agent", "call agent", "staff", "supervisor", "admin", "administrator", "department staff",
               "call_agent", "department_staff"}
"""Role words a name may already end with in parentheses (the development users are "Dana Roy
(supervisor)"): dropped, since the entry names the role itself."""

_TRAILING = re.compile(r"\s*\(([^()]*)\)\s*$")


def person_name(name: str) -> str:
    """`name` without a trailing parenthesised role word ("Dana Roy (supervisor)" → "Dana Roy"); any
    other name as it is (stripped)."""
    name = name.strip()
    found = _TRAILING.search(name)
    if found and found.group(1).strip().lower() in _ROLE_WORDS and name[:found.start()].strip():
        return name[:found.start()].strip()
    return name


def actor_label(entry: Mapping[str, Any], translate: Callable[[str], str]) -> str | None:
    """Who did a timeline entry, once each: "Dana Roy · Supervisor" (the name, else the subject; the role as
    the catalogue's ``role.<id>`` label, first letter capitalised; an unknown role as it is). `entry` is a
    timeline entry (``detail.actor``, ``detail.actor_name``, ``detail.role``, or the same at its top
    level); `translate` is the page language's `i18n.translate`. An actor named as its role (the case
    service's ``system``) is shown once ("System"). None when the entry names no actor."""
    detail = entry.get("detail") if isinstance(entry.get("detail"), Mapping) else {}
    actor = detail.get("actor") or entry.get("actor")
    name = detail.get("actor_name") or entry.get("actor_name") or actor
    if not name:
        return None
    role = str(detail.get("role") or entry.get("role") or "").strip()
    shown = person_name(str(name))
    if not role:
        return shown
    label = translate(f"role.{role}")
    label = role.replace("_", " ") if label == f"role.{role}" else label
    label = f"{label[:1].upper()}{label[1:]}"
    if label.casefold() in (shown.casefold(), str(actor).casefold()):  # the service itself: "system"
        return label
    return f"{shown} · {label}"


def forward_title(forward: Mapping[str, Any], translate: Callable[..., str]) -> str:
    """What a forward is, in one sentence (docs/integrations.md, "Open311 forwarding"): "Forwarded to
    county-public-works as COUNTY-26-000042", or, while the endpoint answered only a token, "Forwarded to
    county-public-works, waiting for its id (token 12-ab)". `forward` is an ``external_requests`` row of
    ``GET /staff/cases/{sid}`` or the detail of a ``forwarded`` timeline entry (``endpoint``,
    ``external_service_request_id``, ``token``); `translate` the page language's `i18n.translate`."""
    endpoint = forward.get("endpoint") or "—"
    if forward.get("external_service_request_id"):
        return translate("forward.as", endpoint=endpoint, id=forward["external_service_request_id"])
    if forward.get("token"):
        return translate("forward.waiting", endpoint=endpoint, token=forward["token"])
    return translate("forward.waiting_no_token", endpoint=endpoint)


def claim_offer(case: Mapping[str, Any], who: Principal) -> str | None:
    """Whether the case page offers a claim, as the case API's claim accepts it (case service
    ``rules.check_claim``; docs/staff-work.md "Roles"): ``"claim"`` when no one holds the case (unassigned,
    or assigned to a team only), ``"take_over"`` for a supervisor or administrator when another person
    holds it, None otherwise (their own case: a claim changes nothing; department staff on another
    person's case: the API answers 409; a merged or closed case, or a call agent)."""
    if not who.has(Role.DEPARTMENT_STAFF, Role.SUPERVISOR, Role.ADMINISTRATOR):
        return None
    if case.get("merged_into") or case.get("status") not in (None, "open"):
        return None
    held = case.get("assignee")
    if held in (None, ""):
        return "claim"
    if held == who.subject:
        return None
    return "take_over" if who.has(Role.SUPERVISOR, Role.ADMINISTRATOR) else None


def _percent(value: Any) -> int | None:
    """A probability or confidence in [0, 1] as a whole percentage (None when absent or not a number)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return round(max(0.0, min(1.0, float(value))) * 100)


def routing_view(case: Mapping[str, Any], service_names: Mapping[str, str]) -> dict[str, Any] | None:
    """How the router judged the case, from its routing facts (``extended_attributes`` of ``GET
    /staff/cases/{sid}``; docs/judgement.md): ``category_source``, ``method`` (``model`` or ``keywords``),
    ``model_version``, ``suggestions`` (``[{"service_code", "name", "percent"}]``, best first, `name` from
    `service_names`, else the code; `percent` a whole number, None for none) and ``location`` (``status``,
    ``percent`` of confidence, ``matched``, ``source``; None when the decision says nothing of the place).
    None when the case carries no routing facts (never routed, or an older case service)."""
    facts = case.get("extended_attributes")
    if not isinstance(facts, Mapping) or not any(v not in (None, [], "") for v in facts.values()):
        return None
    suggestions = [{"service_code": str(s.get("service_code") or ""),
                    "name": service_names.get(str(s.get("service_code") or "")) or str(s.get("service_code") or ""),
                    "percent": _percent(s.get("probability"))}
                   for s in facts.get("suggestions") or [] if isinstance(s, Mapping)]
    status = facts.get("location_status")
    location = None if not status else {
        "status": str(status), "percent": _percent(facts.get("location_confidence")),
        "matched": facts.get("location_matched"), "source": facts.get("location_source")}
    return {"category_source": facts.get("category_source"), "method": facts.get("classifier_method"),
            "model_version": facts.get("model_version"), "suggestions": suggestions, "location": location}


def top_suggestion(case: Mapping[str, Any], service_names: Mapping[str, str]) -> dict[str, Any] | None:
    """The classifier's best suggestion for a case the router sent to triage (``category_source``
    ``fallback``: the model was not sure enough), as `routing_view` shapes one; None for a classified case
    or one without suggestions. What the queue list shows under the service."""
    view = routing_view(case, service_names)
    if view is None or view["category_source"] != "fallback" or not view["suggestions"]:
        return None
    return view["suggestions"][0]  # type: ignore[no-any-return]
