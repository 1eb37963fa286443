"""The call-agent API of intake_web through its real routes (ASGI), with a fake publisher and case API:
staff sign-in (bearer JWT and role), the `phone` intake event, idempotent retries, Open311-style errors and caller look-up."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from services.intake_sms_voice.domain.contacts import contact_key as sms_contact_key
from services.intake_web.app import create_app
from services.intake_web.domain.agent import agent_token_for, e164, phone_contact_key
from shared.auth import Role
from shared.events import MessageReceived
from shared.intake import CaseApiUnavailable
from web_fakes import FakePublisher, bearer, demo, issuer, settings

NOW = datetime(2026, 11, 29, 15, 0, tzinfo=UTC)


class FakeCaseLookups:
    """The console's reads of the case API; `cases=None`: the case service cannot tell."""

    def __init__(self, cases: dict[str, list[dict[str, Any]]] | None, tokens: dict[str, str] | None = None) -> None:
        self.cases = cases
        self.tokens = tokens or {}
        self.asked: list[str] = []
        self.forwarded: list[str | None] = []
        self.channels: list[str] = []

    async def case_of_token(self, token: str, channel: str = "open311") -> str | None:
        self.channels.append(channel)
        return self.tokens.get(token)

    async def earlier_cases(self, contact_key: str, *, token: str | None = None) -> list[Any]:
        self.asked.append(contact_key)
        self.forwarded.append(token)
        if self.cases is None:
            raise CaseApiUnavailable("case API answered 503", 503)
        return self.cases.get(contact_key, [])


def make(cases: dict[str, list[dict[str, Any]]] | None = None, tokens: dict[str, str] | None = None,
         ) -> tuple[httpx.AsyncClient, FakePublisher, FakeCaseLookups]:
    publisher, lookups = FakePublisher(), FakeCaseLookups(cases, tokens)
    app = create_app(settings(), jurisdiction=demo(), publisher=publisher, case_api=lookups, clock=lambda: NOW)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://intake-web.internal")
    return client, publisher, lookups


def body(**over: Any) -> dict[str, Any]:
    return {"request_id": "req-0001-abcd", "caller_phone": "(613) 555-0142", "service_code": "pothole",
            "description": "Deep pothole in the right lane", "lat": 45.42, "long": -75.69, **over}


async def test_an_agent_request_publishes_one_phone_intake_event_with_the_agent_and_e164_number() -> None:
    client, publisher, _ = make()
    async with client:
        r = await client.post("/agent/requests", json=body(), headers=bearer())
    assert r.status_code == 202, r.text
    [env] = publisher.published
    msg = env.payload(MessageReceived)
    assert env.event_type == "intake.message_received"
    assert msg.channel == "phone" and msg.agent_id == "agent-ana"
    assert msg.pii.phone == "+16135550142"
    assert msg.channel_message_id == r.json()["token"] == agent_token_for("agent-ana", "req-0001-abcd")
    assert msg.contact_key == env.subject == phone_contact_key("+16135550142")
    assert (msg.service_code, msg.lat, msg.long) == ("pothole", 45.42, -75.69)


async def test_a_retried_submission_is_the_same_event_and_token_but_another_agent_is_another_request() -> None:
    client, publisher, _ = make()
    async with client:
        a = await client.post("/agent/requests", json=body(), headers=bearer())
        b = await client.post("/agent/requests", json=body(), headers=bearer())
        c = await client.post("/agent/requests", json=body(), headers=bearer(subject="agent-bo"))
    assert a.json()["token"] == b.json()["token"] != c.json()["token"]
    assert publisher.published[0].event_id == publisher.published[1].event_id != publisher.published[2].event_id


def _bad_headers() -> dict[str, dict[str, str]]:
    token = issuer().token(Role.CALL_AGENT, subject="agent-ana")
    return {
        "none": {}, "empty": {"authorization": "Bearer "}, "no-scheme": {"authorization": token},
        "basic": {"authorization": "Basic YWdlbnQtYW5hOnNlY3JldA=="}, "garbage": {"authorization": "Bearer wrong-token"},
        "expired": bearer(expired=True), "other-issuer": bearer(issuer="https://idp.elsewhere.example"),
        "tampered": bearer(tamper=True), "unknown-key": bearer(foreign=True), "no-role": bearer(roles=["viewer"]),
    }


@pytest.mark.parametrize("case", ["none", "empty", "no-scheme", "basic", "garbage", "expired", "other-issuer",
                                  "tampered", "unknown-key", "no-role"])
async def test_a_request_without_a_valid_staff_token_gets_401_and_does_nothing(case: str) -> None:
    headers = _bad_headers()[case]
    client, publisher, lookups = make(cases={})
    async with client:
        r = await client.post("/agent/requests", json=body(), headers=headers)
        look = await client.post("/agent/callers", json={"phone": "6135550142"}, headers=headers)
        tok = await client.get("/agent/tokens/abc", headers=headers)
    assert r.status_code == look.status_code == tok.status_code == 401
    assert r.headers["www-authenticate"].startswith('Bearer error="invalid_token"')
    assert publisher.published == [] and lookups.asked == [] and lookups.channels == []


@pytest.mark.parametrize(("role", "status"), [(Role.CALL_AGENT, 202), (Role.SUPERVISOR, 202),
                                              (Role.ADMINISTRATOR, 202), (Role.DEPARTMENT_STAFF, 403)])
async def test_agents_supervisors_and_administrators_may_log_requests_department_staff_may_not(
        role: Role, status: int) -> None:
    client, publisher, lookups = make(cases={})
    async with client:
        r = await client.post("/agent/requests", json=body(), headers=bearer(role, subject="u-1"))
        look = await client.post("/agent/callers", json={"phone": "6135550142"}, headers=bearer(role))
        tok = await client.get("/agent/tokens/abc", headers=bearer(role))
    assert r.status_code == status, r.text
    assert {look.status_code, tok.status_code} == ({200} if status == 202 else {403})
    if status == 202:
        assert r.json()["agent_id"] == "u-1" == publisher.published[0].payload(MessageReceived).agent_id
    else:
        assert publisher.published == [] and lookups.asked == []


async def test_the_agent_id_is_the_tokens_subject_never_the_body() -> None:
    client, publisher, _ = make()
    async with client:
        r = await client.post("/agent/requests", json=body(agent_id="someone-else"), headers=bearer(subject="agent-zoe"))
    assert r.status_code == 202 and publisher.published[0].payload(MessageReceived).agent_id == "agent-zoe"


async def test_the_caller_look_up_forwards_the_agents_own_token_to_the_case_service() -> None:
    client, _, lookups = make(cases={})
    headers = bearer()
    async with client:
        r = await client.post("/agent/callers", json={"phone": "6135550142"}, headers=headers)
    assert r.status_code == 200
    assert lookups.forwarded == [headers["Authorization"].removeprefix("Bearer ")]


@pytest.mark.parametrize(("over", "expected"), [
    ({"caller_phone": "12"}, "caller_phone is not a phone number"),
    ({"caller_phone": ""}, "caller_phone is required"),
    ({"service_code": "unicorns"}, "service_code unicorns is not offered here"),
    ({"lat": 0, "long": 0}, "placeholder"),
    ({"lat": -75.69, "long": 45.42}, "appear swapped"),
    ({"lat": 48.85, "long": 2.35}, "outside the jurisdiction"),
    ({"lat": None, "long": None}, "a location is required"),
    ({"long": None}, "lat and long must be given together"),
    ({"lat": "north"}, "lat must be a number"),
    ({"request_id": "x"}, "request_id is required"),
])
async def test_a_bad_submission_gets_an_open311_error_and_publishes_nothing(over: dict[str, Any],
                                                                            expected: str) -> None:
    client, publisher, _ = make()
    async with client:
        r = await client.post("/agent/requests", json=body(**over), headers=bearer())
    assert r.status_code == 400
    errors = r.json()
    assert all(e["code"] == 400 for e in errors)
    assert any(expected in e["description"] for e in errors), errors
    assert publisher.published == []


async def test_an_address_alone_is_a_location() -> None:
    client, publisher, _ = make()
    async with client:
        r = await client.post("/agent/requests", json=body(lat="", long="", address="12 Oak Ave"), headers=bearer())
    assert r.status_code == 202, r.text
    msg = publisher.published[0].payload(MessageReceived)
    assert msg.address == "12 Oak Ave" and msg.lat is None


def test_the_phone_contact_key_is_the_sms_intakes_so_a_callers_texts_and_calls_line_up() -> None:
    phone = e164("613-555-0142", "CA")
    assert phone == "+16135550142"
    expected = "ck_" + hashlib.sha256(b"phone:+16135550142").hexdigest()[:32]
    assert phone_contact_key(phone) == sms_contact_key(phone=phone, handle=None, fallback="x", channel="sms") == expected


async def test_looking_up_a_caller_lists_their_earlier_cases_by_contact_key() -> None:
    key = phone_contact_key("+16135550142")
    earlier = [{"service_request_id": "DEM-2026-000007", "status": "open", "service_code": "pothole"}]
    client, _, lookups = make(cases={key: earlier})
    async with client:
        r = await client.post("/agent/callers", json={"phone": "+1 613 555 0142"}, headers=bearer())
        none = await client.post("/agent/callers", json={"phone": "6135550199"}, headers=bearer())
        bad = await client.post("/agent/callers", json={"phone": "call me"}, headers=bearer())
    assert r.json() == {"phone": "+16135550142", "available": True, "requests": earlier}
    assert lookups.asked[0] == key
    assert none.json()["requests"] == [] and none.json()["available"] is True
    assert bad.status_code == 400 and "not a phone number" in bad.json()[0]["description"]


async def test_the_console_still_works_when_the_case_service_cannot_list_a_callers_cases() -> None:
    client, _, _ = make(cases=None)
    async with client:
        r = await client.post("/agent/callers", json={"phone": "6135550142"}, headers=bearer())
    assert r.status_code == 200
    assert r.json()["available"] is False and r.json()["message"] == "earlier cases unavailable"


async def test_the_case_number_of_a_token_is_shown_once_the_case_is_open() -> None:
    client, _, lookups = make(tokens={"t-1": "DEM-2026-000042"})
    async with client:
        ready = await client.get("/agent/tokens/t-1", headers=bearer())
        waiting = await client.get("/agent/tokens/t-2", headers=bearer())
    assert ready.json()["service_request_id"] == "DEM-2026-000042"
    assert waiting.json()["service_request_id"] is None
    assert lookups.channels == ["phone", "phone"]


async def test_the_console_page_offers_the_jurisdictions_services_and_no_secret() -> None:
    client, _, _ = make()
    async with client:
        page = await client.get("/agent")
        script = await client.get("/agent/console.js")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    for sv in demo().services:
        assert f'value="{sv.service_code}"' in page.text
    assert "eyJ" not in page.text and "eyJ" not in script.text, "no token is ever in the page"
    assert script.status_code == 200 and "/agent/requests" in script.text


def test_the_district_map_projects_points_so_a_click_turns_back_into_the_same_lat_long() -> None:
    from services.intake_web.domain.district_map import district_map

    m = district_map(demo())
    assert m is not None and {p["id"] for p in m["paths"]} == {d.id for d in demo().districts.areas}
    lat, long = 45.42, -75.69
    x, y = (long - m["west"]) * m["cos_lat"] * m["k"], (m["north"] - lat) * m["k"]
    assert 0 <= x <= m["width"] and 0 <= y <= m["height"]
    # the page's inverse (agent_console.js)
    assert abs((m["north"] - y / m["k"]) - lat) < 1e-9 and abs((m["west"] + x / (m["k"] * m["cos_lat"])) - long) < 1e-9


async def test_the_console_page_draws_the_districts_to_click() -> None:
    client, _, _ = make()
    async with client:
        page = await client.get("/agent")
    assert page.text.count("data-district=") == len(demo().districts.areas)


@pytest.mark.parametrize("lat", [10 ** 400, -(10 ** 400)], ids=["huge", "huge-negative"])
async def test_a_latitude_too_large_for_a_float_is_out_of_range_not_a_server_error(lat: int) -> None:
    # JSON allows an integer of any length; float() of 10**400 raised OverflowError and the console got a 500.
    client, publisher, _ = make()
    async with client:
        refused = await client.post("/agent/requests", json=body(lat=lat), headers=bearer())
        taken = await client.post("/agent/requests", json=body(lat=lat, address="12 Oak Ave"), headers=bearer())
    assert refused.status_code == 400 and "not a point on Earth" in refused.text
    assert taken.status_code == 202, taken.text
    msg = publisher.published[-1].payload(MessageReceived)
    assert msg.lat is None and msg.attributes["location_check"]["verdict"] == "out_of_range"
