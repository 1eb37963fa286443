"""Verifies staff bearer tokens: OIDC-style JWTs signed by the identity provider, checked with PyJWT against
its JWKS (an https URL, cached, or a local file, reloaded when it changes), and read into a `Principal`.

Which claims are read, and under which names, is configuration (`OMNI311_AUTH_*`, docs/staff-work.md), so a
city plugs in Keycloak (`realm_access.roles`), Entra ID (`roles` app roles) or the development issuer.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt

from shared.auth.principal import Principal, Role
from shared.settings import Settings

# Asymmetric only: a shared-secret (HS*) or unsigned ("none") token is never accepted.
ALGORITHMS = ("RS256", "ES256")


class InvalidToken(Exception):
    """A token that proves nothing: `reason` is one of missing, expired, issuer, audience, signature,
    malformed, no known role."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class KeysUnavailable(Exception):
    """The JWKS could not be read or fetched: no token can be verified (a server fault, not the caller's)."""


def claim(claims: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted `path` (`realm_access.roles`) of `claims`, or None when any step is missing.
    A key that itself contains dots (Auth0-style namespaced claims) is found as a whole first."""
    if path in claims:
        return claims[path]
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def _strings(value: Any) -> list[str]:
    """A claim that may be one string (space separated, as OAuth `scope`) or a list of strings."""
    if value is None:
        return []
    if isinstance(value, str):
        return value.split()
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value if isinstance(v, (str, int))]
    return []


class _FileKeys:
    """A JWKS file, read again when its stat changes or when a token names a key id it does not hold
    (so a rotation is picked up at the first token signed by the new key)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp: tuple[int, int, int] | None = None
        self._keys: dict[str | None, jwt.PyJWK] = {}
        self._lock = threading.Lock()

    def _load(self) -> None:
        try:
            st = os.stat(self.path)
            text = self.path.read_text(encoding="utf-8")
        except OSError as exc:
            raise KeysUnavailable(f"cannot read JWKS file {self.path}: {exc.strerror}") from exc
        try:
            keyset = jwt.PyJWKSet.from_json(text)
        except (jwt.PyJWKSetError, json.JSONDecodeError, ValueError) as exc:
            raise KeysUnavailable(f"JWKS file {self.path} holds no usable key: {exc}") from exc
        self._keys = {k.key_id: k for k in keyset.keys}
        self._stamp = (st.st_mtime_ns, st.st_size, st.st_ino)

    def key(self, kid: str | None) -> jwt.PyJWK:
        with self._lock:
            try:
                st = os.stat(self.path)
                stamp: tuple[int, int, int] | None = (st.st_mtime_ns, st.st_size, st.st_ino)
            except OSError:
                stamp = None
            if stamp is None or stamp != self._stamp:
                self._load()
            found = _pick(self._keys, kid)
            if found is None:
                self._load()
                found = _pick(self._keys, kid)
        if found is None:
            raise InvalidToken("signature", f"no key {kid!r} in the JWKS")
        return found


def _pick(keys: Mapping[str | None, jwt.PyJWK], kid: str | None) -> jwt.PyJWK | None:
    if kid is not None:
        return keys.get(kid)
    return next(iter(keys.values())) if len(keys) == 1 else None


class _UrlKeys:
    """A JWKS served by the identity provider (`jwt.PyJWKClient`, cached for an hour). A token naming a
    key id the cache does not hold refetches the JWKS (the provider rotated its keys), at most once per
    `REFRESH_MIN_S` seconds, so tokens with made-up key ids cannot make us hammer the provider."""

    REFRESH_MIN_S = 30.0

    def __init__(self, url: str) -> None:
        self.client = jwt.PyJWKClient(url, cache_keys=True, lifespan=3600, timeout=10)
        self._refreshed_at = float("-inf")
        self._lock = threading.Lock()

    def key(self, kid: str | None) -> jwt.PyJWK:
        try:
            keys = {k.key_id: k for k in self.client.get_signing_keys()}
            found = _pick(keys, kid)
            if found is None and kid is not None:
                with self._lock:
                    if time.monotonic() - self._refreshed_at >= self.REFRESH_MIN_S:
                        self._refreshed_at = time.monotonic()
                        keys = {k.key_id: k for k in self.client.get_signing_keys(refresh=True)}
                        found = _pick(keys, kid)
        except jwt.PyJWKClientConnectionError as exc:
            raise KeysUnavailable(str(exc)) from exc
        except jwt.PyJWKClientError as exc:
            raise InvalidToken("signature", str(exc)) from exc
        if found is None:
            raise InvalidToken("signature", f"no key {kid!r} in the identity provider's JWKS" if kid else
                               "token names no key id and the JWKS has several keys")
        return found


class TokenVerifier:
    """Turns a bearer token into a `Principal`, or raises `InvalidToken` (the caller answers 401) or
    `KeysUnavailable` (503). Thread-safe; build one per service inside `create_app`.

    Keys come from `settings.auth_jwks_url`: an `http(s)://` URL or a file path (`file://` allowed). The
    JWKS is not read until the first token, so a service starts before the keys exist.
    """

    def __init__(self, settings: Settings) -> None:
        self.issuer = settings.auth_issuer
        self.audience = settings.auth_audience
        self.leeway_s = settings.auth_leeway_s
        self.roles_claim = settings.auth_roles_claim
        self.department_claim = settings.auth_department_claim
        self.name_claim = settings.auth_name_claim
        self.teams_claim = settings.auth_teams_claim
        self.role_map = {name: Role(role) for name, role in settings.auth_role_map.items()}
        source = settings.auth_jwks_url
        if source.startswith(("http://", "https://")):
            self._keys: _FileKeys | _UrlKeys = _UrlKeys(source)
        else:
            self._keys = _FileKeys(Path(source.removeprefix("file://")))

    def verify(self, token: str, *, now: datetime | None = None) -> Principal:
        """The principal of `token` (a compact JWS). Checks, in order: the header (RS256 or ES256 only),
        the signature against the JWKS key named by `kid`, `iss`, `aud`, `exp` (required), `nbf` and
        `iat` against `now` (aware UTC; default the current time) with `auth_leeway_s` seconds of leeway,
        `sub`, and at least one known role (`auth_role_map`, or an omni311 role name as it is).

        Raises `InvalidToken` with `.reason` missing, malformed, signature, issuer, audience, expired or
        no known role; `KeysUnavailable` when the JWKS cannot be read.
        """
        token = (token or "").strip()
        if not token:
            raise InvalidToken("missing")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError as exc:  # DecodeError, and a kid or crit header PyJWT refuses
            raise InvalidToken("malformed", str(exc)) from exc
        alg = header.get("alg")
        if alg not in ALGORITHMS:
            raise InvalidToken("signature", f"algorithm {alg!r} is not accepted (only {', '.join(ALGORITHMS)})")
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise InvalidToken("malformed", "kid is not a string")
        key = self._keys.key(kid)
        try:
            claims = jwt.decode(
                token, key=key.key, algorithms=[alg], audience=self.audience, issuer=self.issuer,
                # exp/nbf/iat are checked below against the `now` passed in (house rule 5: time is passed in).
                options={"require": ["exp", "iss", "aud", "sub"], "verify_exp": False, "verify_nbf": False,
                         "verify_iat": False})
        except jwt.InvalidSignatureError as exc:
            raise InvalidToken("signature", str(exc)) from exc
        except jwt.InvalidIssuerError as exc:
            raise InvalidToken("issuer", str(exc)) from exc
        except jwt.InvalidAudienceError as exc:
            raise InvalidToken("audience", str(exc)) from exc
        except jwt.MissingRequiredClaimError as exc:
            reason = {"iss": "issuer", "aud": "audience"}.get(exc.claim, "malformed")
            raise InvalidToken(reason, str(exc)) from exc
        except (jwt.InvalidAlgorithmError, jwt.InvalidKeyError, TypeError) as exc:
            # TypeError: PyJWT given the key of `kid` for another algorithm (an RSA key named by an ES256 token)
            raise InvalidToken("signature", str(exc)) from exc
        except jwt.InvalidTokenError as exc:
            raise InvalidToken("malformed", str(exc)) from exc
        self._check_times(claims, now or datetime.now(UTC))
        return self.principal(claims, token)

    def _check_times(self, claims: Mapping[str, Any], now: datetime) -> None:
        t = now.timestamp()
        times = {}
        for name in ("exp", "nbf", "iat"):
            value = claims.get(name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise InvalidToken("malformed", f"{name} is not a finite number of seconds")
            times[name] = float(value)
        if times["exp"] <= t - self.leeway_s:
            raise InvalidToken("expired", "the token has expired")
        if times.get("nbf", t) > t + self.leeway_s:
            raise InvalidToken("expired", "the token is not valid yet (nbf)")
        if times.get("iat", t) > t + self.leeway_s:
            raise InvalidToken("malformed", "the token was issued in the future (iat)")

    def principal(self, claims: Mapping[str, Any], token: str) -> Principal:
        """The principal of already verified `claims`; raises `InvalidToken("no known role")` when no role
        name maps to an omni311 role and `InvalidToken("malformed")` when `sub` is not a string."""
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject:
            raise InvalidToken("malformed", "sub is not a non-empty string")
        roles = frozenset(r for r in (self._role(n) for n in _strings(claim(claims, self.roles_claim))) if r)
        if not roles:
            raise InvalidToken("no known role", f"no role in {self.roles_claim!r} maps to an omni311 role")
        department = claim(claims, self.department_claim)
        if isinstance(department, (list, tuple)):
            department = department[0] if department else None
        name = claim(claims, self.name_claim) or claims.get("preferred_username") or subject
        return Principal(subject=subject, name=str(name), roles=roles,
                         department=str(department) if department not in (None, "") else None,
                         teams=frozenset(_strings(claim(claims, self.teams_claim))), token=token)

    def _role(self, name: str) -> Role | None:
        if name in self.role_map:
            return self.role_map[name]
        try:
            return Role(name)
        except ValueError:
            return None
