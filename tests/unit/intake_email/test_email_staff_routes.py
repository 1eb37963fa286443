"""intake_email's HTTP routes and staff sign-in: the raw-message and mailbox routes need a supervisor's or
an administrator's bearer token (401 without a valid one, 403 for other roles, nothing read either way);
`/media/{id}` stays public (its URL is in Open311 answers); an erased message's bytes are gone (410)."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from services.intake_email.entrypoints import http
from shared.auth import Role, install_auth
from support.auth import TestIssuer

MEDIA_ID = uuid4()
STAFF_ROUTES = ["/problems", "/messages", "/messages/1/raw", "/mailbox"]


class FakeStore:
    """`MailboxStore`'s reads in memory; `reads` counts every call, to show a refused request read nothing."""

    def __init__(self) -> None:
        self.reads: list[str] = []

    async def publishable_media(self, media_id: UUID) -> dict[str, Any] | None:
        self.reads.append("media")
        return {"filename": "hole.jpg", "content_type": "image/jpeg", "content": b"\xff\xd8jpeg"} if media_id == MEDIA_ID else None

    async def problems(self, limit: int) -> list[dict[str, Any]]:
        self.reads.append("problems")
        return [{"id": 1, "kind": "unparseable"}]

    async def messages(self, *, message_id: str | None, kind: str | None, limit: int) -> list[dict[str, Any]]:
        self.reads.append("messages")
        return [{"id": 1, "kind": "message", "message_id": "<a@mail.example.org>"}]

    async def raw_bytes(self, row_id: int) -> bytes | None:
        self.reads.append("raw")
        return {1: b"From: ana@example.org\r\n\r\nPothole", 2: b""}.get(row_id)

    async def cursor(self, mailbox: str) -> None:
        return None


class FakeMail:
    def __init__(self) -> None:
        self.store = FakeStore()
        self.watching = type("Watching", (), {"mailbox": "city@imap.test:143/INBOX", "watcher": None})()


@pytest.fixture
def issuer(tmp_path) -> TestIssuer:
    return TestIssuer(tmp_path / "keys")


@pytest.fixture
def app(issuer: TestIssuer) -> FastAPI:
    app = FastAPI()
    install_auth(app, issuer.verifier())
    app.state.mail = FakeMail()
    app.include_router(http.router)
    return app


@pytest.mark.parametrize("path", STAFF_ROUTES)
@pytest.mark.parametrize("bad", [{}, {"expired": True}, {"issuer": "https://idp.elsewhere.example"},
                                 {"tamper": True}, {"foreign": True}],
                         ids=["no-token", "expired", "other-issuer", "tampered", "unknown-key"])
def test_staff_routes_refuse_a_missing_or_invalid_token_with_401(app: FastAPI, issuer: TestIssuer, path: str,
                                                                   bad: dict) -> None:
    headers = issuer.headers(Role.ADMINISTRATOR, **bad) if bad else {}
    r = TestClient(app).get(path, headers=headers)
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")
    assert app.state.mail.store.reads == []


@pytest.mark.parametrize("path", STAFF_ROUTES)
@pytest.mark.parametrize(("role", "status"), [(Role.CALL_AGENT, 403), (Role.DEPARTMENT_STAFF, 403),
                                              (Role.SUPERVISOR, 200), (Role.ADMINISTRATOR, 200)])
def test_only_supervisors_and_administrators_read_raw_mail_and_the_mailbox(app: FastAPI, issuer: TestIssuer,
                                                                            path: str, role: Role, status: int) -> None:
    r = TestClient(app).get(path, headers=issuer.headers(role))
    assert r.status_code == status, r.text
    if status == 403:
        assert app.state.mail.store.reads == []


def test_media_stays_public(app: FastAPI) -> None:
    client = TestClient(app)
    assert client.get(f"/media/{MEDIA_ID}").status_code == 200
    assert client.get(f"/media/{uuid4()}").status_code == 404


def test_an_erased_message_is_gone_and_an_unknown_one_not_found(app: FastAPI, issuer: TestIssuer) -> None:
    client = TestClient(app, headers=issuer.headers(Role.SUPERVISOR))
    assert client.get("/messages/1/raw").content.startswith(b"From:")
    assert client.get("/messages/2/raw").status_code == 410
    assert client.get("/messages/3/raw").status_code == 404


@pytest.mark.parametrize("path", ["/messages?message_id=%3Ca%00b%3E", "/messages?kind=%00",
                                  "/messages/99999999999999999999/raw", "/messages/0/raw"])
def test_a_query_postgresql_cannot_take_is_422_before_the_store_is_read(app: FastAPI, issuer: TestIssuer,
                                                                        path: str) -> None:
    # A NUL in text or an id past bigint reached PostgreSQL, which refused it: the route answered 500.
    r = TestClient(app).get(path, headers=issuer.headers(Role.SUPERVISOR))
    assert r.status_code == 422, r.text
    assert app.state.mail.store.reads == []
