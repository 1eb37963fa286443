"""Replays of real Boston 311 records through the running stack: intake idempotency on a file with
repeated case ids, and no lost or duplicate case when the case service is SIGKILLed mid-replay."""

from __future__ import annotations

import asyncio
import csv

from shared.settings import Settings
from support.data import shared_data
from support.wait import eventually
from tools.replay.cli import replay


def _settings(stack) -> Settings:  # noqa: ANN001
    return Settings(kafka_bootstrap="127.0.0.1:9092", topic_prefix=stack.topic_prefix)


async def _replay(stack, path, api_key: str, **kw):  # noqa: ANN001, ANN003, ANN202
    return await replay(path, base_url=stack.url("intake_web"), modes=["structured"], api_key=api_key,
                        settings=_settings(stack), concurrency=kw.pop("concurrency", 8),
                        settle_timeout=kw.pop("settle_timeout", 120), quiet_s=2.0, limit=None, progress=False, **kw)


async def test_replaying_a_file_with_repeated_case_ids_opens_one_case_per_distinct_id(boston_stack) -> None:
    path = shared_data() / "311_records" / "qsv_boston311-100-20dupes-random.csv"
    with path.open(encoding="utf-8") as f:
        distinct = len({row["case_enquiry_id"] for row in csv.DictReader(f)})
    assert distinct == 80
    report = await _replay(boston_stack, path, "replay-a")
    assert report["records_read"] == 100
    assert report["rejected"] == 0, report["rejected_by_reason"]
    assert report["submitted"] == 100, "every row, repeats included, was accepted by the API"
    assert report["distinct_tokens"] == distinct
    assert report["cases_opened"] == distinct
    conn = await boston_stack.case_db()
    try:
        n = await conn.fetchval("SELECT count(*) FROM cases WHERE channel = 'open311'")
        messages = await conn.fetchval("SELECT count(*) FROM messages")
    finally:
        await conn.close()
    assert n == distinct and messages == distinct
    assert report["per_mode"]["structured"]["agency_accuracy"] >= 0.98


async def test_killing_the_case_service_mid_replay_loses_and_duplicates_nothing(boston_stack) -> None:
    path = shared_data() / "311_records" / "qsv_boston311-100.csv"
    conn = await boston_stack.case_db()
    try:
        before = await conn.fetchval("SELECT count(*) FROM cases")
        task = asyncio.create_task(_replay(boston_stack, path, "replay-b", concurrency=2, settle_timeout=180))

        async def some_opened() -> bool:
            return await conn.fetchval("SELECT count(*) FROM cases") - before >= 10

        await eventually(some_opened, timeout=60, what="ten cases opened before the kill")
        boston_stack.kill("case")  # SIGKILL: no graceful shutdown, no offset commit
        mid = await conn.fetchval("SELECT count(*) FROM cases") - before
        assert not task.done()
        await asyncio.sleep(1.0)
        boston_stack.start("case")
        await boston_stack.wait_ready("case")
        report = await task
        after = await conn.fetchval("SELECT count(*) FROM cases") - before
        per_token = await conn.fetch(
            "SELECT channel_message_id, count(DISTINCT case_id) AS n FROM messages GROUP BY channel_message_id "
            "HAVING count(DISTINCT case_id) > 1")
    finally:
        await conn.close()
    assert mid < report["submitted"], "the kill happened while the replay was still running"
    assert report["rejected"] == 0, report["rejected_by_reason"]
    assert report["distinct_tokens"] == 100
    assert report["not_settled"] == 0
    assert after == 100, f"{after} cases for 100 distinct records (lost or duplicated)"
    assert report["cases_opened"] == 100
    assert report["routed"] == 100
    assert not per_token
