"""End to end on real Kafka and PostgreSQL, intake_web and the case service as processes: one Open311 client
floods POST /requests far above its limits while another client's reports go through; the flood gets 429s
with Retry-After, every accepted report (the flood's and the other client's) becomes exactly one case and no
refused one does, staff read the flood in the refusal log, and bodies over the limit get 413 from the real
server (docs/residents-and-insights.md, "Abuse protection"; issue 10 acceptance: the flood test).

A client with a known api_key is that key (an app's server posts every report from one address); without a
known key, the address is the client. Distinct clients on one machine: two api_keys, and distinct peer
addresses on the loopback network (127.0.0.1, .2, .3: every 127/8 address is local on Linux), chosen with
httpx's ``local_address``."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator

import httpx
import pytest

from shared.auth import Role
from support.infra import check_kafka, check_postgres
from support.stack import Stack
from support.wait import eventually

FLOOD_KEY, CALM_KEY, GUESSED_KEY = "flood-key", "calm-key", "guessed-key"
PER_CLIENT, PER_KEY = 20, 30
FLOOD, GUESSES = 200, 40
REPORT = {"service_code": "streetlight", "lat": "45.42000", "long": "-75.69000", "description": "Light out"}


@pytest.fixture(scope="module")
async def flood_stack(test_issuer) -> AsyncIterator[Stack]:
    """intake_web and case only, with small report limits and reads left wide (the test polls)."""
    await check_kafka()
    await check_postgres()
    stack = Stack(services=("case", "intake_web"), extra_env=test_issuer.env() | {
        "OMNI311_OPEN311_API_KEYS": f'["{FLOOD_KEY}", "{CALM_KEY}"]',
        "OMNI311_LIMIT_REPORTS_PER_CLIENT": f"{PER_CLIENT}/minute",
        "OMNI311_LIMIT_REPORTS_PER_API_KEY": f"{PER_KEY}/minute",
        "OMNI311_LIMIT_READS_PER_CLIENT": "100000/minute",
        "OMNI311_MAX_BODY_BYTES": "65536",
    })
    await stack.up()
    try:
        yield stack
    finally:
        await stack.down()


def client_from(stack: Stack, address: str, **kwargs: object) -> httpx.AsyncClient:
    """A client whose connections leave from `address` (a loopback address of this machine)."""
    transport = httpx.AsyncHTTPTransport(local_address=address, limits=httpx.Limits(max_connections=100))
    return httpx.AsyncClient(transport=transport, base_url=stack.url("intake_web"), timeout=30, **kwargs)


async def test_a_flood_is_throttled_while_another_client_gets_through_and_nothing_accepted_is_lost(
        flood_stack: Stack, test_issuer) -> None:
    async with client_from(flood_stack, "127.0.0.1") as flooder, client_from(flood_stack, "127.0.0.3") as guesser, \
            client_from(flood_stack, "127.0.0.2") as calm:

        async def post(client: httpx.AsyncClient, key: str, n: int) -> httpx.Response:
            return await client.post("/requests.json", data=REPORT | {"api_key": key, "description": f"light {n}"})

        async def calm_reports() -> list[httpx.Response]:
            answers = []
            for n in range(5):  # a well-behaved client, one report after another, during the flood
                answers.append(await post(calm, CALM_KEY, n))
                await asyncio.sleep(0.05)
            return answers

        flood, guesses, calm_answers = await asyncio.gather(
            asyncio.gather(*(post(flooder, FLOOD_KEY, n) for n in range(FLOOD))),
            asyncio.gather(*(post(guesser, GUESSED_KEY, n) for n in range(GUESSES))),
            calm_reports())

        # The other client: every report accepted.
        assert [r.status_code for r in calm_answers] == [200] * 5, [r.text for r in calm_answers]
        # The flood: 30 a minute for its api_key (one address, its key is the client); a key nobody gave
        # out: 403 while the address has slots, then 20 a minute per address.
        flood_codes, guess_codes = Counter(r.status_code for r in flood), Counter(r.status_code for r in guesses)
        assert flood_codes == {200: PER_KEY, 429: FLOOD - PER_KEY}, flood_codes
        assert guess_codes == {403: PER_CLIENT, 429: GUESSES - PER_CLIENT}, guess_codes
        for r in [*flood, *guesses]:
            if r.status_code == 429:
                assert 1 <= int(r.headers["retry-after"]) <= 60
                [err] = r.json()
                assert err["code"] == 429 and "retry in" in err["description"]
        reasons = {r.json()[0]["description"].split("(")[1].split(")")[0] for r in [*flood, *guesses]
                   if r.status_code == 429}
        assert reasons == {f"at most {PER_CLIENT} per 1 minute per client", f"at most {PER_KEY} per 1 minute per api_key"}

        accepted = [r.json()[0]["token"] for r in [*flood, *calm_answers] if r.status_code == 200]
        assert len(accepted) == len(set(accepted)) == PER_KEY + 5

        # Nothing accepted is lost: each token is exactly one case; nothing refused became one.
        db = await flood_stack.case_db()
        try:
            async def all_opened() -> list[tuple[str, int]] | None:
                rows = await db.fetch(
                    "SELECT m.channel_message_id, count(DISTINCT m.case_id) AS cases FROM messages m "
                    "WHERE m.channel = 'open311' AND m.channel_message_id = ANY($1::text[]) GROUP BY 1", accepted)
                return [(r["channel_message_id"], r["cases"]) for r in rows] if len(rows) == len(accepted) else None

            opened = await eventually(all_opened, timeout=45, what=f"{len(accepted)} cases opened")
            assert all(cases == 1 for _, cases in opened)
            assert await db.fetchval("SELECT count(*) FROM cases WHERE channel = 'open311'") == len(accepted)
        finally:
            await db.close()
        # ... and the Open311 API says so too (the case API behind it).
        r = await calm.get(f"/tokens/{accepted[-1]}.json")
        assert r.status_code == 200 and r.json()[0]["service_request_id"]

        # Staff see the flood in the refusal log: a row a minute per client, key, route and reason.
        async def logged() -> list[dict[str, object]] | None:
            r = await calm.get("/staff/refusals", headers=test_issuer.headers(Role.SUPERVISOR))
            assert r.status_code == 200, r.text
            rows = [row for row in r.json()["refusals"] if row["route"] == "POST /requests.{fmt}"]
            return rows if sum(int(row["count"]) for row in rows) == FLOOD - PER_KEY + GUESSES - PER_CLIENT else None

        rows = await eventually(logged, timeout=15, what="the refusals written to the log")
        assert {row["client"] for row in rows} == {"127.0.0.1", "127.0.0.3"}
        assert {row["reason"] for row in rows} == {"reports_per_client", "reports_per_api_key"}
        assert len(rows) <= 8, "aggregated per minute, not a row per request"
        metrics = (await calm.get("/metrics")).text
        assert 'omni311_requests_refused_total{reason="reports_per_client",route="POST /requests.{fmt}"}' in metrics


async def test_the_real_server_answers_413_for_a_body_over_the_limit_declared_or_chunked(flood_stack: Stack) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(40):
            yield b"description=" + b"x" * 4096 + b"&"

    async with client_from(flood_stack, "127.0.0.4") as big:
        declared = await big.post("/requests.xml", data=REPORT | {"api_key": CALM_KEY, "description": "x" * 70_000})
        chunked = await big.post("/requests.json", content=chunks(),
                                 headers={"Content-Type": "application/x-www-form-urlencoded"})
        after = await big.get("/services.json")
    assert declared.status_code == 413 and b"<code>413</code>" in declared.content
    assert chunked.status_code == 413 and chunked.json()[0]["code"] == 413
    assert "content-length" not in chunked.request.headers
    assert after.status_code == 200, "the client can go on after a 413"
