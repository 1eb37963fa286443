"""A test identity provider: its own key pair in a temporary folder, tokens for any role (or broken on
purpose: expired, another issuer, a tampered signature, a key the services do not know), and the
`OMNI311_AUTH_*` environment a service process needs to trust it.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from shared.auth import Role, TokenVerifier
from shared.auth.dev_issuer import ensure_keys, mint
from shared.settings import Settings

ISSUER = "omni311-test"
AUDIENCE = "omni311"
DEPARTMENT = "public-works"  # demo's public-works department, the default for staff and supervisors
_DEFAULT = object()


class TestIssuer:
    """Keys in `dir` (made if missing); `dir/jwks.json` is the JWKS the services are pointed at."""

    __test__ = False  # not a pytest test class

    def __init__(self, dir: Path | str, *, issuer: str = ISSUER, audience: str = AUDIENCE) -> None:
        self.dir = Path(dir)
        self.issuer = issuer
        self.audience = audience
        ensure_keys(self.dir)
        # A key pair the services never see: a token signed with it has a valid shape and a bad signature.
        self.foreign_dir = self.dir / "foreign"
        ensure_keys(self.foreign_dir)

    @property
    def jwks_path(self) -> Path:
        return self.dir / "jwks.json"

    def token(self, role: Role | str | None = Role.DEPARTMENT_STAFF, *, department: Any = _DEFAULT,
              subject: str | None = None, name: str | None = None, teams: list[str] | None = None,
              roles: list[str] | None = None, expired: bool = False, issuer: str | None = None,
              audience: str | None = None, tamper: bool = False, foreign: bool = False, ttl_s: float = 3600,
              now: datetime | None = None, claims: dict[str, Any] | None = None) -> str:
        """A token for `role` (or the raw `roles` list). Defaults: subject `test-<role>`, department
        `public-works` for staff and supervisors (None for agents and administrators; pass
        `department=None` to leave it out). `expired`: expired an hour ago (beyond any leeway);
        `issuer`/`audience`: another `iss`/`aud`; `tamper`: one byte of the signature changed;
        `foreign`: signed by a key not in the JWKS; `claims`: extra or overriding claims."""
        role_name = str(Role(role)) if role is not None else None
        if department is _DEFAULT:
            department = DEPARTMENT if role_name in (Role.DEPARTMENT_STAFF, Role.SUPERVISOR) else None
        body: dict[str, Any] = {"sub": subject or f"test-{role_name or 'user'}",
                                "name": name or f"Test {role_name or 'user'}",
                                "roles": roles if roles is not None else ([role_name] if role_name else [])}
        if department is not None:
            body["department"] = department
        if teams:
            body["teams"] = teams
        body.update(claims or {})
        issued = now or datetime.now(UTC)
        if expired:
            issued -= timedelta(seconds=ttl_s + 3600)
        token = mint(body, key_dir=self.foreign_dir if foreign else self.dir, ttl_s=ttl_s, now=issued,
                     issuer=issuer or self.issuer, audience=audience or self.audience)
        return _tampered(token) if tamper else token

    def headers(self, role: Role | str | None = Role.DEPARTMENT_STAFF, **kwargs: Any) -> dict[str, str]:
        """`{"Authorization": "Bearer <token>"}` for `token(role, **kwargs)`."""
        return {"Authorization": f"Bearer {self.token(role, **kwargs)}"}

    def env(self) -> dict[str, str]:
        """The environment a service process needs to trust this issuer."""
        return {"OMNI311_AUTH_ISSUER": self.issuer, "OMNI311_AUTH_AUDIENCE": self.audience,
                "OMNI311_AUTH_JWKS_URL": str(self.jwks_path)}

    def settings(self, **overrides: Any) -> Settings:
        """Settings that trust this issuer (plus `overrides`), for in-process apps."""
        values: dict[str, Any] = {"auth_issuer": self.issuer, "auth_audience": self.audience,
                                  "auth_jwks_url": str(self.jwks_path)}
        values.update(overrides)
        return Settings(**values)

    def verifier(self, **overrides: Any) -> TokenVerifier:
        return TokenVerifier(self.settings(**overrides))


def _tampered(token: str) -> str:
    """The token with the first byte of its signature flipped (the JWS stays well-formed)."""
    header, payload, signature = token.split(".")
    raw = bytearray(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)))
    raw[0] ^= 0x01
    return ".".join([header, payload, base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()])
