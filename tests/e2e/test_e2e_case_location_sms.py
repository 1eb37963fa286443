"""End to end on real Kafka and PostgreSQL: a text with no location gets one question back; the answer
gives the case its location, the router routes it again with a district, and the duplicate detector
projects it at that point; after it, "ok thanks" and a follow-up join that case, the follow-up answered with
its number (intake_sms_voice as its own process beside the demo stack)."""

from __future__ import annotations

import uuid
from functools import partial
from typing import Any

import httpx
import pytest

from shared.auth import Role
from support.process import ExtraService
from support.twilio import post_signed, sms_form, twiml_messages
from support.stack import Stack
from support.wait import eventually

TOKEN = "e2e-twilio-token"
PUBLIC = "https://sms-location.e2e.example"
CENTRE = (45.415, -75.70)  # the demo city's "centre" district


@pytest.fixture
async def sms_voice(stack: Stack) -> Any:
    async with ExtraService(stack, "intake_sms_voice", {
        "OMNI311_TWILIO_AUTH_TOKEN": TOKEN, "OMNI311_TWILIO_PUBLIC_BASE_URL": PUBLIC,
        "OMNI311_TWILIO_PROGRAM_NAME": "Demoville 311",
    }).started() as proc:
        yield proc


def _form(sid: str, body: str, from_: str) -> dict[str, str]:
    return sms_form(sid, body, from_)


async def _twilio_post(client: httpx.AsyncClient, form: dict[str, str],
                       cookies: dict[str, str] | None = None) -> httpx.Response:
    return await post_signed(client, PUBLIC + "/twilio/sms", form, token=TOKEN, public_base=PUBLIC,
                             cookies=cookies)


def _texts(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return twiml_messages(response)


async def _case_of(case_api: httpx.AsyncClient, sid: str) -> str | None:
    """The number of the case holding the text `sid` (case API `GET /cases/tokens/{sid}`), None before it has one."""
    r = await case_api.get(f"/cases/tokens/{sid}", params={"channel": "sms"})
    return r.json()["service_request_id"] if r.status_code == 200 else None


async def test_an_sms_without_location_gets_one_question_the_answer_locates_it_and_follow_ups_join_it(
        stack: Stack, sms_voice: ExtraService, test_issuer) -> None:
    phone = f"+1613556{uuid.uuid4().int % 10000:04d}"
    report_sid, answer_sid = "SM" + uuid.uuid4().hex, "SM" + uuid.uuid4().hex
    async with httpx.AsyncClient(base_url=sms_voice.url, timeout=10) as sms, \
            httpx.AsyncClient(base_url=stack.url("case"),
                              headers=test_issuer.headers(Role.ADMINISTRATOR), timeout=10) as case_api, \
            httpx.AsyncClient(base_url=stack.url("intake_web"), timeout=10) as web:

        case_of = partial(_case_of, case_api)

        async def timeline(number: str) -> dict[str, Any]:
            return (await case_api.get(f"/cases/{number}/timeline")).json()

        report = await _twilio_post(sms, _form(report_sid, "The street light is out, very dark at night", phone))
        questions = _texts(report)
        assert len(questions) == 1 and "Where exactly" in questions[0]
        cookie = report.cookies.get("omni311_pending")
        assert cookie
        number = await eventually(lambda: case_of(report_sid), timeout=20, what="the report has a case")

        async def routed_without_place() -> dict[str, Any] | None:
            t = await timeline(number)
            return t if any(e["kind"] == "routed" for e in t["timeline"]) else None

        first = await eventually(routed_without_place, timeout=20, what="the report is routed")
        assert first["district"] is None
        before = (await web.get(f"/requests/{number}.json")).json()[0]
        assert before["lat"] is None and before["long"] is None

        answer = await _twilio_post(sms, _form(answer_sid, f"{CENTRE[0]:.4f}, {CENTRE[1]:.4f}", phone),
                                    cookies={"omni311_pending": cookie})
        thanks = _texts(answer)
        assert len(thanks) == 1 and "Where exactly" not in thanks[0]
        assert await eventually(lambda: case_of(answer_sid), timeout=20, what="the answer is on a case") == number

        async def rerouted() -> dict[str, Any] | None:
            t = await timeline(number)
            return t if t["district"] == "centre" else None

        located = await eventually(rerouted, timeout=20, what="the case is routed again with a district")
        kinds = [e["kind"] for e in located["timeline"]]
        assert kinds.count("located") == 1 and kinds.count("routed") == 2
        assert kinds.index("located") < len(kinds) - 1 - kinds[::-1].index("routed"), kinds
        request = (await web.get(f"/requests/{number}.json")).json()[0]
        assert (request["lat"], request["long"]) == pytest.approx(CENTRE)
        assert "street light" in request["description"]  # the answer does not replace the report

        # The conversation goes on: a bare thanks is recorded without a reply, a follow-up joins the case.
        thread = answer.cookies.get("omni311_pending")
        assert thread
        thanks_sid, follow_sid = "SM" + uuid.uuid4().hex, "SM" + uuid.uuid4().hex
        ok = await _twilio_post(sms, _form(thanks_sid, "ok thanks", phone), cookies={"omni311_pending": thread})
        assert _texts(ok) == []
        follow = await _twilio_post(sms, _form(follow_sid, "it's getting bigger, a car lost a tyre in it", phone),
                                    cookies={"omni311_pending": ok.cookies.get("omni311_pending") or thread})
        assert _texts(follow) == [f"Demoville 311: added to your report {number}."]
        assert await eventually(lambda: case_of(thanks_sid), timeout=20, what="the thanks is on the case") == number
        assert await eventually(lambda: case_of(follow_sid), timeout=20, what="the follow-up is on the case") == number

        dedup = await stack.db("dedup")
        try:
            async def projected() -> bool:
                return bool(await dedup.fetchval(
                    "SELECT location_known FROM cases WHERE service_request_id = $1", number))
            await eventually(projected, timeout=20, what="dedup knows the case's location")
        finally:
            await dedup.close()

        conn = await stack.case_db()
        try:
            assert await conn.fetchval(
                "SELECT count(*) FROM cases WHERE contact_key = "
                "(SELECT contact_key FROM cases WHERE service_request_id = $1)", number) == 1
        finally:
            await conn.close()


async def test_a_report_located_by_its_answer_is_merged_into_an_earlier_report_at_that_place(
        stack: Stack, sms_voice: ExtraService, test_issuer) -> None:
    """Duplicate detection runs again with the location: before the answer the report had no place to
    compare; after it, it is the same broken light as a neighbour's earlier, located text."""
    place = (45.4170, -75.7050)  # in the centre district, apart from the other test's point
    text = "Street light out on the corner, completely dark at night"
    neighbour, reporter = f"+1613558{uuid.uuid4().int % 10000:04d}", f"+1613559{uuid.uuid4().int % 10000:04d}"
    earlier_sid, report_sid, answer_sid = ("SM" + uuid.uuid4().hex for _ in range(3))
    async with httpx.AsyncClient(base_url=sms_voice.url, timeout=10) as sms, \
            httpx.AsyncClient(base_url=stack.url("case"),
                              headers=test_issuer.headers(Role.ADMINISTRATOR), timeout=10) as case_api:

        case_of = partial(_case_of, case_api)

        async def timeline(number: str) -> dict[str, Any]:
            return (await case_api.get(f"/cases/{number}/timeline")).json()

        earlier_reply = await _twilio_post(sms, _form(earlier_sid, f"{text} {place[0]:.4f}, {place[1]:.4f}", neighbour))
        assert not any("Where exactly" in t for t in _texts(earlier_reply))
        earlier = await eventually(lambda: case_of(earlier_sid), timeout=20, what="the neighbour's text has a case")

        async def routed(number: str) -> dict[str, Any] | None:
            t = await timeline(number)
            return t if any(e["kind"] == "routed" for e in t["timeline"]) else None

        assert (await eventually(lambda: routed(earlier), timeout=20, what="the earlier case is routed"))[
            "district"] == "centre"

        report = await _twilio_post(sms, _form(report_sid, text, reporter))
        assert "Where exactly" in _texts(report)[0]
        number = await eventually(lambda: case_of(report_sid), timeout=20, what="the report has a case")
        unplaced = await eventually(lambda: routed(number), timeout=20, what="the report is routed")
        assert unplaced["merged_into"] is None and unplaced["status"] == "open"

        await _twilio_post(sms, _form(answer_sid, f"{place[0]:.4f},{place[1]:.4f}", reporter),
                           cookies={"omni311_pending": report.cookies["omni311_pending"]})

        async def merged() -> dict[str, Any] | None:
            t = await timeline(number)
            return t if t["merged_into"] else None

        t = await eventually(merged, timeout=20, what="the located report is merged")
        assert t["merged_into"] == earlier and t["status"] == "closed"
        kinds = [e["kind"] for e in t["timeline"]]
        assert kinds.index("located") < kinds.index("merged")


async def test_a_written_place_not_found_is_asked_about_once_and_the_reply_places_the_case(
        stack: Stack, sms_voice: ExtraService, test_issuer) -> None:
    """Issue 12 (README walk): a text whose written place the router cannot find gets one question from the
    notifier ("We could not find 99 Nowhere Rd ... the nearest corner"); the resident's reply in the
    conversation joins the case as a follow-up, and the router places the case at the address it writes."""
    phone = f"+1613557{uuid.uuid4().int % 10000:04d}"
    report_sid, answer_sid = "SM" + uuid.uuid4().hex, "SM" + uuid.uuid4().hex
    async with httpx.AsyncClient(base_url=sms_voice.url, timeout=10) as sms, \
            httpx.AsyncClient(base_url=stack.url("case"),
                              headers=test_issuer.headers(Role.ADMINISTRATOR), timeout=10) as case_api, \
            httpx.AsyncClient(base_url=stack.url("intake_web"), timeout=10) as web:

        case_of = partial(_case_of, case_api)

        report = await _twilio_post(sms, _form(report_sid, "Pothole at 99 Nowhere Rd", phone))
        assert all("Where exactly" not in t for t in _texts(report))  # a place was written: not asked at intake
        thread = report.cookies.get("omni311_pending")
        assert thread
        number = await eventually(lambda: case_of(report_sid), timeout=20, what="the report has a case")

        notifier = await stack.db("notifier")
        try:
            async def asked() -> list[str] | None:
                kinds = await notifier.fetch(
                    "SELECT d.kind FROM deliveries d JOIN contacts c USING (case_id) "
                    "WHERE c.service_request_id = $1 AND d.kind = 'location_not_found'", number)
                return [k["kind"] for k in kinds] or None

            assert await eventually(asked, timeout=20, what="the resident is asked where it is") == [
                "location_not_found"]
        finally:
            await notifier.close()

        answer = await _twilio_post(sms, _form(answer_sid, "It is at 1 Elm Street", phone),
                                    cookies={"omni311_pending": thread})
        assert _texts(answer) == [f"Demoville 311: added to your report {number}."]
        assert await eventually(lambda: case_of(answer_sid), timeout=20, what="the answer is on the case") == number

        async def placed() -> dict[str, Any] | None:
            r = (await web.get(f"/requests/{number}.json")).json()[0]
            return r if r["lat"] is not None else None

        request = await eventually(placed, timeout=20, what="the case is placed at the address in the reply")
        assert (request["lat"], request["long"]) == pytest.approx((45.42005, -75.715), abs=1e-4)
