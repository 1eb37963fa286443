"""The webhooks admin API in process, on the in-memory repository: administrators only (401, 403, nothing
kept), a new subscription answers its secret once, unknown event types and private URLs are 422, the
lifecycle of a subscription (change, rotate, resume, redeliver, log, disable), and an OpenAPI document whose
every route has a response model."""

from __future__ import annotations

import ipaddress
from uuid import uuid4

import httpx
import pytest
from fastapi import FastAPI
from webhooks_fakes import FakeWebhooksRepository

from services.webhooks.adapters.sender import WebhookSender
from services.webhooks.domain import new_secret
from services.webhooks.entrypoints import http
from services.webhooks.service_layer import admin
from shared.auth import Role, install_auth
from support.uow import FakeStore

KNOWN = admin.Known(event_types=frozenset({"case.routed", "case.status_changed"}),
                    departments=frozenset({"public-works", "water"}), service_codes=frozenset({"pothole"}))
BODY = {"url": "https://hooks.example.org/omni311", "event_types": ["case.routed", "case.status_changed"],
        "departments": ["public-works"]}


async def resolve(host: str, port: int) -> list[str]:
    return {"hooks.example.org": ["93.184.216.34"], "inside.example.org": ["10.0.0.7"]}[host]


@pytest.fixture
def store() -> FakeStore[FakeWebhooksRepository]:
    return FakeStore(FakeWebhooksRepository(), "webhooks")


@pytest.fixture
def client(test_issuer, store) -> httpx.AsyncClient:
    app = FastAPI()
    install_auth(app, test_issuer.verifier())
    sender = WebhookSender(timeout_s=1, allow_private=False, resolve=resolve)
    http.mount(app, http.WebhooksApi(unit_of_work=lambda: store.uow(claim=False), known=lambda: KNOWN,
                                     check_url=sender.check_url, new_secret=lambda: new_secret(b"z" * 24),
                                     new_id=uuid4, secret_overlap_s=60, wake=lambda: None,
                                     public_body=lambda body: body))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://webhooks")


async def test_only_administrators_may_and_a_refusal_keeps_nothing(client, test_issuer, store) -> None:
    assert (await client.post("/admin/subscriptions", json=BODY)).status_code == 401
    for role in (Role.SUPERVISOR, Role.DEPARTMENT_STAFF, Role.CALL_AGENT):
        r = await client.post("/admin/subscriptions", json=BODY, headers=test_issuer.headers(role))
        assert r.status_code == 403, role
        assert (await client.get("/admin/subscriptions", headers=test_issuer.headers(role))).status_code == 403
    assert store.repo.subs == {}


async def test_a_subscription_answers_its_secret_once_and_refuses_what_it_cannot_serve(client, test_issuer) -> None:
    admin_headers = test_issuer.headers(Role.ADMINISTRATOR)
    r = await client.post("/admin/subscriptions", json=BODY, headers=admin_headers)
    assert r.status_code == 201, r.text
    made = r.json()
    assert made["secret"].startswith("whsec_") and made["status"] == "active"
    got = (await client.get(f"/admin/subscriptions/{made['id']}", headers=admin_headers)).json()
    assert "secret" not in got and got["departments"] == ["public-works"]
    for body, words in [({**BODY, "event_types": ["case.nope"]}, "unknown event types"),
                        ({**BODY, "url": "https://inside.example.org/x"}, "private address"),
                        ({**BODY, "url": "http://hooks.example.org/x"}, "must be https"),
                        ({**BODY, "url": "https://169.254.169.254/latest"}, "private address"),
                        ({**BODY, "departments": ["mars"]}, "unknown departments"),
                        ({**BODY, "extra": 1}, "extra")]:
        r = await client.post("/admin/subscriptions", json=body, headers=admin_headers)
        assert r.status_code == 422 and words in r.text, (body, r.text)
    assert len((await client.get("/admin/subscriptions", headers=admin_headers)).json()) == 1


async def test_change_rotate_resume_redeliver_log_and_disable(client, test_issuer) -> None:
    h = test_issuer.headers(Role.ADMINISTRATOR)
    sid = (await client.post("/admin/subscriptions", json=BODY, headers=h)).json()["id"]
    r = await client.patch(f"/admin/subscriptions/{sid}", json={"departments": ["water"], "description": "crm"},
                           headers=h)
    assert r.status_code == 200 and r.json()["departments"] == ["water"] and r.json()["description"] == "crm"
    assert (await client.patch(f"/admin/subscriptions/{sid}", json={"url": None}, headers=h)).status_code == 422
    r = await client.post(f"/admin/subscriptions/{sid}/secret", headers=h)
    assert r.status_code == 200 and r.json()["secret"].startswith("whsec_")
    r = await client.post(f"/admin/subscriptions/{sid}/resume", headers=h)
    assert r.status_code == 200 and r.json()["waiting"] == 0
    r = await client.post(f"/admin/subscriptions/{sid}/redeliver", headers=h,
                          json={"since": "2026-03-01T00:00:00Z", "until": "2026-03-02T00:00:00Z"})
    assert r.status_code == 202 and r.json() == {"count": 0}
    r = await client.post(f"/admin/subscriptions/{sid}/redeliver", headers=h,
                          json={"since": "2026-03-01T00:00:00", "until": "2026-03-02T00:00:00Z"})
    assert r.status_code == 422, "a time without its zone"
    assert (await client.get(f"/admin/subscriptions/{sid}/deliveries?status=failed", headers=h)).json() == []
    assert (await client.get(f"/admin/subscriptions/{sid}/deliveries?status=x", headers=h)).status_code == 422
    r = await client.delete(f"/admin/subscriptions/{sid}", headers=h)
    assert r.status_code == 200 and r.json()["status"] == "disabled"
    assert (await client.post(f"/admin/subscriptions/{sid}/resume", headers=h)).status_code == 409
    assert (await client.get(f"/admin/subscriptions/{uuid4()}", headers=h)).status_code == 404


def test_every_route_has_a_response_model_in_the_openapi_document() -> None:
    app = FastAPI()
    http.mount(app, None)  # type: ignore[arg-type]
    doc = app.openapi()
    for path, methods in doc["paths"].items():
        for method, op in methods.items():
            ok = next(code for code in op["responses"] if code.startswith("2"))
            assert "schema" in op["responses"][ok].get("content", {}).get("application/json", {}), (method, path)


async def test_the_address_check_refuses_every_kind_of_private_address() -> None:
    sender = WebhookSender(timeout_s=1, allow_private=False, resolve=resolve)
    for host in ("127.0.0.1", "[::1]", "10.1.2.3", "192.168.0.1", "[::ffff:10.0.0.1]", "100.64.0.1"):
        with pytest.raises(ValueError, match="private"):
            await sender.check_url(f"https://{host}/x")
    assert ipaddress.ip_address("93.184.216.34").is_global
    await sender.check_url("https://hooks.example.org/x")
    outcome = await sender.post("https://inside.example.org/x", {}, "{}")
    assert not outcome.delivered and outcome.error and outcome.error.startswith("refused")


async def test_the_sender_follows_no_redirect_and_reads_only_a_2xx_as_delivered() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/slow":
            raise httpx.ReadTimeout("slow", request=request)
        return httpx.Response({"/ok": 204, "/moved": 302, "/down": 503}[request.url.path],
                              headers={"location": "https://hooks.example.org/ok"})

    sender = WebhookSender(timeout_s=1, allow_private=False, resolve=resolve, transport=httpx.MockTransport(answer))
    ok = await sender.post("https://hooks.example.org/ok", {"webhook-id": "msg_1"}, '{"é":1}')
    assert ok.delivered and seen[0].content == '{"é":1}'.encode() and seen[0].headers["webhook-id"] == "msg_1"
    moved = await sender.post("https://hooks.example.org/moved", {}, "{}")
    assert not moved.delivered and moved.http_status == 302 and "not followed" in (moved.error or "")
    assert len(seen) == 2, "the redirect was not followed"
    down = await sender.post("https://hooks.example.org/down", {}, "{}")
    assert (down.delivered, down.error) == (False, "HTTP 503")
    slow = await sender.post("https://hooks.example.org/slow", {}, "{}")
    assert slow.http_status is None and "no answer within 1 s" == slow.error
    await sender.aclose()
