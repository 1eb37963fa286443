"""The shared case-API client (`shared.intake.CaseApiClient`) over a mock HTTP transport: what each answer
of the case service becomes. A 404 is "none" only where the route says so; every other answer we cannot
use (unreachable, 5xx, 408, 429, a body that is not JSON or not valid Open311) is `CaseApiUnavailable`,
which intake_sms_voice's ``STATUS <number>`` reply turns into "unavailable" and intake_web into 503; any
other 4xx is `CaseApiRefused` (the case service is up and refuses the question: intake_web answers 400);
a 404 from a route that never answers 404 is `CaseApiNoRoute` (a 500)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from services.intake_web.app import create_app
from shared.intake import CaseApiClient, CaseApiNoRoute, CaseApiRefused, CaseApiUnavailable
from shared.open311 import ServiceRequest
from web_fakes import bearer, demo, settings

CASE = {"service_request_id": "DEM-2026-000042", "status": "open", "service_code": "pothole",
        "requested_datetime": "2026-11-29T15:00:00+00:00"}
NOT_A_REQUEST = {"service_request_id": "DEM-2026-000042", "status": "no such status"}
Handler = Callable[[httpx.Request], httpx.Response]


async def started(handler: Handler) -> CaseApiClient:
    client = CaseApiClient("http://case.internal", transport=httpx.MockTransport(handler))
    await client.start()
    return client


def answer(status: int, body: Any = None, content: bytes | None = None) -> Handler:
    return lambda r: httpx.Response(status, json=body) if content is None else httpx.Response(status, content=content)


async def test_a_case_is_read_as_an_open311_request_and_a_404_is_none() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        return httpx.Response(200, json=CASE) if request.url.path.endswith("000042") else httpx.Response(404)

    client = await started(handler)
    assert await client.request("DEM-2026-000042") == ServiceRequest.model_validate(CASE)
    assert await client.request("NOPE") is None
    assert seen == ["/cases/requests/DEM-2026-000042", "/cases/requests/NOPE"]


@pytest.mark.parametrize("handler", [
    answer(408), answer(429), answer(500), answer(503),
    answer(200, NOT_A_REQUEST), answer(200, ["a list"]), answer(200, content=b"<html>proxy</html>"),
    answer(204, content=b""),
], ids=["408", "429", "500", "503", "not-valid", "not-an-object", "not-json", "no-body"])
async def test_any_other_answer_to_a_case_read_is_unavailable(handler: Handler) -> None:
    client = await started(handler)
    with pytest.raises(CaseApiUnavailable):
        await client.request("DEM-2026-000042")


@pytest.mark.parametrize("status", [400, 401, 403, 405, 409, 422])
async def test_a_4xx_is_the_case_service_refusing_the_question_not_being_down(status: int) -> None:
    client = await started(answer(status, {"detail": "bad"}))
    with pytest.raises(CaseApiRefused) as refused:
        await client.request("DEM-2026-000042")
    assert refused.value.status == status and "bad" in refused.value.detail
    with pytest.raises(CaseApiRefused):
        await client.requests(service_code="\x00")
    with pytest.raises(CaseApiRefused):
        await client.case_of_token("t")


async def test_the_status_of_an_unusable_answer_is_kept_and_none_when_there_was_no_answer() -> None:
    with pytest.raises(CaseApiUnavailable) as refused:
        await (await started(answer(503, {"detail": []}))).request("x")
    assert refused.value.status == 503

    def unreachable(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectTimeout("timed out", request=request)

    with pytest.raises(CaseApiUnavailable) as down:
        await (await started(unreachable)).request("x")
    assert down.value.status is None


async def test_a_client_not_started_or_stopped_is_unavailable() -> None:
    client = CaseApiClient("http://case.internal", transport=httpx.MockTransport(answer(200, CASE)))
    with pytest.raises(CaseApiUnavailable):
        await client.request("DEM-2026-000042")
    await client.start()
    assert await client.request("DEM-2026-000042") is not None
    await client.stop()
    await client.stop()
    with pytest.raises(CaseApiUnavailable):
        await client.request("DEM-2026-000042")


async def test_requests_are_asked_with_their_filters_and_read_as_open311_requests() -> None:
    seen: list[dict[str, str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(dict(request.url.params))
        return httpx.Response(200, json=[CASE])

    client = await started(handler)
    found = await client.requests(service_code="pothole", status="open,closed", service_request_id="",
                                  start_date=datetime(2026, 11, 1, 5, tzinfo=UTC))
    assert found == [ServiceRequest.model_validate(CASE)]
    assert seen == [{"service_code": "pothole", "status": "open,closed", "start_date": "2026-11-01T05:00:00+00:00"}]


async def test_extensions_are_asked_only_when_wanted_and_read_back() -> None:
    seen: list[tuple[str, dict[str, str]]] = []
    facts = {"district": "centre", "suggestions": [{"service_code": "pothole", "probability": 0.8}]}

    def handler(request: httpx.Request) -> httpx.Response:
        params = dict(request.url.params)
        seen.append((request.url.path, params))
        body = {**CASE, **({"extended_attributes": facts} if params.get("extensions") == "true" else {})}
        return httpx.Response(200, json=[body] if request.url.path == "/cases/requests" else body)

    client = await started(handler)
    [listed] = await client.requests(status="open", extensions=True)
    one = await client.request("DEM-2026-000042", extensions=True)
    plain = await client.request("DEM-2026-000042")
    assert listed.extended_attributes is not None and listed.extended_attributes.district == "centre"
    assert one is not None and one.extended_attributes == listed.extended_attributes
    assert plain is not None and plain.extended_attributes is None
    assert seen == [("/cases/requests", {"status": "open", "extensions": "true"}),
                    ("/cases/requests/DEM-2026-000042", {"extensions": "true"}),
                    ("/cases/requests/DEM-2026-000042", {})]


@pytest.mark.parametrize("handler", [
    answer(200, [CASE, NOT_A_REQUEST]), answer(200, CASE), answer(200, 7), answer(502),
], ids=["one-not-valid", "not-a-list", "a-number", "502"])
async def test_a_request_list_that_cannot_be_used_is_unavailable(handler: Handler) -> None:
    with pytest.raises(CaseApiUnavailable):
        await (await started(handler)).requests(status="open")


async def test_a_404_from_the_request_list_or_the_token_route_is_no_route_not_none() -> None:
    client = await started(answer(404, {"detail": "Not Found"}))
    with pytest.raises(CaseApiNoRoute):
        await client.requests()
    with pytest.raises(CaseApiNoRoute):
        await client.case_of_token("t")


@pytest.mark.parametrize("token", [".", ".."])
async def test_a_token_of_dots_names_no_case_and_is_never_asked(token: str) -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        return httpx.Response(404, json={"detail": "Not Found"})

    client = await started(handler)
    assert await client.case_of_token(token) is None and await client.request(token) is None
    assert seen == [], "the HTTP client would resolve the dots and reach another route (/cases)"


@pytest.mark.parametrize(("handler", "expected"), [
    (answer(200, {"token": "t", "service_request_id": "DEM-2026-000042"}), "DEM-2026-000042"),
    (answer(200, {"token": "t", "service_request_id": None}), None),
], ids=["open", "not-yet"])
async def test_a_token_is_its_case_number_once_open(handler: Handler, expected: str | None) -> None:
    assert await (await started(handler)).case_of_token("t", channel="phone") == expected


@pytest.mark.parametrize("handler", [
    answer(200, ["DEM-2026-000042"]), answer(200, {"service_request_id": 42}), answer(503),
], ids=["not-an-object", "not-text", "503"])
async def test_a_token_answer_that_cannot_be_used_is_unavailable(handler: Handler) -> None:
    with pytest.raises(CaseApiUnavailable):
        await (await started(handler)).case_of_token("t")


@pytest.mark.parametrize("handler", [
    answer(404), answer(401), answer(403), answer(422), answer(500), answer(200, {"requests": []}),
    answer(200, content=b"oops"),
], ids=["no-look-up", "401", "403", "422", "500", "not-a-list", "not-json"])
async def test_earlier_cases_the_case_service_cannot_tell_are_unavailable(handler: Handler) -> None:
    with pytest.raises(CaseApiUnavailable):
        await (await started(handler)).earlier_cases("ck_abc")


async def test_earlier_cases_are_the_items_as_sent_even_one_no_model_accepts() -> None:
    items = [CASE, NOT_A_REQUEST, {"x": ""}, "odd"]
    assert await (await started(answer(200, items))).earlier_cases("ck_abc") == items


async def routes(handler: Handler) -> httpx.AsyncClient:
    """intake_web's routes on a case API answering with `handler`; a server error is answered, not raised."""
    client = await started(handler)
    app = create_app(settings(), jurisdiction=demo(), case_api=client)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
                             base_url="http://intake-web.internal")


async def test_a_token_the_case_api_has_no_route_for_is_a_server_error_but_a_token_of_dots_is_not_found() -> None:
    async with await routes(answer(404, {"detail": "Not Found"})) as web:
        open311 = await web.get("/tokens/t.json")
        console = await web.get("/agent/tokens/t", headers=bearer())
        dots = await web.get("/tokens/...json")
    assert open311.status_code == 500 and console.status_code == 500, "a wrong base URL is our bug, not hidden"
    assert dots.status_code == 404 and dots.json() == [{"code": 404, "description": "token .. not found"}]


@pytest.mark.parametrize("handler", [answer(503, {"detail": []}), answer(200, NOT_A_REQUEST)],
                         ids=["5xx", "not-valid"])
async def test_an_unusable_case_api_answer_to_an_open311_read_is_a_503_to_retry(handler: Handler) -> None:
    async with await routes(handler) as web:
        r = await web.get("/requests/DEM-2026-000042.json")
    assert r.status_code == 503 and r.headers["retry-after"] == "5"


async def test_a_query_the_case_service_refuses_is_a_400_not_a_503(capsys: pytest.CaptureFixture[str]) -> None:
    refuses = answer(422, {"detail": [{"msg": "service_code: invalid", "input": "\x00"}]})
    async with await routes(refuses) as web:
        j = await web.get("/requests.json?service_code=%00")
        x = await web.get("/requests.xml?service_code=%00")
    async with await portal_on(refuses) as web:
        page = await web.get("/track?q=DEMO-26-000062")
    assert j.status_code == 400 and "retry-after" not in j.headers
    assert j.json()[0]["code"] == 400 and "parameters" in j.json()[0]["description"]
    assert x.status_code == 400 and ET.fromstring(x.content).findtext("error/code") == "400"
    assert page.status_code == 400 and page.headers["content-type"].startswith("text/html")
    logged = capsys.readouterr()
    assert "case_api_refused" in logged.out + logged.err
    assert "case_api_unreachable" not in logged.out + logged.err, "monitoring must not see the case service down"


CASE_62 = CASE | {"service_request_id": "DEMO-26-000062"}


def case_62(seen: list[str]) -> Handler:
    """A case service knowing DEMO-26-000062 (and its history), no token; `seen` gets each raw path asked."""

    def handler(request: httpx.Request) -> httpx.Response:
        raw = request.url.raw_path.decode("ascii").split("?")[0]
        seen.append(raw)
        if raw == "/cases/requests/DEMO-26-000062":
            return httpx.Response(200, json=CASE_62)
        if raw == "/cases/requests/DEMO-26-000062/history":
            return httpx.Response(200, json={"status": "open", "entries": []})
        if raw.startswith("/cases/tokens/"):
            return httpx.Response(200, json={"service_request_id": None})
        return httpx.Response(404, json={"detail": "Not Found"})

    return handler


async def test_an_id_is_one_path_segment_and_one_that_cannot_name_a_case_is_not_asked() -> None:
    seen: list[str] = []
    client = await started(case_62(seen))
    for odd in ("A\nB", "A\x7fB", "DEMO-26-000062\x00", "", "D" * 300):
        assert await client.request(odd) is None, repr(odd)
        assert await client.case_of_token(odd) is None, repr(odd)
    assert seen == [], "a control character makes a URL the HTTP client refuses; nothing asked"
    assert await client.request("DEMO-26-000062?x=1") is None, "the ? stays inside the case number"
    assert await client.request("DEMO-26-000062#x") is None
    assert await client.case_of_token("a/b?c#d%") is None
    assert seen == ["/cases/requests/DEMO-26-000062%3Fx%3D1", "/cases/requests/DEMO-26-000062%23x",
                    "/cases/tokens/a%2Fb%3Fc%23d%25"]


async def portal_on(handler: Handler) -> httpx.AsyncClient:
    """intake_web (Open311 reads and the portal's) on a case API answering with `handler` over the real
    clients; a server error is answered, not raised."""
    from portal_fakes import NOW as PORTAL_NOW
    from portal_fakes import MemoryPortalStore
    from services.intake_web.adapters.portal import PortalCaseReads
    reads = PortalCaseReads("http://case.internal", transport=httpx.MockTransport(handler))
    await reads.start()
    app = create_app(settings(portal_min_fill_s=0.0), jurisdiction=demo(), case_api=await started(handler),
                     clock=lambda: PORTAL_NOW, portal_store=MemoryPortalStore(), portal_reads=reads)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
                             base_url="http://intake-web.internal")


async def test_an_id_with_a_control_character_or_a_query_is_no_case_not_a_server_error() -> None:
    from portal_fakes import NOW as PORTAL_NOW
    from services.intake_web.domain.portal import form_token
    seen: list[str] = []
    follow = {"form_token": form_token(settings().portal_form_secret, PORTAL_NOW), "website": "",
              "notify": "email", "email": "ana@example.org"}
    async with await portal_on(case_62(seen)) as web:
        pages = [await web.get(path) for path in ("/cases/A%0AB", "/cases/A%7FB", "/cases/DEMO-26-000062%00",
                                                   "/cases/DEMO-26-000062%3Fx=1")]
        followed = await web.post("/cases/DEMO-26-000062%00/follow", data=follow)
        open311 = [await web.get(path) for path in ("/requests/A%00B.json", "/requests/DEMO-26-000062%3Fx=1.json",
                                                     "/requests/A%0AB.xml")]
        token = await web.get("/tokens/A%00B.json")
        case = await web.get("/cases/DEMO-26-000062")
    assert [p.status_code for p in pages] == [404, 404, 404, 404]
    assert followed.status_code == 404
    assert [r.status_code for r in open311] == [404, 404, 404]
    assert "DEMO-26-000062" not in open311[1].json()[0].get("service_request_id", ""), "not case 62's answer"
    assert token.status_code == 404 and token.json()[0]["code"] == 404, "a token with NUL is none, unasked"
    assert case.status_code == 200, "a real case number still reads"
    assert all("%00" not in p and "%0A" not in p and "%7F" not in p for p in seen)
    assert "/cases/requests/DEMO-26-000062%3Fx%3D1" in seen


async def test_the_portal_asks_a_history_by_one_path_segment() -> None:
    from services.intake_web.adapters.portal import PortalCaseReads
    seen: list[str] = []
    reads = PortalCaseReads("http://case.internal", transport=httpx.MockTransport(case_62(seen)))
    await reads.start()
    assert await reads.history("DEMO-26-000062?x=1") is None
    assert await reads.history("DEMO-26-000062\x00") is None
    assert await reads.history("DEMO-26-000062") == {"status": "open", "entries": []}
    assert seen == ["/cases/requests/DEMO-26-000062%3Fx%3D1/history", "/cases/requests/DEMO-26-000062/history"]
