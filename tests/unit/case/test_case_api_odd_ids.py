"""The case service's public reads asked with odd bytes (issue 12, kind 8): an id or token with a NUL byte
(which PostgreSQL text refuses: a 422 before), control characters, invalid UTF-8 or thousands of characters
names no case: 404, or no case for a token, and a filter list with a NUL is a 400; never a 5xx. The reads
here refuse a NUL as the database does, so a read that reaches them with one fails the test."""

from __future__ import annotations

from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from test_case_api import CASE_ID, FakeReads, api, case_row

from services.case.entrypoints.http import mount
from shared.auth import install_auth
from support.auth import TestIssuer


class DatabaseLikeReads(FakeReads):
    """`FakeReads` that refuse a NUL byte as PostgreSQL does (`asyncpg` DataError, `UnstorableValue`)."""

    @staticmethod
    def _stored(*values: Any) -> None:
        if any(isinstance(v, str) and "\x00" in v for v in values):
            raise asyncpg.exceptions.CharacterNotInRepertoireError("invalid byte sequence for encoding \"UTF8\": 0x00")

    async def case(self, service_request_id: str) -> dict[str, Any] | None:
        self._stored(service_request_id)
        return await super().case(service_request_id)

    async def number_for_token(self, channel: str, token: str) -> str | None:
        self._stored(channel, token)
        return await super().number_for_token(channel, token)

    async def requests(self, q: Any) -> list[dict[str, Any]]:
        self._stored(*(q.service_request_ids or []), *(q.service_codes or []), *(q.statuses or []))
        return await super().requests(q)


async def case_service(test_issuer: TestIssuer) -> httpx.AsyncClient:
    app = FastAPI()
    install_auth(app, test_issuer.verifier())
    mount(app, api(DatabaseLikeReads([case_row(CASE_ID, "DEMO-26-000001")]), lambda: None))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
                             base_url="http://case")


ODD_IDS = ["DEMO-26-000001%00", "%00", "%0B%3C%27", "%FF%FE", "%14", "A" * 5000, "%E2%80%AE"]


@pytest.mark.parametrize("odd", ODD_IDS)
async def test_a_case_number_with_odd_bytes_is_not_found(odd: str, test_issuer: TestIssuer) -> None:
    async with await case_service(test_issuer) as web:
        for path in (f"/cases/requests/{odd}", f"/cases/requests/{odd}/history"):
            r = await web.get(path)
            assert r.status_code == 404 and r.json()["detail"].endswith("not found"), (path, r.text[:200])


@pytest.mark.parametrize("odd", ODD_IDS)
async def test_a_token_with_odd_bytes_is_no_case(odd: str, test_issuer: TestIssuer) -> None:
    async with await case_service(test_issuer) as web:
        for path in (f"/cases/tokens/{odd}", f"/cases/tokens/t?channel={odd}"):
            r = await web.get(path)
            assert r.status_code == 200 and r.json()["service_request_id"] is None, (path, r.text[:200])


@pytest.mark.parametrize("query", ["service_code=%00", "status=open,%00", "service_request_id=DEMO-26-000001%00"])
async def test_a_filter_list_holding_a_nul_is_a_400(query: str, test_issuer: TestIssuer) -> None:
    async with await case_service(test_issuer) as web:
        r = await web.get(f"/cases/requests?{query}")
    assert r.status_code == 400 and "NUL" in r.json()["detail"]


@pytest.mark.parametrize("query", ["start_date=%FF%FE", "limit=%00", "extensions=%14", "bbox=%0B",
                                   "lat=%00&long=1&radius=2", "service_code=%FF%FE%0B"])
async def test_other_odd_query_values_are_a_4xx(query: str, test_issuer: TestIssuer) -> None:
    async with await case_service(test_issuer) as web:
        r = await web.get(f"/cases/requests?{query}")
    assert r.status_code in (200, 400, 422), r.text[:200]
