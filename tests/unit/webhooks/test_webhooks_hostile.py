"""The webhooks service against hostile receivers and payloads: a receiver that trickles its answer a byte
at a time is cut at the attempt's timeout (the whole attempt, not each read: a trickle would otherwise hold
the delivery round, and every other subscription with it, past the message's lease); an attempt connects to
the address it checked (a rebinding DNS name cannot turn it inside); a payload without personal data keeps
no email or phone number in the resident's nested words (Open311 attribute answers, the location text the
router read); and a subscription whose personal data grant is withdrawn sends none afterwards, not even in
a redelivery of what was made before."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import timedelta
from uuid import uuid4

import httpx

from fastapi import FastAPI
from test_webhooks_handlers import KNOWN, opened, subscribe, waiting
from test_webhooks_routes import BODY, resolve
from test_webhooks_routes import KNOWN as ROUTE_KNOWN
from webhooks_fakes import FakeWebhooksRepository

from services.webhooks.adapters.sender import WebhookSender
from services.webhooks.config import department_of
from services.webhooks.domain import new_secret, scrub_data
from services.webhooks.entrypoints import http
from services.webhooks.service_layer import admin
from services.webhooks.service_layer import handlers as h
from shared.auth import Role, install_auth
from shared.contacts import scrub_contacts
from shared.jurisdiction import load_jurisdiction
from support.uow import T0, FakeStore, event


async def _trickling_server() -> tuple[asyncio.base_events.Server, int]:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(65536)
        try:
            for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 200:
                writer.write(bytes([byte]))
                await writer.drain()
                await asyncio.sleep(0.05)
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def test_a_receiver_trickling_its_answer_is_cut_at_the_attempts_timeout() -> None:
    server, port = await _trickling_server()
    sender = WebhookSender(timeout_s=0.5, allow_private=True)
    try:
        started = time.monotonic()
        outcome = await sender.post(f"http://127.0.0.1:{port}/hook", {}, "{}")
        took = time.monotonic() - started
    finally:
        await sender.aclose()
        server.close()
    assert not outcome.delivered and outcome.error == "no answer within 0.5 s"
    assert took < 2.0, f"the attempt lasted {took:.1f} s for a 0.5 s timeout"


def test_nested_words_of_the_resident_lose_their_emails_and_phone_numbers() -> None:
    opened = {"case_id": "c", "description": "hole", "attributes": {
        "details": "call me at 617-555-0123 or jo@example.org", "kinds": ["deep", "write to jo@example.org"]}}
    routed = {"case_id": "c", "routing": {"service_code": "pothole", "location": {
        "status": "placed", "query": "12 Main St, text 617-555-0123"}}}
    for data in (opened, routed):
        text = json.dumps(scrub_data(data, (), scrub_contacts))
        assert "555-0123" not in text and "jo@example.org" not in text, text
    kept = scrub_data(opened, (), scrub_contacts)
    assert kept["attributes"]["kinds"][0] == "deep"


async def test_the_attempt_connects_to_the_address_it_checked_not_to_a_second_lookup() -> None:
    answers = iter([["93.184.216.34"], ["127.0.0.1"]])  # a rebinding name: public once, then inside

    async def rebinding(host: str, port: int) -> list[str]:
        return next(answers)

    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    sender = WebhookSender(timeout_s=1, allow_private=False, resolve=rebinding, transport=httpx.MockTransport(answer))
    outcome = await sender.post("https://hooks.example.org:8443/omni311?x=1", {"webhook-id": "msg_1"}, "{}")
    await sender.aclose()
    assert outcome.delivered
    [sent] = seen
    assert (sent.url.host, sent.url.port, sent.url.path, sent.url.query) == ("93.184.216.34", 8443, "/omni311", b"x=1")
    assert sent.headers["host"] == "hooks.example.org:8443"
    assert sent.extensions["sni_hostname"] == "hooks.example.org"


async def test_a_withdrawn_personal_data_grant_rewrites_the_messages_made_under_it() -> None:
    store = FakeStore(FakeWebhooksRepository(), "webhooks")
    making = h.Making(department_of=department_of(load_jurisdiction("demo")),
                      scrub=lambda t: scrub_contacts(t, "CA"), pii_paths=h.registry_pii_paths)
    granted = await subscribe(store, "case.opened", personal_data=True)
    case = uuid4()
    await store.handle(h.handlers(making), event(opened(case), subject=case))
    [before] = waiting(store, granted)
    assert before["body"]["data"]["pii"]["email"] == "ann@example.org"

    await admin.change(store.uow(claim=False), granted, {"personal_data": False}, known=KNOWN,
                       public_body=lambda body: h.public_body(body, making))

    [after] = waiting(store, granted)
    assert "pii" not in after["body"]["data"] and "613-555" not in str(after["body"])
    assert after["personal_data"] is False
    assert await admin.redeliver(store.uow(claim=False), granted, since=T0 - timedelta(days=1),
                                 until=T0 + timedelta(days=1)) == 1
    assert "ann@example.org" not in str(waiting(store, granted)[0]["body"])


async def test_a_redelivery_range_beyond_the_calendar_in_utc_is_a_422(test_issuer) -> None:
    store = FakeStore(FakeWebhooksRepository(), "webhooks")
    app = FastAPI()
    install_auth(app, test_issuer.verifier())
    http.mount(app, http.WebhooksApi(unit_of_work=lambda: store.uow(claim=False), known=lambda: ROUTE_KNOWN,
                                     check_url=WebhookSender(timeout_s=1, allow_private=False,
                                                             resolve=resolve).check_url,
                                     new_secret=lambda: new_secret(b"z" * 24), new_id=uuid4, secret_overlap_s=60,
                                     wake=lambda: None, public_body=lambda body: body))
    auth = test_issuer.headers(Role.ADMINISTRATOR)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://webhooks") as client:
        sub = (await client.post("/admin/subscriptions", json=BODY, headers=auth)).json()
        for since, until in (("0001-01-01T00:00:00+12:00", "2026-01-01T00:00:00Z"),
                             ("2026-01-01T00:00:00Z", "9999-12-31T23:59:59-12:00")):
            r = await client.post(f"/admin/subscriptions/{sub['id']}/redeliver", json={"since": since, "until": until},
                                  headers=auth)
            assert r.status_code == 422, (since, until, r.text)
        r = await client.post(f"/admin/subscriptions/{sub['id']}/redeliver", headers=auth,
                              json={"since": "0001-01-01T00:00:00Z", "until": "9999-12-31T23:59:59Z"})
        assert r.status_code == 202
