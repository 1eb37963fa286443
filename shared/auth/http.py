"""The FastAPI side of staff authentication: `install_auth` puts a `TokenVerifier` on an app, `require(...)`
is the dependency a staff route declares. No token or a bad one: 401 with `WWW-Authenticate: Bearer`
(RFC 6750 §3); a valid token without an allowed role: 403 (docs/staff-work.md, "Roles and tokens").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Request

from shared.auth.principal import Principal, Role
from shared.auth.verifier import InvalidToken, KeysUnavailable, TokenVerifier
from shared.logs import get_logger

_log = get_logger("auth")


def install_auth(app: FastAPI, verifier: TokenVerifier) -> None:
    """Make `verifier` the one every `require(...)` dependency of `app` uses (`app.state.auth`)."""
    app.state.auth = verifier


def bearer_token(request: Request) -> str:
    """The token of an `Authorization: Bearer <token>` header (scheme case-insensitive), or ""."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def _unauthorized(reason: str) -> HTTPException:
    return HTTPException(
        status_code=401, detail=f"a valid staff bearer token is required ({reason})",
        headers={"WWW-Authenticate": f'Bearer error="invalid_token", error_description="{reason}"'})


def require(*roles: Role) -> Callable[[Request], Principal]:
    """A FastAPI dependency returning the caller's `Principal`.

    401 (`WWW-Authenticate: Bearer error="invalid_token"`) when the token is missing or invalid; 403 when
    the principal holds none of `roles` (none given: any known role will do); 503 when the signing keys
    cannot be read. The dependency is synchronous so FastAPI runs it in its thread pool: fetching an
    identity provider's JWKS never blocks the event loop.
    """
    wanted = tuple(Role(r) for r in roles)

    def dependency(request: Request) -> Principal:
        verifier: TokenVerifier | None = getattr(request.app.state, "auth", None)
        if verifier is None:
            raise RuntimeError("shared.auth.install_auth(app, verifier) was not called for this app")
        try:
            principal = verifier.verify(bearer_token(request))
        except InvalidToken as exc:
            _log.info("token_refused", reason=exc.reason, path=request.url.path)
            raise _unauthorized(exc.reason) from None
        except KeysUnavailable as exc:
            _log.error("auth_keys_unavailable", error=str(exc))
            raise HTTPException(status_code=503, detail="staff sign-in is unavailable: signing keys cannot be read",
                                headers={"Retry-After": "5"}) from None
        if wanted and not principal.has(*wanted):
            raise HTTPException(status_code=403, detail=f"this action needs the role {' or '.join(wanted)}; "
                                                        f"the token carries {', '.join(sorted(principal.roles))}")
        return principal

    dependency.__name__ = f"require_{'_or_'.join(wanted) or 'staff'}"
    return dependency


CurrentPrincipal = Annotated[Principal, Depends(require())]
