"""Case action forms → the JSON bodies of the case service's staff API (docs/staff-work.md), pure.

Each function takes the submitted form fields (strings) and returns the body, or raises `FormError` with a
message key of `domain.i18n` when the form cannot make a valid request (the case API checks the rest and
its 409/422 are shown as they come).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from uuid import UUID

MAX_TEXT = 5000
"""The longest note, update or reply text the workbench sends (characters)."""


class FormError(ValueError):
    """A form that makes no valid request; `message` is shown to the staff member as is."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _text(form: Mapping[str, str], name: str) -> str | None:
    value = (form.get(name) or "").strip()
    if len(value) > MAX_TEXT:
        raise FormError(f"{name} may not exceed {MAX_TEXT} characters")
    return value or None


def _required(form: Mapping[str, str], name: str) -> str:
    value = _text(form, name)
    if value is None:
        raise FormError(f"{name} is required")
    return value


def claim(form: Mapping[str, str]) -> dict[str, Any]:
    """``POST /staff/cases/{sid}/claim``: an empty body."""
    return {}


def assign(form: Mapping[str, str]) -> dict[str, Any]:
    """``assign``: ``assignee`` (a subject) and/or ``team``, with ``reason`` (the API requires it when reassigning)."""
    assignee, team = _text(form, "assignee"), _text(form, "team")
    if assignee is None and team is None:
        raise FormError("assignee or team is required")
    return {"assignee": assignee, "team": team, "reason": _text(form, "reason")}


def transition(form: Mapping[str, str]) -> dict[str, Any]:
    """``transition``: ``to`` (a workflow status id) and an optional ``note``."""
    body: dict[str, Any] = {"to": _required(form, "to")}
    if (note := _text(form, "note")) is not None:
        body["note"] = note
    return body


def priority(form: Mapping[str, str]) -> dict[str, Any]:
    """``priority``: an integer 1 (highest) to 5, optional ``reason``."""
    raw = _required(form, "priority")
    try:
        value = int(raw)
    except ValueError as exc:
        raise FormError("priority must be a whole number from 1 to 5") from exc
    if not 1 <= value <= 5:
        raise FormError("priority must be a whole number from 1 to 5")
    return {"priority": value, "reason": _text(form, "reason")}


def recategorise(form: Mapping[str, str]) -> dict[str, Any]:
    """``recategorise``: the new ``service_code`` and the ``reason`` (both required)."""
    return {"service_code": _required(form, "service_code"), "reason": _required(form, "reason")}


def note(form: Mapping[str, str]) -> dict[str, Any]:
    """``notes``: an internal note's ``text``."""
    return {"text": _required(form, "text")}


def _form_id(form: Mapping[str, str], name: str, body: dict[str, Any]) -> None:
    """Copy the form's own id `name` (a UUID the page put in it, so that a form sent twice is written once)
    into `body`; a missing one is left to the case service, a malformed one is a `FormError`."""
    value = (form.get(name) or "").strip()
    if not value:
        return
    try:
        body[name] = str(UUID(value))
    except ValueError:
        raise FormError(f"{name} is not an id") from None


def update(form: Mapping[str, str]) -> dict[str, Any]:
    """``updates``: a public update's ``text``, optional ``language`` and the form's ``update_id``."""
    body: dict[str, Any] = {"text": _required(form, "text")}
    if (language := _text(form, "language")) is not None:
        body["language"] = language
    _form_id(form, "update_id", body)
    return body


def reply(form: Mapping[str, str]) -> dict[str, Any]:
    """``replies``: ``contact_key`` and a ``text`` or a ``canned_response_id`` (one is required), optional
    ``language`` and the form's ``reply_id``."""
    body: dict[str, Any] = {"contact_key": _required(form, "contact_key")}
    text, canned = _text(form, "text"), _text(form, "canned_response_id")
    if text is None and canned is None:
        raise FormError("write a text or pick a canned response")
    if text is not None:
        body["text"] = text
    if canned is not None:
        body["canned_response_id"] = canned
    if (language := _text(form, "language")) is not None:
        body["language"] = language
    _form_id(form, "reply_id", body)
    return body


def merge(form: Mapping[str, str]) -> dict[str, Any]:
    """``merge``: ``into``, the case number this case duplicates, optional ``reason``."""
    return {"into": _required(form, "into"), "reason": _text(form, "reason")}


def unmerge(form: Mapping[str, str]) -> dict[str, Any]:
    """``unmerge``: optional ``reason``."""
    return {"reason": _text(form, "reason")}


ACTIONS: Mapping[str, tuple[str, Callable[[Mapping[str, str]], dict[str, Any]]]] = {
    "claim": ("claim", claim),
    "assign": ("assign", assign),
    "transition": ("transition", transition),
    "priority": ("priority", priority),
    "recategorise": ("recategorise", recategorise),
    "note": ("notes", note),
    "update": ("updates", update),
    "reply": ("replies", reply),
    "merge": ("merge", merge),
    "unmerge": ("unmerge", unmerge),
}
"""Workbench action name → (the case API's path segment under ``/staff/cases/{sid}/``, the body builder)."""
