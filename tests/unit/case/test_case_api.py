"""The case API's routes over in-memory reads and an in-memory unit of work: paths, parameters, status
codes and bodies, which routes need a staff token, and the search's SQL built from its filters."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from case_fakes import demo
from fastapi import FastAPI

from services.case.adapters.reads import RequestQuery, requests_sql
from services.case.entrypoints.http import CaseApi, comma_list, mount, router
from shared.auth import install_auth
from shared.events import CaseStatusChanged
from support.auth import TestIssuer
from support.uow import T0, FakeStore

CASE_ID, SURVIVOR_ID, CORRELATION = uuid4(), uuid4(), uuid4()


def case_row(case_id: UUID, number: str, **kw: Any) -> dict[str, Any]:
    return {"case_id": case_id, "service_request_id": number, "jurisdiction_id": "demo", "status": "open",
            "status_notes": None, "channel": "sms", "service_code": "pothole", "service_name": "Pothole",
            "description": "Pothole on Main St", "agency_responsible": "Roads", "queue": "roads", "district": "east",
            "address": "Main St", "zipcode": None, "lat": 45.4, "long": -75.7, "media_url": ["https://m/1.jpg"],
            "requested_datetime": T0, "updated_datetime": T0, "sla_due_at": None, "merged_into": None,
            "correlation_id": CORRELATION, "workflow_status": "acknowledged", "assignee": None, "team": None,
            "workflow_before_merge": None, "priority": 3, "routing": {}, "language": "en", **kw}


class FakeReads:
    """`CaseReads` in memory; remembers the last search."""

    def __init__(self, cases: list[dict[str, Any]]) -> None:
        self.cases = {c["service_request_id"]: c for c in cases}
        self.query: RequestQuery | None = None

    async def case(self, service_request_id: str) -> dict[str, Any] | None:
        return self.cases.get(service_request_id)

    async def case_id(self, service_request_id: str) -> UUID | None:
        case = self.cases.get(service_request_id)
        return case["case_id"] if case else None

    async def requests(self, q: RequestQuery) -> list[dict[str, Any]]:
        self.query = q
        return list(self.cases.values())[: q.limit]

    async def by_contact(self, contact_key: str) -> list[dict[str, Any]]:
        return list(self.cases.values()) if contact_key == "k1" else []

    async def number_for_token(self, channel: str, token: str) -> str | None:
        return "DEMO-26-000001" if (channel, token) == ("open311", "tok-1") else None

    async def timeline(self, case_id: UUID) -> list[dict[str, Any]]:
        return [{"at": T0, "kind": "opened", "event_id": None, "detail": {"channel": "sms"}}]

    async def number_of(self, case_id: UUID) -> str | None:
        return next((c["service_request_id"] for c in self.cases.values() if c["case_id"] == case_id), None)

    async def followers_count(self, case_id: UUID) -> int:
        return 2


class FakeStatusRepository:
    """What `change_status` uses of `CaseRepository`, over the same cases as the reads."""

    def __init__(self, reads: FakeReads) -> None:
        self.by_id = {c["case_id"]: c for c in reads.cases.values()}
        self.timeline: list[tuple[str, dict[str, Any]]] = []

    async def get_case(self, case_id: UUID, *, for_update: bool = False) -> dict[str, Any] | None:
        case = self.by_id.get(case_id)
        return dict(case) if case else None

    async def update_case(self, case_id: UUID, fields: dict[str, Any]) -> None:
        self.by_id[case_id].update(fields)

    async def add_timeline(self, case_id: UUID, at: Any, kind: str, event_id: UUID | None,
                           detail: dict[str, Any]) -> None:
        self.timeline.append((kind, detail))


@pytest.fixture
def reads() -> FakeReads:
    return FakeReads([case_row(CASE_ID, "DEMO-26-000001"),
                      case_row(SURVIVOR_ID, "DEMO-26-000002", status="closed", merged_into=CASE_ID)])


@pytest.fixture
def store(reads: FakeReads) -> FakeStore[FakeStatusRepository]:
    return FakeStore(FakeStatusRepository(reads), "case")


def api(reads: Any, unit_of_work: Any) -> CaseApi:
    return CaseApi(reads=lambda: reads, unit_of_work=unit_of_work, jurisdiction=demo, now=lambda: T0)


@pytest.fixture
async def client(reads: FakeReads, store: FakeStore[FakeStatusRepository],
                 test_issuer: TestIssuer) -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    later = T0 + timedelta(hours=1)
    install_auth(app, test_issuer.verifier())
    mount(app, api(reads, lambda: store.uow(now=later)))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://case",
                                 headers=test_issuer.headers("supervisor", subject="u-sup")) as c:
        yield c


async def test_a_case_is_answered_as_an_open311_service_request(client: httpx.AsyncClient) -> None:
    r = await client.get("/cases/requests/DEMO-26-000001")
    assert r.status_code == 200
    body = r.json()
    assert body["service_request_id"] == "DEMO-26-000001" and body["media_url"] == "https://m/1.jpg"
    assert body["service_notice"] is None and body["address_id"] is None and body["expected_datetime"] is None
    assert body["requested_datetime"] == "2026-03-02T15:00:00Z"


async def test_an_unknown_case_is_404_with_its_number(client: httpx.AsyncClient) -> None:
    for path in ("/cases/requests/DEMO-26-000404", "/cases/DEMO-26-000404/timeline"):
        r = await client.get(path)
        assert (r.status_code, r.json()) == (404, {"detail": "service_request_id DEMO-26-000404 not found"})
    r = await client.post("/cases/DEMO-26-000404/status", json={"status": "closed"})
    assert (r.status_code, r.json()) == (404, {"detail": "service_request_id DEMO-26-000404 not found"})


async def test_a_search_passes_its_comma_separated_filters_and_limit(client: httpx.AsyncClient,
                                                                     reads: FakeReads) -> None:
    r = await client.get("/cases/requests", params={"service_code": "pothole, streetlight,", "status": "open",
                                                    "start_date": "2026-03-01T00:00:00Z", "limit": 1})
    assert r.status_code == 200 and len(r.json()) == 1
    assert reads.query is not None
    assert reads.query.service_codes == ["pothole", "streetlight"] and reads.query.statuses == ["open"]
    assert reads.query.service_request_ids is None and reads.query.end_date is None and reads.query.limit == 1
    assert reads.query.start_date is not None and reads.query.start_date.isoformat() == "2026-03-01T00:00:00+00:00"


@pytest.mark.parametrize("limit", [0, 10001])
async def test_a_search_limit_out_of_range_is_422(client: httpx.AsyncClient, limit: int) -> None:
    assert (await client.get("/cases/requests", params={"limit": limit})).status_code == 422


async def test_a_reporters_cases_and_a_token_lookup(client: httpx.AsyncClient) -> None:
    assert [c["service_request_id"] for c in (await client.get("/cases/by-contact/k1")).json()] == [
        "DEMO-26-000001", "DEMO-26-000002"]
    assert (await client.get("/cases/by-contact/nobody")).json() == []
    assert (await client.get("/cases/tokens/tok-1")).json() == {"token": "tok-1",
                                                                 "service_request_id": "DEMO-26-000001"}
    assert (await client.get("/cases/tokens/tok-1", params={"channel": "web"})).json() == {
        "token": "tok-1", "service_request_id": None}


async def test_a_timeline_names_the_case_it_was_merged_into(client: httpx.AsyncClient) -> None:
    body = (await client.get("/cases/DEMO-26-000002/timeline")).json()
    assert body == {"case_id": str(SURVIVOR_ID), "service_request_id": "DEMO-26-000002", "status": "closed",
                    "merged_into": "DEMO-26-000001", "channel": "sms", "queue": "roads", "district": "east",
                    "timeline": [{"at": "2026-03-02T15:00:00Z", "kind": "opened", "event_id": None,
                                  "detail": {"channel": "sms"}}]}
    assert (await client.get("/cases/DEMO-26-000001/timeline")).json()["merged_into"] is None


async def test_a_status_change_answers_the_case_and_emits_case_status_changed(
        client: httpx.AsyncClient, store: FakeStore[FakeStatusRepository]) -> None:
    r = await client.post("/cases/DEMO-26-000001/status", json={"status": "closed", "status_notes": "Fixed"})

    assert r.status_code == 200
    assert r.json()["status"] == "closed" and r.json()["status_notes"] == "Fixed"
    assert r.json()["updated_datetime"] == "2026-03-02T16:00:00Z"
    [(kind, detail)] = store.repo.timeline
    assert kind == "status_changed" and (detail["actor"], detail["role"]) == ("u-sup", "supervisor")
    assert detail["after"] == {"workflow_status": "resolved", "status": "closed", "status_notes": "Fixed"}
    [out] = store.emitted("case.status_changed")
    assert out.correlation_id == CORRELATION and out.payload(CaseStatusChanged).status == "closed"


async def test_the_actor_of_a_status_change_is_the_tokens_never_the_bodys(
        client: httpx.AsyncClient, store: FakeStore[FakeStatusRepository]) -> None:
    r = await client.post("/cases/DEMO-26-000001/status", json={"status": "closed", "actor": "mallory"})
    assert r.status_code == 200
    assert store.repo.timeline[0][1]["actor"] == "u-sup"


@pytest.mark.parametrize(("method", "path"), [
    ("post", "/cases/DEMO-26-000001/status"), ("get", "/cases/DEMO-26-000001/timeline"), ("get", "/cases/by-contact/k1")])
async def test_the_staff_routes_of_the_case_api_need_a_token(
        client: httpx.AsyncClient, store: FakeStore[FakeStatusRepository], method: str, path: str) -> None:
    r = await client.request(method, path, json={"status": "closed"}, headers={"Authorization": ""})
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")
    assert store.repo.timeline == [] and store.outbox == []


async def test_a_call_agent_reads_a_timeline_but_changes_no_status(
        client: httpx.AsyncClient, store: FakeStore[FakeStatusRepository], test_issuer: TestIssuer) -> None:
    agent = test_issuer.headers("call_agent")
    assert (await client.get("/cases/DEMO-26-000001/timeline", headers=agent)).status_code == 200
    r = await client.post("/cases/DEMO-26-000001/status", json={"status": "closed"}, headers=agent)
    assert r.status_code == 403 and store.outbox == []


async def test_another_departments_staff_cannot_change_the_status(
        client: httpx.AsyncClient, store: FakeStore[FakeStatusRepository], test_issuer: TestIssuer) -> None:
    water = test_issuer.headers("department_staff", department="water")
    r = await client.post("/cases/DEMO-26-000001/status", json={"status": "closed"}, headers=water)
    assert r.status_code == 403 and "department" in r.json()["detail"] and store.outbox == []


async def test_the_open311_reads_need_no_token(client: httpx.AsyncClient) -> None:
    anonymous = {"Authorization": ""}
    assert (await client.get("/cases/requests/DEMO-26-000001", headers=anonymous)).status_code == 200
    assert (await client.get("/cases/requests", headers=anonymous)).status_code == 200
    assert (await client.get("/cases/tokens/tok-1", headers=anonymous)).status_code == 200


async def test_the_public_history_needs_no_token_and_shows_no_staff_detail(client: httpx.AsyncClient) -> None:
    r = await client.get("/cases/requests/DEMO-26-000002/history", headers={"Authorization": ""})

    assert r.status_code == 200
    assert r.json() == {"service_request_id": "DEMO-26-000002", "status": "closed", "workflow_status": "acknowledged",
                        "status_notes": None, "merged_into": "DEMO-26-000001", "followers": 2,
                        "entries": [{"at": "2026-03-02T15:00:00Z", "kind": "opened"}]}
    assert (await client.get("/cases/requests/DEMO-26-404/history")).status_code == 404


async def test_a_status_outside_open311s_is_422(client: httpx.AsyncClient) -> None:
    assert (await client.post("/cases/DEMO-26-000001/status", json={"status": "acknowledged"})).status_code == 422


def test_the_module_router_serves_each_path_with_its_parameters() -> None:
    app = FastAPI()
    mount(app, api(FakeReads([]), lambda: None))
    assert app.state.case_api.reads().cases == {}
    paths = {p: ops for p, ops in app.openapi()["paths"].items() if p.startswith("/cases")}
    assert {r.path for r in router.routes} == set(paths)  # type: ignore[attr-defined]
    params = {(method, path): sorted(p["name"] for p in op.get("parameters", []) if p["in"] != "header")
              for path, ops in paths.items() for method, op in ops.items()}
    assert params == {
        ("get", "/cases/requests/{service_request_id}"): ["extensions", "service_request_id"],
        ("get", "/cases/requests/{service_request_id}/history"): ["service_request_id"],
        ("get", "/cases/requests"): ["bbox", "end_date", "extensions", "lat", "limit", "long", "radius", "service_code",
                                     "service_request_id", "start_date", "status"],
        ("get", "/cases/by-contact/{contact_key}"): ["contact_key"],
        ("get", "/cases/tokens/{token}"): ["channel", "token"],
        ("get", "/cases/{service_request_id}/timeline"): ["service_request_id"],
        ("post", "/cases/{service_request_id}/status"): ["service_request_id"],
    }


def test_comma_lists_drop_blanks_and_an_absent_filter_is_none() -> None:
    assert comma_list(None) is None and comma_list("") is None
    assert comma_list(" a, b ,,") == ["a", "b"]
    assert comma_list(",") == []  # present but empty: matches nothing, as before


def test_the_search_sql_numbers_its_arguments_in_order() -> None:
    sql, args = requests_sql(RequestQuery())
    assert "WHERE" not in sql and sql.endswith("ORDER BY requested_datetime DESC, service_request_id LIMIT $1")
    assert args == [1000]

    sql, args = requests_sql(RequestQuery(service_request_ids=["A"], statuses=[], end_date=T0, limit=5))
    assert ("WHERE service_request_id = ANY($1::text[]) AND status = ANY($2::text[]) "
            "AND requested_datetime <= $3 ORDER BY") in sql
    assert sql.endswith("LIMIT $4") and args == [["A"], [], T0, 5]


LEAKY = {"description": "Pothole, call me at 613-555-0123 or mail ann@example.org",
         "address": "Main St (ask for bob@example.org)", "status_notes": "Crew called 613 555 0199 back"}


async def test_the_public_reads_scrub_contacts_from_description_address_and_status_notes(
        client: httpx.AsyncClient, reads: FakeReads) -> None:
    reads.cases["DEMO-26-000001"].update(LEAKY)
    anonymous = {"Authorization": ""}

    one = (await client.get("/cases/requests/DEMO-26-000001", headers=anonymous)).json()
    listed = (await client.get("/cases/requests", headers=anonymous)).json()[0]
    history = (await client.get("/cases/requests/DEMO-26-000001/history", headers=anonymous)).json()

    for body in (one, listed):
        assert body["description"] == "Pothole, call me at [phone] or mail [email]"
        assert body["address"] == "Main St (ask for [email])"
        assert body["status_notes"] == "Crew called [phone] back"
    assert history["status_notes"] == "Crew called [phone] back"


async def test_the_staff_reads_keep_the_full_text(client: httpx.AsyncClient, reads: FakeReads) -> None:
    reads.cases["DEMO-26-000001"].update(LEAKY)

    mine = (await client.get("/cases/by-contact/k1")).json()[0]

    assert {k: mine[k] for k in LEAKY} == LEAKY
