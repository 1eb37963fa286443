"""`python -m tools.evaluate rules` on real PostgreSQL: the router's handlers log decisions (with their
inputs) in a fresh `router` schema, then a draft that moves a routing rule is replayed over the last N days
of that log as the command line does it: decisions outside the window are left out, the changed cases are
named, the table prints (and the command line's JSON), a bad draft exits 2, and the log is unchanged
afterwards."""

from __future__ import annotations

import argparse
import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import uuid4

import asyncpg
import pytest

from services.router.adapters.repository import RouterReads, RouterRepository
from services.router.service_layer import handlers as h
from shared.db.unit_of_work import PgUnitOfWork
from shared.events import CaseOpened
from shared.jurisdiction import load_jurisdiction, repo_root
from shared.kafka import Delivery
from shared.service_layer import dispatch
from support.uow import event
from tools.evaluate import rules
from tools.evaluate.__main__ import main

NOW = datetime.now(UTC).replace(microsecond=0)
CENTRE, NORD = (45.415, -75.70), (45.43, -75.70)
REPORTS = [  # (text, point, days ago)
    ("Loud music all night next door", CENTRE, 1),  # downtown noise: the night patrol rule
    ("Loud party music", NORD, 2),
    ("Deep pothole on my street", NORD, 3),
    ("Loud music again downtown", CENTRE, 30),  # outside a 7-day window
]


@pytest.fixture
def migrated_package() -> str:
    return "services.router"


async def seed(pool: asyncpg.Pool, schema: str) -> list[CaseOpened]:
    table = h.handlers(load_jurisdiction("demo"))
    cases = []
    for n, (text, point, ago) in enumerate(REPORTS):
        at = NOW - timedelta(days=ago)
        case = CaseOpened(case_id=uuid4(), service_request_id=f"DEMO-26-{n:06d}", jurisdiction_id="demo",
                          channel="web", channel_message_id=f"W{n}", contact_key="k", description=text,
                          lat=point[0], long=point[1], requested_datetime=at)
        env = event(case, subject=case.case_id, now=at)
        delivery = Delivery(topic="cases.lifecycle", partition=0, offset=n + 1, consumer="router")
        assert await dispatch(table, env, lambda env=env, at=at, delivery=delivery: PgUnitOfWork(
            pool, service=schema, repository=RouterRepository, now=at, envelope=env, delivery=delivery)) == "keywords"
        cases.append(case)
    return cases


def arguments(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--json", action="store_true")
    rules.add_arguments(parser)
    return parser.parse_args(list(argv))


def draft_moving_the_night_patrol(tmp_path: Path) -> Path:
    text = (repo_root() / "jurisdictions" / "demo" / "jurisdiction.yaml").read_text(encoding="utf-8")
    moved = text.replace("districts: [centre]\n    set: {queue: bylaw-noise-centre}",
                         "districts: [nord]\n    set: {queue: bylaw-noise-centre}")
    assert moved != text
    path = tmp_path / "draft.yaml"  # its ./districts.geojson is read from the live folder
    path.write_text(moved, encoding="utf-8")
    return path


async def test_a_draft_is_replayed_over_the_last_days_of_logged_decisions(
    service_pool: asyncpg.Pool, fresh_schema_name: str, database: str, tmp_path: Path
) -> None:
    cases = await seed(service_pool, fresh_schema_name)
    before = await service_pool.fetch("SELECT * FROM decisions ORDER BY case_id")
    draft = draft_moving_the_night_patrol(tmp_path)

    report = await rules.run_async(arguments("--draft", str(draft), "--days", "7", "--jurisdiction", "demo",
                                             "--dsn", database, "--schema", fresh_schema_name), now=NOW)

    assert (report["decisions"], report["changed"], report["unchanged"], report["failed"]) == (3, 2, 1, 0)
    assert report["changes"]["queue"] == 2 and report["changes"]["service_code"] == 0
    moved = {e["service_request_id"]: (e["before"], e["after"]) for e in report["examples"]["queue"]}
    noise_queue = load_jurisdiction("demo").service("noise").queue  # type: ignore[union-attr]
    assert moved == {cases[0].service_request_id: ("bylaw-noise-centre", noise_queue),
                     cases[1].service_request_id: (noise_queue, "bylaw-noise-centre")}
    queues = {q["queue"]: (q["before"], q["after"]) for q in report["by_queue"]}
    assert queues["bylaw-noise-centre"] == (1, 1) and queues[noise_queue] == (1, 1)
    text = rules.render(report)
    assert "decisions compared: 3, changed: 2" in text and "examples, queue:" in text
    assert cases[0].service_request_id in text
    assert await service_pool.fetch("SELECT * FROM decisions ORDER BY case_id") == before


async def test_the_log_is_read_oldest_first_within_the_window(service_pool: asyncpg.Pool, fresh_schema_name: str
                                                              ) -> None:
    cases = await seed(service_pool, fresh_schema_name)
    rows = await RouterReads(service_pool).decisions_since(NOW - timedelta(days=7))
    assert [r.case_id for r in rows] == [c.case_id for c in reversed(cases[:3])]
    assert rows[0].decision["input"]["description"] == REPORTS[2][0]


async def test_a_draft_the_loader_refuses_exits_2_with_its_message(
    service_pool: asyncpg.Pool, fresh_schema_name: str, database: str, tmp_path: Path,
    capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: demo\nname: [unclosed\n", encoding="utf-8")
    with pytest.raises(SystemExit) as exit_:
        await rules.run_async(arguments("--draft", str(bad), "--jurisdiction", "demo", "--dsn", database,
                                        "--schema", fresh_schema_name), now=NOW)
    assert exit_.value.code == 2 and "not valid YAML" in capsys.readouterr().err


async def test_the_command_line_prints_the_json_report(
    service_pool: asyncpg.Pool, fresh_schema_name: str, database: str, tmp_path: Path,
    capsys: pytest.CaptureFixture[str]
) -> None:
    await seed(service_pool, fresh_schema_name)
    argv = ["rules", "--json", "--draft", str(draft_moving_the_night_patrol(tmp_path)), "--days", "7",
            "--jurisdiction", "demo", "--dsn", database, "--schema", fresh_schema_name]

    assert await asyncio.to_thread(main, argv) == 0

    report = json.loads(capsys.readouterr().out)
    assert (report["decisions"], report["changed"], report["jurisdiction"]) == (3, 2, "demo")


async def test_without_a_draft_the_live_file_is_replayed_and_nothing_changes(
    service_pool: asyncpg.Pool, fresh_schema_name: str, database: str
) -> None:
    await seed(service_pool, fresh_schema_name)

    report = await rules.run_async(arguments("--days", "7", "--jurisdiction", "demo", "--dsn", database,
                                             "--schema", fresh_schema_name), now=NOW)

    assert (report["decisions"], report["changed"], report["failed"]) == (3, 0, 0)
    assert report["draft_config_version"] == report["live_config_version"]
    parser = argparse.ArgumentParser()
    rules.add_arguments(parser)
    assert "default: the live one" in " ".join(parser.format_help().split())
