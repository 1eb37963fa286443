"""The SLA timer's service layer on an in-memory unit of work: what one round emits and writes for a due
clock, escalation by the jurisdiction's rules, a rolled-back round leaving nothing, and the background
loop's batching, sleeping bounds, retention cadence and stop."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest

from services.case.domain import sla
from services.case.domain.sla import SlaClock, Span
from services.case.service_layer import timers
from services.case.service_layer.retention import ErasureFailed
from shared.jurisdiction import Jurisdiction, load_jurisdiction
from support.uow import T0, FakeStore


@pytest.fixture(scope="module")
def demo() -> Jurisdiction:
    return load_jurisdiction("demo")


class FakeClockRepository:
    """The clock SQL and the few case methods the timer uses, in memory: cases by id, clocks by case id."""

    def __init__(self) -> None:
        self.cases: dict[UUID, dict[str, Any]] = {}
        self.clocks: dict[UUID, dict[str, Any]] = {}
        self.timeline: list[tuple[UUID, str, dict[str, Any]]] = []

    async def stop_clocks_of_closed_cases(self, now: datetime) -> int:
        n = 0
        for case_id, clock in self.clocks.items():
            if self.cases[case_id]["status"] == "closed" and clock["state"] != "stopped":
                clock.update(state="stopped", paused_at=clock["paused_at"] or now)
                n += 1
        return n

    async def due_sla_clocks(self, now: datetime, limit: int, skip: Any = ()) -> list[dict[str, Any]]:
        due = []
        for case_id, clock in self.clocks.items():
            if case_id in skip:
                continue
            nxt = SlaClock.from_row(clock).next_fire_at
            if nxt is not None and nxt <= now and self.cases[case_id]["status"] == "open":
                due.append((nxt, {**clock, **self.cases[case_id]}))
        return [row for _, row in sorted(due, key=lambda d: d[0])][:limit]

    async def save_sla_clock(self, clock: dict[str, Any], now: datetime) -> None:
        self.clocks[clock["case_id"]] = dict(clock)

    async def sla_clock(self, case_id: UUID, *, for_update: bool = False) -> dict[str, Any] | None:
        return self.clocks.get(case_id)

    async def next_sla_fire_at(self, skip: Any = ()) -> datetime | None:
        times = [SlaClock.from_row(c).next_fire_at for cid, c in self.clocks.items()
                 if self.cases[cid]["status"] == "open" and cid not in skip]
        return min((t for t in times if t is not None), default=None)

    async def add_timeline(self, case_id: UUID, at: datetime, kind: str, event_id: UUID | None,
                           detail: dict[str, Any]) -> None:
        if self.cases[case_id].get("poison"):
            raise ValueError("a row the database refuses")
        self.timeline.append((case_id, kind, detail))

    async def get_case(self, case_id: UUID, *, for_update: bool = False) -> dict[str, Any] | None:
        return self.cases.get(case_id)

    async def update_case(self, case_id: UUID, fields: dict[str, Any]) -> None:
        self.cases[case_id].update(fields)


def add_case(repo: FakeClockRepository, demo: Jurisdiction, *, due: datetime, queue: str = "roads",
             service_code: str = "pothole", priority: int = 3, start: datetime = T0) -> UUID:
    case_id = uuid4()
    repo.cases[case_id] = {
        "case_id": case_id, "service_request_id": f"DEMO-26-{len(repo.cases) + 1:06d}", "jurisdiction_id": "demo",
        "service_code": service_code, "service_name": service_code.title(), "queue": queue, "priority": priority,
        "correlation_id": uuid4(), "status": "open", "assignee": "u-7", "team": "roads-north",
        "requested_datetime": T0}
    clock = sla.arm(None, case_id=case_id, due_at=due, started_at=start, share=0.75,
                    span=Span("calendar", demo.calendar))
    assert clock is not None
    repo.clocks[case_id] = clock.to_row()
    return case_id


async def test_a_round_warns_breaches_and_escalates_a_late_clock_once(demo: Jurisdiction) -> None:
    store = FakeStore(FakeClockRepository(), "case")
    case_id = add_case(store.repo, demo, due=T0 + timedelta(hours=1))
    late = T0 + timedelta(hours=2)
    async with store.uow(now=late) as uow:
        assert await timers.fire_due(uow, jurisdiction=demo) == 1
    async with store.uow(now=late) as uow:
        assert await timers.fire_due(uow, jurisdiction=demo) == 0
    assert [e.event_type for e in store.outbox] == [
        "case.sla_warning", "case.sla_breached", "case.priority_set", "case.assigned", "case.escalated"]
    corr = store.repo.cases[case_id]["correlation_id"]
    assert {e.correlation_id for e in store.outbox} == {corr}
    assigned = store.emitted("case.assigned")[0].data
    assert (assigned["assignee"], assigned["team"], assigned["queue"]) == ("u-7", "roads-north",
                                                                          "public-works-supervisors")
    assert assigned["actor"] == "system" and assigned["actor_role"] == "system"
    assert store.emitted("case.escalated")[0].data["email_to"] == ["supervisor.public-works@demoville.example"]
    assert [k for _, k, _ in store.repo.timeline] == ["sla_warning", "sla_breached", "escalated"]
    assert (store.repo.cases[case_id]["priority"], store.repo.cases[case_id]["queue"]) == (1, "public-works-supervisors")


async def test_a_case_already_in_the_supervisors_queue_at_urgent_is_only_emailed_about(demo: Jurisdiction) -> None:
    store = FakeStore(FakeClockRepository(), "case")
    add_case(store.repo, demo, due=T0 + timedelta(minutes=1), queue="public-works-supervisors", priority=1)
    async with store.uow(now=T0 + timedelta(hours=1)) as uow:
        await timers.fire_due(uow, jurisdiction=demo)
    assert [e.event_type for e in store.outbox] == ["case.sla_warning", "case.sla_breached", "case.escalated"]
    data = store.emitted("case.escalated")[0].data
    assert data["priority"] is None and data["queue"] is None


async def test_a_department_without_rules_gets_warnings_and_breaches_only(demo: Jurisdiction) -> None:
    store = FakeStore(FakeClockRepository(), "case")
    add_case(store.repo, demo, due=T0 + timedelta(minutes=1), queue="housing-standards", service_code="housing")
    async with store.uow(now=T0 + timedelta(hours=1)) as uow:
        await timers.fire_due(uow, jurisdiction=demo)
    assert [e.event_type for e in store.outbox] == ["case.sla_warning", "case.sla_breached"]


async def test_a_round_that_fails_leaves_every_clock_as_it_was(demo: Jurisdiction) -> None:
    store = FakeStore(FakeClockRepository(), "case")
    case_id = add_case(store.repo, demo, due=T0 + timedelta(minutes=1))
    with pytest.raises(RuntimeError):
        async with store.uow(now=T0 + timedelta(hours=1)) as uow:
            await timers.fire_due(uow, jurisdiction=demo)
            raise RuntimeError("connection lost before the commit")
    assert store.outbox == [] and store.repo.clocks[case_id]["breach_fired_at"] is None


async def test_a_clock_that_cannot_fire_is_set_aside_and_the_others_still_fire(demo: Jurisdiction) -> None:
    store = FakeStore(FakeClockRepository(), "case")
    poison = add_case(store.repo, demo, due=T0 + timedelta(minutes=1))
    store.repo.cases[poison]["poison"] = True
    others = [add_case(store.repo, demo, due=T0 + timedelta(minutes=2)) for _ in range(3)]
    wall = WallClock(T0 + timedelta(hours=1))
    timer = timers.SlaTimer(unit_of_work=lambda: store.uow(now=wall()), jurisdiction=demo, clock=wall, batch=2,
                            failed_retry_s=300)
    assert await timer.tick() == 3
    assert {UUID(e.subject) for e in store.emitted("case.sla_breached")} == set(others)
    assert timer.skipped() == [poison] and store.repo.clocks[poison]["breach_fired_at"] is None
    assert await timer._delay() == timer.interval_s  # noqa: SLF001 - the set-aside clock does not spin the loop
    timer._failing[poison] = 0.0  # noqa: SLF001 - its retry time has come
    store.repo.cases[poison]["poison"] = False
    assert await timer.tick() == 1 and len(store.emitted("case.sla_breached")) == 4


async def test_a_closed_case_s_clock_is_stopped_and_fires_nothing(demo: Jurisdiction) -> None:
    store = FakeStore(FakeClockRepository(), "case")
    case_id = add_case(store.repo, demo, due=T0 + timedelta(minutes=1))
    store.repo.cases[case_id]["status"] = "closed"
    async with store.uow(now=T0 + timedelta(hours=1)) as uow:
        assert await timers.fire_due(uow, jurisdiction=demo) == 0
    assert store.outbox == [] and store.repo.clocks[case_id]["state"] == "stopped"


class WallClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


async def test_the_loop_fires_in_batches_and_sleeps_until_the_next_clock_within_bounds(demo: Jurisdiction) -> None:
    store = FakeStore(FakeClockRepository(), "case")
    for _ in range(5):
        add_case(store.repo, demo, due=T0 + timedelta(minutes=1))
    wall = WallClock(T0 + timedelta(hours=1))
    timer = timers.SlaTimer(unit_of_work=lambda: store.uow(now=wall()), jurisdiction=demo, clock=wall,
                            interval_s=5.0, batch=2)
    assert await timer.tick() == 5 and store.commits == 3
    assert await timer._delay() == 5.0  # noqa: SLF001 - nothing left to fire: the longest sleep
    far = add_case(store.repo, demo, due=wall.now + timedelta(seconds=80), start=wall.now)
    assert await timer._delay() == 5.0  # noqa: SLF001 - a clock a minute away: still the longest sleep
    soon = add_case(store.repo, demo, due=wall.now + timedelta(seconds=4), start=wall.now)
    warn = SlaClock.from_row(store.repo.clocks[soon]).warn_at
    assert warn == wall.now + timedelta(seconds=3) and far != soon
    assert await timer._delay() == pytest.approx(3.0)  # noqa: SLF001 - wakes for the warning
    wall.now = warn + timedelta(seconds=30)
    assert await timer._delay() == timer.min_sleep_s  # noqa: SLF001 - overdue (held elsewhere): a short nap


async def test_the_loop_runs_retention_at_start_and_stops_when_asked(demo: Jurisdiction) -> None:
    store = FakeStore(FakeClockRepository(), "case")
    runs: list[datetime] = []

    async def retention(uow: Any, skip: Any) -> int:
        runs.append(uow.now)
        return 0

    timer = timers.SlaTimer(unit_of_work=lambda: store.uow(now=datetime.now(UTC)), jurisdiction=demo,
                            clock=lambda: datetime.now(UTC), interval_s=0.05, retention_interval_s=3600,
                            retention=retention)
    timer.start()
    await asyncio.wait_for(_until(lambda: len(runs) == 1 and store.commits >= 3), timeout=5)
    await timer.stop()
    assert len(runs) == 1, "the next retention run is an hour away"


async def _until(condition: Any) -> None:
    while not condition():
        await asyncio.sleep(0.01)


async def test_a_case_whose_erasure_fails_is_left_for_the_next_run_and_the_others_go_on(demo: Jurisdiction) -> None:
    store = FakeStore(FakeClockRepository(), "case")
    bad, good = uuid4(), [uuid4() for _ in range(3)]
    erased: list[UUID] = []

    async def retention(uow: Any, skip: Any) -> int:
        todo = [c for c in [bad, *good] if c not in skip and c not in erased][:2]
        if bad in todo:
            raise ErasureFailed(bad)
        erased.extend(todo)
        return len(todo)

    timer = timers.SlaTimer(unit_of_work=lambda: store.uow(now=T0), jurisdiction=demo, clock=lambda: T0,
                            retention=retention, retention_batch=2)
    assert await timer.run_retention() == 3 and erased == good
