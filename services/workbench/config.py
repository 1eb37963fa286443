"""The workbench's name and the few facts its pages need from settings (read inside `create_app`, never at import).

Common settings (`shared.settings.Settings`): `OMNI311_CASE_API_URL` (the case service's staff API),
`OMNI311_WORKBENCH_BASE_URL` (this service's public address: an ``https://`` one makes the session cookie
``Secure``), `OMNI311_WORKBENCH_INTAKE_WEB_URL` (intake_web's agent API), `OMNI311_AUTH_*` (which tokens are
trusted; `OMNI311_AUTH_DEV_ISSUER_DIR` is where the development sign-in finds its private key),
`OMNI311_WORKBENCH_OIDC_ISSUER`/`_CLIENT_ID`/`_CLIENT_SECRET` (a city's identity provider),
`OMNI311_INSIGHTS_API_URL` (the dashboard's figures), `OMNI311_WORKBENCH_INTAKE_WEB_STAFF_URL` (intake_web's
``/staff/refusals``; defaults to the agent API's address), `OMNI311_MAP_TILE_URL` and
`OMNI311_MAP_TILE_ATTRIBUTION` (base tiles of the maps; empty: the district polygons, offline).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from shared.settings import Settings

SERVICE = "workbench"
SESSION_COOKIE = "wb_session"
"""The cookie that holds the signed-in user's token (HttpOnly, SameSite=Lax, Secure over https)."""
OIDC_COOKIE = "wb_oidc"
"""The cookie that carries a sign-in at the city's identity provider from the redirect to the callback
(state, PKCE verifier, where to go next; HttpOnly, SameSite=Lax, ten minutes)."""


@dataclass(frozen=True)
class WorkbenchConfig:
    """What the workbench reads from `Settings`: `base_url` (its own public address), `secure_cookies`
    (true when `base_url` is https), the city's OpenID Connect provider (`oidc_*`, optional),
    `dev_issuer_dir` (the development issuer's keys; sign-in offers the development users only when its
    private key is there and no provider is configured), the issuer and audience tokens it mints carry,
    the jurisdiction id (whose development users are listed), and the maps' base tiles (`map_tile_url`, a
    ``{z}/{x}/{y}`` template, and its attribution; empty: the district polygons are the base layer)."""

    base_url: str
    secure_cookies: bool
    dev_issuer_dir: Path
    issuer: str
    audience: str
    jurisdiction: str
    oidc_issuer: str | None = None
    oidc_client_id: str | None = None
    oidc_client_secret: str | None = None
    map_tile_url: str = ""
    map_tile_attribution: str = ""

    @classmethod
    def from_settings(cls, s: Settings) -> WorkbenchConfig:
        """Read the workbench's facts from the common settings."""
        base = s.workbench_base_url.rstrip("/")
        return cls(base_url=base, secure_cookies=base.startswith("https://"),
                   dev_issuer_dir=Path(s.auth_dev_issuer_dir), issuer=s.auth_issuer, audience=s.auth_audience,
                   jurisdiction=s.jurisdiction, oidc_issuer=s.workbench_oidc_issuer,
                   oidc_client_id=s.workbench_oidc_client_id, oidc_client_secret=s.workbench_oidc_client_secret,
                   map_tile_url=s.map_tile_url.strip(), map_tile_attribution=s.map_tile_attribution)

    @property
    def oidc(self) -> bool:
        """True when a city's OpenID Connect provider is configured (issuer and client id)."""
        return bool(self.oidc_issuer and self.oidc_client_id)

    @property
    def dev_sign_in(self) -> bool:
        """True when the development issuer's private key is there and no city identity provider is
        configured: sign-in lists the development users. A city's workbench never offers them, even where
        an install left development keys behind."""
        return not self.oidc and (self.dev_issuer_dir / "private.pem").is_file()
