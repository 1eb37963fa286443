"""Routing rules tried before they go live, in memory: the logged decisions replayed under the live file
change nothing, a draft that drops a rule or raises the model's threshold says what moves (per department
and queue, with examples), another classifier is asked again; and the staff API in process
(`GET /routing/versions` for supervisors and administrators, `POST /routing/replay` for administrators:
401, 403, 400, 413, 422 with the loader's message, and the log untouched)."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any
from uuid import uuid4

import httpx
import pytest
from fastapi import FastAPI

from router_fakes import (
    CENTRE,
    NORD,
    FakeModel,
    FakeRouterRepository,
    demo_draft,
    demo_text,
    judging_demo,
)
from services.router.domain import replay
from services.router.entrypoints import http
from services.router.service_layer import handlers as h
from services.router.service_layer.replay import replay_rules
from shared.auth import install_auth
from shared.events import CaseOpened
from shared.jurisdiction import Jurisdiction, load_jurisdiction
from support.uow import T0, FakeStore, event

NOW = T0 + timedelta(days=1)
REPORTS = [
    ("Loud music all night next door", CENTRE, "noise"),  # downtown noise: the night patrol rule
    ("Loud party music", NORD, "noise"),
    ("Deep pothole on my street", NORD, "pothole"),
    ("The street light is out", CENTRE, "streetlight"),
]


async def logged(jurisdiction: Jurisdiction, model: FakeModel | None = None) -> FakeRouterRepository:
    """The decision log after the router routed `REPORTS` under `jurisdiction` (with `model`)."""
    store = FakeStore(FakeRouterRepository(), "router")
    table = h.handlers(jurisdiction, h.Judges(model=model))
    for n, (text, point, _) in enumerate(REPORTS):
        case = CaseOpened(case_id=uuid4(), service_request_id=f"DEMO-26-{n:06d}", jurisdiction_id="demo",
                          channel="web", channel_message_id=f"W{n}", contact_key="k", description=text,
                          lat=point[0], long=point[1], requested_datetime=T0)
        await store.handle(table, event(case, subject=case.case_id), now=T0 + timedelta(minutes=n))
    return store.repo


def without_night_patrol(document: dict[str, Any]) -> None:
    document["routing_rules"] = [r for r in document["routing_rules"] if r["id"] != "downtown-noise-night-patrol"]


async def test_the_live_file_replayed_over_its_own_decisions_changes_nothing() -> None:
    demo = load_jurisdiction("demo")
    repo = await logged(demo)
    assert [r["fields"].service_code for r in repo.rows.values()] == [c for _, _, c in REPORTS]

    report = replay(repo.replay_rows(), demo, demo)

    assert (report["decisions"], report["changed"], report["failed"], report["skipped"]) == (4, 0, 0, 0)
    assert report["examples"] == {}


async def test_a_draft_without_a_rule_says_which_queue_and_rule_change() -> None:
    demo = load_jurisdiction("demo")
    repo = await logged(demo)

    report = replay(repo.replay_rows(), demo, demo_draft(without_night_patrol))

    assert (report["decisions"], report["changed"], report["unchanged"]) == (4, 1, 3)
    assert report["changes"]["queue"] == 1 and report["changes"]["rule_id"] == 1
    assert report["changes"]["service_code"] == 0 and report["changes"]["district"] == 0
    queues = {q["queue"]: (q["before"], q["after"], q["change"]) for q in report["by_queue"]}
    assert queues["bylaw-noise-centre"] == (1, 0, -1)
    noise_queue = demo.service("noise").queue  # type: ignore[union-attr]
    assert queues[noise_queue] == (1, 2, 1)
    [example] = report["examples"]["queue"]
    assert (example["before"], example["after"]) == ("bylaw-noise-centre", noise_queue)
    assert (example["rule_before"], example["rule_after"]) == ("downtown-noise-night-patrol", "default")
    assert example["service_request_id"] == "DEMO-26-000000"
    assert sum(d["before"] for d in report["by_department"]) == sum(d["after"] for d in report["by_department"]) == 4


async def test_a_higher_model_threshold_sends_the_unsure_cases_to_triage() -> None:
    demo = judging_demo()
    model = FakeModel(default=[("pothole", 0.7)], answers={
        "Loud music all night next door": [("noise", 0.95)], "Loud party music": [("noise", 0.9)],
        "The street light is out": [("streetlight", 0.65)]})
    repo = await logged(demo, model)

    def stricter(document: dict[str, Any]) -> None:
        document["classification"]["model"] = {"train_from": [{"file": "./history.csv"}], "min_probability": 0.8}

    report = replay(repo.replay_rows(), demo, demo_draft(stricter))

    assert report["changed"] == 2 and report["changes"]["service_code"] == 2
    moved = {e["before"]: e["after"] for e in report["examples"]["service_code"]}
    assert moved == {"pothole": demo.unclassified.service_code, "streetlight": demo.unclassified.service_code}
    assert report["model_versions"] == {model.version: 4}


async def test_another_classifier_version_is_asked_again() -> None:
    demo = judging_demo()
    repo = await logged(demo, FakeModel(default=[("pothole", 0.9)]))
    newer = FakeModel(default=[("tree", 0.9)], version="demo-bbbbbbbbbbbb")

    async def read_since(since: datetime) -> list[Any]:
        return repo.replay_rows()

    report = await replay_rules(read_since, live=demo, draft=demo, now=NOW, days=7, model=newer)

    assert report["model"] == "demo-bbbbbbbbbbbb" and report["changed"] == 4
    assert {e["after"] for e in report["examples"]["service_code"]} == {"tree"}
    assert sorted(newer.asked) == sorted(t for t, _, _ in REPORTS)


async def test_a_row_logged_without_its_input_is_skipped_not_guessed() -> None:
    demo = load_jurisdiction("demo")
    repo = await logged(demo)
    rows = repo.replay_rows()
    rows[0].decision.pop("input")
    assert replay(rows, demo, demo)["skipped"] == 1


async def test_a_decision_logged_before_location_was_recorded_is_compared_on_the_fields_it_has() -> None:
    from tools.evaluate import rules

    demo = load_jurisdiction("demo")
    repo = await logged(demo)
    rows = repo.replay_rows()
    for row in rows[:3]:
        row.decision.pop("location")  # an older log: no location key at all
    assert {r.decision.get("location", {}).get("status") for r in rows[3:]} == {"point"}

    unchanged = replay(rows, demo, demo)
    moved = replay(rows, demo, demo_draft(without_night_patrol))

    assert (unchanged["decisions"], unchanged["changed"], unchanged["changes"]["location"]) == (4, 0, 0)
    assert unchanged["not_logged"] == {"location": 3}
    assert (moved["changed"], moved["changes"]["queue"], moved["changes"]["location"]) == (1, 1, 0)
    text = rules.render({**unchanged, "days": 7.0, "since": "s", "until": "u"})
    assert "decisions compared: 4, changed: 0" in text and "location 3" in text


async def test_days_out_of_range_are_refused() -> None:
    demo = load_jurisdiction("demo")
    with pytest.raises(ValueError, match="days"):
        await replay_rules(lambda since: None, live=demo, draft=demo, now=NOW, days=0)  # type: ignore[arg-type]


# -- the staff API --------------------------------------------------------------------------------------


class FakeReads:
    def __init__(self, repo: FakeRouterRepository) -> None:
        self.repo = repo
        self.since: list[datetime] = []

    async def decisions_since(self, since: datetime) -> list[Any]:
        self.since.append(since)
        return self.repo.replay_rows()


@pytest.fixture
async def api(test_issuer: Any) -> AsyncIterator[tuple[httpx.AsyncClient, FakeRouterRepository, FakeReads]]:
    demo = load_jurisdiction("demo")
    repo = await logged(demo)
    reads = FakeReads(repo)
    app = FastAPI()
    install_auth(app, test_issuer.verifier())
    http.mount(app, http.RouterApi(reads=lambda: reads, jurisdiction=lambda: demo, model=lambda: FakeModel(),
                                   geocoder=lambda: "gazetteer", now=lambda: NOW))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://router") as c:
        yield c, repo, reads


async def test_the_live_versions_are_listed_to_supervisors_and_administrators(api: Any, test_issuer: Any) -> None:
    c, _, _ = api
    assert (await c.get("/routing/versions")).status_code == 401
    assert (await c.get("/routing/versions", headers=test_issuer.headers("department_staff"))).status_code == 403
    assert (await c.get("/routing/versions", headers=test_issuer.headers("call_agent"))).status_code == 403
    for role in ("supervisor", "administrator"):
        answer = await c.get("/routing/versions", headers=test_issuer.headers(role))
        assert answer.status_code == 200
    body = answer.json()
    demo = load_jurisdiction("demo")
    assert body["config_version"] == demo.config_version and body["jurisdiction"] == "demo"
    assert body["rule_ids"] == ["gas-smell-urgent", "downtown-noise-night-patrol", "needles-near-schools"]
    assert body["model_version"] == "demo-0123456789ab" and body["geocoder"] == "gazetteer"


async def test_an_administrator_replays_a_draft_and_nothing_changes(api: Any, test_issuer: Any) -> None:
    c, repo, reads = api
    before = copy.deepcopy(repo.rows)
    draft = demo_text().replace("  - id: downtown-noise-night-patrol", "  - id: downtown-noise-night-patrol-off")
    draft = draft.replace("districts: [centre]\n    set: {queue: bylaw-noise-centre}",
                          "districts: [nord]\n    set: {queue: bylaw-noise-centre}")

    answer = await c.post("/routing/replay", params={"days": 3}, content=draft.encode(),
                          headers={**test_issuer.headers("administrator"), "Content-Type": "application/yaml"})

    assert answer.status_code == 200, answer.text
    report = answer.json()
    assert (report["decisions"], report["changed"], report["days"]) == (4, 2, 3)
    assert {e["case_id"] for e in report["examples"]["queue"]} == {
        str(k) for k, r in repo.rows.items() if r["fields"].service_code == "noise"}
    assert reads.since == [NOW - timedelta(days=3)]
    assert repo.rows == before


async def test_a_draft_may_use_yaml_merge_keys_as_a_jurisdiction_file_may(api: Any, test_issuer: Any) -> None:
    c, _, _ = api
    draft = demo_text().replace("set: {queue: bylaw-noise-centre}", "set: {<<: {queue: bylaw-noise-centre}}")
    assert draft != demo_text()

    answer = await c.post("/routing/replay", content=draft.encode(), headers=test_issuer.headers("administrator"))

    assert answer.status_code == 200, answer.text
    assert answer.json()["changed"] == 0


@pytest.mark.parametrize(("role", "status"), [(None, 401), ("supervisor", 403), ("department_staff", 403)])
async def test_only_administrators_replay(api: Any, test_issuer: Any, role: str | None, status: int) -> None:
    c, _, reads = api
    headers = test_issuer.headers(role) if role else {}
    assert (await c.post("/routing/replay", content=demo_text().encode(), headers=headers)).status_code == status
    assert reads.since == []


@pytest.mark.parametrize(("body", "status", "says"), [
    (b"", 400, "draft jurisdiction file"),
    (b"\xff\xfe not utf-8", 400, "UTF-8"),
    (b"id: demo\n  name: [unclosed", 422, "not valid YAML"),
    (b"- a list\n", 422, "mapping"),
    (b"id: demo\nid: demo\n", 422, "found 'id' more than once"),
    (b"? [a, b]\n: 1\n", 422, "unhashable key"),
    ("RULE_QUEUE", 422, "no-such-queue"),
    ("OTHER_CITY", 422, "the router routes 'demo'"),
    ("ABSOLUTE", 422, "refused"),
    ("DOTDOT", 422, "refused"),
    ("LAUGHS", 422, "aliases"),
    ("LAYOUT", 422, "gazetteer[0].layout '/etc/passwd' is refused"),  # a source's layout is a file too
])
async def test_a_bad_draft_is_refused_with_the_loaders_message(api: Any, test_issuer: Any, body: Any, status: int,
                                                             says: str) -> None:
    c, _, reads = api
    text = demo_text()
    body = {"RULE_QUEUE": text.replace("set: {queue: bylaw-noise-centre}", "set: {queue: no-such-queue}"),
            "OTHER_CITY": text.replace("id: demo\n", "id: elsewhere\n", 1),
            "ABSOLUTE": text.replace("./districts.geojson", "/etc/hostname"),
            "DOTDOT": text.replace("./districts.geojson", "./../../../etc/passwd"),
            "LAYOUT": text.replace("layout: ./addresses-layout.yaml", "layout: /etc/passwd"),
            "LAUGHS": text + "".join(f"x{n}: &x{n} [" + ", ".join([f"*x{n - 1}" if n else "lol"] * 9) + "]\n"
                                     for n in range(9))}.get(body, body)  # 9**9 values once expanded
    content = body.encode() if isinstance(body, str) else body
    answer = await c.post("/routing/replay", content=content, headers=test_issuer.headers("administrator"))
    assert answer.status_code == status, answer.text
    assert says in answer.json()["detail"]
    assert reads.since == []


@pytest.mark.parametrize("days", ["0", "-1", "400", "many"])
async def test_a_bad_window_is_refused(api: Any, test_issuer: Any, days: str) -> None:
    c, _, reads = api
    answer = await c.post("/routing/replay", params={"days": days}, content=demo_text().encode(),
                          headers=test_issuer.headers("administrator"))
    assert answer.status_code == 422 and reads.since == []


async def test_an_oversized_draft_is_refused(api: Any, test_issuer: Any) -> None:
    c, _, _ = api
    answer = await c.post("/routing/replay", content=b"#" * (http.MAX_DRAFT_BYTES + 1),
                          headers=test_issuer.headers("administrator"))
    assert answer.status_code == 413


async def test_a_code_the_draft_no_longer_knows_is_classified_from_the_text_again() -> None:
    demo = judging_demo()
    store = FakeStore(FakeRouterRepository(), "router")
    case = CaseOpened(case_id=uuid4(), service_request_id="DEMO-26-000009", jurisdiction_id="demo", channel="web",
                      channel_message_id="W9", contact_key="k", service_code="graffiti",
                      description="graffiti all over the street light", lat=NORD[0], long=NORD[1],
                      requested_datetime=T0)
    model = FakeModel()
    await store.handle(h.handlers(demo, h.Judges(model=model)), event(case, subject=case.case_id))
    assert model.asked == []  # the report's own code: the model was not asked

    def without_graffiti(document: dict[str, Any]) -> None:
        document["services"] = [s for s in document["services"] if s["service_code"] != "graffiti"]
        document["classification"]["model"] = {"train_from": [{"file": "./history.csv"}]}

    report = replay(store.repo.replay_rows(), demo, demo_draft(without_graffiti))

    assert [(e["before"], e["after"]) for e in report["examples"]["service_code"]] == [("graffiti", "streetlight")]
