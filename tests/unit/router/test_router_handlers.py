"""Router handlers on an in-memory unit of work: one decision per case, re-routing when a message gives a
case its place or staff give it another category, and replays that change nothing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import uuid4

import pytest

import router_fakes
from router_fakes import FakeRouterRepository, fake_store
from services.router.service_layer import handlers as h
from shared.events import CaseMessageAdded, CaseOpened, CaseRecategorised, RoutingDecided
from shared.jurisdiction import load_jurisdiction
from support.uow import T0, FakeStore, event

CENTRE = (45.415, -75.70)  # inside a demo district


@pytest.fixture(scope="module")
def table() -> Any:
    return h.handlers(load_jurisdiction("demo"))


@pytest.fixture
def store() -> FakeStore[FakeRouterRepository]:
    return fake_store()


def opened(**kw: Any) -> CaseOpened:
    return router_fakes.opened(kw.pop("description", "The street light is out, very dark at night"), **kw)


def added(case: CaseOpened, **kw: Any) -> CaseMessageAdded:
    return CaseMessageAdded(case_id=case.case_id, service_request_id=case.service_request_id, jurisdiction_id="demo",
                            message_id=uuid4(), channel="sms", channel_message_id="SM2", **kw)


async def test_an_opened_case_is_routed_once_with_its_input_logged(store: Any, table: Any) -> None:
    case = opened(lat=CENTRE[0], long=CENTRE[1])
    env = event(case, subject=case.case_id)

    assert await store.handle(table, env) == "keywords"

    [out] = store.emitted("routing.decided")
    decided = out.payload(RoutingDecided)
    assert decided.case_id == case.case_id and decided.routing.service_code == "streetlight"
    assert decided.routing.district is not None
    assert out.causation_id == env.event_id and out.correlation_id == env.correlation_id
    assert out.subject == str(case.case_id)
    logged = store.repo.rows[case.case_id]["logged"]
    assert logged["input"]["lat"] == CENTRE[0] and logged["queue"] == decided.routing.queue


async def test_the_same_event_twice_routes_once(store: Any, table: Any) -> None:
    case = opened()
    env = event(case, subject=case.case_id)
    await store.handle(table, env)

    assert await store.handle(table, env) == "duplicate"
    assert len(store.emitted()) == 1


async def test_a_second_opened_event_for_a_routed_case_changes_nothing(store: Any, table: Any) -> None:
    case = opened()
    await store.handle(table, event(case, subject=case.case_id))

    assert await store.handle(table, event(case, subject=case.case_id)) == "already_routed"
    assert len(store.emitted()) == 1


async def test_a_message_with_the_missing_place_reroutes_the_case_into_a_district(store: Any, table: Any) -> None:
    case = opened()
    await store.handle(table, event(case, subject=case.case_id))
    first = store.emitted()[0].payload(RoutingDecided).routing
    assert first.district is None

    later = T0 + timedelta(minutes=5)
    result = await store.handle(table, event(added(case, lat=CENTRE[0], long=CENTRE[1]), subject=case.case_id),
                                now=later)

    assert result == "rerouted"
    second = store.emitted()[1].payload(RoutingDecided).routing
    assert second.district is not None and second.service_code == first.service_code
    row = store.repo.rows[case.case_id]
    assert row["decided_at"] == later and row["logged"]["previous"]["district"] is None


@pytest.mark.parametrize(("setup", "message", "expected"), [
    ("none", {"lat": CENTRE[0], "long": CENTRE[1]}, "not_routed"),
    ("routed", {}, "no_location"),
    ("routed_with_point", {"lat": CENTRE[0], "long": CENTRE[1]}, "already_located"),
])
async def test_messages_that_cannot_move_a_case_emit_nothing(store: Any, table: Any, setup: str,
                                                             message: dict[str, Any], expected: str) -> None:
    case = opened(**({"lat": CENTRE[0], "long": CENTRE[1]} if setup == "routed_with_point" else {}))
    if setup != "none":
        await store.handle(table, event(case, subject=case.case_id))
    before = len(store.emitted())

    assert await store.handle(table, event(added(case, **message), subject=case.case_id)) == expected
    assert len(store.emitted()) == before


async def test_a_failing_write_rolls_back_the_claim_so_the_event_is_retried(store: Any, table: Any) -> None:
    case = opened()
    env = event(case, subject=case.case_id)

    async def broken(*_a: Any, **_k: Any) -> bool:
        raise ConnectionError("database went away")

    store.repo.add_decision = broken  # type: ignore[method-assign]
    with pytest.raises(ConnectionError):
        await store.handle(table, env)
    assert store.outbox == [] and store.inbox == set()

    del store.repo.add_decision
    assert await store.handle(table, env) == "keywords"


async def test_other_lifecycle_events_are_not_the_routers(store: Any, table: Any) -> None:
    from shared.events import CaseStatusChanged

    changed = CaseStatusChanged(case_id=uuid4(), service_request_id="DEMO-26-000001", jurisdiction_id="demo",
                                status="closed")
    assert await store.handle(table, event(changed)) is None
    assert store.inbox == set()



# -- staff recategorisation ----------------------------------------------------------------------------


def recategorised(case: CaseOpened, service_code: str, **kw: Any) -> CaseRecategorised:
    fields: dict[str, Any] = {
        "case_id": case.case_id, "service_request_id": case.service_request_id, "jurisdiction_id": "demo",
        "actor": "u-staff-1", "actor_role": "department_staff", "service_code": service_code,
        "previous_service_code": "streetlight", "reason": "the photo shows a pothole",
        "description": case.description, "requested_datetime": case.requested_datetime,
    }
    return CaseRecategorised(**{**fields, **kw})


async def test_a_recategorised_case_is_decided_again_with_the_staffs_code_and_a_new_due_time(
    store: Any, table: Any
) -> None:
    demo = load_jurisdiction("demo")
    case = opened(lat=CENTRE[0], long=CENTRE[1])
    await store.handle(table, event(case, subject=case.case_id))
    first = store.emitted()[0].payload(RoutingDecided).routing
    assert first.service_code == "streetlight" and first.queue == "lighting"

    later = T0 + timedelta(days=2)
    env = event(recategorised(case, "pothole", lat=CENTRE[0], long=CENTRE[1]), subject=case.case_id)
    assert await store.handle(table, env, now=later) == "recategorised"

    [_, out] = store.emitted("routing.decided")
    decided = out.payload(RoutingDecided)
    assert decided.case_id == case.case_id and out.causation_id == env.event_id
    again = decided.routing
    assert (again.service_code, again.category_source, again.source) == ("pothole", "service_code", "manual")
    assert again.queue == "roads" and again.district == first.district
    # The SLA counts from when the resident reported it, not from the recategorisation.
    assert again.sla_due_at == demo.due_at(T0, demo.service("pothole").sla_hours)  # type: ignore[union-attr]
    assert again.sla_due_at != first.sla_due_at
    logged = store.repo.rows[case.case_id]["logged"]
    assert logged["previous"]["service_code"] == "streetlight" and logged["previous"]["queue"] == "lighting"
    assert logged["recategorised"] == {"actor": "u-staff-1", "actor_role": "department_staff",
                                       "reason": "the photo shows a pothole", "previous_service_code": "streetlight"}
    assert logged["input"]["service_code"] == "pothole" and logged["source"] == "manual"


async def test_the_same_recategorisation_twice_decides_once(store: Any, table: Any) -> None:
    case = opened()
    await store.handle(table, event(case, subject=case.case_id))
    env = event(recategorised(case, "graffiti"), subject=case.case_id)

    assert await store.handle(table, env) == "recategorised"
    assert await store.handle(table, env) == "duplicate"
    store.inbox.clear()  # even without the inbox's claim, the log knows this event's decision
    assert await store.handle(table, env) == "already_recategorised"
    assert len(store.emitted("routing.decided")) == 2


async def test_recategorisation_keeps_the_logged_place_when_the_event_has_none(store: Any, table: Any) -> None:
    case = opened(lat=CENTRE[0], long=CENTRE[1])
    await store.handle(table, event(case, subject=case.case_id))
    district = store.emitted()[0].payload(RoutingDecided).routing.district

    await store.handle(table, event(recategorised(case, "noise"), subject=case.case_id))

    routing = store.emitted()[1].payload(RoutingDecided).routing
    assert district == "centre" and routing.service_code == "noise" and routing.district == "centre"
    # Downtown noise goes to the night patrol: the routing rules apply to the staff's category too.
    assert routing.queue == "bylaw-noise-centre" and routing.rule_id == "downtown-noise-night-patrol"


async def test_a_case_recategorised_before_its_first_decision_gets_this_one(store: Any, table: Any) -> None:
    case = opened()
    assert await store.handle(table, event(recategorised(case, "tree"), subject=case.case_id)) == "recategorised"
    routing = store.emitted()[0].payload(RoutingDecided).routing
    assert routing.service_code == "tree" and routing.source == "manual"
    assert "previous" not in store.repo.rows[case.case_id]["logged"]
    # The case.opened that follows does not undo the staff's choice.
    assert await store.handle(table, event(case, subject=case.case_id)) == "already_routed"


async def test_a_located_message_after_recategorisation_keeps_the_staffs_category(store: Any, table: Any) -> None:
    case = opened()
    await store.handle(table, event(case, subject=case.case_id))
    await store.handle(table, event(recategorised(case, "pothole"), subject=case.case_id))

    result = await store.handle(table, event(added(case, lat=CENTRE[0], long=CENTRE[1]), subject=case.case_id))

    assert result == "rerouted"
    routing = store.emitted()[-1].payload(RoutingDecided).routing
    assert routing.service_code == "pothole" and routing.district is not None
