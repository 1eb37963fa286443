"""The forwarder against a hostile or broken Open311 endpoint: an endpoint that echoes our API key in its
error list never gets it into `forwarding.forward_failed`, the row or the log; an id with control characters
is refused, never stored; notes with control characters (a NUL PostgreSQL refuses) are cleaned before they
are compared, kept and announced; an endpoint that trickles its answer is cut at the client's timeout for the
whole exchange (one slow endpoint would otherwise hold every send and poll of the loop)."""

from __future__ import annotations

import asyncio
import json
import time
from uuid import uuid4

from test_forwarder_handlers import FORWARDING, Endpoints, FakeRepo, forwarding, routed

from services.forwarder.adapters.open311 import Open311Client
from services.forwarder.domain.answers import Answer, read_post_answer
from services.forwarder.service_layer import handlers as h
from support.uow import T0, FakeStore, event

KEY = "key-county"  # the key `forwarding()` gives the county endpoint


async def _one_county_case(store: FakeStore[FakeRepo]):
    case_id = uuid4()
    await store.handle(h.handlers(FORWARDING), event(routed(case_id), subject=case_id))
    store.repo.rows.pop((case_id, "utility"))
    return case_id


async def test_an_api_key_echoed_by_the_endpoint_is_never_in_the_failure() -> None:
    store = FakeStore(FakeRepo(), "forwarder")
    case_id = await _one_county_case(store)
    body = (b'<errors><error><code>403</code><description>Invalid api_key ' + KEY.encode()
            + b'</description></error></errors>')
    await h.send_due(forwarding(store, Endpoints(Answer(403, body))))
    [failed] = store.emitted("forwarding.forward_failed")
    row = store.repo.rows[(case_id, "county")]
    assert KEY not in json.dumps(failed.data) and KEY not in (row["last_error"] or "")
    assert "Invalid api_key" in failed.data["error"], "the rest of the endpoint's reason is kept"

    store.repo.rows[(case_id, "county")].update(state="forwarded", external_service_request_id="C-1",
                                                next_poll_at=T0)
    echo = Endpoints(Answer(200, b"[]"))

    async def requests(*args, **kwargs) -> Answer:
        return Answer(200, json.dumps([{"code": 400, "description": f"api_key {KEY} unknown"}]).encode())
    echo.requests = requests  # type: ignore[method-assign]
    f = forwarding(store, echo)
    for _ in range(3):  # the third failure in a row is announced
        store.repo.rows[(case_id, "county")]["next_poll_at"] = T0
        await h.poll_due(f)
    assert KEY not in (store.repo.rows[(case_id, "county")]["last_error"] or "")
    assert all(KEY not in json.dumps(e.data) for e in store.emitted("forwarding.forward_failed"))


def test_an_id_or_token_with_control_characters_is_refused_and_an_error_list_keeps_none() -> None:
    for answered in ('[{"service_request_id": "a\\u0000b"}]', '[{"service_request_id": "a\\nb\\u001b[31m"}]',
                     '[{"token": "t\\u0000"}]'):
        outcome = read_post_answer(Answer(201, answered.encode()), "json")
        assert isinstance(outcome, h.Failed) and not outcome.retry, answered
    refused = read_post_answer(Answer(400, b'[{"code": 400, "description": "bad\\u0000 \\u001b[2J"}]'), "json")
    assert isinstance(refused, h.Failed) and refused.error == "send: HTTP 400 from the endpoint (400: bad [2J)"


async def test_status_notes_with_control_characters_are_cleaned() -> None:
    store = FakeStore(FakeRepo(), "forwarder")
    case_id = await _one_county_case(store)
    store.repo.rows[(case_id, "county")].update(state="forwarded", external_service_request_id="C-1",
                                                next_poll_at=T0)
    endpoint = Endpoints(Answer(200, b"[]"))

    async def requests(*args, **kwargs) -> Answer:
        return Answer(200, json.dumps([{"service_request_id": "C-1", "status": "closed",
                                        "status_notes": "Fixed\u0000 by\u001b[31m crew\nB",
                                        "agency_responsible": "Roads\u0007"}]).encode())
    endpoint.requests = requests  # type: ignore[method-assign]
    await h.poll_due(forwarding(store, endpoint))
    [reported] = store.emitted("forwarding.status_reported")
    assert reported.data["status_notes"] == "Fixed by[31m crew\nB"
    assert reported.data["agency_responsible"] == "Roads"
    assert store.repo.rows[(case_id, "county")]["status_notes"] == "Fixed by[31m crew\nB"


async def test_an_endpoint_trickling_its_answer_is_cut_at_the_timeout() -> None:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(65536)
        try:
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
            for _ in range(200):
                writer.write(b"[")
                await writer.drain()
                await asyncio.sleep(0.05)
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    client = Open311Client(timeout_s=0.5)
    await client.start()
    try:
        started = time.monotonic()
        answer = await client.requests(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}", "json", ["1"])
        took = time.monotonic() - started
    finally:
        await client.stop()
        server.close()
    assert answer.status is None and answer.error and "0.5 s" in answer.error
    assert took < 2.0, f"the exchange lasted {took:.1f} s for a 0.5 s timeout"


async def test_an_id_the_endpoint_already_gave_another_case_is_refused() -> None:
    store = FakeStore(FakeRepo(), "forwarder")
    first, second = await _one_county_case(store), await _one_county_case(store)
    same = Endpoints(Answer(201, b'[{"service_request_id": "C-7"}]'))
    f = forwarding(store, same)
    await h.send_due(f)
    states = {c: store.repo.rows[(c, "county")]["state"] for c in (first, second)}
    assert sorted(states.values()) == ["forwarded", "refused"], states
    [forwarded] = store.emitted("forwarding.case_forwarded")
    [failed] = store.emitted("forwarding.forward_failed")
    assert forwarded.subject != failed.subject and "another case" in failed.data["error"]

    third = await _one_county_case(store)
    store.repo.rows[(third, "county")].update(state="awaiting_token", token="T-1", next_poll_at=T0)

    async def token(*args, **kwargs) -> Answer:
        return Answer(200, b'[{"service_request_id": "C-7", "token": "T-1"}]')
    same.token = token  # type: ignore[method-assign]
    await h.poll_due(f)
    assert store.repo.rows[(third, "county")]["state"] == "refused"
    assert store.emitted("forwarding.forward_failed")[-1].subject == str(third)


async def test_one_unreadable_request_fails_the_poll_of_its_forward_only() -> None:
    store = FakeStore(FakeRepo(), "forwarder")
    good, odd = await _one_county_case(store), await _one_county_case(store)
    for case_id, external in ((good, "C-1"), (odd, "C-2")):
        store.repo.rows[(case_id, "county")].update(state="forwarded", external_service_request_id=external,
                                                    next_poll_at=T0)
    endpoint = Endpoints(Answer(200, b"[]"))

    async def requests(*args, **kwargs) -> Answer:
        return Answer(200, json.dumps([{"service_request_id": "C-2", "status": "acknowledged"},
                                       {"service_request_id": "C-1", "status": "closed", "status_notes": "Done"},
                                       {"service_request_id": "C-9", "status": "closed"}]).encode())
    endpoint.requests = requests  # type: ignore[method-assign]
    await h.poll_due(forwarding(store, endpoint))
    [reported] = store.emitted("forwarding.status_reported")
    assert reported.subject == str(good) and reported.data["status"] == "closed"
    odd_row = store.repo.rows[(odd, "county")]
    assert odd_row["poll_failures"] == 1 and "C-2" in odd_row["last_error"] and "status" in odd_row["last_error"]


def test_xml_requests_are_read_item_by_item_and_a_bomb_is_still_refused() -> None:
    from services.forwarder.domain.answers import read_requests_by_item

    body = (b"<service_requests><request><service_request_id>C-2</service_request_id><status>acknowledged"
            b"</status></request><request><service_request_id>C-1</service_request_id><status>open</status>"
            b"</request></service_requests>")
    read, unreadable = read_requests_by_item(Answer(200, body), "xml")  # type: ignore[misc]
    assert [r.service_request_id for r in read] == ["C-1"] and list(unreadable) == ["C-2"]
    bomb = (b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]>'
            b"<service_requests><request><service_request_id>&b;</service_request_id><status>x</status>"
            b"</request></service_requests>")
    assert isinstance(read_requests_by_item(Answer(200, bomb), "xml"), h.Failed)
