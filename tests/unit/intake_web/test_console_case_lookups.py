"""The console's reads of the case API (`HttpCaseLookups`) over a mock HTTP transport: a case service
without `GET /cases/by-contact/{contact_key}`, or one that is down, makes earlier cases "unavailable"
instead of breaking the console; phone tokens are looked up on channel `phone`."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from services.intake_web.console import CaseLookupUnavailable, HttpCaseLookups
from shared.logs import get_logger


def lookups(handler: Callable[[httpx.Request], httpx.Response]) -> HttpCaseLookups:
    client = HttpCaseLookups("http://case.internal", get_logger("test"))
    client.http = httpx.AsyncClient(transport=httpx.MockTransport(handler), base_url="http://case.internal")
    return client


async def test_earlier_cases_come_from_the_by_contact_endpoint() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        return httpx.Response(200, json=[{"service_request_id": "DEM-2026-000001"}])

    assert await lookups(handler).by_contact("ck_abc") == [{"service_request_id": "DEM-2026-000001"}]
    assert seen == ["/cases/by-contact/ck_abc"]


@pytest.mark.parametrize("handler", [
    lambda r: httpx.Response(404, json={"detail": "Not Found"}),
    lambda r: httpx.Response(503),
    lambda r: httpx.Response(200, json={"unexpected": "shape"}),
], ids=["endpoint-missing", "failing", "not-a-list"])
async def test_earlier_cases_are_unavailable_when_the_case_service_cannot_tell(
        handler: Callable[[httpx.Request], httpx.Response]) -> None:
    assert await lookups(handler).by_contact("ck_abc") is None


async def test_an_unreachable_case_service_makes_earlier_cases_unavailable() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    assert await lookups(handler).by_contact("ck_abc") is None
    with pytest.raises(CaseLookupUnavailable):
        await lookups(handler).case_of_token("t")


async def test_a_phone_token_is_looked_up_on_the_phone_channel() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.params["channel"] == "phone"
        return httpx.Response(200, json={"token": "t", "service_request_id": "DEM-2026-000009"})

    assert await lookups(handler).case_of_token("t") == "DEM-2026-000009"
