"""The one location check on the web channels (issue 12, kind 1; docs/channels.md, "One location check"):
a 0,0 placeholder or a point off the Earth sent WITH a written address is ignored, the report accepted by
its address and the verdict kept on the published message as ``attributes.location_check``; without an
address it is refused as before; a swapped or outside point stays refused, with its reason. Through the
Open311 POST route (real app, fake publisher), the portal's form reader and the call agent's submission."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from starlette.datastructures import FormData

from portal_fakes import Portal
from services.intake_web.app import create_app
from services.intake_web.domain.agent import message_from_agent, parse_submission
from services.intake_web.domain.portal import FormProblem
from services.intake_web.service_layer.portal import read_report
from shared.events import MessageReceived
from shared.settings import Settings
from web_fakes import FakePublisher, demo

NOW = datetime(2026, 11, 29, 15, 0, tzinfo=UTC)
FORM = {"api_key": "demo-key", "service_code": "pothole", "description": "Deep pothole", "attribute[size]": "large",
        "address_string": "Bank St & Somerset St W"}


def _client() -> tuple[httpx.AsyncClient, FakePublisher]:
    publisher = FakePublisher()
    app = create_app(Settings(jurisdiction="demo"), jurisdiction=demo(), publisher=publisher, case_api=None,
                     clock=lambda: NOW)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://intake-web.internal"), publisher


async def _post(form: dict[str, str]) -> tuple[httpx.Response, list[MessageReceived]]:
    web, publisher = _client()
    async with web:
        r = await web.post("/requests.json", data=form)
    return r, [env.payload(MessageReceived) for env in publisher.published]


async def test_a_zero_zero_point_with_an_address_is_ignored_and_the_report_taken_by_its_address() -> None:
    r, [msg] = await _post({**FORM, "lat": "0", "long": "0"})
    assert r.status_code == 200, r.text
    assert (msg.lat, msg.long, msg.address) == (None, None, "Bank St & Somerset St W")
    check = msg.attributes["location_check"]
    assert check["verdict"] == "placeholder" and "0,0" in check["reason"]
    assert check["given"] == {"lat": 0.0, "long": 0.0}


@pytest.mark.parametrize(("lat", "long", "given"), [
    ("NaN", "-75.69", {"lat": "nan", "long": -75.69}),
    ("1e999", "-75.69", {"lat": "inf", "long": -75.69}),
    ("45.42", "200", {"lat": 45.42, "long": 200.0}),
], ids=["nan", "infinite", "long-200"])
async def test_a_point_off_the_earth_with_an_address_is_ignored_with_its_reason(lat: str, long: str,
                                                                               given: dict[str, Any]) -> None:
    r, [msg] = await _post({**FORM, "lat": lat, "long": long})
    assert r.status_code == 200, r.text
    assert (msg.lat, msg.long) == (None, None)
    assert msg.attributes["location_check"]["verdict"] == "out_of_range"
    assert msg.attributes["location_check"]["given"] == given


async def test_an_address_id_is_an_address_too() -> None:
    form = {k: v for k, v in FORM.items() if k != "address_string"} | {"address_id": "A-17", "lat": "0", "long": "0"}
    r, [msg] = await _post(form)
    assert r.status_code == 200 and msg.address_id == "A-17" and msg.lat is None


@pytest.mark.parametrize(("form", "words"), [
    ({"lat": "0", "long": "0"}, "0,0"),
    ({"lat": "NaN", "long": "-75.69"}, "lat must be between -90 and 90 degrees"),
    ({"lat": "45.42", "long": "200"}, "long must be between -180 and 180 degrees"),
    ({"lat": "-75.69", "long": "45.42", "address_string": "Bank St"}, "send lat=45.42 and long=-75.69"),
    ({"lat": "40.7", "long": "-74.0", "address_string": "Bank St"}, "outside the jurisdiction"),
], ids=["zero-zero-alone", "nan-alone", "long-200-alone", "swapped-with-address", "outside-with-address"])
async def test_without_an_address_or_when_swapped_or_outside_the_point_is_refused(form: dict[str, str],
                                                                                 words: str) -> None:
    base = {k: v for k, v in FORM.items() if k != "address_string"}
    r, published = await _post({**base, **form})
    assert r.status_code == 400 and words in r.text, r.text
    assert published == []


async def test_a_point_inside_is_published_as_given_without_a_check() -> None:
    r, [msg] = await _post({**FORM, "lat": "45.4215", "long": "-75.6972"})
    assert r.status_code == 200 and (msg.lat, msg.long) == (45.4215, -75.6972)
    assert "location_check" not in msg.attributes


# --- the portal's report form ---

PORTAL = {"service_code": "pothole", "description": "Deep hole", "notify": "none",
          "attribute[size]": "large", "attribute[in_traffic_lane]": "yes"}


def _read(**fields: str) -> Any:
    deps = Portal().web._transport.app.state.deps  # type: ignore[attr-defined]
    return read_report(deps, FormData([*PORTAL.items(), *fields.items()]), photo_urls=[])


def test_the_portal_ignores_a_placeholder_pin_when_an_address_is_written() -> None:
    report = _read(lat="0", long="0", address="Bank St & Somerset St W")
    assert (report.lat, report.long, report.address) == (None, None, "Bank St & Somerset St W")
    assert report.attributes["location_check"]["verdict"] == "placeholder"
    assert report.attributes["size"] == "large"


def test_the_portal_asks_for_a_place_when_the_pin_is_a_placeholder_and_no_address() -> None:
    with pytest.raises(FormProblem) as refused:
        _read(lat="0", long="0")
    assert set(refused.value.problems) == {"address"}


def test_the_portal_refuses_a_pin_outside_even_with_an_address() -> None:
    with pytest.raises(FormProblem) as refused:
        _read(lat="40.7", long="-74.0", address="Bank St")
    assert set(refused.value.problems) == {"lat"}


# --- the call agent console ---

AGENT = {"request_id": "req-000123", "caller_phone": "+16135550123", "service_code": "pothole",
         "description": "Caller reports a pothole"}


def _submit(**fields: Any) -> Any:
    return parse_submission({**AGENT, **fields}, service_codes={"pothole"}, default_region="CA",
                            contains=demo().contains)


def test_the_console_ignores_a_placeholder_point_when_the_caller_gave_an_address() -> None:
    sub = _submit(lat=0, long=0, address="Bank St & Somerset St W")
    assert (sub.lat, sub.long) == (None, None) and sub.location_check["verdict"] == "placeholder"
    msg = message_from_agent(sub, agent_id="agent-ana", now=NOW)
    assert msg.lat is None and msg.attributes["location_check"]["verdict"] == "placeholder"


def test_the_console_ignores_a_nan_latitude_with_an_address_and_refuses_it_without() -> None:
    sub = _submit(lat="NaN", long=-75.69, address="Bank St")
    assert sub.lat is None and sub.location_check["verdict"] == "out_of_range"
    assert any("not a point on Earth" in e for e in _submit(lat="NaN", long=-75.69))


def test_the_console_refuses_a_swapped_point_with_its_reason() -> None:
    errors = _submit(lat=-75.69, long=45.42, address="Bank St")
    assert isinstance(errors, list) and any("send lat=45.42 and long=-75.69" in e for e in errors)
