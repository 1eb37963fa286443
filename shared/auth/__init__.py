"""Staff authentication and roles: OIDC-style bearer JWTs verified against a JWKS (docs/staff-work.md).

`TokenVerifier(settings).verify(token) -> Principal`; on a FastAPI app, `install_auth(app, verifier)` and
route dependencies `require(Role.SUPERVISOR, ...)` or `CurrentPrincipal`. The development issuer is
`shared.auth.dev_issuer`.
"""

from shared.auth.http import CurrentPrincipal, bearer_token, install_auth, require
from shared.auth.principal import Principal, Role
from shared.auth.verifier import InvalidToken, KeysUnavailable, TokenVerifier

__all__ = ["CurrentPrincipal", "InvalidToken", "KeysUnavailable", "Principal", "Role", "TokenVerifier",
           "bearer_token", "install_auth", "require"]
