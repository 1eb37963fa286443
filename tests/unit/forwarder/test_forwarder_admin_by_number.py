"""The forwarder's `GET /admin/forwards` finds a case by its number (``service_request_id``, what staff and
residents quote) as well as by its UUID (``case_id``): exactly one of the two, else 422; an unknown number
is a 404; odd bytes are a 422 before any read. The URL `make run` prints is one the route answers."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from services.forwarder.entrypoints import http
from shared.auth import Role, install_auth

CASE = uuid4()
ROWS = [{"case_id": CASE, "endpoint": endpoint, "service_request_id": "NYC-26-000042", "state": "forwarded",
         "external_service_code": "4fd3", "external_service_request_id": external, "attempts": 1, "poll_failures": 0}
        for endpoint, external in (("county-public-works", "COUNTY-26-000042"), ("utility", "293944"))]


class Reads:
    """`ForwarderReads` over `ROWS`; `asked` the reads made."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, Any]] = []

    async def of_case(self, case_id: UUID) -> list[dict[str, Any]]:
        self.asked.append(("case_id", case_id))
        return [r for r in ROWS if r["case_id"] == case_id]

    async def of_case_number(self, service_request_id: str) -> list[dict[str, Any]]:
        self.asked.append(("service_request_id", service_request_id))
        return [r for r in ROWS if r["service_request_id"] == service_request_id]


@pytest.fixture
def api(test_issuer: Any) -> tuple[TestClient, Reads, dict[str, str]]:
    app = FastAPI()
    install_auth(app, test_issuer.verifier())
    reads = Reads()
    http.mount(app, http.ForwarderApi(reads=lambda: reads, unit_of_work=lambda: None))
    return TestClient(app), reads, test_issuer.headers(Role.SUPERVISOR)


def test_a_case_number_shows_the_same_forwards_as_the_case_id(api: tuple[TestClient, Reads, dict[str, str]]) -> None:
    client, _, boss = api
    by_id = client.get("/admin/forwards", params={"case_id": str(CASE)}, headers=boss)
    by_number = client.get("/admin/forwards", params={"service_request_id": "NYC-26-000042"}, headers=boss)
    typed_lower = client.get("/admin/forwards", params={"service_request_id": "nyc-26-000042"}, headers=boss)
    assert by_id.status_code == by_number.status_code == typed_lower.status_code == 200
    assert by_number.json() == by_id.json() == typed_lower.json()
    assert by_number.json()["case_id"] == str(CASE), "the id the retry route takes"
    assert [f["external_service_request_id"] for f in by_number.json()["forwards"]] == ["COUNTY-26-000042", "293944"]


def test_an_unknown_number_is_404_and_needs_a_supervisor(api: tuple[TestClient, Reads, dict[str, str]],
                                                         test_issuer: Any) -> None:
    client, _, boss = api
    unknown = client.get("/admin/forwards", params={"service_request_id": "NYC-26-999999"}, headers=boss)
    assert unknown.status_code == 404 and "NYC-26-999999" in unknown.json()["detail"]
    assert client.get("/admin/forwards", params={"service_request_id": "NYC-26-000042"}).status_code == 401
    staff = test_issuer.headers(Role.DEPARTMENT_STAFF)
    assert client.get("/admin/forwards", params={"service_request_id": "NYC-26-000042"},
                      headers=staff).status_code == 403


@pytest.mark.parametrize("params", [{}, {"case_id": str(CASE), "service_request_id": "NYC-26-000042"},
                                    {"service_request_id": ""}, {"service_request_id": "NYC 26"},
                                    {"service_request_id": "NYC-26-\x00"}, {"service_request_id": "N" * 65},
                                    {"service_request_id": "NYC-26-é"}, {"case_id": "NYC-26-000042"}])
def test_neither_both_nor_an_odd_number_is_a_422_with_nothing_read(api: tuple[TestClient, Reads, dict[str, str]],
                                                                   params: dict[str, str]) -> None:
    client, reads, boss = api
    assert client.get("/admin/forwards", params=params, headers=boss).status_code == 422
    assert reads.asked == []


def test_the_make_run_banner_prints_a_forwards_url_the_route_answers(
        api: tuple[TestClient, Reads, dict[str, str]]) -> None:
    client, _, boss = api
    banner = (Path(__file__).resolve().parents[3] / "deploy/local/bin/run.sh").read_text()
    url = re.search(r"http://127\.0\.0\.1:8094(/admin/forwards\S*)", banner)
    assert url, "run.sh prints the forwarder's admin URL"
    path = url.group(1).replace("<case-number>", "NYC-26-000042")
    assert client.get(path, headers=boss).status_code == 200, path
