"""What staff ask of the case service directly (not through an event)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from uuid import UUID


@dataclass(frozen=True)
class ChangeStatus:
    """Set a case's Open311 `status` (and its `status_notes`), on behalf of `actor` (e.g. "staff")."""

    case_id: UUID
    status: Literal["open", "closed"]
    status_notes: str | None = None
    actor: str = "staff"
