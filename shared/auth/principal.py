"""Who is calling: the staff roles of omni311 and the principal a verified token stands for (pure, no I/O).

Roles and what each may do: docs/staff-work.md, "Roles and tokens".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Role(StrEnum):
    """A staff role; the values are the role names a token may carry as they are."""

    CALL_AGENT = "call_agent"
    DEPARTMENT_STAFF = "department_staff"
    SUPERVISOR = "supervisor"
    ADMINISTRATOR = "administrator"


# Lowest first: `Principal.role` is the last of these the principal holds.
ROLE_RANK: tuple[Role, ...] = (Role.CALL_AGENT, Role.DEPARTMENT_STAFF, Role.SUPERVISOR, Role.ADMINISTRATOR)


@dataclass(frozen=True)
class Principal:
    """A staff member as a verified token describes them.

    `subject` is the token's `sub` (the actor on every timeline entry), `roles` never empty (a token with
    no known role is refused), `department` a department id of the jurisdiction or None, `teams` team ids,
    `token` the raw JWT, forwarded as it is when a service calls another on the user's behalf.
    """

    subject: str
    name: str
    roles: frozenset[Role]
    department: str | None
    teams: frozenset[str]
    token: str = field(repr=False)

    def has(self, *roles: Role) -> bool:
        """True when the principal holds one of `roles` (with none given: any role at all)."""
        if not roles:
            return bool(self.roles)
        return any(role in self.roles for role in roles)

    @property
    def role(self) -> Role:
        """The highest role held: administrator > supervisor > department_staff > call_agent."""
        return max(self.roles, key=ROLE_RANK.index)
