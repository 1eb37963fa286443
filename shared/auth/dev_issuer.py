"""The development issuer: an RSA key pair under `var/dev-issuer/` (made at install time, never committed)
that mints staff tokens for the development users of `deploy/local/dev-users.yaml`, one per role. A
jurisdiction the file does not list (a city just drafted) gets the same users in its first department.

`python -m shared.auth.dev_issuer keygen | mint <user> | users`. Services trust it through the default
`OMNI311_AUTH_*` settings; a city points those at its own identity provider instead (docs/staff-work.md).
"""

from __future__ import annotations

import argparse
import base64
import functools
import hashlib
import json
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from shared.settings import REPO_ROOT

DEV_USERS_FILE = REPO_ROOT / "deploy" / "local" / "dev-users.yaml"
PRIVATE_KEY = "private.pem"
JWKS = "jwks.json"


@dataclass(frozen=True)
class DevUser:
    """A development user: `id` is what `mint` takes (agent, staff, staff2, supervisor, admin)."""

    id: str
    subject: str
    name: str
    roles: tuple[str, ...]
    department: str | None = None
    teams: tuple[str, ...] = field(default_factory=tuple)

    def claims(self) -> dict[str, Any]:
        """The identity claims of this user (sub, name, roles, department, teams), without iss/aud/times."""
        out: dict[str, Any] = {"sub": self.subject, "name": self.name, "roles": list(self.roles)}
        if self.department is not None:
            out["department"] = self.department
        if self.teams:
            out["teams"] = list(self.teams)
        return out


def thumbprint(public_jwk: Mapping[str, Any]) -> str:
    """RFC 7638 JWK thumbprint (SHA-256, base64url without padding) of an RSA public JWK: the key id."""
    members = {k: public_jwk[k] for k in ("e", "kty", "n")}
    digest = hashlib.sha256(json.dumps(members, separators=(",", ":"), sort_keys=True).encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _public_jwk(private_key: rsa.RSAPrivateKey) -> dict[str, Any]:
    jwk = json.loads(RSAAlgorithm.to_jwk(private_key.public_key()))
    jwk.update({"kid": thumbprint(jwk), "alg": "RS256", "use": "sig"})
    return jwk


def _load_private(key_dir: Path) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key((key_dir / PRIVATE_KEY).read_bytes(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError(f"{key_dir / PRIVATE_KEY} is not an RSA private key")
    return key


@functools.lru_cache(maxsize=32)
def _key_version(path: str, mtime_ns: int, size: int) -> tuple[rsa.RSAPrivateKey, str]:
    del mtime_ns, size  # part of the cache key only: a rewritten key file is loaded again
    key = _load_private(Path(path).parent)
    return key, str(_public_jwk(key)["kid"])


def signing_key(key_dir: Path | str) -> tuple[rsa.RSAPrivateKey, str]:
    """The private key of `key_dir` and its `kid`, loaded once per version of `private.pem` (its resolved
    path, modification time in nanoseconds and size): loading and checking an RSA key takes ~0.1 s, which
    every token minted in a test would pay. Raises OSError when the file is missing, ValueError when it
    is not an RSA key."""
    path = (Path(key_dir) / PRIVATE_KEY).resolve()
    stat = path.stat()
    return _key_version(str(path), stat.st_mtime_ns, stat.st_size)


def _write(path: Path, data: bytes, mode: int) -> None:
    """Write through a temporary file renamed into place, so a reader never sees half a key or JWKS."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def ensure_keys(key_dir: Path | str) -> None:
    """Make `key_dir/private.pem` (RSA 2048, PKCS#8, mode 0600) and `key_dir/jwks.json` (its public key,
    `kid` = RFC 7638 thumbprint) unless they are there. Idempotent: an existing private key is kept and
    the JWKS rewritten from it only when missing."""
    key_dir = Path(key_dir)
    key_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    private_path = key_dir / PRIVATE_KEY
    if private_path.exists():
        if (key_dir / JWKS).exists():
            return
        key = signing_key(key_dir)[0]
    else:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        _write(private_path, pem, 0o600)
    if not (key_dir / JWKS).exists():
        _write(key_dir / JWKS, json.dumps({"keys": [_public_jwk(key)]}, indent=2).encode() + b"\n", 0o644)


def mint(claims_or_user: DevUser | Mapping[str, Any], *, key_dir: Path | str, ttl_s: float = 8 * 3600,
         now: datetime | None = None, issuer: str = "omni311-dev", audience: str = "omni311") -> str:
    """A signed RS256 token (compact JWS) for a development user or for the given claims (which override
    the defaults: pass `exp`, `iss`... to make a bad token on purpose). `iat`/`nbf` are `now` (aware UTC,
    default the current time) and `exp` `now + ttl_s` seconds. Keys are made in `key_dir` if missing; the
    loaded key is cached per version of the key file (`signing_key`)."""
    key_dir = Path(key_dir)
    ensure_keys(key_dir)
    key, kid = signing_key(key_dir)
    issued = now or datetime.now(UTC)
    claims = dict(claims_or_user.claims() if isinstance(claims_or_user, DevUser) else claims_or_user)
    payload: dict[str, Any] = {"iss": issuer, "aud": audience, "iat": int(issued.timestamp()),
                               "nbf": int(issued.timestamp()),
                               "exp": int((issued + timedelta(seconds=ttl_s)).timestamp())}
    payload.update(claims)
    return jwt.encode(payload, key, algorithm="RS256", headers={"kid": kid})


def _place_from_config(name_or_path: str, listed: Sequence[str]) -> dict[str, Any]:
    """The department and teams of a jurisdiction the users file does not list, from its configuration:
    its first department (a drafted city's busiest agency) and that department's first two teams (none
    when it has none). Raises LookupError when the configuration cannot be loaded."""
    from shared.jurisdiction import JurisdictionConfigError, load_jurisdiction  # noqa: PLC0415 - only here

    try:
        jurisdiction = load_jurisdiction(name_or_path)
    except JurisdictionConfigError as exc:
        raise LookupError(f"no development users for jurisdiction {name_or_path!r}: deploy/local/dev-users.yaml "
                          f"lists {', '.join(sorted(listed))}, and its configuration does not load ({exc})") from None
    if not jurisdiction.departments:
        raise LookupError(f"no development users for jurisdiction {name_or_path!r}: it has no department")
    first = jurisdiction.departments[0]
    return {"department": first.id, "teams": [t.id for t in first.teams[:2]]}


def dev_users(jurisdiction: str, *, path: Path | None = None) -> list[DevUser]:
    """The development users of a jurisdiction (an id, a folder or its `jurisdiction.yaml`): the users of
    `deploy/local/dev-users.yaml`, one per role, with staff and supervisor in the department (and teams)
    the file gives the jurisdiction; for a jurisdiction the file does not list, in its configuration's
    first department and that department's first two teams (`_place_from_config`). Raises LookupError
    when the file does not list it and its configuration cannot be loaded."""
    data = yaml.safe_load((path or DEV_USERS_FILE).read_text(encoding="utf-8"))
    places: dict[str, Any] = data["jurisdictions"]
    place = places.get(jurisdiction_id(jurisdiction)) or _place_from_config(jurisdiction, list(places))
    users = []
    for raw in data["users"]:
        in_department = bool(raw.get("in_department"))
        team_index = raw.get("team")
        place_teams = place.get("teams") or []
        teams = ((place_teams[team_index],) if in_department and team_index is not None
                 and team_index < len(place_teams) else ())
        users.append(DevUser(id=raw["id"], subject=raw["subject"], name=raw["name"], roles=tuple(raw["roles"]),
                             department=place["department"] if in_department else None, teams=teams))
    return users


def jurisdiction_id(name_or_path: str) -> str:
    """The id of `OMNI311_JURISDICTION`: an id as it is; a folder or its `jurisdiction.yaml` by the file's
    own `id:` when it is there, else by the folder's name (`jurisdictions/boston/jurisdiction.yaml` is
    `boston`)."""
    path = Path(name_or_path)
    config = path / "jurisdiction.yaml" if path.is_dir() else path
    if config.suffix in (".yaml", ".yml") and config.is_file():
        try:
            found = yaml.safe_load(config.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            found = None
        if isinstance(found, dict) and isinstance(found.get("id"), str) and found["id"]:
            return found["id"]
    if path.suffix in (".yaml", ".yml"):
        return path.stem if path.stem != "jurisdiction" else path.parent.name
    return path.name


def dev_user(jurisdiction: str, user_id: str) -> DevUser:
    """One development user of a jurisdiction (id or path, as `dev_users`) by id; raises LookupError
    naming the known ids."""
    users = dev_users(jurisdiction)
    for user in users:
        if user.id == user_id:
            return user
    raise LookupError(f"no development user {user_id!r} (known: {', '.join(u.id for u in users)})")


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: `keygen`, `mint <user> [--ttl-s N]` (prints the token), `users` (one line per user)."""
    from shared.settings import Settings

    parser = argparse.ArgumentParser(prog="python -m shared.auth.dev_issuer", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("keygen", help="make the key pair unless it exists")
    mint_p = sub.add_parser("mint", help="print a token for a development user")
    mint_p.add_argument("user")
    mint_p.add_argument("--ttl-s", type=float, default=8 * 3600)
    sub.add_parser("users", help="list the development users of the jurisdiction")
    args = parser.parse_args(argv)
    settings = Settings()
    key_dir = settings.auth_dev_issuer_dir
    jurisdiction = settings.jurisdiction
    try:
        if args.command == "keygen":
            ensure_keys(key_dir)
            print(f"development issuer keys in {key_dir}")
        elif args.command == "mint":
            print(mint(dev_user(jurisdiction, args.user), key_dir=key_dir, ttl_s=args.ttl_s,
                       issuer=settings.auth_issuer, audience=settings.auth_audience))
        else:
            for user in dev_users(jurisdiction):
                print(f"{user.id:<11} {user.subject:<16} {','.join(user.roles):<17} "
                      f"{user.department or '-':<20} {','.join(user.teams) or '-':<12} {user.name}")
    except LookupError as exc:
        print(exc, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
