"""End to end on real Kafka and PostgreSQL: the router and the duplicate detector answer staff.

A recategorised case is routed again (the staff's category, its queue, an SLA due time counted from the
report, `source` manual on the timeline); a report the detector is unsure of lands on the staff review list
instead of being merged, unless both reports come from the same known reporter; a case staff unmerged is
matched by later reports but never merged again with the case it was taken out of, even when it is routed
again."""

from __future__ import annotations

import asyncio
import random
from datetime import datetime
from typing import Any

import httpx

from shared.auth import Role
from shared.jurisdiction import load_jurisdiction
from support.wait import eventually

SETTLE_S = 4.0  # after the last observable effect, how long an unwanted merge gets to show up
# One 1e-5 degree of latitude is about 1.11 m; the demo pothole radius is 30 m.
TEN_M = 0.00009


def _spot() -> tuple[float, float]:
    """A point inside the demo's "nord" district away from other tests' reports (the stack is shared)."""
    return round(45.43 + random.uniform(0, 0.006), 6), round(-75.71 + random.uniform(0, 0.02), 6)


async def _report(web: httpx.AsyncClient, lat: float, long: float, text: str, code: str = "pothole",
                  email: str | None = None) -> str:
    r = await web.post("/requests.json", data={"api_key": "demo-key", "service_code": code, "lat": f"{lat:.6f}",
                                               "long": f"{long:.6f}", "description": text,
                                               **({"email": email} if email else {}),
                                               **({"attribute[size]": "medium"} if code == "pothole" else {})})
    assert r.status_code == 200, r.text
    token = r.json()[0]["token"]

    async def sid() -> str | None:
        got = await web.get(f"/tokens/{token}.json")
        return got.json()[0]["service_request_id"] if got.status_code == 200 else None

    return await eventually(sid, timeout=30, what=f"token {token} has a case")


async def _case(staff: httpx.AsyncClient, sid: str) -> dict[str, Any]:
    r = await staff.get(f"/staff/cases/{sid}")
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


async def _post(staff: httpx.AsyncClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    r = await staff.post(f"/staff/{path}", json=body)
    assert r.status_code == 200, (path, r.status_code, r.text)
    return r.json()  # type: ignore[no-any-return]


async def _routed(staff: httpx.AsyncClient, sid: str, service_code: str, queue: str) -> dict[str, Any]:
    async def done() -> dict[str, Any] | None:
        case = await _case(staff, sid)
        return case if (case["service_code"], case["queue"]) == (service_code, queue) else None

    return await eventually(done, timeout=30, what=f"{sid} routed as {service_code} to {queue}")


async def test_a_recategorised_case_is_routed_again_with_its_sla_counted_from_the_report(stack: Any,
                                                                                         test_issuer: Any) -> None:
    demo = load_jurisdiction("demo")
    lat, long = _spot()
    async with httpx.AsyncClient(base_url=stack.url("intake_web"), timeout=10) as web, \
            httpx.AsyncClient(base_url=stack.url("case"), headers=test_issuer.headers(Role.ADMINISTRATOR),
                              timeout=15) as staff:
        sid = await _report(web, lat, long, "Deep pothole by the bus stop", code="pothole")
        first = await _routed(staff, sid, "pothole", "roads")
        requested = datetime.fromisoformat(first["requested_datetime"])

        await _post(staff, f"cases/{sid}/recategorise",
                    {"service_code": "streetlight", "reason": "the photo shows a dark lamp post"})

        again = await _routed(staff, sid, "streetlight", "lighting")
        expected = demo.due_at(requested, demo.service("streetlight").sla_hours)  # type: ignore[union-attr]
        assert datetime.fromisoformat(again["sla"]["due_at"]) == expected
        assert again["district"] == first["district"] == "nord"
        routed_entries = [e for e in again["timeline"] if e["kind"] == "routed"]
        assert any(e["detail"].get("source") == "manual" for e in routed_entries), routed_entries
        r = await web.get(f"/requests/{sid}.json")
        assert r.json()[0]["service_code"] == "streetlight"


async def test_an_unsure_match_waits_for_staff_review_instead_of_being_merged(stack: Any, test_issuer: Any) -> None:
    lat, long = _spot()
    async with httpx.AsyncClient(base_url=stack.url("intake_web"), timeout=10) as web, \
            httpx.AsyncClient(base_url=stack.url("case"), headers=test_issuer.headers(Role.ADMINISTRATOR),
                              timeout=15) as staff:
        first = await _report(web, lat, long, "Deep pothole in the right lane")
        await _routed(staff, first, "pothole", "roads")
        # At the same point in words that share nothing: place and time alone score about 0.5, between the
        # review (0.45) and the merge threshold (0.6): two problems at one point are suggested, never merged.
        second = await _report(web, lat, long, "dog barking all night long next door")

        async def suggested() -> dict[str, Any] | None:
            r = await staff.get("/staff/suggestions", params={"status": "pending"})
            assert r.status_code == 200, r.text
            return next((s for s in r.json() if s["case"] == second), None)

        suggestion = await eventually(suggested, timeout=30, what="the pair on the review list")
        assert suggestion["duplicate_of"] == first and 0.45 <= suggestion["score"] < 0.6
        await asyncio.sleep(SETTLE_S)
        case = await _case(staff, second)
        assert case["merged_into"] is None and case["status"] == "open"


async def test_the_same_reporter_twice_at_one_point_is_merged_where_two_strangers_would_be_suggested(
        stack: Any, test_issuer: Any) -> None:
    lat, long = _spot()
    email = f"resident-{random.getrandbits(48):012x}@example.org"
    async with httpx.AsyncClient(base_url=stack.url("intake_web"), timeout=10) as web, \
            httpx.AsyncClient(base_url=stack.url("case"), headers=test_issuer.headers(Role.ADMINISTRATOR),
                              timeout=15) as staff:
        first = await _report(web, lat, long, "Deep pothole in the right lane", email=email)
        await _routed(staff, first, "pothole", "roads")
        # The words of the review test above (about 0.5 from place and time: a suggestion between strangers),
        # but from the same address: case.routed carries the key the case was opened with, and the same
        # known reporter lifts the score half-way to 1, past the merge threshold (0.6).
        second = await _report(web, lat, long, "dog barking all night long next door", email=email)

        async def merged() -> dict[str, Any] | None:
            case = await _case(staff, second)
            return case if case["merged_into"] else None

        case = await eventually(merged, timeout=30, what="the same reporter's second report merged")
        assert case["merged_into"] == first
        [entry] = [e for e in case["timeline"] if e["kind"] == "merged"]
        assert entry["detail"]["score"] >= 0.6, entry


async def test_an_unmerged_case_is_never_merged_again_with_the_case_it_left(stack: Any, test_issuer: Any) -> None:
    lat, long = _spot()
    async with httpx.AsyncClient(base_url=stack.url("intake_web"), timeout=10) as web, \
            httpx.AsyncClient(base_url=stack.url("case"), headers=test_issuer.headers(Role.ADMINISTRATOR),
                              timeout=15) as staff:
        first = await _report(web, lat, long, "Deep pothole in the right lane")
        await _routed(staff, first, "pothole", "roads")
        second = await _report(web, lat + TEN_M, long, "pothole right lane, very deep")

        async def merged() -> dict[str, Any] | None:
            case = await _case(staff, second)
            return case if case["merged_into"] else None

        assert (await eventually(merged, timeout=30, what="the second report merged"))["merged_into"] == first

        await _post(staff, f"cases/{second}/unmerge", {"reason": "two holes, one on each side of the street"})
        assert (await _case(staff, second))["merged_into"] is None

        # Routed again as a pothole (staff try another category, then come back; the same code twice
        # changes nothing): the detector remembers the unmerge.
        await _post(staff, f"cases/{second}/recategorise", {"service_code": "graffiti", "reason": "misread"})
        await _routed(staff, second, "graffiti", "sanitation")
        await _post(staff, f"cases/{second}/recategorise", {"service_code": "pothole", "reason": "it is a hole"})

        async def rerouted() -> dict[str, Any] | None:
            case = await _case(staff, second)
            entries = [e for e in case["timeline"] if e["kind"] == "routed" and e["detail"].get("source") == "manual"]
            return case if len(entries) >= 2 and case["queue"] == "roads" else None

        await eventually(rerouted, timeout=30, what="the unmerged case routed again as a pothole")
        await asyncio.sleep(SETTLE_S)
        after = await _case(staff, second)
        assert after["merged_into"] is None and after["status"] == "open", after["timeline"][-3:]
        pending = (await staff.get("/staff/suggestions", params={"status": "all"})).json()
        assert not [s for s in pending if s["case"] == second and s["duplicate_of"] == first]

        # A later report of the first problem is still merged, into the older case at its spot.
        third = await _report(web, lat, long, "Deep pothole in the right lane, still there")

        async def third_merged() -> dict[str, Any] | None:
            case = await _case(staff, third)
            return case if case["merged_into"] else None

        assert (await eventually(third_merged, timeout=30, what="the third report merged"))["merged_into"] == first
