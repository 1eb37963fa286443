"""What staff ask of the case service directly (not through an event): one command per staff action, each
carrying the acting staff member (`Actor`, from their verified token; never from a request body)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal
from uuid import UUID

SYSTEM = "system"
"""The actor and role of what the case service does on its own (a reporter's answer resuming a case)."""


@dataclass(frozen=True)
class Actor:
    """Who acts: `subject` (the token's `sub`, written as `actor` on the timeline), `name` (display name),
    `role` (the highest role held: ``call_agent``, ``department_staff``, ``supervisor``,
    ``administrator``), `department` (a department id of the jurisdiction, or None) and `teams` (team
    ids)."""

    subject: str
    name: str
    role: str
    department: str | None = None
    teams: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True)
class ChangeStatus:
    """Set a case's Open311 `status` (and its `status_notes`) through the older
    `POST /cases/{sid}/status`: the workflow picks the status (see `staff.status_for_open311`)."""

    case_id: UUID
    status: Literal["open", "closed"]
    actor: Actor
    status_notes: str | None = None


@dataclass(frozen=True)
class Claim:
    """`actor` takes the case: it becomes its assignee."""

    case_id: UUID
    actor: Actor


@dataclass(frozen=True)
class Assign:
    """Assign the case to a person (`assignee`, a token subject) and/or a team (a team id of the case's
    department); both None unassigns. `reason` is required when the case already had another assignee."""

    case_id: UUID
    actor: Actor
    assignee: str | None = None
    team: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class Transition:
    """Move the case to the workflow status `to`; `note` becomes its public Open311 `status_notes`."""

    case_id: UUID
    actor: Actor
    to: str
    note: str | None = None


@dataclass(frozen=True)
class SetPriority:
    """Set the priority, 1 (most urgent) to 5."""

    case_id: UUID
    actor: Actor
    priority: int
    reason: str | None = None


@dataclass(frozen=True)
class Recategorise:
    """Give the case another Open311 `service_code`; the router decides again (source ``manual``)."""

    case_id: UUID
    actor: Actor
    service_code: str
    reason: str


@dataclass(frozen=True)
class AddNote:
    """An internal note: staff side only (timeline kind ``internal_note``, no event)."""

    case_id: UUID
    actor: Actor
    text: str


@dataclass(frozen=True)
class PostUpdate:
    """A public update to every reporter of the case (merged-in ones too); `update_id` is its id."""

    case_id: UUID
    actor: Actor
    text: str
    update_id: UUID
    language: str | None = None


@dataclass(frozen=True)
class Reply:
    """A reply to one reporter (`contact_key`) on their channel: free `text`, or the jurisdiction's canned
    response `canned_response_id` in `language` (given text wins over the canned one)."""

    case_id: UUID
    actor: Actor
    contact_key: str
    reply_id: UUID
    text: str | None = None
    canned_response_id: str | None = None
    language: str | None = None


@dataclass(frozen=True)
class Merge:
    """Merge the case (the duplicate) into `into` (the end of its merge chain survives)."""

    case_id: UUID
    actor: Actor
    into: UUID
    reason: str | None = None


@dataclass(frozen=True)
class Unmerge:
    """Undo the merge of the case: it is its own, open case again."""

    case_id: UUID
    actor: Actor
    reason: str | None = None


@dataclass(frozen=True)
class DecideSuggestion:
    """Accept (merge the suggested duplicate) or reject a duplicate suggestion."""

    suggestion_id: UUID
    actor: Actor
    accept: bool
    reason: str | None = None
