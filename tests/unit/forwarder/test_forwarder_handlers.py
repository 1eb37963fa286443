"""Forwarder handlers on the in-memory unit of work with a fake endpoint and case API: a routed case is
planned once per endpoint (a replay or a second routing plans nothing new), a send is recorded with its
event, staff retry only what gave up, a record made after staff reset the row is dropped, and a failed
case read is a failure to retry, never a crash."""

from __future__ import annotations

import asyncio
import copy
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest

from services.forwarder.domain.answers import Answer
from services.forwarder.service_layer import handlers as h
from shared.events import CaseOpened, CaseRouted
from shared.intake import CaseApiUnavailable
from shared.jurisdiction.forwarding import ForwardingSpec
from shared.open311 import ServiceRequest
from support.uow import T0, FakeStore, event

FORWARDING = ForwardingSpec.model_validate({"endpoints": [
    {"name": "county", "base_url": "http://county.example", "services": {"pothole": "PH"}, "max_attempts": 2},
    {"name": "utility", "base_url": "http://utility.example", "format": "xml",
     "services": {"pothole": "P1", "water-leak": "WL"}}]})


class FakeRepo:
    """The forwarder repository's contract, in memory (rows keyed by (case_id, endpoint))."""

    def __init__(self) -> None:
        self.rows: dict[tuple[UUID, str], dict[str, Any]] = {}
        self.kept: dict[UUID, dict[str, Any]] = {}

    async def add(self, *, case_id: UUID, endpoint: str, now: datetime, **values: Any) -> bool:
        if (case_id, endpoint) in self.rows:
            return False
        self.rows[(case_id, endpoint)] = {
            "case_id": case_id, "endpoint": endpoint, **values, "state": "pending", "attempts": 0,
            "next_attempt_at": now, "last_error": None, "token": None, "external_service_request_id": None,
            "service_notice": None, "forwarded_at": None, "status": None, "status_notes": None,
            "agency_responsible": None, "updated_datetime": None, "next_poll_at": None, "poll_failures": 0}
        return True

    async def take_due_sends(self, now: datetime, lease_until: datetime, limit: int) -> list[dict[str, Any]]:
        due = [r for r in self.rows.values() if r["state"] == "pending" and r["next_attempt_at"] <= now][:limit]
        for r in due:
            r["attempts"] += 1
            r["next_attempt_at"] = lease_until
        return [dict(r) for r in due]

    async def take_due_polls(self, endpoint: str, now: datetime, lease_until: datetime, limit: int
                             ) -> list[dict[str, Any]]:
        due = [r for r in self.rows.values() if r["endpoint"] == endpoint
               and r["state"] in ("awaiting_token", "forwarded") and r["next_poll_at"] <= now][:limit]
        for r in due:
            r["next_poll_at"] = lease_until
        return [dict(r) for r in due]

    async def get(self, case_id: UUID, endpoint: str, *, lock: bool = False) -> dict[str, Any] | None:
        row = self.rows.get((case_id, endpoint))
        return dict(row) if row else None

    async def of_case(self, case_id: UUID, *, lock: bool = False) -> list[dict[str, Any]]:
        return [dict(r) for (c, _), r in sorted(self.rows.items(), key=lambda kv: kv[0][1]) if c == case_id]

    async def update(self, case_id: UUID, endpoint: str, now: datetime, **values: Any) -> None:
        self.rows[(case_id, endpoint)].update(values)

    async def case_with_external_id(self, endpoint: str, external_id: str, *, other_than: UUID) -> UUID | None:
        return next((c for (c, e), r in self.rows.items() if e == endpoint and c != other_than
                     and r["external_service_request_id"] == external_id), None)

    async def keep_attributes(self, case_id: UUID, attributes: dict[str, Any], now: datetime) -> None:
        self.kept[case_id] = copy.deepcopy(attributes)

    async def attributes(self, case_id: UUID) -> dict[str, Any]:
        return self.kept.get(case_id, {})


class Endpoints:
    """Every endpoint answers `answer` to a POST; the posts are kept."""

    def __init__(self, answer: Answer, xml: Answer | None = None) -> None:
        self.answer = answer
        self.xml = xml or answer
        self.posts: list[tuple[str, list[tuple[str, str]], str]] = []

    async def post_request(self, base_url: str, fmt: str, form: list[tuple[str, str]], *,
                           idempotency_key: str) -> Answer:
        self.posts.append((base_url, form, idempotency_key))
        return self.xml if fmt == "xml" else self.answer

    async def token(self, *args: Any, **kwargs: Any) -> Answer:
        return Answer(404)

    async def requests(self, *args: Any, **kwargs: Any) -> Answer:
        return Answer(200, b"[]")


class Cases:
    def __init__(self, fail: bool = False) -> None:
        self.fail = fail

    async def request(self, sid: str, *, extensions: bool = False) -> ServiceRequest | None:
        if self.fail:
            raise CaseApiUnavailable("down")
        return ServiceRequest(service_request_id=sid, status="open", lat=45.42, long=-75.71, description="Hole")


def routed(case_id: UUID, code: str = "pothole") -> CaseRouted:
    return CaseRouted.model_validate({
        "case_id": str(case_id), "service_request_id": "DEMO-26-000001", "jurisdiction_id": "demo",
        "requested_datetime": T0.isoformat(), "routing": {
            "service_code": code, "service_name": code, "category_source": "keywords", "agency_responsible": "R",
            "queue": "roads", "priority": 3, "rule_id": "r", "config_version": "v"}})


@pytest.fixture
def store() -> FakeStore[FakeRepo]:
    return FakeStore(FakeRepo(), "forwarder")


def forwarding(store: FakeStore[FakeRepo], endpoints: Endpoints, cases: Cases | None = None) -> h.Forwarding:
    return h.Forwarding(forwarding=FORWARDING, urls={"county": "http://county.example",
                                                     "utility": "http://utility.example"},
                        api_key=lambda name: f"key-{name}", client=endpoints, cases=cases or Cases(),
                        unit_of_work=lambda: store.uow(claim=False), clock=lambda: T0)


async def test_a_routed_case_is_planned_once_per_endpoint_mapping_its_code(store: FakeStore[FakeRepo]) -> None:
    case_id = uuid4()
    table = h.handlers(FORWARDING)
    assert await store.handle(table, event(routed(case_id), subject=case_id)) == "planned"
    assert sorted(e for _, e in store.repo.rows) == ["county", "utility"]
    assert await store.handle(table, event(routed(case_id), subject=case_id)) == "already_planned"
    assert await store.handle(table, event(routed(case_id, "water-leak"), subject=case_id)) == "already_planned"
    assert await store.handle(table, event(routed(uuid4(), "graffiti"))) == "not_forwarded"
    assert store.emitted() == [], "planning announces nothing"


async def test_attribute_answers_are_kept_from_the_opening_and_sent(store: FakeStore[FakeRepo]) -> None:
    case_id = uuid4()
    opened = CaseOpened.model_validate({
        "case_id": str(case_id), "service_request_id": "DEMO-26-000001", "jurisdiction_id": "demo",
        "channel": "open311", "channel_message_id": "t", "contact_key": "ck_x", "requested_datetime": T0.isoformat(),
        "attributes": {"size": "large"}})
    table = h.handlers(FORWARDING)
    assert await store.handle(table, event(opened, subject=case_id)) == "attributes_kept"
    await store.handle(table, event(routed(case_id), subject=case_id))
    endpoints = Endpoints(Answer(200, b'[{"service_request_id": "C-1"}]'),
                          xml=Answer(200, b"<service_requests><request><service_request_id>U-1</service_request_id>"
                                          b"</request></service_requests>"))

    assert await h.send_due(forwarding(store, endpoints)) == 2

    assert all(("attribute[size]", "large") in form for _, form, _ in endpoints.posts)
    assert {(u, k) for u, _, k in endpoints.posts} == {
        ("http://county.example", f"omni311-forward-{case_id}-county"),
        ("http://utility.example", f"omni311-forward-{case_id}-utility")}
    forwarded = store.emitted("forwarding.case_forwarded")
    assert [(e.data["endpoint"], e.data["external_service_request_id"]) for e in forwarded] == [
        ("county", "C-1"), ("utility", "U-1")]
    assert all(e.subject == str(case_id) for e in forwarded)


async def test_an_unreadable_case_api_is_a_failure_to_retry_then_staff_send_it_again(
        store: FakeStore[FakeRepo]) -> None:
    case_id = uuid4()
    await store.handle(h.handlers(FORWARDING), event(routed(case_id), subject=case_id))
    store.repo.rows.pop((case_id, "utility"))
    f = forwarding(store, Endpoints(Answer(200, b'[{"service_request_id": "C-1"}]')), Cases(fail=True))

    await h.send_due(f)
    [failed] = store.emitted("forwarding.forward_failed")
    assert failed.data["retry_at"] == (T0 + timedelta(seconds=30)).isoformat().replace("+00:00", "Z")
    with pytest.raises(h.NothingToRetry):
        await h.retry(f.unit_of_work, case_id)
    store.repo.rows[(case_id, "county")]["next_attempt_at"] = T0
    await h.send_due(f)
    assert store.repo.rows[(case_id, "county")]["state"] == "failed"
    assert store.emitted("forwarding.forward_failed")[-1].data["retry_at"] is None

    [row] = await h.retry(f.unit_of_work, case_id)
    assert (row["state"], row["attempts"]) == ("pending", 0)
    with pytest.raises(h.NoForwards):
        await h.retry(f.unit_of_work, uuid4())


async def test_an_answer_recorded_after_staff_reset_the_row_is_dropped(store: FakeStore[FakeRepo]) -> None:
    case_id = uuid4()
    await store.handle(h.handlers(FORWARDING), event(routed(case_id), subject=case_id))
    f = forwarding(store, Endpoints(Answer(503)))
    [row, _] = await (await store.uow(claim=False).__aenter__()).repo.take_due_sends(T0, T0, 10)
    store.repo.rows[(case_id, row["endpoint"])]["attempts"] = 0  # staff retried meanwhile
    assert await h.record_send(f, row, h.Failed("send: HTTP 503", retry=True), max_attempts=2) == "stale"
    assert store.emitted() == []


# --- the admin routes -----------------------------------------------------------------------------------


class Reads:
    def __init__(self, repo: FakeRepo) -> None:
        self.repo = repo

    async def of_case(self, case_id: UUID) -> list[dict[str, Any]]:
        return await self.repo.of_case(case_id)


def test_the_admin_routes_show_and_retry_forwards_for_supervisors_only(store: FakeStore[FakeRepo],
                                                                      test_issuer: Any) -> None:
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from services.forwarder.entrypoints import http
    from shared.auth import Role, install_auth

    app = FastAPI()
    install_auth(app, test_issuer.verifier())
    http.mount(app, http.ForwarderApi(reads=lambda: Reads(store.repo), unit_of_work=lambda: store.uow(claim=False)))
    case_id = uuid4()
    asyncio.run(store.handle(h.handlers(FORWARDING), event(routed(case_id), subject=case_id)))
    client = TestClient(app)
    boss = test_issuer.headers(Role.SUPERVISOR)

    assert client.get("/admin/forwards", params={"case_id": str(case_id)}).status_code == 401
    staff = test_issuer.headers(Role.DEPARTMENT_STAFF)
    assert client.post(f"/admin/forwards/{case_id}/retry", headers=staff).status_code == 403
    seen = client.get("/admin/forwards", params={"case_id": str(case_id)}, headers=boss)
    assert seen.status_code == 200
    assert [(f["endpoint"], f["state"]) for f in seen.json()["forwards"]] == [("county", "pending"),
                                                                             ("utility", "pending")]
    assert client.get("/admin/forwards", params={"case_id": "nope"}, headers=boss).status_code == 422
    assert client.get("/admin/forwards", params={"case_id": str(uuid4())}, headers=boss).status_code == 404
    assert client.post(f"/admin/forwards/{case_id}/retry", headers=boss).status_code == 409
    store.repo.rows[(case_id, "utility")]["state"] = "refused"
    again = client.post(f"/admin/forwards/{case_id}/retry", headers=test_issuer.headers(Role.ADMINISTRATOR))
    assert again.status_code == 200
    assert [f["state"] for f in again.json()["forwards"]] == ["pending", "pending"]
    assert "http" not in again.text, "never an endpoint's URL"
