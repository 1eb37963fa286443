"""Development sign-in: the development issuer's users of this jurisdiction and a token minted for one of
them with the private key under `WorkbenchConfig.dev_issuer_dir` (`shared.auth.dev_issuer`, reads files).

Only for `make run` and the tests: a city signs in through its own identity provider (README, "Sign-in").
"""

from __future__ import annotations

from dataclasses import dataclass

from services.workbench.config import WorkbenchConfig
from shared.auth import dev_issuer

TOKEN_TTL_S = 8 * 3600
"""How long a development session lasts (seconds): a working day."""


@dataclass(frozen=True)
class SignInUser:
    """A development user as the sign-in page lists it: `id` (what ``/sign-in?user=`` takes), `name`,
    `role` (the highest role name) and `department` (None for an agent or an administrator)."""

    id: str
    subject: str
    name: str
    role: str
    department: str | None


_RANK = ("call_agent", "department_staff", "supervisor", "administrator")


def users(config: WorkbenchConfig) -> list[SignInUser]:
    """The development users of the configured jurisdiction; [] when the development sign-in is off or
    the jurisdiction has none (deploy/local/dev-users.yaml)."""
    if not config.dev_sign_in:
        return []
    try:
        found = dev_issuer.dev_users(config.jurisdiction)
    except LookupError:
        return []
    return [SignInUser(id=u.id, subject=u.subject, name=u.name, department=u.department,
                       role=max(u.roles, key=lambda r: _RANK.index(r) if r in _RANK else -1))
            for u in found]


def token_for(config: WorkbenchConfig, user_id: str) -> str | None:
    """A token (RS256, `TOKEN_TTL_S` seconds) for the development user `user_id`, with the configured
    issuer and audience; None when there is no such user or the development sign-in is off."""
    if not config.dev_sign_in:
        return None
    try:
        user = dev_issuer.dev_user(config.jurisdiction, user_id)
    except LookupError:
        return None
    return dev_issuer.mint(user, key_dir=config.dev_issuer_dir, ttl_s=TOKEN_TTL_S, issuer=config.issuer,
                           audience=config.audience)
