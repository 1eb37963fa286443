"""TokenVerifier: every reason a token is refused, role mapping, dotted claims, Keycloak- and Entra-shaped
tokens, ES256, JWKS files that rotate and JWKS served over HTTP."""

from __future__ import annotations

import base64
import json
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from shared.auth import InvalidToken, KeysUnavailable, Principal, Role, TokenVerifier
from shared.auth.dev_issuer import mint
from shared.settings import Settings
from support.auth import TestIssuer


@pytest.fixture
def issuer(tmp_path: Path) -> TestIssuer:
    return TestIssuer(tmp_path / "keys")


def reason(verifier: TokenVerifier, token: str, **kwargs) -> str:
    with pytest.raises(InvalidToken) as caught:
        verifier.verify(token, **kwargs)
    return caught.value.reason


def test_a_valid_staff_token_gives_its_principal(issuer: TestIssuer) -> None:
    token = issuer.token(Role.DEPARTMENT_STAFF, subject="u-17", name="Sam", teams=["roads"])
    principal = issuer.verifier().verify(token)
    assert principal == Principal(subject="u-17", name="Sam", roles=frozenset({Role.DEPARTMENT_STAFF}),
                                  department="public-works", teams=frozenset({"roads"}), token=token)
    assert principal.role is Role.DEPARTMENT_STAFF
    assert "eyJ" not in repr(principal), "the raw token is kept out of logs"


@pytest.mark.parametrize(("kwargs", "expected"), [
    ({"expired": True}, "expired"),
    ({"issuer": "https://elsewhere.example/realms/x"}, "issuer"),
    ({"audience": "another-app"}, "audience"),
    ({"tamper": True}, "signature"),
    ({"foreign": True}, "signature"),
    ({"roles": ["offline_access", "uma_authorization"]}, "no known role"),
    ({"roles": []}, "no known role"),
])
def test_each_bad_token_is_refused_with_its_reason(issuer: TestIssuer, kwargs: dict, expected: str) -> None:
    assert reason(issuer.verifier(), issuer.token(Role.SUPERVISOR, **kwargs)) == expected


@pytest.mark.parametrize("token", ["", "   "])
def test_no_token_is_missing(issuer: TestIssuer, token: str) -> None:
    assert reason(issuer.verifier(), token) == "missing"


@pytest.mark.parametrize("token", ["not-a-jwt", "a.b.c", "eyJhbGciOiJSUzI1NiJ9.!!!.sig"])
def test_garbage_is_malformed(issuer: TestIssuer, token: str) -> None:
    assert reason(issuer.verifier(), token) == "malformed"


def test_a_token_without_exp_or_sub_is_malformed(issuer: TestIssuer) -> None:
    verifier = issuer.verifier()
    no_sub = mint({"roles": ["supervisor"]}, key_dir=issuer.dir, issuer=issuer.issuer, audience=issuer.audience)
    assert reason(verifier, no_sub) == "malformed"
    # mint always sets exp; sign one by hand without it.
    key = (issuer.dir / "private.pem").read_bytes()
    kid = json.loads(issuer.jwks_path.read_text())["keys"][0]["kid"]
    no_exp = jwt.encode({"sub": "x", "roles": ["supervisor"], "iss": issuer.issuer, "aud": issuer.audience},
                        key, algorithm="RS256", headers={"kid": kid})
    assert reason(verifier, no_exp) == "malformed"


def test_missing_iss_or_aud_is_refused_as_issuer_or_audience(issuer: TestIssuer) -> None:
    verifier = issuer.verifier()
    key = (issuer.dir / "private.pem").read_bytes()
    kid = json.loads(issuer.jwks_path.read_text())["keys"][0]["kid"]
    exp = int((datetime.now(UTC) + timedelta(hours=1)).timestamp())
    base = {"sub": "x", "roles": ["supervisor"], "exp": exp}
    no_iss = jwt.encode({**base, "aud": issuer.audience}, key, algorithm="RS256", headers={"kid": kid})
    no_aud = jwt.encode({**base, "iss": issuer.issuer}, key, algorithm="RS256", headers={"kid": kid})
    assert reason(verifier, no_iss) == "issuer"
    assert reason(verifier, no_aud) == "audience"


def test_unsigned_and_shared_secret_tokens_are_refused(issuer: TestIssuer) -> None:
    claims = {"sub": "x", "roles": ["administrator"], "iss": issuer.issuer, "aud": issuer.audience,
              "exp": int((datetime.now(UTC) + timedelta(hours=1)).timestamp())}
    kid = json.loads(issuer.jwks_path.read_text())["keys"][0]["kid"]
    unsigned = jwt.encode(claims, None, algorithm="none", headers={"kid": kid})
    # The classic confusion attack: HS256 with the public key as the shared secret.
    public_as_secret = jwt.encode(claims, "a" * 64, algorithm="HS256", headers={"kid": kid})
    assert reason(issuer.verifier(), unsigned) == "signature"
    assert reason(issuer.verifier(), public_as_secret) == "signature"


def test_expiry_is_judged_at_the_time_passed_in_with_leeway(issuer: TestIssuer) -> None:
    t0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    token = issuer.token(Role.CALL_AGENT, now=t0, ttl_s=600)
    verifier = issuer.verifier(auth_leeway_s=30)
    assert verifier.verify(token, now=t0 + timedelta(seconds=620)).subject == "test-call_agent"
    assert reason(verifier, token, now=t0 + timedelta(seconds=631)) == "expired"
    assert reason(verifier, token, now=t0 - timedelta(seconds=60)) == "expired", "not valid before nbf"


def test_an_idp_role_name_maps_to_ours_and_unknown_names_are_ignored(issuer: TestIssuer) -> None:
    verifier = issuer.verifier(auth_role_map={"311-Agents": "call_agent", "PW-Supervisors": "supervisor"})
    principal = verifier.verify(issuer.token(None, roles=["311-Agents", "PW-Supervisors", "Everyone"]))
    assert principal.roles == {Role.CALL_AGENT, Role.SUPERVISOR}
    assert principal.role is Role.SUPERVISOR
    assert principal.has(Role.CALL_AGENT) and not principal.has(Role.ADMINISTRATOR)


def test_a_role_map_to_an_unknown_role_is_a_configuration_error(issuer: TestIssuer) -> None:
    with pytest.raises(ValueError):
        issuer.verifier(auth_role_map={"x": "superuser"})


def test_the_highest_role_wins() -> None:
    p = Principal(subject="s", name="n", roles=frozenset(Role), department=None, teams=frozenset(), token="t")
    assert p.role is Role.ADMINISTRATOR
    assert p.has() and p.has(Role.CALL_AGENT)


def test_a_keycloak_token_is_read_through_dotted_claims(issuer: TestIssuer) -> None:
    verifier = issuer.verifier(auth_roles_claim="realm_access.roles", auth_department_claim="omni311.department",
                               auth_teams_claim="groups", auth_name_claim="name",
                               auth_role_map={"omni311-staff": "department_staff"})
    token = issuer.token(None, roles=[], claims={
        "realm_access": {"roles": ["offline_access", "omni311-staff"]},
        "resource_access": {"account": {"roles": ["manage-account"]}},
        "omni311": {"department": "water"}, "groups": ["water-north"],
        "preferred_username": "jdoe", "name": "Jane Doe", "typ": "Bearer", "azp": "omni311-workbench"})
    principal = verifier.verify(token)
    assert (principal.roles, principal.department, principal.teams, principal.name) == (
        {Role.DEPARTMENT_STAFF}, "water", {"water-north"}, "Jane Doe")


def test_an_entra_token_is_read_with_app_roles(issuer: TestIssuer) -> None:
    verifier = issuer.verifier(auth_role_map={"Omni311.Supervisor": "supervisor"}, auth_department_claim="extn.department")
    token = issuer.token(None, roles=["Omni311.Supervisor"], name="Kim Lee", claims={
        "oid": "00000000-0000-0000-0000-000000000001", "tid": "tenant", "ver": "2.0",
        "extn.department": "bylaw", "preferred_username": "kim@city.example"})
    principal = verifier.verify(token)
    assert (principal.role, principal.department, principal.name) == (Role.SUPERVISOR, "bylaw", "Kim Lee")


def test_a_space_separated_roles_claim_and_a_missing_name_are_accepted(issuer: TestIssuer) -> None:
    token = issuer.token(None, subject="u1", roles=None, claims={"roles": "call_agent supervisor", "name": None})
    principal = issuer.verifier().verify(token)
    assert principal.roles == {Role.CALL_AGENT, Role.SUPERVISOR}
    assert principal.name == "u1"


def test_a_rotated_jwks_file_is_picked_up_and_the_old_key_stops_working(issuer: TestIssuer, tmp_path: Path) -> None:
    verifier = issuer.verifier()
    old = issuer.token(Role.ADMINISTRATOR)
    assert verifier.verify(old).role is Role.ADMINISTRATOR
    successor = TestIssuer(tmp_path / "next")
    issuer.jwks_path.write_text(successor.jwks_path.read_text())
    assert verifier.verify(successor.token(Role.ADMINISTRATOR)).role is Role.ADMINISTRATOR
    assert reason(verifier, old) == "signature"


def test_an_es256_key_is_accepted(tmp_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    jwk = json.loads(ECAlgorithm.to_jwk(key.public_key()))
    jwk.update({"kid": "ec-1", "alg": "ES256", "use": "sig"})
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [jwk]}))
    exp = int((datetime.now(UTC) + timedelta(hours=1)).timestamp())
    token = jwt.encode({"sub": "ec-user", "roles": ["call_agent"], "iss": "omni311-dev", "aud": "omni311", "exp": exp},
                       key, algorithm="ES256", headers={"kid": "ec-1"})
    assert TokenVerifier(Settings(auth_jwks_url=str(jwks))).verify(token).subject == "ec-user"


def test_a_missing_jwks_file_means_keys_unavailable_not_a_bad_token(tmp_path: Path, issuer: TestIssuer) -> None:
    verifier = TokenVerifier(Settings(auth_jwks_url=str(tmp_path / "nowhere.json"), auth_issuer=issuer.issuer))
    with pytest.raises(KeysUnavailable):
        verifier.verify(issuer.token(Role.SUPERVISOR))


class _JwksHandler(BaseHTTPRequestHandler):
    body = b""
    hits = 0

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        type(self).hits += 1
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args) -> None:
        pass


def test_a_jwks_url_is_fetched_once_and_cached(issuer: TestIssuer) -> None:
    _JwksHandler.body = issuer.jwks_path.read_bytes()
    _JwksHandler.hits = 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), _JwksHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/realms/city/protocol/openid-connect/certs"
        verifier = issuer.verifier(auth_jwks_url=url)
        for _ in range(3):
            assert verifier.verify(issuer.token(Role.SUPERVISOR)).role is Role.SUPERVISOR
        assert _JwksHandler.hits == 1, "keys are cached"
        for _ in range(5):
            assert reason(verifier, issuer.token(Role.SUPERVISOR, foreign=True)) == "signature"
        assert _JwksHandler.hits == 2, "an unknown key id refetches the JWKS once, not per token"
        # The provider rotates: once the refresh interval has passed, the new key is fetched and trusted.
        successor = TestIssuer(issuer.dir.parent / "rotated")
        _JwksHandler.body = successor.jwks_path.read_bytes()
        verifier._keys._refreshed_at -= 60  # noqa: SLF001 - the interval, elapsed
        assert verifier.verify(successor.token(Role.ADMINISTRATOR)).role is Role.ADMINISTRATOR
    finally:
        server.shutdown()


def test_an_unreachable_jwks_url_means_keys_unavailable(issuer: TestIssuer) -> None:
    verifier = issuer.verifier(auth_jwks_url="http://127.0.0.1:9/certs")
    with pytest.raises(KeysUnavailable):
        verifier.verify(issuer.token(Role.SUPERVISOR))


def test_tampering_keeps_the_token_well_formed(issuer: TestIssuer) -> None:
    token = issuer.token(Role.SUPERVISOR, tamper=True)
    header, payload, signature = token.split(".")
    base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
    assert jwt.decode(token, options={"verify_signature": False})["sub"] == "test-supervisor"


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_an_algorithm_that_does_not_fit_the_named_key_is_a_bad_signature_not_a_crash(tmp_path: Path) -> None:
    # A city's JWKS may hold an RSA and an EC key: a token naming one with the other's algorithm raised
    # TypeError inside PyJWT, which every staff route answered with 500.
    from cryptography.hazmat.primitives.asymmetric import rsa
    from jwt.algorithms import RSAAlgorithm
    rsa_key, ec_key = rsa.generate_private_key(public_exponent=65537, key_size=2048), ec.generate_private_key(ec.SECP256R1())
    jwk_r = {**json.loads(RSAAlgorithm.to_jwk(rsa_key.public_key())), "kid": "r"}
    jwk_e = {**json.loads(ECAlgorithm.to_jwk(ec_key.public_key())), "kid": "e"}
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [jwk_r, jwk_e]}))
    verifier = TokenVerifier(Settings(auth_jwks_url=str(jwks)))
    exp = int((datetime.now(UTC) + timedelta(hours=1)).timestamp())
    claims = {"sub": "x", "roles": ["administrator"], "iss": "omni311-dev", "aud": "omni311", "exp": exp}
    assert reason(verifier, jwt.encode(claims, ec_key, algorithm="ES256", headers={"kid": "r"})) == "signature"
    assert reason(verifier, jwt.encode(claims, rsa_key, algorithm="RS256", headers={"kid": "e"})) == "signature"


@pytest.mark.parametrize("header", [{"alg": "RS256", "kid": ["a"]}, {"alg": "RS256", "crit": ["exp"]},
                                    {"alg": "RS256", "crit": "x"}])
def test_a_header_pyjwt_refuses_is_malformed_not_a_crash(issuer: TestIssuer, header: dict) -> None:
    assert reason(issuer.verifier(), f"{_b64(header)}.{_b64({'sub': 'x'})}.c2ln") == "malformed"


def test_a_token_whose_expiry_is_not_a_finite_number_is_malformed(issuer: TestIssuer) -> None:
    token = issuer.token(Role.ADMINISTRATOR, claims={"exp": float("nan")})
    assert reason(issuer.verifier(), token) == "malformed"
