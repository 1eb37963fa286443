"""The FastAPI dependency: 401 with WWW-Authenticate for no or bad tokens, 403 for a role not allowed,
the principal for the rest."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient

from shared.auth import CurrentPrincipal, Principal, Role, TokenVerifier, install_auth, require
from shared.settings import Settings
from support.auth import TestIssuer


@pytest.fixture
def issuer(tmp_path: Path) -> TestIssuer:
    return TestIssuer(tmp_path / "keys")


def app_for(verifier: TokenVerifier) -> FastAPI:
    app = FastAPI()
    install_auth(app, verifier)

    @app.get("/me")
    def me(principal: CurrentPrincipal) -> dict:
        return {"sub": principal.subject, "role": principal.role}

    @app.post("/supervise")
    def supervise(principal: Principal = Depends(require(Role.SUPERVISOR, Role.ADMINISTRATOR))) -> dict:
        return {"sub": principal.subject}

    return app


@pytest.fixture
def client(issuer: TestIssuer) -> TestClient:
    return TestClient(app_for(issuer.verifier()))


def test_any_role_may_read_me(client: TestClient, issuer: TestIssuer) -> None:
    for role in Role:
        answer = client.get("/me", headers=issuer.headers(role))
        assert answer.status_code == 200, role
        assert answer.json() == {"sub": f"test-{role}", "role": role}


@pytest.mark.parametrize(("headers", "why"), [
    ({}, "missing"),
    ({"Authorization": "Basic dXNlcjpwYXNz"}, "missing"),
    ({"Authorization": "Bearer"}, "missing"),
    ({"Authorization": "Bearer not.a.token"}, "malformed"),
])
def test_no_usable_token_is_401_with_a_bearer_challenge(client: TestClient, headers: dict, why: str) -> None:
    answer = client.post("/supervise", headers=headers)
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"].startswith('Bearer error="invalid_token"')
    assert why in answer.headers["WWW-Authenticate"]


@pytest.mark.parametrize("kwargs", [{"expired": True}, {"issuer": "someone-else"}, {"tamper": True},
                                    {"foreign": True}, {"audience": "x"}])
def test_a_bad_supervisor_token_is_401(client: TestClient, issuer: TestIssuer, kwargs: dict) -> None:
    answer = client.post("/supervise", headers=issuer.headers(Role.SUPERVISOR, **kwargs))
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(("role", "status"), [(Role.CALL_AGENT, 403), (Role.DEPARTMENT_STAFF, 403),
                                              (Role.SUPERVISOR, 200), (Role.ADMINISTRATOR, 200)])
def test_a_role_not_allowed_is_403(client: TestClient, issuer: TestIssuer, role: Role, status: int) -> None:
    answer = client.post("/supervise", headers=issuer.headers(role))
    assert answer.status_code == status
    if status == 403:
        assert "supervisor or administrator" in answer.json()["detail"]


def test_the_scheme_is_case_insensitive(client: TestClient, issuer: TestIssuer) -> None:
    token = issuer.token(Role.SUPERVISOR)
    assert client.post("/supervise", headers={"Authorization": f"bearer {token}"}).status_code == 200


def test_unreadable_keys_are_503_not_401(tmp_path: Path, issuer: TestIssuer) -> None:
    verifier = TokenVerifier(Settings(auth_jwks_url=str(tmp_path / "absent.json"), auth_issuer=issuer.issuer))
    answer = TestClient(app_for(verifier)).get("/me", headers=issuer.headers(Role.SUPERVISOR))
    assert answer.status_code == 503


def test_an_app_without_install_auth_fails_loudly(issuer: TestIssuer) -> None:
    app = FastAPI()

    @app.get("/me")
    def me(principal: CurrentPrincipal) -> str:
        return principal.subject

    with pytest.raises(RuntimeError, match="install_auth"):
        TestClient(app).get("/me", headers=issuer.headers(Role.SUPERVISOR))
