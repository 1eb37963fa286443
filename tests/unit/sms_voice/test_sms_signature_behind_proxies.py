"""A Twilio webhook signed for the public URL verifies behind the load balancers met in practice (issue 12,
kind 3): proxies that keep ``Host`` and add only ``X-Forwarded-Proto``/``-Port``, RFC 7239 ``Forwarded``,
and ``X-Forwarded-For`` through the server stack `shared.service.serve` runs; forged headers from any
other address are never believed."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request

from conftest import PROXY_IP, Harness, make_harness, sms_form
from shared.service import ServerStack, forwarded_allow_ips, socket_origin

HOST = "sms.city.example"
SIGNED = f"https://{HOST}/twilio/sms"
STRANGER = "192.0.2.66"


async def test_a_proxy_keeping_host_and_adding_only_proto_and_port_is_verified() -> None:
    h = make_harness(public_base_url=None)
    headers = {"host": HOST, "x-forwarded-proto": "https", "x-forwarded-port": "443"}
    r = await h.post("/twilio/sms", sms_form(), signed_url=SIGNED, headers=headers, peer=PROXY_IP)
    assert r.status_code == 200, r.text
    assert len(h.publisher.published) == 1


async def test_a_proxy_adding_only_proto_is_verified_against_the_request_host() -> None:
    h = make_harness(public_base_url=None)
    r = await h.post("/twilio/sms", sms_form(), signed_url=SIGNED, headers={"host": HOST, "x-forwarded-proto": "https"},
                     peer=PROXY_IP)
    assert r.status_code == 200, r.text


async def test_a_non_default_forwarded_port_is_part_of_the_signed_url() -> None:
    h = make_harness(public_base_url=None)
    headers = {"host": HOST, "x-forwarded-proto": "https", "x-forwarded-port": "8443"}
    r = await h.post("/twilio/sms", sms_form(), signed_url=f"https://{HOST}:8443/twilio/sms", headers=headers,
                     peer=PROXY_IP)
    assert r.status_code == 200, r.text


async def test_an_rfc_7239_forwarded_header_from_a_trusted_proxy_is_verified() -> None:
    h = make_harness(public_base_url=None)
    headers = {"forwarded": f'for=198.51.100.7;proto=https;host="{HOST}", for=10.0.0.2;proto=http'}
    r = await h.post("/twilio/sms", sms_form(), signed_url=SIGNED, headers=headers, peer=PROXY_IP)
    assert r.status_code == 200, r.text


async def test_forwarded_headers_forged_by_an_untrusted_address_are_ignored() -> None:
    h = make_harness(public_base_url=None)
    headers = {"host": HOST, "x-forwarded-proto": "https", "x-forwarded-port": "443",
               "forwarded": f"proto=https;host={HOST}", "x-forwarded-host": HOST}
    forged = await h.post("/twilio/sms", sms_form(), signed_url=SIGNED, headers=headers, peer=STRANGER)
    real = await h.post("/twilio/sms", sms_form(), signed_url=f"http://{HOST}/twilio/sms", headers=headers,
                        peer=STRANGER)
    assert (forged.status_code, real.status_code) == (403, 200)
    assert len(h.publisher.published) == 1


# --- through the server stack `serve` runs: uvicorn's X-Forwarded-For handling in front of the app ------------

def _served(monkeypatch: pytest.MonkeyPatch, allow_ips: str | None, **harness: Any) -> Harness:
    """A harness whose app is wrapped exactly as `shared.service.serve` wraps it, with uvicorn's
    ``FORWARDED_ALLOW_IPS`` set to `allow_ips` (None: uvicorn's default)."""
    if allow_ips is None:
        monkeypatch.delenv("FORWARDED_ALLOW_IPS", raising=False)
    else:
        monkeypatch.setenv("FORWARDED_ALLOW_IPS", allow_ips)
    h = make_harness(public_base_url=None, **harness)
    h.app = ServerStack(h.app, forwarded_allow_ips())
    return h


PROXIED = {"host": HOST, "x-forwarded-proto": "https", "x-forwarded-port": "443", "x-forwarded-for": "198.51.100.7"}


async def test_a_signed_request_carrying_x_forwarded_for_through_a_trusted_proxy_is_verified(
        monkeypatch: pytest.MonkeyPatch) -> None:
    h = _served(monkeypatch, PROXY_IP)
    with_xff = await h.post("/twilio/sms", sms_form(), signed_url=SIGNED, headers=PROXIED, peer=PROXY_IP)
    without = await h.post("/twilio/sms", sms_form(), signed_url=SIGNED,
                           headers={k: v for k, v in PROXIED.items() if k != "x-forwarded-for"}, peer=PROXY_IP)
    assert (with_xff.status_code, without.status_code) == (200, 200), with_xff.text


async def test_a_proxy_that_rewrites_host_and_adds_x_forwarded_for_is_verified(monkeypatch: pytest.MonkeyPatch) -> None:
    h = _served(monkeypatch, PROXY_IP)
    headers = {"host": "intake-sms-voice.internal:8086", "x-forwarded-host": HOST, "x-forwarded-proto": "https",
               "x-forwarded-for": "54.172.60.1, 10.0.0.7"}
    r = await h.post("/twilio/sms", sms_form(), signed_url=SIGNED, headers=headers, peer=PROXY_IP)
    assert r.status_code == 200, r.text


async def test_a_loopback_proxy_under_uvicorns_default_trust_is_verified_with_x_forwarded_for(
        monkeypatch: pytest.MonkeyPatch) -> None:
    h = _served(monkeypatch, None, trusted=("127.0.0.1",))
    headers = {**PROXIED, "host": "127.0.0.1:8086", "x-forwarded-host": HOST}
    r = await h.post("/twilio/sms", sms_form(), signed_url=SIGNED, headers=headers, peer="127.0.0.1")
    assert r.status_code == 200, r.text


async def test_an_address_named_in_x_forwarded_for_is_never_taken_for_the_trusted_proxy(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # The server believes loopback's X-Forwarded-For, but only the socket peer can be the Twilio proxy.
    h = _served(monkeypatch, None)
    headers = {"host": HOST, "x-forwarded-host": "evil.example", "x-forwarded-proto": "https",
               "x-forwarded-for": PROXY_IP}
    spoofed = await h.post("/twilio/sms", sms_form(), signed_url="https://evil.example/twilio/sms", headers=headers,
                           peer="127.0.0.1")
    assert spoofed.status_code == 403
    assert h.publisher.published == []


async def test_forged_forwarded_headers_from_an_untrusted_address_are_ignored_by_the_whole_stack(
        monkeypatch: pytest.MonkeyPatch) -> None:
    h = _served(monkeypatch, PROXY_IP)
    headers = {**PROXIED, "x-forwarded-host": HOST}
    forged = await h.post("/twilio/sms", sms_form(), signed_url=SIGNED, headers=headers, peer=STRANGER)
    real = await h.post("/twilio/sms", sms_form(), signed_url=f"http://{HOST}/twilio/sms", headers=headers,
                        peer=STRANGER)
    assert (forged.status_code, real.status_code) == (403, 200)


async def test_the_server_stack_still_gives_the_app_the_forwarded_client_for_rate_limits(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", PROXY_IP)
    app = FastAPI()

    @app.get("/who")
    async def who(request: Request) -> dict[str, Any]:
        return {"client": request.client.host if request.client else None, "scheme": request.url.scheme,
                "socket": list(socket_origin(request.scope))}

    transport = httpx.ASGITransport(app=ServerStack(app, forwarded_allow_ips()), client=(PROXY_IP, 5000))
    async with httpx.AsyncClient(transport=transport, base_url="http://svc") as c:
        seen = (await c.get("/who", headers={"x-forwarded-for": "198.51.100.7", "x-forwarded-proto": "https"})).json()
    assert seen == {"client": "198.51.100.7", "scheme": "https", "socket": [PROXY_IP, "http"]}
