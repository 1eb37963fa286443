"""Odd bytes in what intake_web is sent (issue 12, kind 8): ids in the path with control characters,
invalid UTF-8 (percent-encoded bytes such as %FF%FE), dot segments or thousands of characters, query
values and JSON bodies alike, through the real app and the real case-API client (a mock case service).
Such an id names nothing: a 404 in the Open311 error format the path asked for (JSON or XML); a bad query
value or body is a 400; never a 5xx."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from functools import cache
from typing import Any
from urllib.parse import quote_from_bytes

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.intake_web.app import create_app
from shared.intake import CaseApiClient
from shared.open311 import parse_errors
from web_fakes import bearer, demo
from web_fakes import settings as web_settings

Handler = Callable[[httpx.Request], httpx.Response]


def case_service(asked: list[str]) -> Handler:
    """A case service that knows no case and no token; `asked` gets each raw path it was asked."""

    def handler(request: httpx.Request) -> httpx.Response:
        raw = request.url.raw_path.decode("ascii").split("?")[0]
        asked.append(raw)
        if raw.startswith("/cases/tokens/"):
            return httpx.Response(200, json={"service_request_id": None})
        if raw == "/cases/requests":
            return httpx.Response(200, json=[])
        return httpx.Response(404, json={"detail": "Not Found"})

    return handler


async def intake_web(asked: list[str]) -> httpx.AsyncClient:
    """intake_web on the real `CaseApiClient`; a server error is answered (500), not raised."""
    client = CaseApiClient("http://case.internal", transport=httpx.MockTransport(case_service(asked)))
    await client.start()
    app = create_app(web_settings(), jurisdiction=demo(), case_api=client)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
                             base_url="http://intake-web.internal")


def open311_error(r: httpx.Response, fmt: str) -> tuple[int, str]:
    """The one Open311 error of `r`, parsed in `fmt` (which also proves the media type and the body)."""
    assert r.headers["content-type"].startswith("application/json" if fmt == "json" else "text/xml"), r.text
    [err] = parse_errors(r.content, fmt)  # type: ignore[arg-type]
    return err.code, err.description


@pytest.mark.parametrize(("path", "fmt", "words"), [
    ("/requests/%0B%3C%27.json", "json", "service_request_id"),
    ("/requests/%0B%3C%27.xml", "xml", "service_request_id"),
    ("/services/%14.xml", "xml", "service_code"),
    ("/services/%14.json", "json", "service_code"),
    ("/tokens/%00%01%1F%FF%FE%C0%AF.json", "json", "token"),
    ("/tokens/%00%01%1F%FF%FE%C0%AF.xml", "xml", "token"),
], ids=["request-json", "request-xml", "service-xml", "service-json", "token-json", "token-xml"])
async def test_the_fuzzers_ids_are_not_found_in_the_format_asked(path: str, fmt: str, words: str) -> None:
    asked: list[str] = []
    async with await intake_web(asked) as web:
        r = await web.get(path)
    assert r.status_code == 404, r.text
    code, description = open311_error(r, fmt)
    assert code == 404 and description.startswith(words) and description.endswith("not found" if words != "service_code"
                                                                                    else "is not offered here")
    assert "staff have been alerted" not in description
    assert asked == [], "an id that cannot name a case is never sent to the case service"


@pytest.mark.parametrize(("path", "fmt"), [
    ("/tokens/...json", "json"),  # the token "..": the HTTP client would resolve it to /cases (a 500 before)
    ("/tokens/..xml", "xml"),  # the token "."
    ("/requests/...xml", "xml"),
    ("/requests/" + "A" * 3000 + ".xml", "xml"),
    ("/requests/%ED%A0%80%EF%BF%BE.json", "json"),  # an encoded surrogate and U+FFFE
    ("/tokens/%E2%80%AE%7F.xml", "xml"),  # a bidi override and DEL
    ("/tokens/%20%20.json", "json"),  # blank: Open311 text is stripped, so no token at all (a 500 before)
    ("/services/" + "%FF" * 500 + ".xml", "xml"),
])
async def test_other_ids_that_name_nothing_are_a_short_404(path: str, fmt: str) -> None:
    asked: list[str] = []
    async with await intake_web(asked) as web:
        r = await web.get(path)
    code, description = open311_error(r, fmt)
    assert r.status_code == code == 404 and len(description) < 120, description
    assert asked == []


@pytest.mark.parametrize(("path", "fmt"), [
    ("/requests.xml?extensions=%14", "xml"),
    ("/requests/DEM-1.json?extensions=%FF%FE", "json"),
    ("/requests.xml?start_date=%00", "xml"),
    ("/requests.json?status=%0B", "json"),
    ("/requests.xml?bbox=%FF,%00,1,2", "xml"),
    ("/requests.xml?lat=%0B&long=1&radius=5", "xml"),
])
async def test_a_query_value_with_odd_bytes_is_a_400_in_the_format_asked(path: str, fmt: str) -> None:
    async with await intake_web([]) as web:
        r = await web.get(path)
    assert r.status_code == 400 and open311_error(r, fmt)[0] == 400


async def test_a_filter_too_long_for_the_case_services_url_is_a_400_not_a_500() -> None:
    asked: list[str] = []
    async with await intake_web(asked) as web:  # each "/" is sent on as %2F: over httpx's 65 536 characters
        r = await web.get("/requests.xml?service_code=" + "/" * 30000)
    assert r.status_code == 400 and open311_error(r, "xml")[0] == 400 and asked == []


async def test_a_jurisdiction_id_with_control_characters_is_not_found_in_xml() -> None:
    async with await intake_web([]) as web:
        r = await web.get("/services.xml", params={"jurisdiction_id": "\x14\x00" + "x" * 5000})
    code, description = open311_error(r, "xml")
    assert r.status_code == code == 404 and description.startswith("jurisdiction_id") and len(description) < 120


@pytest.mark.parametrize("content", [b"[" * 100_000, b'{"phone": ' + b"9" * 5000 + b"}", b"\xff\xfe{"],
                         ids=["nested-deeper-than-the-stack", "integer-of-5000-digits", "not-utf8"])
async def test_a_console_body_json_cannot_read_is_a_400_not_a_500(content: bytes) -> None:
    async with await intake_web([]) as web:
        for path in ("/agent/requests", "/agent/callers"):
            r = await web.post(path, content=content, headers={"content-type": "application/json", **bearer()})
            assert r.status_code == 400 and open311_error(r, "json")[0] == 400, (path, r.text)


ID_BYTES = st.binary(min_size=1, max_size=24) | st.sampled_from([b".", b"..", b" ", b"\x00", b"\xff\xfe", b"A" * 400])


@cache
def one_app() -> Any:
    """One intake_web for every example (an app a build is ~0.1 s), on the real client; its mock transport
    holds nothing bound to an event loop, so each example may run in its own."""
    client = CaseApiClient("http://case.internal", transport=httpx.MockTransport(case_service([])))
    asyncio.run(client.start())
    return create_app(web_settings(), jurisdiction=demo(), case_api=client)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(raw=ID_BYTES, fmt=st.sampled_from(["json", "xml"]))
def test_any_bytes_as_an_id_are_answered_in_the_open311_format_never_a_server_error(raw: bytes, fmt: str) -> None:
    segment, app = quote_from_bytes(raw, safe=""), one_app()

    async def probe() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://intake-web.internal") as web:
            return [await web.get(f"/{route}/{segment}.{fmt}") for route in ("requests", "services", "tokens")]

    request, service, token = asyncio.run(probe())
    for r in (request, service):
        assert r.status_code == 404 and open311_error(r, fmt)[0] == 404, (raw, r.text)
    assert token.status_code in (200, 404), (raw, token.text)
    if token.status_code == 404:
        assert open311_error(token, fmt)[0] == 404
