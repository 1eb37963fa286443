"""Open311 forwarding end to end (issue 13; docs/integrations.md, "Open311 forwarding"), on real Kafka,
PostgreSQL and mail with two omni311 stacks, each its own database and topic prefix:

- A, ours (case, router, notifier, intake_web, forwarder) runs the demo city from a copy of its folder in a
  temporary directory whose jurisdiction.yaml forwards ``pothole`` to the endpoint ``county``;
- B, the county's back office (case and intake_web only), is that endpoint: its Open311 API, its own key.

A pothole reported to A by Open311 POST with an email address is acknowledged, sent to B (which answers a
token, resolved on the next poll), and appears in B; its id there is on our case (staff API and timeline).
County staff resolve it in B; the forwarder reads the close, our case is resolved with their notes as a
status change by ``open311:county`` and our reporter gets the usual resolution mail.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.auth import Role
from shared.jurisdiction import load_jurisdiction
from support.infra import check_infra, free_port
from support.mail import inbox, text_of
from support.stack import REPO, SERVICES, Stack
from support.wait import eventually

COUNTY_KEY = "county-e2e-key"
FORWARDING = """
forwarding:
  closed_status: resolved
  endpoints:
    - name: county
      base_url: http://127.0.0.1:9/not-used   # OMNI311_FORWARDING_URLS points it at stack B
      format: json
      services: {pothole: pothole}
      poll_interval_s: 1
      max_attempts: 3
"""


@pytest.fixture(scope="module")
async def stacks(tmp_path_factory: pytest.TempPathFactory, test_issuer: Any) -> AsyncIterator[tuple[Stack, Stack]]:
    """(A, B), started together; A's jurisdiction is a copy of demo's folder with `FORWARDING` added."""
    await check_infra()
    folder = tmp_path_factory.mktemp("forwarding") / "demo"
    shutil.copytree(REPO / "jurisdictions" / "demo", folder)
    with (folder / "jurisdiction.yaml").open("a", encoding="utf-8") as f:
        f.write(FORWARDING)
    county = Stack(jurisdiction="demo", services=("case", "intake_web"),
                   extra_env={"OMNI311_OPEN311_API_KEYS": json.dumps([COUNTY_KEY])} | test_issuer.env())
    county.ports.update({s: free_port() for s in SERVICES})
    ours = Stack(jurisdiction=str(folder), services=("case", "router", "notifier", "intake_web", "forwarder"),
                 ports={"forwarder": free_port()},
                 extra_env={"OMNI311_FORWARDING_URLS": json.dumps({"county": county.url("intake_web")}),
                            "OMNI311_FORWARDING_API_KEYS": json.dumps({"county": COUNTY_KEY}),
                            "OMNI311_FORWARDER_TICK_S": "0.2", "OMNI311_FORWARDER_RETRY_BASE_S": "1"}
                 | test_issuer.env())
    try:
        await asyncio.gather(county.up(), ours.up())
        yield ours, county
    finally:
        await asyncio.gather(ours.down(), county.down(), return_exceptions=True)


async def _mail(address: str, count: int, what: str) -> list[Any]:
    async def enough() -> list[Any] | None:
        box = await inbox(address)
        return box if len(box) >= count else None
    return await eventually(enough, timeout=30, what=what)


async def test_a_forwarded_case_appears_in_the_second_city_and_its_close_there_closes_ours_and_tells_the_reporter(
        stacks: tuple[Stack, Stack], test_issuer: Any) -> None:
    ours, county = stacks
    resolved_text = load_jurisdiction("demo").workflow.status("resolved").texts["en"]
    ann = f"ann-{uuid.uuid4().hex[:8]}@resident.test"
    staff = test_issuer.headers(Role.ADMINISTRATOR)
    async with httpx.AsyncClient(timeout=15) as http:
        # our resident reports a pothole to A by Open311, with their email address
        r = await http.post(ours.url("intake_web") + "/requests.json", data={
            "api_key": "demo-key", "service_code": "pothole", "lat": "45.42005", "long": "-75.715",
            "address_string": "1 Elm Street", "email": ann, "attribute[size]": "large",
            "description": f"Deep pothole by the curb, write to me at {ann}"})
        assert r.status_code == 200, r.text
        token = r.json()[0]["token"]

        async def our_number() -> str | None:
            t = await http.get(ours.url("intake_web") + f"/tokens/{token}.json")
            return t.json()[0].get("service_request_id") if t.status_code == 200 else None
        sid = await eventually(our_number, timeout=30, what="our case number")
        [ack] = await _mail(ann, 1, "the acknowledgement")
        assert sid in ack["Subject"] or sid in text_of(ack)

        # the forwarder sends it to B: B answers a token, the next poll resolves it to B's case number
        case = (await http.get(ours.url("case") + f"/staff/cases/{sid}", headers=staff)).json()
        case_id = case["case_id"]

        async def forwarded() -> dict[str, Any] | None:
            f = await http.get(ours.url("forwarder") + "/admin/forwards", params={"case_id": case_id}, headers=staff)
            if f.status_code != 200:
                return None
            [row] = f.json()["forwards"]
            return row if row["state"] == "forwarded" else None
        row = await eventually(forwarded, timeout=40, what="the case forwarded to the county with its id")
        external = row["external_service_request_id"]
        assert row["endpoint"] == "county" and row["token"] and row["attempts"] == 1

        # it appears in B (public fields only: no email, and the one in the description scrubbed)
        theirs = await http.get(county.url("intake_web") + f"/requests/{external}.json")
        assert theirs.status_code == 200, theirs.text
        [request] = theirs.json()
        assert request["service_code"] == "pothole" and request["status"] == "open"
        assert "Deep pothole by the curb" in request["description"] and ann not in request["description"]
        assert abs(request["lat"] - 45.42005) < 1e-6
        answers = (await http.get(county.url("case") + f"/staff/cases/{external}", headers=staff)).json()["attributes"]
        assert any(a.get("code") == "size" and "large" in json.dumps(a) for a in answers), answers

        # its external id is on our case: the staff view and the timeline
        async def on_our_case() -> dict[str, Any] | None:
            c = (await http.get(ours.url("case") + f"/staff/cases/{sid}", headers=staff)).json()
            ids = [e["external_service_request_id"] for e in c["external_requests"]]
            return c if external in ids else None
        case = await eventually(on_our_case, timeout=30, what="the county's id on our case")
        assert any(t["kind"] == "forwarded" for t in case["timeline"])

        # county staff work and resolve it in B
        async with httpx.AsyncClient(base_url=county.url("case"), headers=staff, timeout=15) as county_staff:
            for status in ("in_progress", "resolved"):
                body = {"to": status} | ({"note": "Pothole filled by the county crew."} if status == "resolved" else {})
                t = await county_staff.post(f"/staff/cases/{external}/transition", json=body)
                assert t.status_code == 200, (status, t.text)

        # our case closes with their notes, by the county, and our reporter is told as usual
        async def closed_here() -> dict[str, Any] | None:
            c = (await http.get(ours.url("case") + f"/staff/cases/{sid}", headers=staff)).json()
            return c if c["workflow_status"] == "resolved" else None
        case = await eventually(closed_here, timeout=30, what="our case resolved by the county's close")
        change = [t for t in case["timeline"] if t["detail"].get("actor") == "open311:county"]
        assert change, case["timeline"]
        [ext] = case["external_requests"]
        assert ext["last_status"] == "closed"
        mails = await _mail(ann, 2, "the resolution mail")
        resolution = [m for m in mails if resolved_text[:40] in " ".join(text_of(m).split())]
        assert resolution, [m["Subject"] for m in mails]

        async def stopped() -> dict[str, Any] | None:
            f = await http.get(ours.url("forwarder") + "/admin/forwards", params={"case_id": case_id}, headers=staff)
            [row] = f.json()["forwards"]
            return row if row["state"] == "closed" else None
        row = await eventually(stopped, timeout=10, what="the polling of the closed case stopped")
        assert row["status"] == "closed"
