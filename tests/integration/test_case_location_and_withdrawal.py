"""Issue 12 on the case store, against real PostgreSQL through the handlers on a real unit of work and the
case API's public Open311 read: the location check keeps its verdict in `cases.attributes` and on the
timeline (kind 1), and a resident's unsent message loses its words in `messages`, `cases`, the published
outbox rows and the public read, once, also when the withdrawal came first (`withdrawals`, kind 6)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from services.case.adapters.reads import StaffReads
from services.case.adapters.repository import CaseRepository
from services.case.entrypoints import http
from services.case.service_layer import timers
from shared.db.unit_of_work import PgUnitOfWork
from shared.events import MessageReceived, MessageWithdrawn
from shared.jurisdiction import Jurisdiction, load_jurisdiction
from support.case_consumer import CaseConsumer

NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
WORDS = "Pothole by 12 Oak Ave, text me at 613-555-0123"


@pytest.fixture
def migrated_package() -> str:
    return "services.case"


@pytest.fixture
def pool(service_pool: asyncpg.Pool) -> asyncpg.Pool:
    return service_pool


@pytest.fixture(scope="module")
def demo() -> Jurisdiction:
    return load_jurisdiction("demo")


@pytest.fixture
def consume(pool: asyncpg.Pool, fresh_schema_name: str, demo: Jurisdiction) -> CaseConsumer:
    return CaseConsumer(pool, fresh_schema_name, demo, start=NOW, step_s=1)


@pytest.fixture
async def case_api(pool: asyncpg.Pool, fresh_schema_name: str, demo: Jurisdiction
                   ) -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    http.mount(app, http.CaseApi(
        reads=lambda: StaffReads(pool),
        unit_of_work=lambda: PgUnitOfWork(pool, service=fresh_schema_name, repository=CaseRepository,
                                          now=NOW, envelope=None),
        jurisdiction=lambda: demo, now=lambda: NOW, clocks=lambda: timers))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://case") as c:
        yield c


def dm(mid: str, text: str = WORDS, **kw: Any) -> MessageReceived:
    return MessageReceived(channel="instagram", channel_message_id=mid, contact_key="ck-ig", received_at=NOW,
                           description=text, media_url=["https://media.example.test/ig.jpg"], **kw)


def unsend(mid: str) -> MessageWithdrawn:
    return MessageWithdrawn(channel="instagram", channel_message_id=mid, contact_key="ck-ig", received_at=NOW)


async def only_case(pool: asyncpg.Pool) -> asyncpg.Record:
    [row] = await pool.fetch("SELECT case_id, service_request_id, description, media_url, lat, long, attributes "
                             "FROM cases")
    return row


async def test_a_swapped_sms_point_is_stored_corrected_with_its_reason(pool: asyncpg.Pool, consume: CaseConsumer) -> None:
    sms = MessageReceived(channel="sms", channel_message_id="SM1", contact_key="ck-sms", received_at=NOW,
                          description="Pothole at -75.6972, 45.4215", lat=-75.6972, long=45.4215)
    assert await consume(sms) == "opened"
    case = await only_case(pool)
    assert (case["lat"], case["long"]) == (45.4215, -75.6972)
    assert case["attributes"]["location_check"]["verdict"] == "swapped"
    detail = await pool.fetchval("SELECT detail FROM timeline WHERE kind = 'location_checked'")
    assert detail["verdict"] == "swapped" and "swapped" in detail["reason"]
    assert await pool.fetchval("SELECT ST_Y(point) FROM cases") == pytest.approx(45.4215)


async def test_an_unsent_message_loses_its_words_in_every_table_and_the_public_read(
        pool: asyncpg.Pool, consume: CaseConsumer, case_api: httpx.AsyncClient) -> None:
    assert await consume(dm("ig-1")) == "opened"
    sid = (await only_case(pool))["service_request_id"]
    await pool.execute("UPDATE outbox SET published_at = $1", NOW)  # the relay published case.opened
    assert "Oak" in (await case_api.get(f"/cases/requests/{sid}")).text

    assert await consume(unsend("ig-1")) == "withdrawn"
    assert await consume(unsend("ig-1")) == "already_withdrawn"
    case = await only_case(pool)
    assert (case["description"], case["media_url"]) == ("", [])
    assert await pool.fetchval("SELECT description FROM messages") == ""
    public = await case_api.get(f"/cases/requests/{sid}")
    assert public.status_code == 200 and public.json()["description"] == "" and "Oak" not in public.text
    payloads = [json.loads(bytes(r["payload"])) for r in await pool.fetch("SELECT payload FROM outbox ORDER BY id")]
    assert [p["event_type"] for p in payloads] == ["case.message_withdrawn"]
    assert "Oak" not in json.dumps(payloads)
    [detail] = await pool.fetch("SELECT detail, actor FROM timeline WHERE kind = 'message_withdrawn'")
    assert detail["detail"]["by"] == "reporter" and "Oak" not in json.dumps(detail["detail"])
    row = await pool.fetchrow("SELECT case_id, applied_at FROM withdrawals")
    assert row["case_id"] == case["case_id"] and row["applied_at"] is not None


async def test_a_withdrawal_that_came_first_holds_the_message_without_its_words(pool: asyncpg.Pool,
                                                                              consume: CaseConsumer) -> None:
    assert await consume(unsend("ig-2")) == "kept_until_the_message"
    assert await pool.fetchval("SELECT applied_at FROM withdrawals") is None
    assert await consume(dm("ig-2")) == "opened"
    case = await only_case(pool)
    assert (case["description"], case["media_url"]) == ("", [])
    outbox = [json.loads(bytes(r["payload"])) for r in await pool.fetch("SELECT payload FROM outbox")]
    assert "Oak" not in json.dumps(outbox)
    kinds = [r["kind"] for r in await pool.fetch("SELECT kind FROM timeline ORDER BY id")]
    assert kinds == ["opened", "message_withdrawn"]
