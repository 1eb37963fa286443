"""Sign-in at a city's OpenID Connect provider (Keycloak, Entra ID...): the authorization code flow with
PKCE (RFC 7636, S256) through authlib's OAuth 2 client, the provider's endpoints from its discovery
document (OpenID Connect Discovery 1.0, ``{issuer}/.well-known/openid-configuration``).

The access token the provider returns is what the workbench keeps in the session and forwards: every
service verifies it against the provider's JWKS (`OMNI311_AUTH_JWKS_URL`, `OMNI311_AUTH_ISSUER`,
`OMNI311_AUTH_AUDIENCE`), so the provider must put the omni311 audience and the role claims in it.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

import httpx
from authlib.common.security import generate_token
from authlib.integrations.httpx_client import AsyncOAuth2Client

SCOPE = "openid profile email"
DISCOVERY_TIMEOUT_S = 10.0
"""How long the provider's discovery document and token endpoint may take (seconds)."""


class OidcError(Exception):
    """The provider cannot be used (discovery failed, the code exchange was refused); `message` says why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class PendingSignIn:
    """What the browser carries (in a short-lived HttpOnly cookie) between the redirect to the provider and
    the callback: the `state` to compare (RFC 6749 §10.12), the PKCE `code_verifier`, and `next`."""

    state: str
    code_verifier: str
    next: str


def encode_pending(pending: PendingSignIn) -> str:
    """`pending` as a cookie value (base64url of its JSON: no character a cookie must quote)."""
    raw = json.dumps({"state": pending.state, "code_verifier": pending.code_verifier, "next": pending.next})
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_pending(value: str | None) -> PendingSignIn | None:
    """The `PendingSignIn` of a cookie value, or None for a missing or mangled one."""
    if not value:
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
        return PendingSignIn(state=str(data["state"]), code_verifier=str(data["code_verifier"]), next=str(data["next"]))
    except (ValueError, KeyError, TypeError):
        return None


class OidcClient:
    """One provider: `issuer`, our `client_id`/`client_secret` (confidential client, client_secret_basic)
    and `redirect_uri` (``{workbench base}/sign-in/callback``). `transport` lets tests stand in for it."""

    def __init__(self, issuer: str, client_id: str, client_secret: str | None, redirect_uri: str, *,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.issuer = issuer.rstrip("/")
        self.client_id = client_id
        self.client_secret = client_secret
        self.redirect_uri = redirect_uri
        self._transport = transport
        self._metadata: dict[str, Any] | None = None

    @classmethod
    def configured(cls, config: Any, transport: httpx.AsyncBaseTransport | None = None) -> OidcClient | None:
        """The client of the provider a `WorkbenchConfig` names (callback ``{base_url}/sign-in/callback``),
        or None when none is configured."""
        if not config.oidc:
            return None
        return cls(config.oidc_issuer, config.oidc_client_id, config.oidc_client_secret,
                   f"{config.base_url}/sign-in/callback", transport=transport)

    def _client(self) -> AsyncOAuth2Client:
        return AsyncOAuth2Client(self.client_id, self.client_secret, scope=SCOPE, redirect_uri=self.redirect_uri,
                                 code_challenge_method="S256", timeout=DISCOVERY_TIMEOUT_S, transport=self._transport)

    async def metadata(self) -> dict[str, Any]:
        """The provider's discovery document (cached after the first success). Raises `OidcError`."""
        if self._metadata is None:
            url = f"{self.issuer}/.well-known/openid-configuration"
            try:
                async with httpx.AsyncClient(timeout=DISCOVERY_TIMEOUT_S, transport=self._transport) as http:
                    answer = await http.get(url)
                    answer.raise_for_status()
                    found = answer.json()
            except (httpx.HTTPError, ValueError) as exc:
                raise OidcError(f"the identity provider's discovery document cannot be read ({url})") from exc
            if not {"authorization_endpoint", "token_endpoint"} <= set(found):
                raise OidcError(f"the identity provider's discovery document ({url}) names no endpoints")
            self._metadata = found
        return self._metadata

    async def start(self, next_path: str) -> tuple[str, PendingSignIn]:
        """The provider's authorization URL to send the browser to, and what to remember until the callback."""
        meta = await self.metadata()
        pending = PendingSignIn(state=generate_token(32), code_verifier=generate_token(64), next=next_path)
        async with self._client() as client:
            url, _state = client.create_authorization_url(meta["authorization_endpoint"], state=pending.state,
                                                          code_verifier=pending.code_verifier)
        return url, pending

    async def finish(self, code: str, pending: PendingSignIn) -> str:
        """Exchange the authorization `code` (with the PKCE verifier) for tokens; the access token.
        Raises `OidcError` when the provider refuses or answers without one."""
        meta = await self.metadata()
        async with self._client() as client:
            try:
                token = await client.fetch_token(meta["token_endpoint"], code=code, code_verifier=pending.code_verifier,
                                                 grant_type="authorization_code")
            except Exception as exc:  # noqa: BLE001 - authlib raises its own OAuth errors and httpx's alike
                raise OidcError(f"the identity provider refused the sign-in ({exc})") from exc
        access = token.get("access_token")
        if not isinstance(access, str) or not access:
            raise OidcError("the identity provider answered without an access token")
        return access
