"""What the forwarder reports about a case lands on the case (docs/integrations.md, "Open311 forwarding"):
the endpoint's id kept (a token first, the id once it resolves), failures on the timeline, and a status the
endpoint reports applied as a status change by ``open311:<endpoint>`` that the reporters hear of, on the
in-memory unit of work with the demo jurisdiction."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import uuid4

import pytest
from case_fakes import FakeCaseRepository, RecordingClocks, Store, demo

from services.case.domain import commands as c
from services.case.domain import forwarding as rules
from services.case.domain import staff as staff_rules
from services.case.service_layer import handlers as h
from services.case.service_layer import staff as s
from shared.events import (
    CaseForwarded,
    CaseOpened,
    CaseStatusChanged,
    ForwardFailed,
    MessageReceived,
    RoutingDecided,
    RoutingFields,
    StatusReported,
)
from shared.jurisdiction import Jurisdiction
from support.uow import T0, FakeStore, event

ENDPOINT = "county-public-works"
ACTOR = f"open311:{ENDPOINT}"
LATER = T0 + timedelta(hours=3)
STAFF = c.Actor("u-staff", "Sasha Staff", "department_staff", "public-works", frozenset({"roads-north"}))


@pytest.fixture
def clocks() -> RecordingClocks:
    return RecordingClocks()


@pytest.fixture
def store() -> Store:
    return FakeStore(FakeCaseRepository(), "case")


@pytest.fixture
def table(clocks: RecordingClocks) -> Any:
    return h.handlers(demo(), clocks=clocks)


async def new_case(store: Store, table: Any, *, routed: bool = True) -> dict[str, Any]:
    msg = MessageReceived(channel="sms", channel_message_id="M1", contact_key="k1", received_at=T0,
                          description="Pothole on Main St", lat=45.4, long=-75.7, language="en")
    assert await store.handle(table, event(msg, subject="k1")) == "opened"
    case_id = store.emitted("case.opened")[-1].payload(CaseOpened).case_id
    if routed:
        r = RoutingFields(service_code="pothole", service_name="Pothole", category_source="keywords",
                          agency_responsible="Public Works", queue="roads", priority=3, rule_id="r1",
                          config_version="v1", sla_due_at=T0 + timedelta(days=2))
        await store.handle(table, event(RoutingDecided(case_id=case_id, routing=r)))
    return dict(store.repo.cases[case_id])


def _fields(case: dict[str, Any]) -> dict[str, Any]:
    return {"case_id": case["case_id"], "service_request_id": case["service_request_id"], "jurisdiction_id": "demo",
            "endpoint": ENDPOINT}


def forwarded(case: dict[str, Any], *, external_id: str | None, token: str | None = None, minutes: int = 0
              ) -> CaseForwarded:
    return CaseForwarded(**_fields(case), external_service_request_id=external_id, token=token,
                         external_service_code="4fd3b167e750846744000005",
                         forwarded_at=T0 + timedelta(minutes=minutes))


def reported(case: dict[str, Any], status: str, notes: str | None = "Pothole filled.",
             agency: str | None = "County Roads") -> StatusReported:
    return StatusReported(**_fields(case), external_service_request_id="638344", status=status, status_notes=notes,
                          agency_responsible=agency, updated_datetime=LATER, reported_at=LATER)


def has(detail: dict[str, Any], expected: dict[str, Any]) -> bool:
    return expected.items() <= detail.items()


async def handle(store: Store, table: Any, payload: Any) -> str | None:
    return await store.handle(table, event(payload, subject=payload.case_id), now=LATER)


# --- forwarded and failed ------------------------------------------------------------------------------

async def test_a_token_then_the_id_leave_one_external_request_and_two_forwarded_entries(store: Store, table: Any) -> None:
    case = await new_case(store, table)
    before = len(store.outbox)
    assert await handle(store, table, forwarded(case, external_id=None, token="tok-9")) == "forwarded"
    assert await handle(store, table, forwarded(case, external_id="638344", minutes=5)) == "forwarded"
    held = store.repo.external[(case["case_id"], ENDPOINT)]
    assert held["external_service_request_id"] == "638344" and held["token"] == "tok-9"
    assert held["forwarded_at"] == T0, "the first send's time stays"
    entries = store.repo.entries(case["case_id"], "forwarded")
    assert [e["detail"]["external_service_request_id"] for e in entries] == [None, "638344"]
    assert {(e["detail"]["actor"], e["detail"]["role"]) for e in entries} == {(ACTOR, "external_system")}
    assert entries[0]["detail"]["token"] == "tok-9" and entries[0]["event_id"] is not None
    assert len(store.outbox) == before, "forwarding is recorded, never announced"


async def test_a_failed_send_is_on_the_timeline_with_its_next_attempt(store: Store, table: Any) -> None:
    case = await new_case(store, table)
    failed = ForwardFailed(**_fields(case), stage="send", attempt=3, error="HTTP 503 from the endpoint",
                           retry_at=LATER + timedelta(minutes=2))
    assert await handle(store, table, failed) == "recorded"
    [entry] = store.repo.entries(case["case_id"], "forward_failed")
    assert has(entry["detail"], {"actor": ACTOR, "role": "external_system", "endpoint": ENDPOINT, "stage": "send",
                                    "attempt": 3, "error": "HTTP 503 from the endpoint",
                                    "retry_at": (LATER + timedelta(minutes=2)).isoformat()})
    gave_up = ForwardFailed(**_fields(case), stage="send", attempt=8, error="HTTP 503 from the endpoint")
    await handle(store, table, gave_up)
    assert store.repo.entries(case["case_id"], "forward_failed")[-1]["detail"]["retry_at"] is None


async def test_an_event_about_an_unknown_case_is_refused_and_changes_nothing(store: Store, table: Any) -> None:
    case = await new_case(store, table)
    ghost = {**case, "case_id": uuid4()}
    for payload in (forwarded(ghost, external_id="1"), reported(ghost, "closed"),
                    ForwardFailed(**_fields(ghost), stage="poll", attempt=1, error="timeout")):
        with pytest.raises(ValueError, match="unknown case"):
            await handle(store, table, payload)
    assert store.repo.external == {} and store.repo.entries(ghost["case_id"]) == []


# --- reported statuses ---------------------------------------------------------------------------------

async def test_closed_there_resolves_the_case_here_as_a_status_change_the_reporters_hear_of(
        store: Store, table: Any, clocks: RecordingClocks) -> None:
    case = await new_case(store, table)
    await handle(store, table, forwarded(case, external_id="638344"))
    report = event(reported(case, "closed"), subject=case["case_id"])
    assert await store.handle(table, report, now=LATER) == "moved"
    after = store.repo.cases[case["case_id"]]
    assert (after["status"], after["workflow_status"], after["status_notes"]) == ("closed", "resolved", "Pothole filled.")
    assert after["updated_datetime"] == LATER
    changed = store.emitted("case.status_changed")[-1]
    payload = changed.payload(CaseStatusChanged)
    assert (payload.status, payload.workflow_status, payload.previous_workflow_status, payload.status_notes,
            payload.notify) == ("closed", "resolved", "acknowledged", "Pothole filled.", True)
    assert (changed.causation_id, changed.correlation_id) == (report.event_id, report.correlation_id)
    [entry] = store.repo.entries(case["case_id"], "status_changed")
    assert entry["detail"]["actor"] == ACTOR and entry["detail"]["role"] == "external_system"
    assert entry["detail"]["before"]["workflow_status"] == "acknowledged"
    assert has(entry["detail"]["after"], {"workflow_status": "resolved", "status": "closed"})
    assert entry["detail"]["agency_responsible"] == "County Roads" and entry["event_id"] is not None
    assert clocks.hooks()[-1] == "stop", "the SLA clock stops as on a staff close"
    held = store.repo.external[(case["case_id"], ENDPOINT)]
    assert (held["last_status"], held["last_agency_responsible"], held["last_reported_at"]) == ("closed", "County Roads",
                                                                                                LATER)


async def test_the_external_system_may_make_a_move_staff_may_not(store: Store, table: Any) -> None:
    case = await new_case(store, table, routed=False)
    assert case["workflow_status"] == "new" and "resolved" not in demo().workflow.allowed("new")
    assert await handle(store, table, reported(case, "closed")) == "moved"
    assert store.repo.cases[case["case_id"]]["workflow_status"] == "resolved"


async def test_the_same_report_twice_changes_the_case_once(store: Store, table: Any) -> None:
    case = await new_case(store, table)
    envelope = event(reported(case, "closed"), subject=case["case_id"])
    assert await store.handle(table, envelope, now=LATER) == "moved"
    snapshot, sent = dict(store.repo.cases[case["case_id"]]), len(store.outbox)
    entries = len(store.repo.timeline)
    assert await store.handle(table, envelope, now=LATER) == "duplicate"
    assert store.repo.cases[case["case_id"]] == snapshot and len(store.outbox) == sent
    assert len(store.repo.timeline) == entries


async def test_closed_there_of_a_case_already_closed_here_changes_only_the_timeline(
        store: Store, table: Any) -> None:
    case = await new_case(store, table)
    async with store.uow(now=LATER) as uow:
        await s.transition(c.Transition(case["case_id"], STAFF, "resolved", "Done."), uow, jurisdiction=demo())
    before, sent = dict(store.repo.cases[case["case_id"]]), len(store.outbox)
    assert await handle(store, table, reported(case, "closed", notes="Closed on our side too.")) == "noted"
    assert store.repo.cases[case["case_id"]] == before and len(store.outbox) == sent
    [entry] = store.repo.entries(case["case_id"], "external_update")
    assert has(entry["detail"], {"actor": ACTOR, "role": "external_system", "reported_status": "closed",
                                    "status_notes": "Closed on our side too.", "workflow_status": "resolved"})


async def test_open_again_there_reopens_a_case_closed_here(store: Store, table: Any, clocks: RecordingClocks) -> None:
    case = await new_case(store, table)
    await handle(store, table, reported(case, "closed"))
    assert await handle(store, table, reported(case, "open", notes="Reopened: the patch failed.")) == "moved"
    after = store.repo.cases[case["case_id"]]
    assert (after["status"], after["workflow_status"], after["status_notes"]) == ("open", "in_progress",
                                                                                  "Reopened: the patch failed.")
    payload = store.emitted("case.status_changed")[-1].payload(CaseStatusChanged)
    assert (payload.status, payload.previous_workflow_status) == ("open", "resolved")
    assert clocks.hooks()[-2:] == ["stop", "resume"]


async def test_new_notes_on_an_open_case_are_an_external_update_only(store: Store, table: Any) -> None:
    case = await new_case(store, table)
    sent = len(store.outbox)
    assert await handle(store, table, reported(case, "open", notes="Crew scheduled for Tuesday.")) == "noted"
    after = store.repo.cases[case["case_id"]]
    assert (after["status"], after["workflow_status"], after["status_notes"]) == ("open", "acknowledged", None)
    assert len(store.outbox) == sent
    [entry] = store.repo.entries(case["case_id"], "external_update")
    assert entry["detail"]["status_notes"] == "Crew scheduled for Tuesday."


async def test_a_merged_case_is_not_moved_by_its_endpoint(store: Store, table: Any) -> None:
    case = await new_case(store, table)
    merged = {**case, "merged_into": case["case_id"], "status": "closed", "workflow_status": "duplicate"}
    assert rules.reported_move(merged, "open", demo()) is None
    assert rules.reported_move({**case, "merged_into": None}, "closed", demo()) == "resolved"


def _with_forwarding(**statuses: str) -> Jurisdiction:
    jur = demo()
    return jur.model_copy(update={"forwarding": jur.forwarding.model_copy(update=statuses)})


async def test_the_jurisdictions_closed_status_is_where_a_reported_close_goes(store: Store, clocks: RecordingClocks) -> None:
    jur = _with_forwarding(closed_status="closed", reopened_status="assigned")
    table = h.handlers(jur, clocks=clocks)
    case = await new_case(store, table)
    await handle(store, table, reported(case, "closed"))
    assert store.repo.cases[case["case_id"]]["workflow_status"] == "closed"
    payload = store.emitted("case.status_changed")[-1].payload(CaseStatusChanged)
    assert payload.notify is False, "the workflow's closed status tells no one"
    await handle(store, table, reported(case, "open"))
    assert store.repo.cases[case["case_id"]]["workflow_status"] == "assigned"


def test_the_defaults_are_the_first_notifying_closed_status_and_resume_to() -> None:
    jur = _with_forwarding(closed_status=None, reopened_status=None)  # type: ignore[arg-type]
    assert (rules.closed_status(jur), rules.reopened_status(jur)) == ("resolved", "in_progress")
    assert (rules.closed_status(demo()), rules.reopened_status(demo())) == ("resolved", "in_progress")


def test_the_external_actor_names_the_endpoint_never_its_url() -> None:
    actor = rules.external_actor(ENDPOINT)
    assert (actor.subject, actor.role, actor.department) == (ACTOR, "external_system", None)
    assert staff_rules.audit(actor, {}, {})["actor_name"] == ACTOR
