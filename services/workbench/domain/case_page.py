"""What the case page shows of a case beyond its fields (pure): who did a timeline entry, and whether the
signed-in user may claim the case."""

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
