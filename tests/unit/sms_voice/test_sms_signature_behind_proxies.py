"""A Twilio webhook signed for the public URL verifies behind the load balancers met in practice (issue 12,
kind 3): proxies that keep ``Host`` and add only ``X-Forwarded-Proto``/``-Port``, RFC 7239 ``Forwarded``,
and ``X-Forwarded-For`` through the server stack `shared.service.serve` runs; forged headers from any
other address are never believed."""

from __future__ import annotations

from conftest import PROXY_IP, make_harness, sms_form

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
