"""The forwarder's sender and poller on real PostgreSQL against the local fake Open311 back office
(tools/fakes/open311.py) serving the real GeoReport v2 payloads of $OMNI311_SHARED_DATA/open311 over real
HTTP: the XML POST answer (id, notice, empty account_id), token-only answers resolved on a poll, the real
403 (with its status line) and 404 bodies, a garbage answer, and status changes read from the real Toronto
and San Francisco request lists. The case API is an in-memory stand-in (the case service is not under test)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import httpx
import pytest
import uvicorn

from services.forwarder.adapters.open311 import Open311Client
from services.forwarder.adapters.repository import ForwarderRepository
from services.forwarder.service_layer import handlers
from shared.db.unit_of_work import PgUnitOfWork
from shared.events import CaseOpened, CaseRouted, Envelope
from shared.jurisdiction.forwarding import ForwardingSpec
from shared.open311 import ServiceRequest
from support.infra import free_port
from tools.fakes.open311 import create_app

T0 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
KEY = "county-key"
SF, TORONTO = "cfa_gem_service_requests_sf.xml", "toronto_requests_many.xml"


@pytest.fixture
def migrated_package() -> str:
    return "services.forwarder"


@pytest.fixture(scope="module")
def fake_url(require_shared_data: None) -> Iterator[str]:
    """The fake back office on a free local port (uvicorn in a thread), for the module."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(api_key=KEY), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert time.monotonic() < deadline, "the fake Open311 server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def fake(fake_url: str) -> Iterator[httpx.Client]:
    """A client of the fake's control routes; every test starts with ids answered and no failures queued."""
    with httpx.Client(base_url=fake_url, timeout=5) as client:
        client.post("/fake/mode", json={"post": "id"})
        client.post("/fake/failures", json={"count": 0, "kind": "503"})
        yield client


class Cases:
    """The case service's Open311 read, in memory."""

    def __init__(self) -> None:
        self.known: dict[str, ServiceRequest] = {}

    async def request(self, service_request_id: str, *, extensions: bool = False) -> ServiceRequest | None:
        return self.known.get(service_request_id)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def spec(fmt: str) -> ForwardingSpec:
    return ForwardingSpec.model_validate({"closed_status": "resolved", "reopened_status": "in_progress",
                                          "endpoints": [{"name": "county", "base_url": "http://unused.example",
                                                         "format": fmt, "services": {"pothole": "CSROWR-12"},
                                                         "poll_interval_s": 60, "max_attempts": 3}]})


@pytest.fixture
async def world(service_pool: asyncpg.Pool, fresh_schema_name: str, fake_url: str) -> Any:
    """The forwarder's `Forwarding` on the fresh schema, pointed at the fake; build with `world(fmt)`."""
    client = Open311Client(5.0)
    await client.start()
    clock, cases = Clock(), Cases()

    def build(fmt: str = "xml") -> handlers.Forwarding:
        return handlers.Forwarding(
            forwarding=spec(fmt), urls={"county": fake_url}, api_key=lambda name: KEY, client=client, cases=cases,
            unit_of_work=lambda: PgUnitOfWork(service_pool, service=fresh_schema_name, repository=ForwarderRepository,
                                              now=clock()), clock=clock)
    build.clock, build.cases, build.pool = clock, cases, service_pool  # type: ignore[attr-defined]
    yield build
    await client.stop()


async def routed(world: Any, f: handlers.Forwarding, *, code: str = "pothole",
                 attributes: dict[str, Any] | None = None) -> UUID:
    """A case opened with `attributes` and routed to `code` is known to the case API and planned (what
    `case.opened` and `case.routed` do)."""
    case_id = uuid4()
    sid = f"DEMO-26-{case_id.int % 10**6:06d}"
    opened = CaseOpened.model_validate({
        "case_id": str(case_id), "service_request_id": sid, "jurisdiction_id": "demo", "channel": "open311",
        "channel_message_id": "t-1", "contact_key": "ck_x", "requested_datetime": T0.isoformat(),
        "attributes": attributes or {}})
    async with f.unit_of_work() as uow:
        await handlers.case_opened(opened, uow, forwarding=f.forwarding)
    world.cases.known[sid] = ServiceRequest(
        service_request_id=sid, status="open", service_code=code, lat=45.5, long=-73.6, address="12 Elm Street",
        description="Deep pothole, call me at 514-555-0199 or ann@resident.test",
        requested_datetime=T0, media_url="https://city.example/media/1.jpg")
    event = CaseRouted.model_validate({
        "case_id": str(case_id), "service_request_id": sid, "jurisdiction_id": "demo", "description": "x",
        "requested_datetime": T0.isoformat(), "routing": {
            "service_code": code, "service_name": "Pothole", "category_source": "service_code",
            "agency_responsible": "Roads", "queue": "roads", "priority": 3, "rule_id": "r", "config_version": "v"}})
    async with f.unit_of_work() as uow:
        assert await handlers.case_routed(event, uow, forwarding=f.forwarding) == "planned"
    return case_id


async def forward(world: Any, case_id: UUID) -> dict[str, Any]:
    async with world.pool.acquire() as conn:
        return dict(await conn.fetchrow("SELECT * FROM forwards WHERE case_id = $1", case_id))


async def outbox(world: Any) -> list[Envelope]:
    async with world.pool.acquire() as conn:
        rows = await conn.fetch("SELECT payload FROM outbox ORDER BY id")
    return [Envelope.from_bytes(r["payload"]) for r in rows]


def posts(fake: httpx.Client) -> list[dict[str, Any]]:
    return fake.get("/sent", params={"kind": "post"}).json()


async def test_a_case_posted_in_xml_gets_the_real_answers_id_and_notice(world: Any, fake: httpx.Client) -> None:
    f = world("xml")
    case_id = await routed(world, f, attributes={"size": "large", "hazards": ["traffic", "night"]})
    before = len(posts(fake))

    assert await handlers.send_due(f) == 1

    row = await forward(world, case_id)
    assert (row["state"], row["external_service_request_id"], row["attempts"]) == ("forwarded", "293944", 1)
    assert row["service_notice"].startswith("The City will inspect")
    (env,) = await outbox(world)
    assert env.event_type == "forwarding.case_forwarded" and env.subject == str(case_id)
    assert env.data["external_service_request_id"] == "293944" and env.data["external_service_code"] == "CSROWR-12"
    sent = posts(fake)[before:]
    assert len(sent) == 1
    form = dict(sent[0]["fields"])
    assert form["service_code"] == "CSROWR-12" and form["lat"] == "45.5" and form["address_string"] == "12 Elm Street"
    assert "514-555-0199" not in form["description"] and "ann@resident.test" not in form["description"]
    assert not {"email", "phone", "first_name", "last_name"} & set(form)
    assert form["attribute[size]"] == "large"
    assert [v for k, v in sent[0]["fields"] if k == "attribute[hazards][]"] == ["traffic", "night"]
    assert sent[0]["idempotency_key"] == f"omni311-forward-{case_id}-county"
    assert await handlers.send_due(f) == 0, "a forwarded case is not sent again"


async def test_a_token_only_answer_is_resolved_on_the_next_poll(world: Any, fake: httpx.Client) -> None:
    f = world("json")
    fake.post("/fake/mode", json={"post": "token"})
    case_id = await routed(world, f)

    await handlers.send_due(f)
    row = await forward(world, case_id)
    assert row["state"] == "awaiting_token" and row["token"].startswith("fake-token-")
    assert row["external_service_request_id"] is None
    world.clock.advance(61)
    assert await handlers.poll_due(f) == 1

    row = await forward(world, case_id)
    assert (row["state"], row["external_service_request_id"]) == ("forwarded", "293944")
    first, second = await outbox(world)
    assert first.data["token"] == row["token"] and first.data["external_service_request_id"] is None
    assert second.data["token"] == row["token"] and second.data["external_service_request_id"] == "293944"


async def test_the_real_403_with_its_status_line_is_a_refusal_shown_with_its_words(world: Any,
                                                                                    fake: httpx.Client) -> None:
    f = world("xml")
    f = handlers.Forwarding(**{**f.__dict__, "api_key": lambda name: "wrong-key"})
    case_id = await routed(world, f)

    await handlers.send_due(f)

    row = await forward(world, case_id)
    assert row["state"] == "refused" and row["next_attempt_at"] is None
    (env,) = await outbox(world)
    assert env.event_type == "forwarding.forward_failed"
    assert env.data["stage"] == "send" and env.data["retry_at"] is None and env.data["attempt"] == 1
    assert "403" in env.data["error"] and "Invalid api_key received" in env.data["error"]
    assert KEY not in env.data["error"] and "wrong-key" not in env.data["error"]


@pytest.mark.parametrize("kind", ["503", "garbage", "errors_200"])
async def test_an_answer_worth_another_try_is_retried_with_backoff_then_given_up(world: Any, fake: httpx.Client,
                                                                                kind: str) -> None:
    f = world("xml")
    fake.post("/fake/failures", json={"count": 3, "kind": kind})
    case_id = await routed(world, f)

    await handlers.send_due(f)
    row = await forward(world, case_id)
    assert row["state"] == "pending" and row["next_attempt_at"] == T0 + timedelta(seconds=30)
    assert await handlers.send_due(f) == 0, "not due before its backoff"
    world.clock.advance(30)
    await handlers.send_due(f)
    row = await forward(world, case_id)
    assert row["next_attempt_at"] == world.clock.now + timedelta(seconds=60)
    world.clock.advance(60)
    await handlers.send_due(f)

    row = await forward(world, case_id)
    assert (row["state"], row["attempts"], row["next_attempt_at"]) == ("failed", 3, None)
    failures = [e.data for e in await outbox(world)]
    assert [d["attempt"] for d in failures] == [1, 2, 3]
    assert failures[-1]["retry_at"] is None and all(d["stage"] == "send" for d in failures)

    rows = await handlers.retry(f.unit_of_work, case_id)
    assert rows[0]["state"] == "pending" and rows[0]["attempts"] == 0
    await handlers.send_due(f)
    assert (await forward(world, case_id))["state"] == "forwarded"


async def test_status_changes_are_read_from_the_real_request_lists_and_a_close_stops_the_polling(
        world: Any, fake: httpx.Client) -> None:
    f = world("xml")
    case_id = await routed(world, f)
    await handlers.send_due(f)
    fake.post("/fake/requests/293944", json={"file": TORONTO, "record": "101005420892"})

    world.clock.advance(60)
    assert await handlers.poll_due(f) == 1
    world.clock.advance(60)
    assert await handlers.poll_due(f) == 1, "polled again, nothing new"
    fake.post("/fake/requests/293944", json={"file": SF, "record": "638344"})
    world.clock.advance(60)
    await handlers.poll_due(f)
    world.clock.advance(60)

    assert await handlers.poll_due(f) == 0, "a case reported closed is not polled again"
    reports = [e.data for e in await outbox(world) if e.event_type == "forwarding.status_reported"]
    assert [(r["status"], r["status_notes"], r["agency_responsible"]) for r in reports] == [
        ("open", "In progress - The request has been scheduled.", "311 Toronto"),
        ("closed", "Duplicate request.", None)]
    assert reports[1]["updated_datetime"] == "2010-04-14T14:37:38Z"
    assert all(r["external_service_request_id"] == "293944" for r in reports)
    assert (await forward(world, case_id))["state"] == "closed"


async def test_the_real_404_body_on_polls_is_reported_after_three_failures_in_a_row(world: Any,
                                                                                   fake: httpx.Client) -> None:
    f = world("xml")
    case_id = await routed(world, f)
    await handlers.send_due(f)
    fake.post("/fake/failures", json={"count": 3, "kind": "404"})

    for _ in range(3):
        world.clock.advance(60)
        assert await handlers.poll_due(f) == 1

    row = await forward(world, case_id)
    assert (row["state"], row["poll_failures"]) == ("forwarded", 3)
    (failed,) = [e.data for e in await outbox(world) if e.event_type == "forwarding.forward_failed"]
    assert failed["stage"] == "poll" and failed["attempt"] == 3
    assert "Service request not found with id or token not-an-id" in failed["error"]


async def test_chicago_json_notes_are_a_status_report(world: Any, fake: httpx.Client) -> None:
    f = world("json")
    await routed(world, f)
    await handlers.send_due(f)
    fake.post("/fake/requests/293944", json={"file": "chicago_requests_small.json", "record": "14-01100627"})

    world.clock.advance(60)
    await handlers.poll_due(f)

    (report,) = [e.data for e in await outbox(world) if e.event_type == "forwarding.status_reported"]
    assert (report["status"], report["status_notes"], report["agency_responsible"]) == (
        "open", "Locked", "DOB - Conservation")
    assert json.dumps(report)  # a plain JSON event
