"""The case service's staff API against hostile input (in-process, real PostgreSQL): NUL bytes, odd
unicode, huge text, wrong types, cases of another jurisdiction, merges into themselves or in cycles. Each
must answer a clear 4xx and change nothing, or succeed consistently; never a 500.
"""

from __future__ import annotations

import json
from typing import Any

import asyncpg
import httpx
import pytest

from integration.test_case_staff_api import STAFF, Seed, client, headers, pool, snapshot  # noqa: F401
from support.auth import TestIssuer


@pytest.fixture
def migrated_package() -> str:
    return "services.case"


PROBES: list[tuple[str, str, Any]] = [
    ("post", "/staff/cases/{sid}/notes", {"text": "a\x00b"}),
    ("post", "/staff/cases/{sid}/updates", {"text": "a\x00b"}),
    ("post", "/staff/cases/{sid}/transition", {"to": "in_progress", "note": "x\x00"}),
    ("post", "/staff/cases/{sid}/transition", {"to": "in\x00progress"}),
    ("post", "/staff/cases/{sid}/assign", {"assignee": "bob\x00"}),
    ("post", "/staff/cases/{sid}/assign", {"assignee": "x" * 100000}),
    ("post", "/staff/cases/{sid}/assign", {"team": "roads-north\x00"}),
    ("post", "/staff/cases/{sid}/assign", {"assignee": "test-department_staff", "reason": "\x00"}),
    ("post", "/staff/cases/{sid}/priority", {"priority": 2, "reason": "\x00"}),
    ("post", "/staff/cases/{sid}/priority", {"priority": "2"}),
    ("post", "/staff/cases/{sid}/priority", {"priority": 2.5}),
    ("post", "/staff/cases/{sid}/priority", {"priority": True}),
    ("post", "/staff/cases/{sid}/recategorise", {"service_code": "pot\x00hole", "reason": "x"}),
    ("post", "/staff/cases/{sid}/recategorise", {"service_code": "nope", "reason": "x"}),
    ("post", "/staff/cases/{sid}/recategorise", {"service_code": "streetlight", "reason": "\x00"}),
    ("post", "/staff/cases/{sid}/replies", {"contact_key": "k\x00", "text": "hi"}),
    ("post", "/staff/cases/{sid}/replies", {"contact_key": "{contact}", "text": "h\x00i"}),
    ("post", "/staff/cases/{sid}/replies", {"contact_key": "k9-1", "text": "hi"}),
    ("post", "/staff/cases/{sid}/replies", {"contact_key": "{contact}", "canned_response_id": "x\x00"}),
    ("post", "/staff/cases/{sid}/replies", {"contact_key": "{contact}"}),
    ("post", "/staff/cases/{sid}/replies", {"contact_key": "{contact}", "text": "hi", "language": "\x00"}),
    ("post", "/staff/cases/{sid}/updates", {"text": "hi", "language": "xx\x00"}),
    ("post", "/staff/cases/{sid}/updates", {"text": "hi", "language": "klingon"}),
    ("post", "/staff/cases/{sid}/merge", {"into": "{sid}"}),
    ("post", "/staff/cases/{sid}/merge", {"into": "x\x00"}),
    ("post", "/staff/cases/{sid}/merge", {"into": "{merged}"}),
    ("post", "/staff/cases/{sid}/merge", {"into": "{into}", "reason": "\x00"}),
    ("post", "/staff/cases/{into}/unmerge", {}),
    ("post", "/staff/cases/{merged}/unmerge", {"reason": "\x00"}),
    ("post", "/staff/cases/{sid}/claim", {"x": 1}),
    ("post", "/staff/cases/{sid}/claim", []),
    ("post", "/staff/cases/{sid}/notes", "just a string"),
    ("post", "/staff/cases/{sid}/notes", '{"text": "\\ud800"}'),  # a lone surrogate, as raw JSON
    ("post", "/staff/cases/%00/claim", {}),
    ("post", "/staff/cases/%00/notes", {"text": "x"}),
    ("get", "/staff/cases/%00", None),
    ("get", "/staff/cases?district=%00", None),
    ("get", "/staff/cases?queue=%00", None),
    ("get", "/staff/cases?assignee=%00", None),
    ("get", "/staff/cases?status=%00", None),
    ("get", "/staff/cases?service_code=%00", None),
    ("get", "/staff/cases?channel=%00", None),
    ("get", "/cases/by-contact/%00", None),
    ("get", "/cases/%00/timeline", None),
    ("post", "/cases/%00/status", {"status": "closed"}),
    ("post", "/cases/{sid}/status", {"status": "closed", "status_notes": "\x00"}),
    ("get", "/cases/requests/%00", None),
    ("get", "/cases/requests?service_code=%00", None),
    ("get", "/cases/tokens/%00", None),
    ("post", "/staff/suggestions/{suggestion}/reject", {"reason": "\x00"}),
]


REFUSED = [
    ("/staff/cases/{sid}/assign", {"assignee": "x" * 100_000}),
    ("/staff/cases/{sid}/assign", {"assignee": ""}),
    ("/staff/cases/{sid}/priority", {"priority": True}),
    ("/staff/cases/{sid}/priority", {"priority": "2"}),
    ("/staff/cases/{sid}/replies", {"contact_key": "k" * 100_000, "text": "hi"}),
    ("/staff/cases/{sid}/merge", {"into": "D" * 100_000}),
    ("/staff/cases/{sid}/notes", {"text": "x" * 10_000_000}),
]


@pytest.mark.parametrize("probe", REFUSED, ids=lambda p: f"{p[0]} {str(p[1])[:30]}")
async def test_oversized_or_mistyped_fields_are_422_and_change_nothing(
        probe: tuple[str, dict[str, Any]], client: httpx.AsyncClient, pool: asyncpg.Pool,
        test_issuer: TestIssuer) -> None:
    path, body = probe
    values = await Seed(1).plant(pool)
    before = await snapshot(pool)
    r = await client.post(path.replace("{sid}", values["sid"]), json=body, headers=headers(test_issuer, "administrator"))
    assert r.status_code == 422, r.text[:300]
    assert await snapshot(pool) == before


@pytest.mark.parametrize("probe", PROBES, ids=lambda p: f"{p[0]} {p[1]} {str(p[2])[:40]!r}")
async def test_hostile_input_is_refused_cleanly(probe: tuple[str, str, Any], client: httpx.AsyncClient,
                                                pool: asyncpg.Pool, test_issuer: TestIssuer) -> None:
    method, path, body = probe
    values = await Seed(1).plant(pool)
    fill = lambda t: (t.replace("{sid}", values["sid"]).replace("{into}", values["into"])  # noqa: E731
                      .replace("{merged}", values["merged"]).replace("{contact}", values["contact"])
                      .replace("{suggestion}", values["suggestion"]))
    if isinstance(body, dict):
        body = {k: fill(v) if isinstance(v, str) else v for k, v in body.items()}
    before = await snapshot(pool)
    content = None if body is None else (body if isinstance(body, str) else json.dumps(body)).encode()
    r = await client.request(method, fill(path), content=content,
                             headers={"content-type": "application/json", **headers(test_issuer, "administrator")})
    assert r.status_code < 500, r.text
    assert isinstance(r.json()["detail"] if r.status_code >= 400 else r.json(), (str, list, dict))
    if r.status_code >= 400:
        assert await snapshot(pool) == before


def xml_safe(text: str | None) -> bool:
    """True when lxml (which renders intake_web's Open311 XML) accepts `text` as element text."""
    from lxml import etree
    try:
        etree.Element("a").text = text
    except ValueError:
        return False
    return True


async def test_staff_text_with_control_characters_stays_renderable_as_open311_xml(
        client: httpx.AsyncClient, pool: asyncpg.Pool, test_issuer: TestIssuer) -> None:
    values = await Seed(1).plant(pool)
    staff = headers(test_issuer, STAFF)
    nasty = "Crew\x01 booked\x0b for\x1b[31m Monday\ufffe\uffff"
    r = await client.post(f"/staff/cases/{values['sid']}/transition", json={"to": "in_progress", "note": nasty},
                          headers=staff)
    assert r.status_code == 200, r.text
    r = await client.post(f"/staff/cases/{values['sid']}/updates", json={"text": nasty}, headers=staff)
    assert r.status_code == 200, r.text
    r = await client.post(f"/cases/{values['into']}/status", json={"status": "closed", "status_notes": nasty},
                          headers=staff)
    assert r.status_code == 200, r.text
    for sid in (values["sid"], values["into"]):
        notes = (await client.get(f"/cases/requests/{sid}")).json()["status_notes"]
        assert notes == "Crew booked for[31m Monday" and xml_safe(notes)
    [update] = [e for e in (await client.get(f"/staff/cases/{values['sid']}", headers=staff)).json()["timeline"]
                if e["kind"] == "public_update"]
    assert xml_safe(update["detail"]["text"])


async def test_two_crossing_merges_at_once_leave_no_cycle(client: httpx.AsyncClient, pool: asyncpg.Pool,
                                                           test_issuer: TestIssuer) -> None:
    import asyncio
    values = await Seed(1).plant(pool)
    staff = headers(test_issuer, STAFF)
    a, b = values["sid"], values["into"]
    r1, r2 = await asyncio.gather(
        client.post(f"/staff/cases/{a}/merge", json={"into": b}, headers=staff),
        client.post(f"/staff/cases/{b}/merge", json={"into": a}, headers=staff))
    assert sorted([r1.status_code, r2.status_code]) == [200, 409], (r1.text, r2.text)
    rows = {r["service_request_id"]: r["merged_into"] for r in await pool.fetch(
        "SELECT service_request_id, merged_into FROM cases WHERE service_request_id = ANY($1)", [a, b])}
    assert sum(v is not None for v in rows.values()) == 1


async def test_two_assignments_at_once_end_with_one_assignee_and_both_on_the_timeline_or_one_refused(
        client: httpx.AsyncClient, pool: asyncpg.Pool, test_issuer: TestIssuer) -> None:
    import asyncio
    values = await Seed(1).plant(pool)
    boss = headers(test_issuer, "supervisor")
    sid = values["sid"]
    r1, r2 = await asyncio.gather(
        client.post(f"/staff/cases/{sid}/assign", json={"assignee": "ann"}, headers=boss),
        client.post(f"/staff/cases/{sid}/assign", json={"assignee": "bob"}, headers=boss))
    assert all(r.status_code < 500 for r in (r1, r2)), (r1.text, r2.text)
    page = (await client.get(f"/staff/cases/{sid}", headers=boss)).json()
    entries = [e for e in page["timeline"] if e["kind"] == "assigned"]
    assert len(entries) == [r1.status_code, r2.status_code].count(200)
    assert all(e["detail"]["actor"] and e["detail"]["role"] for e in entries)
    assert page["assignee"] == entries[-1]["detail"]["after"]["assignee"]
