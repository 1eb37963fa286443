"""The console's reads of the case API through the shared `CaseApiClient` over a mock HTTP transport: an
agent sees a caller's earlier cases exactly as the case service sent them; a case service without
`GET /cases/by-contact/{contact_key}`, or one that is down, makes earlier cases "unavailable" instead of
breaking the console; phone tokens are looked up on channel `phone`; the console waits 5 s, Open311 reads 10 s."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from services.intake_web.adapters.edge import CONSOLE_LOOKUP_TIMEOUT_S, OPEN311_READ_TIMEOUT_S
from services.intake_web.app import create_app
from services.intake_web.domain.agent import phone_contact_key
from shared.intake import CaseApiClient
from shared.settings import Settings
from web_fakes import bearer, demo, settings
CASE = {"service_request_id": "DEM-2026-000001", "status": "open", "service_code": "pothole",
        "requested_datetime": "2026-11-29T15:00:00.123456+00:00", "address": None}
ODD = [
    {"service_request_id": "DEM-2026-000002", "status": "open", "service_code": "pothole", "address": "",
     "description": "  Deep hole  ", "requested_datetime": "2026-11-29T10:00:00-05:00", "lat": 45.42,
     "zipcode": 12345, "x_unknown": {"kept": True}},
    {"service_request_id": "DEM-2026-000003"},
    {"status": "no such status", "requested_datetime": "last week"},
]
"""Earlier cases as a case service might send them: a blank address, untrimmed text, a time with an
offset, a number where Open311 has text, an unknown field, an item with few fields, and one that no
Open311 model accepts."""


def case_api(handler: Callable[[httpx.Request], httpx.Response], timeout_s: float = 5.0) -> CaseApiClient:
    return CaseApiClient("http://case.internal", timeout_s, transport=httpx.MockTransport(handler))


async def console(handler: Callable[[httpx.Request], httpx.Response]) -> httpx.AsyncClient:
    """The console's routes (ASGI) reading a case API that answers with `handler`."""
    client = case_api(handler)
    await client.start()
    app = create_app(settings(), jurisdiction=demo(), case_api=client)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://intake-web.internal")


async def look_up(handler: Callable[[httpx.Request], httpx.Response]) -> dict[str, Any]:
    async with await console(handler) as web:
        r = await web.post("/agent/callers", json={"phone": "6135550142"}, headers=bearer())
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


async def test_earlier_cases_come_from_the_by_contact_endpoint_asked_with_the_agents_token() -> None:
    seen: list[tuple[str, str | None]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((request.url.path, request.headers.get("authorization")))
        return httpx.Response(200, json=[CASE])

    headers = bearer()
    async with await console(handler) as web:
        answer = (await web.post("/agent/callers", json={"phone": "6135550142"}, headers=headers)).json()
    assert seen == [(f"/cases/by-contact/{phone_contact_key('+16135550142')}", headers["Authorization"])]
    assert answer == {"phone": "+16135550142", "available": True, "requests": [CASE]}


async def test_the_agent_sees_each_earlier_case_exactly_as_the_case_service_sent_it() -> None:
    answer = await look_up(lambda r: httpx.Response(200, json=ODD))
    assert answer["available"] is True
    assert answer["requests"] == ODD, "no blank → null, no trimming, no UTC conversion, no number → text"


async def test_at_most_50_earlier_cases_are_shown_newest_first_as_sent() -> None:
    many = [{"service_request_id": f"DEM-2026-{n:06d}"} for n in range(60, 0, -1)]
    answer = await look_up(lambda r: httpx.Response(200, json=many))
    assert answer["requests"] == many[:50]


@pytest.mark.parametrize("handler", [
    lambda r: httpx.Response(404, json={"detail": "Not Found"}),
    lambda r: httpx.Response(503),
    lambda r: httpx.Response(400, json={"detail": "bad"}),
    lambda r: httpx.Response(401, json={"detail": "a valid staff bearer token is required"}),
    lambda r: httpx.Response(403, json={"detail": "role"}),
    lambda r: httpx.Response(200, json={"unexpected": "shape"}),
    lambda r: httpx.Response(200, content=b"<html>proxy error</html>"),
], ids=["endpoint-missing", "failing", "refused", "token-refused", "role-refused", "not-a-list", "not-json"])
async def test_earlier_cases_are_unavailable_when_the_case_service_cannot_tell(
        handler: Callable[[httpx.Request], httpx.Response]) -> None:
    assert await look_up(handler) == {"phone": "+16135550142", "available": False,
                                      "message": "earlier cases unavailable", "requests": []}


async def test_an_unreachable_case_service_makes_earlier_cases_unavailable_and_tokens_retried() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    async with await console(handler) as web:
        earlier = await web.post("/agent/callers", json={"phone": "6135550142"}, headers=bearer())
        token = await web.get("/agent/tokens/t", headers=bearer())
    assert earlier.status_code == 200 and earlier.json()["available"] is False
    assert token.status_code == 503 and token.headers["retry-after"] == "5"
    assert token.json()[0]["code"] == 503


async def test_a_phone_token_is_looked_up_on_the_phone_channel() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/cases/tokens/t" and request.url.params["channel"] == "phone"
        return httpx.Response(200, json={"token": "t", "service_request_id": "DEM-2026-000009"})

    async with await console(handler) as web:
        r = await web.get("/agent/tokens/t", headers=bearer())
    assert r.json() == {"token": "t", "service_request_id": "DEM-2026-000009"}


def test_the_console_waits_5_s_for_the_case_service_and_open311_reads_10_s() -> None:
    deps = create_app(Settings(jurisdiction="demo"), jurisdiction=demo()).state.deps
    assert (CONSOLE_LOOKUP_TIMEOUT_S, OPEN311_READ_TIMEOUT_S) == (5.0, 10.0)
    assert isinstance(deps.console_case_api, CaseApiClient) and isinstance(deps.case_api, CaseApiClient)
    assert deps.console_case_api.timeout_s == CONSOLE_LOOKUP_TIMEOUT_S
    assert deps.case_api.timeout_s == OPEN311_READ_TIMEOUT_S


@pytest.mark.parametrize("timeout_s", [5.0, 10.0])
async def test_the_client_asks_with_its_timeout(timeout_s: float) -> None:
    seen: list[dict[str, float]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.extensions["timeout"])
        return httpx.Response(200, json=[])

    client = case_api(handler, timeout_s)
    await client.start()
    await client.earlier_cases("ck_abc")
    await client.stop()
    assert seen == [{"connect": timeout_s, "read": timeout_s, "write": timeout_s, "pool": timeout_s}]
