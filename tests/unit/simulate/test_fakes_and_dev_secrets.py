"""The local fakes answer as the providers do and keep what they got at ``GET /sent``; the development
channel secrets are made once per checkout, give way to the environment, and are refused in production."""

from __future__ import annotations

import json
import stat
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from tools.fakes import devenv, graph, mastodon, twilio


def test_the_development_secrets_are_made_once_and_the_environment_wins(tmp_path: Path) -> None:
    path = tmp_path / "dev-channels" / "secrets.json"
    first = devenv.effective_env({}, path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert devenv.effective_env({}, path) == first  # the same values on the next run
    assert first["OMNI311_TWILIO_ACCOUNT_SID"].startswith("AC") and len(first["OMNI311_TWILIO_ACCOUNT_SID"]) == 34
    assert first["OMNI311_META_APP_SECRET"].startswith("dev-only-")
    assert first["OMNI311_TWILIO_API_BASE_URL"] == "http://127.0.0.1:8091"
    assert first["OMNI311_META_GRAPH_URL"] == first["OMNI311_META_GRAPH_BASE_URL"] == "http://127.0.0.1:8092/v21.0"
    mine = devenv.effective_env({"OMNI311_TWILIO_AUTH_TOKEN": "my-own"}, path)
    assert mine["OMNI311_TWILIO_AUTH_TOKEN"] == "my-own" and mine["OMNI311_META_APP_SECRET"] == first[
        "OMNI311_META_APP_SECRET"]
    assert json.loads(path.read_text())["_note"].startswith("development only")


def test_production_gets_no_development_secret(tmp_path: Path) -> None:
    with pytest.raises(devenv.ProductionRefused, match="never used in production"):
        devenv.effective_env({"OMNI311_ENVIRONMENT": "production"}, tmp_path / "s.json")
    assert not (tmp_path / "s.json").exists()


def test_the_env_command_exports_only_what_is_not_set(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    from tools.fakes.__main__ import main

    monkeypatch.setattr(devenv, "SECRETS_FILE", tmp_path / "secrets.json")
    monkeypatch.setenv("OMNI311_TWILIO_AUTH_TOKEN", "set-already")
    monkeypatch.delenv("OMNI311_ENVIRONMENT", raising=False)
    assert main(["env"]) == 0
    out = capsys.readouterr().out
    assert "export OMNI311_META_APP_SECRET=dev-only-" in out and "OMNI311_TWILIO_AUTH_TOKEN" not in out
    monkeypatch.setenv("OMNI311_ENVIRONMENT", "production")
    assert main(["env"]) == 2
    assert "never used in production" in capsys.readouterr().err


def test_the_twilio_fake_wants_the_accounts_credentials_and_keeps_what_was_sent() -> None:
    client = TestClient(twilio.create_app("AC1", "tok"))
    url = "/2010-04-01/Accounts/AC1/Messages.json"
    assert client.post(url, data={"To": "+15145550123", "Body": "hi"}).status_code == 401
    assert client.post(url, data={"To": "+15145550123", "Body": "hi"}, auth=("AC1", "nope")).status_code == 401
    answer = client.post(url, data={"To": "+15145550123", "From": "+15005550006", "Body": "Case 1 opened"},
                         auth=("AC1", "tok"))
    assert answer.status_code == 201 and answer.json()["sid"].startswith("SM")
    assert [(s["kind"], s["to"], s["body"]) for s in client.get("/sent").json()] == [
        ("sms", "+15145550123", "Case 1 opened")]
    photo = client.get("/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1")
    assert photo.headers["content-type"] == "image/jpeg" and photo.content[:2] == b"\xff\xd8"
    assert client.get("/2010-04-01/Accounts/AC1/Recordings/RE1.mp3").headers["content-type"] == "audio/mpeg"
    assert client.get("/readyz").status_code == 200


def test_the_twilio_fake_posts_a_signed_delivered_status_to_the_status_callback() -> None:
    from twilio.request_validator import RequestValidator

    received: list[httpx.Request] = []
    transport = httpx.MockTransport(lambda r: received.append(r) or httpx.Response(204))
    with TestClient(twilio.create_app("AC1", "tok", transport=transport)) as client:
        client.post("/2010-04-01/Accounts/AC1/Messages.json", auth=("AC1", "tok"), data={
            "To": "+15145550123", "From": "+15005550006", "Body": "x",
            "StatusCallback": "http://127.0.0.1:8086/twilio/status"})
        deadline = time.monotonic() + 5
        while not received and time.monotonic() < deadline:
            time.sleep(0.05)
    (request,) = received
    params = dict(httpx.QueryParams(request.content.decode()))
    assert params["MessageStatus"] == "delivered"
    assert RequestValidator("tok").validate(str(request.url), params, request.headers["X-Twilio-Signature"])


def test_the_graph_fake_answers_the_send_api_whatsapp_and_media_urls() -> None:
    client = TestClient(graph.create_app("gt", "http://127.0.0.1:8092"))
    bearer = {"Authorization": "Bearer gt"}
    assert client.post("/v21.0/me/messages", json={}).status_code == 400
    sent = client.post("/v21.0/me/messages", headers=bearer, json={"recipient": {"id": "600"},
                                                                   "message": {"text": "Case 1"}})
    assert sent.json()["message_id"].startswith("m_")
    wa = client.post("/v21.0/100/messages", headers=bearer, json={"to": "15145550125", "text": {"body": "Case 2"}})
    assert wa.json()["messages"][0]["id"].startswith("wamid.")
    assert client.put("/fake/media/42", content=b"\xff\xd8x", headers={"Content-Type": "image/jpeg"}).status_code == 201
    meta = client.get("/v21.0/42", headers=bearer).json()
    assert meta["url"] == "http://127.0.0.1:8092/fake/media/42" and meta["file_size"] == 3
    assert client.get("/fake/media/42").content == b"\xff\xd8x"
    assert [(s["kind"], s.get("text")) for s in client.get("/sent").json() if s["kind"] in ("send_api", "whatsapp")] == [
        ("send_api", "Case 1"), ("whatsapp", "Case 2")]


def test_the_mastodon_fake_serves_mentions_to_mastodon_py_shapes_and_keeps_statuses() -> None:
    client = TestClient(mastodon.create_app("mt", "http://127.0.0.1:8093"))
    bearer = {"Authorization": "Bearer mt"}
    assert client.get("/api/v1/notifications").status_code == 401
    assert client.get("/api/v1/accounts/verify_credentials", headers=bearer).json()["acct"] == "city311"
    assert client.post("/fake/mentions", json={"from": "nobody", "text": "x"}).status_code == 400
    first = client.post("/fake/mentions", json={"from": "sam@social.example", "text": "Broken bench"}).json()
    second = client.post("/fake/mentions", json={"from": "sam@social.example", "text": "Still broken"}).json()
    ids = [n["id"] for n in client.get("/api/v1/notifications", headers=bearer).json()]
    assert ids == [second["id"], first["id"]]
    assert [n["id"] for n in client.get("/api/v1/notifications", headers=bearer,
                                        params={"since_id": first["id"]}).json()] == [second["id"]]
    assert "Broken bench" in first["status"]["content"] and first["status"]["account"]["acct"] == "sam@social.example"
    assert client.post("/api/v1/statuses", headers=bearer, data={"status": "@sam@social.example Case 3",
                                                                  "visibility": "direct"}).status_code == 200
    assert [s["status"] for s in client.get("/sent", params={"kind": "status"}).json()] == ["@sam@social.example Case 3"]
