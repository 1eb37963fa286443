"""The console's reads of the case API through the shared `CaseApiClient` over a mock HTTP transport: a case
service without `GET /cases/by-contact/{contact_key}`, or one that is down, makes earlier cases
"unavailable" instead of breaking the console; phone tokens are looked up on channel `phone`."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from services.intake_web.app import create_app
from services.intake_web.config import AgentSettings
from shared.intake import CaseApiClient, CaseApiUnavailable
from shared.settings import Settings
from web_fakes import demo

TOKENS = {"tok-ana-0123456789": "agent-ana"}
BEARER = {"authorization": "Bearer tok-ana-0123456789"}
CASE = {"service_request_id": "DEM-2026-000001", "status": "open", "service_code": "pothole",
        "requested_datetime": "2026-11-29T15:00:00.123456+00:00", "address": None}


def lookups(handler: Callable[[httpx.Request], httpx.Response]) -> CaseApiClient:
    client = CaseApiClient("http://case.internal")
    client._http = httpx.AsyncClient(transport=httpx.MockTransport(handler), base_url="http://case.internal")
    return client


def console(handler: Callable[[httpx.Request], httpx.Response]) -> httpx.AsyncClient:
    """The console's routes (ASGI) reading a case API that answers with `handler`."""
    app = create_app(Settings(jurisdiction="demo"), agent_settings=AgentSettings(tokens=TOKENS),
                     jurisdiction=demo(), case_api=lookups(handler))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://intake-web.internal")


async def test_earlier_cases_come_from_the_by_contact_endpoint() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        return httpx.Response(200, json=[CASE])

    [found] = await lookups(handler).earlier_cases("ck_abc")  # type: ignore[misc]
    assert found.service_request_id == "DEM-2026-000001"
    assert seen == ["/cases/by-contact/ck_abc"]
    async with console(handler) as web:
        r = await web.post("/agent/callers", json={"phone": "6135550142"}, headers=BEARER)
    assert r.status_code == 200 and r.json()["available"] is True
    assert r.json()["requests"] == [CASE], "the agent sees the case as the case service sent it"


@pytest.mark.parametrize("handler", [
    lambda r: httpx.Response(404, json={"detail": "Not Found"}),
    lambda r: httpx.Response(503),
    lambda r: httpx.Response(200, json={"unexpected": "shape"}),
], ids=["endpoint-missing", "failing", "not-a-list"])
async def test_earlier_cases_are_unavailable_when_the_case_service_cannot_tell(
        handler: Callable[[httpx.Request], httpx.Response]) -> None:
    async with console(handler) as web:
        r = await web.post("/agent/callers", json={"phone": "6135550142"}, headers=BEARER)
    assert r.status_code == 200
    assert r.json() == {"phone": "+16135550142", "available": False, "message": "earlier cases unavailable",
                        "requests": []}


@pytest.mark.parametrize("handler", [
    lambda r: httpx.Response(404, json={"detail": "Not Found"}),
    lambda r: httpx.Response(200, json={"unexpected": "shape"}),
    lambda r: httpx.Response(200, json=[{"service_request_id": "DEM-2026-000001"}]),
], ids=["endpoint-missing", "not-a-list", "not-a-request"])
async def test_the_client_cannot_tell_earlier_cases_without_the_endpoint_or_from_an_odd_answer(
        handler: Callable[[httpx.Request], httpx.Response]) -> None:
    assert await lookups(handler).earlier_cases("ck_abc") is None


async def test_an_unreachable_case_service_makes_earlier_cases_unavailable() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(CaseApiUnavailable):
        await lookups(handler).earlier_cases("ck_abc")
    with pytest.raises(CaseApiUnavailable):
        await lookups(handler).case_of_token("t", channel="phone")
    async with console(handler) as web:
        earlier = await web.post("/agent/callers", json={"phone": "6135550142"}, headers=BEARER)
        token = await web.get("/agent/tokens/t", headers=BEARER)
    assert earlier.status_code == 200 and earlier.json()["available"] is False
    assert token.status_code == 503 and token.headers["retry-after"] == "5"
    assert token.json()[0]["code"] == 503


async def test_a_phone_token_is_looked_up_on_the_phone_channel() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.params["channel"] == "phone"
        return httpx.Response(200, json={"token": "t", "service_request_id": "DEM-2026-000009"})

    assert await lookups(handler).case_of_token("t", channel="phone") == "DEM-2026-000009"
    async with console(handler) as web:
        r = await web.get("/agent/tokens/t", headers=BEARER)
    assert r.json() == {"token": "t", "service_request_id": "DEM-2026-000009"}
