"""The case service's staff API in-process (httpx over ASGI) on real PostgreSQL, with tokens of a test
identity provider: THE TABLE of every staff route × every role, plus no token, an expired token, another
issuer, a tampered signature and a key the service does not know. Only the allowed pairs succeed; every
refusal (401, 403) changes nothing in the case store; no route that changes a case answers 2xx without a
valid token; the table lists every route the app serves. Then the unmerge acceptance: the reporter of the
unmerged case has their own open case back, also in Open311, and no Open311 answer shows an internal note.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from services.case.adapters.reads import StaffReads
from services.case.adapters.repository import CaseRepository
from services.case.domain import records
from services.case.domain.threading import case_id_for, message_id_for
from services.case.entrypoints import http
from services.case.service_layer import timers
from shared.auth import install_auth
from shared.db.unit_of_work import PgUnitOfWork
from shared.events import MessageReceived
from shared.jurisdiction import load_jurisdiction
from support.auth import TestIssuer

DEMO = load_jurisdiction("demo")
NOW = datetime.now(UTC).replace(microsecond=0)

ROLES = ("call_agent", "department_staff", "supervisor", "administrator")
AGENT, STAFF, SUPERVISOR, ADMIN = ROLES
OTHER_DEPARTMENT = "water_staff"
"""Department staff of another department (water) than the cases' (public-works)."""
BAD_TOKENS = ("no_token", "expired", "other_issuer", "tampered", "unknown_key")
CALLERS = (*ROLES, OTHER_DEPARTMENT, *BAD_TOKENS)


@dataclass(frozen=True)
class Route:
    """One staff route: `path` with `{sid}` (an open, routed case of public-works), `{into}` (another),
    `{merged}` (a case merged into `sid`), `{contact}` (the reporter of `sid`), `{suggestion}` (a pending
    suggestion that `into` duplicates `sid`); `allowed` the callers that get 200 on a fresh case."""

    method: str
    path: str
    allowed: frozenset[str]
    body: dict[str, Any] | None = None
    changes: bool = field(default=False)

    @property
    def id(self) -> str:
        return f"{self.method} {self.path}"


EVERY_ROLE = frozenset(ROLES)
CASE_WORKERS = frozenset({STAFF, SUPERVISOR, ADMIN})
OWN_SCOPE = frozenset({STAFF, SUPERVISOR, ADMIN, OTHER_DEPARTMENT})  # lists: each sees their own scope

TABLE = (
    Route("get", "/staff/me", EVERY_ROLE | {OTHER_DEPARTMENT}),
    Route("get", "/staff/config", EVERY_ROLE | {OTHER_DEPARTMENT}),
    Route("get", "/staff/cases", OWN_SCOPE),
    Route("get", "/staff/cases/{sid}", EVERY_ROLE),
    Route("post", "/staff/cases/{sid}/claim", CASE_WORKERS, {}, True),
    Route("post", "/staff/cases/{sid}/assign", CASE_WORKERS, {"assignee": "test-department_staff"}, True),
    Route("post", "/staff/cases/{sid}/transition", CASE_WORKERS, {"to": "in_progress"}, True),
    Route("post", "/staff/cases/{sid}/priority", CASE_WORKERS, {"priority": 1}, True),
    Route("post", "/staff/cases/{sid}/recategorise", CASE_WORKERS, {"service_code": "streetlight", "reason": "lamp"},
          True),
    Route("post", "/staff/cases/{sid}/notes", EVERY_ROLE, {"text": "internal: caller sounded unsure"}, True),
    Route("post", "/staff/cases/{sid}/updates", CASE_WORKERS, {"text": "A crew is booked."}, True),
    Route("post", "/staff/cases/{sid}/replies", CASE_WORKERS, {"contact_key": "{contact}", "text": "Which corner?"},
          True),
    Route("post", "/staff/cases/{sid}/merge", CASE_WORKERS, {"into": "{into}"}, True),
    Route("post", "/staff/cases/{merged}/unmerge", CASE_WORKERS, {"reason": "not the same"}, True),
    Route("get", "/staff/suggestions", OWN_SCOPE),
    Route("post", "/staff/suggestions/{suggestion}/accept", CASE_WORKERS, {}, True),
    Route("post", "/staff/suggestions/{suggestion}/reject", CASE_WORKERS, {"reason": "no"}, True),
    Route("get", "/cases/{sid}/timeline", EVERY_ROLE),  # internal notes: not for another department
    Route("post", "/cases/{sid}/status", CASE_WORKERS, {"status": "closed"}, True),
    Route("get", "/cases/by-contact/{contact}", EVERY_ROLE | {OTHER_DEPARTMENT}),
    Route("get", "/staff/reporters/cases?contact_key={contact}&contact_key=k-other", EVERY_ROLE | {OTHER_DEPARTMENT}),
)
OPEN311 = (("get", "/cases/requests/{sid}"), ("get", "/cases/requests"), ("get", "/cases/tokens/{token}"),
           ("get", "/cases/requests/{sid}/history"))
"""The routes open to anyone (Open311 reads and the portal's public history)."""


@pytest.fixture
def migrated_package() -> str:
    return "services.case"


@pytest.fixture
def pool(service_pool: asyncpg.Pool) -> asyncpg.Pool:
    return service_pool


@pytest.fixture
async def client(pool: asyncpg.Pool, fresh_schema_name: str, test_issuer: TestIssuer
                 ) -> AsyncIterator[httpx.AsyncClient]:
    """The case service's HTTP side as `create_app` wires it (token verifier, case and staff API, SLA
    clock hooks) on this test's schema."""
    app = FastAPI()
    install_auth(app, test_issuer.verifier())
    http.mount(app, http.CaseApi(
        reads=lambda: StaffReads(pool),
        unit_of_work=lambda: PgUnitOfWork(pool, service=fresh_schema_name, repository=CaseRepository,
                                          now=datetime.now(UTC), envelope=None),
        jurisdiction=lambda: DEMO, now=lambda: datetime.now(UTC), clocks=lambda: timers))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://case") as c:
        yield c


_TOKENS: dict[tuple[int, str], str | None] = {}


def headers(issuer: TestIssuer, caller: str) -> dict[str, str]:
    """The `Authorization` header of `caller` (none for ``no_token``); each token minted once per issuer
    (minting loads the private key, which takes a while)."""
    key = (id(issuer), caller)
    if key not in _TOKENS:
        _TOKENS[key] = {
            "no_token": lambda: None,
            "expired": lambda: issuer.token(STAFF, expired=True),
            "other_issuer": lambda: issuer.token(STAFF, issuer="https://idp.elsewhere.example"),
            "tampered": lambda: issuer.token(ADMIN, tamper=True),
            "unknown_key": lambda: issuer.token(ADMIN, foreign=True),
            OTHER_DEPARTMENT: lambda: issuer.token(STAFF, department="water", subject="test-water"),
        }.get(caller, lambda: issuer.token(caller))()
    token = _TOKENS[key]
    return {"Authorization": f"Bearer {token}"} if token is not None else {}


class Seed:
    """Cases for one attempt, numbered from `n`: `sid` and `into` open and routed to roads (public-works),
    `merged` merged into `sid`, a pending suggestion that `sid` duplicates `into`; the reporter of `sid`
    is `contact`."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.values: dict[str, str] = {}

    async def plant(self, pool: asyncpg.Pool) -> dict[str, str]:
        async with pool.acquire() as conn, conn.transaction():
            repo = CaseRepository(conn)
            ids = []
            for i in range(3):
                number = f"DEMO-26-{self.n * 10 + i:06d}"
                contact = f"k{self.n}-{i}"
                msg = MessageReceived(channel="sms", channel_message_id=f"SM{number}", contact_key=contact,
                                      received_at=NOW, description=f"pothole {number}", lat=45.4, long=-75.7)
                case_id = case_id_for(msg.channel, msg.channel_message_id)
                await repo.upsert_reporter(contact, "sms", {"phone": f"+1514555{self.n:04d}"}, NOW)
                await repo.insert_case(records.new_case_row(msg, case_id=case_id, number=number, jurisdiction_id="demo",
                                                            correlation_id=uuid4(), now=NOW))
                await repo.insert_message(records.message_row(msg, case_id=case_id, event_id=uuid4(),
                                                              message_id=message_id_for("sms", msg.channel_message_id)))
                await repo.update_case(case_id, {"queue": "roads", "service_code": "pothole", "priority": 3,
                                                 "workflow_status": "acknowledged", "routing": {"rule_id": "r"},
                                                 "sla_due_at": NOW + timedelta(days=2)})
                ids.append((case_id, number, contact))
            (sid_id, sid, contact), (into_id, into, _), (merged_id, merged, _) = ids
            await repo.update_case(merged_id, {"status": "closed", "merged_into": sid_id, "workflow_status": "duplicate",
                                               "workflow_before_merge": "acknowledged"})
            suggestion = uuid4()
            await repo.insert_suggestion({"id": suggestion, "case_id": sid_id, "duplicate_of": into_id, "score": 0.4,
                                          "evidence": {}, "event_id": uuid4(), "created_at": NOW})
        self.values = {"sid": sid, "into": into, "merged": merged, "contact": contact, "suggestion": str(suggestion),
                       "token": "none"}
        return self.values


def fill(template: Any, values: dict[str, str]) -> Any:
    if isinstance(template, str):
        for key, value in values.items():
            template = template.replace("{" + key + "}", value)
        return template
    if isinstance(template, dict):
        return {k: fill(v, values) for k, v in template.items()}
    return template


async def snapshot(pool: asyncpg.Pool) -> tuple[Any, ...]:
    """Everything a request could change: cases, timeline, suggestions, outbox, clocks."""
    return (
        [tuple(r) for r in await pool.fetch("SELECT * FROM cases ORDER BY case_id")],
        await pool.fetchval("SELECT count(*) FROM timeline"),
        [tuple(r) for r in await pool.fetch("SELECT id, status FROM merge_suggestions ORDER BY id")],
        await pool.fetchval("SELECT count(*) FROM outbox"),
        await pool.fetchval("SELECT count(*) FROM sla_clocks"),
    )


@pytest.mark.parametrize("route", TABLE, ids=lambda r: r.id)
async def test_every_staff_route_answers_only_the_allowed_callers(
        route: Route, client: httpx.AsyncClient, pool: asyncpg.Pool, test_issuer: TestIssuer) -> None:
    outcomes: dict[str, int] = {}
    for n, caller in enumerate(CALLERS, start=1):
        values = await Seed(n).plant(pool)
        before = await snapshot(pool)
        r = await client.request(route.method, fill(route.path, values), headers=headers(test_issuer, caller),
                                 json=fill(route.body, values) if route.body is not None else None)
        outcomes[caller] = r.status_code
        if caller in BAD_TOKENS:
            assert r.headers.get("www-authenticate", "").startswith("Bearer"), (caller, r.text)
        if r.status_code != 200:
            assert await snapshot(pool) == before, f"{caller} was refused ({r.status_code}) but something changed"
        elif route.changes:
            assert await snapshot(pool) != before, f"{caller} got 200 and nothing changed"
    expected = {caller: 200 if caller in route.allowed else (401 if caller in BAD_TOKENS else 403)
                for caller in CALLERS}
    assert outcomes == expected


def test_the_table_lists_every_route_the_case_service_serves(test_issuer: TestIssuer) -> None:
    app = FastAPI()
    http.mount(app, http.CaseApi(reads=lambda: None, unit_of_work=lambda: None,  # type: ignore[arg-type,return-value]
                                 jurisdiction=lambda: DEMO, now=lambda: NOW))
    served = {(m, p.replace("{service_request_id}", "{sid}").replace("{contact_key}", "{contact}")
               .replace("{suggestion_id}", "{suggestion}"))
              for p, ops in app.openapi()["paths"].items() for m in ops}
    listed = {(r.method, r.path.replace("{merged}", "{sid}").split("?")[0]) for r in TABLE} | set(OPEN311)
    assert served == listed


async def test_no_route_that_changes_a_case_answers_2xx_without_a_valid_token(
        client: httpx.AsyncClient, pool: asyncpg.Pool, test_issuer: TestIssuer) -> None:
    values = await Seed(1).plant(pool)
    before = await snapshot(pool)
    writes = [r for r in TABLE if r.method != "get"]
    assert writes and all(r.changes for r in writes)
    for route in writes:
        for caller in BAD_TOKENS:
            r = await client.request(route.method, fill(route.path, values), headers=headers(test_issuer, caller),
                                     json=fill(route.body, values))
            assert r.status_code == 401, (route.id, caller, r.status_code)
    assert await snapshot(pool) == before


async def test_open311_reads_need_no_token_and_show_no_internal_note(
        client: httpx.AsyncClient, pool: asyncpg.Pool, test_issuer: TestIssuer) -> None:
    values = await Seed(1).plant(pool)
    secret = "internal: the neighbour at no. 12 is difficult"
    r = await client.post(f"/staff/cases/{values['sid']}/notes", json={"text": secret},
                          headers=headers(test_issuer, STAFF))
    assert r.status_code == 200 and r.json()["timeline"][-1]["detail"]["text"] == secret
    for method, path in OPEN311:
        r = await client.request(method, fill(path, values))
        assert r.status_code == 200, path
        assert "neighbour" not in r.text and values["contact"] not in r.text
    events = [r["payload"] for r in await pool.fetch("SELECT payload FROM outbox")]
    assert not any(b"neighbour" in bytes(e) for e in events)


async def test_public_reads_scrub_contacts_staff_reads_keep_them(
        client: httpx.AsyncClient, pool: asyncpg.Pool, test_issuer: TestIssuer) -> None:
    values = await Seed(1).plant(pool)
    await pool.execute("UPDATE cases SET description = 'pothole, call me at 613-555-0123',"
                       " address = 'Main St (ann@example.org)' WHERE service_request_id = $1", values["sid"])
    r = await client.post(f"/cases/{values['sid']}/status", headers=headers(test_issuer, STAFF),
                          json={"status": "closed", "status_notes": "Crew: crew [at] example [dot] org"})
    assert r.status_code == 200 and r.json()["status_notes"] == "Crew: crew [at] example [dot] org"

    one = (await client.get(f"/cases/requests/{values['sid']}")).json()
    listed = next(x for x in (await client.get("/cases/requests")).json() if x["service_request_id"] == values["sid"])
    history = (await client.get(f"/cases/requests/{values['sid']}/history")).json()
    staff = (await client.get(f"/staff/cases/{values['sid']}", headers=headers(test_issuer, STAFF))).text

    for body in (one, listed):
        assert (body["description"], body["address"], body["status_notes"]) == (
            "pothole, call me at [phone]", "Main St ([email])", "Crew: [email]")
    assert history["status_notes"] == "Crew: [email]"
    assert history["entries"][-1]["status_notes"] == "Crew: [email]"
    assert "613-555-0123" in staff and "ann@example.org" in staff


async def test_unmerge_gives_the_reporter_their_own_open_case_back(
        client: httpx.AsyncClient, pool: asyncpg.Pool, test_issuer: TestIssuer) -> None:
    values = await Seed(1).plant(pool)
    staff = headers(test_issuer, STAFF)
    # A staff merge of the `into` case (its reporter's own) into `sid`, then undone.
    r = await client.post(f"/staff/cases/{values['into']}/merge", json={"into": values["sid"], "reason": "same"},
                          headers=staff)
    assert r.status_code == 200 and r.json()["merged_into"] == values["sid"]
    assert (await client.get(f"/cases/requests/{values['into']}")).json()["status"] == "closed"

    r = await client.post(f"/staff/cases/{values['into']}/unmerge", json={"reason": "other street"}, headers=staff)

    assert r.status_code == 200
    body = r.json()
    assert (body["service_request_id"], body["status"], body["merged_into"], body["workflow_status"]) == (
        values["into"], "open", None, "acknowledged")
    kinds = [e["kind"] for e in body["timeline"]]
    assert kinds[-2:] == ["merged", "unmerged"]
    assert body["timeline"][-1]["detail"]["actor"] == "test-department_staff"
    survivor = (await client.get(f"/staff/cases/{values['sid']}", headers=staff)).json()
    assert [e["kind"] for e in survivor["timeline"]][-2:] == ["absorbed", "released"]
    assert values["into"] not in [m["service_request_id"] for m in survivor["merged"]]
    open311 = (await client.get(f"/cases/requests/{values['into']}")).json()
    assert (open311["status"], open311["status_notes"]) == ("open", None)
    [reporter] = (await client.get(f"/cases/by-contact/k1-1", headers=staff)).json()
    assert (reporter["service_request_id"], reporter["status"]) == (values["into"], "open")
    outbox = [r["payload"] for r in await pool.fetch("SELECT payload FROM outbox ORDER BY id")]
    assert b'"case.unmerged"' in bytes(outbox[-1])


async def test_a_refused_transition_is_409_with_the_allowed_ones_and_changes_nothing(
        client: httpx.AsyncClient, pool: asyncpg.Pool, test_issuer: TestIssuer) -> None:
    values = await Seed(1).plant(pool)
    before = await snapshot(pool)
    r = await client.post(f"/staff/cases/{values['sid']}/transition", json={"to": "closed"},
                          headers=headers(test_issuer, STAFF))
    assert r.status_code == 409 and "resolved" in r.json()["detail"]
    r = await client.post(f"/staff/cases/{values['sid']}/priority", json={"priority": 9},
                          headers=headers(test_issuer, STAFF))
    assert r.status_code == 422
    r = await client.post("/staff/cases/DEMO-26-999999/claim", json={}, headers=headers(test_issuer, STAFF))
    assert r.status_code == 404
    assert await snapshot(pool) == before


async def test_the_staff_list_and_case_page_shapes(client: httpx.AsyncClient, pool: asyncpg.Pool,
                                                   test_issuer: TestIssuer) -> None:
    values = await Seed(1).plant(pool)
    staff = headers(test_issuer, STAFF)
    rows = (await client.get("/staff/cases", params={"queue": "roads", "status": "acknowledged"}, headers=staff)).json()
    assert [r["service_request_id"] for r in rows] == [values["sid"], values["into"]]
    assert rows[0]["sla_state"] == "ok" and rows[0]["department"] == "public-works"
    assert rows[0]["status_labels"]["fr"]
    assert (await client.get("/staff/cases", params={"sla_state": "late"}, headers=staff)).status_code == 422
    assert (await client.get("/staff/cases", params={"queue": "water-ops"}, headers=staff)).status_code == 403
    water = (await client.get("/staff/cases", headers=headers(test_issuer, OTHER_DEPARTMENT))).json()
    assert water == []
    page = (await client.get(f"/staff/cases/{values['sid']}", headers=staff)).json()
    assert "resolved" in page["allowed_transitions"] and "duplicate" not in page["allowed_transitions"]
    assert [(r["contact_key"], r["merged"]) for r in page["reporters"]] == [("k1-0", False), ("k1-2", True)]
    assert page["reporters"][0]["address"] == "+1 514-***-0001"
    assert page["messages"][0]["text"] == f"pothole {values['sid']}"
    assert page["merged"] == [{"service_request_id": values["merged"], "status": "closed"}]
    me = (await client.get("/staff/me", headers=staff)).json()
    assert (me["subject"], me["role"], me["department"]) == ("test-department_staff", STAFF, "public-works")
    config = (await client.get("/staff/config", headers=staff)).json()
    assert {s["id"] for s in config["statuses"]} >= {"new", "waiting_on_resident", "duplicate"}
    assert any(c["id"] == "need-location" and c["text"]["fr"] for c in config["canned_responses"])
    [suggestion] = (await client.get("/staff/suggestions", headers=staff)).json()
    assert (suggestion["case"], suggestion["duplicate_of"], suggestion["status"]) == (values["sid"], values["into"],
                                                                                      "pending")


async def test_one_persons_history_and_a_forwarded_case_on_the_case_page(
        client: httpx.AsyncClient, pool: asyncpg.Pool, test_issuer: TestIssuer) -> None:
    values = await Seed(1).plant(pool)
    agent = headers(test_issuer, AGENT)
    r = await client.get("/staff/reporters/cases", params=[("contact_key", "k1-2"), ("contact_key", "k1-1")],
                         headers=agent)
    assert r.status_code == 200
    assert [(c["service_request_id"], c["contact_key"], c["merged_from"], c["workflow_status"])
            for c in r.json()["cases"]] == [
        (values["merged"], "k1-2", None, "duplicate"), (values["into"], "k1-1", None, "acknowledged"),
        (values["sid"], "k1-2", values["merged"], "acknowledged")]
    assert set(r.json()["cases"][0]) == {"service_request_id", "status", "workflow_status", "service_code",
                                         "service_name", "channel", "contact_key", "requested_datetime", "address",
                                         "merged_from"}
    for bad in ([], [("contact_key", f"k{i}") for i in range(21)], [("contact_key", "")], [("contact_key", "k\x00")],
                [("contact_key", "k" * 501)]):
        assert (await client.get("/staff/reporters/cases", params=bad, headers=agent)).status_code == 422, bad
    async with pool.acquire() as conn:
        case_id = await conn.fetchval("SELECT case_id FROM cases WHERE service_request_id = $1", values["sid"])
        await CaseRepository(conn).record_forwarded({
            "case_id": case_id, "endpoint": "county-public-works", "external_service_request_id": "COUNTY-26-000042",
            "token": None, "external_service_code": "4fd3", "forwarded_at": NOW})
    page = (await client.get(f"/staff/cases/{values['sid']}", headers=agent)).json()
    assert page["external_requests"] == [{
        "endpoint": "county-public-works", "external_service_request_id": "COUNTY-26-000042", "token": None,
        "external_service_code": "4fd3", "forwarded_at": NOW.isoformat(), "last_status": None,
        "last_agency_responsible": None, "last_updated_datetime": None, "last_reported_at": None}]
