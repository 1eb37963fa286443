"""SLA clocks in the case service: the hooks the case handlers call (armed, pause, resume, stop), the SLA
state staff see, and the durable timer that fires due clocks and applies the escalation rules.

Produces, on `cases.lifecycle` through the outbox: `case.sla_warning`, `case.sla_breached` and, per
escalation rule that acts, `case.priority_set`, `case.assigned` (the supervisor queue) and
`case.escalated` (the notifier emails the supervisor). Clocks live in PostgreSQL (`sla_clocks`), never in
memory: a tick takes the due clocks with `FOR UPDATE SKIP LOCKED` and commits their fired marks, the
timeline entries, the case changes and the outbox rows in one transaction, so each warning and breach is
emitted exactly once per clock generation however often the service is killed and restarted, and two case
processes never fire the same clock. Contract: docs/staff-work.md, "SLA clocks".
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from services.case.adapters.repository import CaseRepository
from services.case.domain import sla
from services.case.domain.sla import EscalationRule, SlaClock, SlaState, Span, Trigger
from services.case.domain.staff import case_department
from services.case.service_layer.retention import ErasureFailed
from shared.events import (
    CaseAssigned,
    CaseEscalated,
    CasePrioritySet,
    CaseSlaBreached,
    CaseSlaWarning,
)
from shared.jurisdiction import Jurisdiction
from shared.logs import get_logger
from shared.service_layer import UnitOfWork

log = get_logger(__name__)

Uow = UnitOfWork[CaseRepository]

SYSTEM = {"actor": "system", "actor_name": "SLA timer", "role": "system"}
"""Who a timer's timeline entry and events name: the service itself, never a person."""


def span_for(jurisdiction: Jurisdiction, service_code: str | None) -> Span:
    """The span a case's clock runs on: its service's `sla_clock` (``business`` hours of the
    jurisdiction's calendar or ``calendar`` time); the unclassified service's for an unknown code."""
    service = (jurisdiction.service(service_code) if service_code else None) or jurisdiction.unclassified
    return Span(service.sla_clock, jurisdiction.calendar)


def _share(jurisdiction: Jurisdiction) -> float:
    return float(jurisdiction.sla_warning_share)


async def _load(uow: Uow, case_row: dict[str, Any]) -> SlaClock | None:
    row = await uow.repo.sla_clock(case_row["case_id"], for_update=True)
    return SlaClock.from_row(row) if row else None


async def _save(uow: Uow, clock: SlaClock | None) -> SlaClock | None:
    if clock is not None:
        await uow.repo.save_sla_clock(clock.to_row(), uow.now)
    return clock


# --- hooks for the case handlers (each inside the caller's unit of work) ------------------------------------


async def arm(uow: Uow, case_row: dict[str, Any], due_at: datetime | None, *, jurisdiction: Jurisdiction
              ) -> SlaClock | None:
    """Arm the case's clock for the due time routing gave (`due_at`, aware UTC; None: the service has no
    SLA and nothing happens), counted from the case's `requested_datetime` as the router counts it.

    `case_row` is the case after the routing was applied (`case_id`, `service_code`, `status`,
    `requested_datetime`). The same due time again changes nothing (a repeated decision); another one
    starts a new generation with fresh fired marks (a paused clock stays paused). Returns the clock
    written, or None when nothing changed. Raises `ValueError` for a naive `due_at`.
    """
    return await _save(uow, await _armed(uow, case_row, due_at, jurisdiction=jurisdiction))


async def armed(uow: Uow, case_row: dict[str, Any], due_at: datetime | None, *, jurisdiction: Jurisdiction
                ) -> dict[str, Any] | None:
    """What `arm` would write, not written: the clock's row (`SlaClock.to_row()`, for
    `CaseRepository.change_case(clock=...)` to save in the statement of the caller's own change, one round
    trip less), or None when nothing changes. Same arguments and errors as `arm`."""
    clock = await _armed(uow, case_row, due_at, jurisdiction=jurisdiction)
    return clock.to_row() if clock is not None else None


async def _armed(uow: Uow, case_row: dict[str, Any], due_at: datetime | None, *, jurisdiction: Jurisdiction
                 ) -> SlaClock | None:
    if due_at is None:
        return None
    return sla.arm(await _load(uow, case_row), case_id=case_row["case_id"], due_at=due_at,
                   started_at=case_row["requested_datetime"], share=_share(jurisdiction),
                   span=span_for(jurisdiction, case_row.get("service_code")),
                   case_open=case_row.get("status", "open") == "open", now=uow.now)


async def pause(uow: Uow, case_row: dict[str, Any], *, jurisdiction: Jurisdiction | None = None
                ) -> SlaClock | None:
    """Pause the case's clock at `uow.now` (a status with `pauses_sla` was entered). With `jurisdiction`
    the business time left is kept now; without, it is counted from the pause on resume (the same
    figure). Returns the clock written; None when there was no running clock."""
    span = span_for(jurisdiction, case_row.get("service_code")) if jurisdiction is not None else None
    return await _save(uow, sla.pause(await _load(uow, case_row), uow.now, span))


async def resume(uow: Uow, case_row: dict[str, Any], *, jurisdiction: Jurisdiction) -> SlaClock | None:
    """Resume the case's paused or stopped clock at `uow.now` (a pausing status was left for one that
    does not pause; a closed case reopened; a merged case unmerged): due after the business time it had
    left when it stopped counting, fired marks kept. Returns the clock written; None when it was
    running or there is none."""
    span = span_for(jurisdiction, case_row.get("service_code"))
    return await _save(uow, sla.resume(await _load(uow, case_row), uow.now, span, _share(jurisdiction)))


async def stop(uow: Uow, case_row: dict[str, Any]) -> SlaClock | None:
    """Stop the case's clock at `uow.now` (a closed status, or the case merged into another); `resume`
    restarts it when the case reopens. Returns the clock written; None when there was none or it was
    stopped already."""
    return await _save(uow, sla.stop(await _load(uow, case_row), uow.now))


def sla_state(clock_row: dict[str, Any] | SlaClock | None, now: datetime) -> SlaState:
    """``ok``, ``warning``, ``breached``, ``paused`` or ``none`` for a case whose clock is `clock_row` (a
    `sla_clocks` row, e.g. from `uow.repo.sla_clock`, or None) at `now` (see `domain.sla.sla_state`)."""
    return sla.sla_state(clock_row, now)


# --- the timer's work ------------------------------------------------------------------------------------


def _rules(jurisdiction: Jurisdiction, trigger: Trigger, service_code: str | None,
           department_id: str | None) -> list[EscalationRule]:
    """The jurisdiction's rules for `trigger` on this case, their queue and addresses resolved for its
    department (`Jurisdiction.escalation_queue`, `escalation_emails`)."""
    return [EscalationRule(id=r.id, raise_priority_to=r.raise_priority_to,
                           move_to_queue=jurisdiction.escalation_queue(r, department_id),
                           email=tuple(jurisdiction.escalation_emails(r, department_id)))
            for r in jurisdiction.escalations_for(trigger, service_code, department_id)]


class ClockFailed(Exception):  # noqa: N818 - says what happened to which clock
    """Firing the clock of `case_id` raised (the cause is chained); the round's transaction rolls back."""

    def __init__(self, case_id: UUID) -> None:
        super().__init__(f"firing the SLA clock of case {case_id} failed")
        self.case_id = case_id


async def fire_due(uow: Uow, *, jurisdiction: Jurisdiction, limit: int = 100, skip: Sequence[UUID] = ()) -> int:
    """Fire the clocks due at `uow.now` (at most `limit`), in the caller's unit of work (no consumed
    event): for each trigger due (warning, then breach), set its fired mark, write the timeline entry
    (`sla_warning` / `sla_breached`, actor ``system``), emit `case.sla_warning` / `case.sla_breached` and
    apply the jurisdiction's escalation rules for that trigger (`escalate`). Clocks of cases closed
    meanwhile are stopped; those of the cases in `skip` are left alone. Returns how many clocks fired (a
    caller asks again while it equals `limit`). Events carry the case's correlation id. Raises
    `ClockFailed` naming the clock whose firing raised (the caller rolls the round back and may skip it).
    """
    await uow.repo.stop_clocks_of_closed_cases(uow.now)
    rows = await uow.repo.due_sla_clocks(uow.now, limit, skip)
    for row in rows:
        try:
            clock = SlaClock.from_row(row)
            case = dict(row)
            for trigger in sla.due_triggers(clock, uow.now):
                clock = sla.fired(clock, trigger, uow.now)
                case = await _announce(uow, case, clock, trigger, jurisdiction)
            await uow.repo.save_sla_clock(clock.to_row(), uow.now)
        except Exception as exc:
            raise ClockFailed(row["case_id"]) from exc
    return len(rows)


async def _announce(uow: Uow, case: dict[str, Any], clock: SlaClock, trigger: Trigger,
                    jurisdiction: Jurisdiction) -> dict[str, Any]:
    department_id = case_department(case, jurisdiction)
    kind, cls = ("sla_warning", CaseSlaWarning) if trigger == "warning" else ("sla_breached", CaseSlaBreached)
    await uow.repo.add_timeline(clock.case_id, uow.now, kind, None, {
        **SYSTEM, "generation": clock.generation, "due_at": clock.due_at.isoformat(),
        "warn_at": clock.warn_at.isoformat() if clock.warn_at else None})
    await uow.emit(cls(case_id=clock.case_id, service_request_id=case["service_request_id"],
                       jurisdiction_id=case["jurisdiction_id"], due_at=clock.due_at, warn_at=clock.warn_at,
                       generation=clock.generation, service_code=case["service_code"], queue=case["queue"],
                       department_id=department_id, priority=case["priority"]),
                   subject=clock.case_id, correlation_id=case["correlation_id"])
    log.info("sla_fired", trigger=trigger, generation=clock.generation, case_id=str(clock.case_id))
    return await escalate(uow, case, clock, trigger, jurisdiction=jurisdiction, department_id=department_id)


async def escalate(uow: Uow, case: dict[str, Any], clock: SlaClock, trigger: Trigger, *,
                   jurisdiction: Jurisdiction, department_id: str | None) -> dict[str, Any]:
    """Apply the escalation rules of `trigger` to the case (`case`: `case_id`, `service_request_id`,
    `jurisdiction_id`, `service_code`, `service_name`, `queue`, `priority`, `correlation_id`): raise its
    priority (`case.priority_set`, actor ``system``), move it to the rule's queue (`case.assigned` with the
    queue, the assignee and team kept), write one `escalated` timeline entry with before and after, and
    emit `case.escalated` with the addresses the notifier emails. Returns `case` with its new priority
    and queue."""
    steps = sla.plan_escalation(_rules(jurisdiction, trigger, case["service_code"], department_id),
                                priority=case["priority"], queue=case["queue"])
    corr = case["correlation_id"]
    fields = {"case_id": clock.case_id, "service_request_id": case["service_request_id"],
              "jurisdiction_id": case["jurisdiction_id"]}
    for step in steps:
        changes: dict[str, Any] = {}
        reason = f"SLA {trigger} (rule {step.rule_id})"
        if step.priority is not None:
            changes["priority"] = step.priority
            await uow.emit(CasePrioritySet(**fields, actor="system", actor_role="system", priority=step.priority,
                                           previous_priority=step.previous_priority, reason=reason),
                           subject=clock.case_id, correlation_id=corr)
        if step.queue is not None:
            changes["queue"] = step.queue
            current = await uow.repo.get_case(clock.case_id) or {}
            await uow.emit(CaseAssigned(**fields, actor="system", actor_role="system",
                                        assignee=current.get("assignee"), team=current.get("team"),
                                        queue=step.queue, previous_assignee=current.get("assignee"),
                                        reason=reason),
                           subject=clock.case_id, correlation_id=corr)
        if changes:
            await uow.repo.update_case(clock.case_id, {**changes, "updated_datetime": uow.now})
        await uow.repo.add_timeline(clock.case_id, uow.now, "escalated", None, {
            **SYSTEM, "rule_id": step.rule_id, "trigger": trigger, "generation": clock.generation,
            "before": {"priority": step.previous_priority, "queue": step.previous_queue},
            "after": {"priority": changes.get("priority", step.previous_priority),
                      "queue": changes.get("queue", step.previous_queue)},
            "email_to": list(step.email_to)})
        await uow.emit(CaseEscalated(**fields, rule_id=step.rule_id, trigger=trigger, priority=step.priority,
                                     previous_priority=step.previous_priority, queue=step.queue,
                                     previous_queue=step.previous_queue, email_to=list(step.email_to),
                                     due_at=clock.due_at, service_name=case.get("service_name")),
                       subject=clock.case_id, correlation_id=corr)
        case = {**case, **changes}
    return case


# --- the loop ---------------------------------------------------------------------------------------------


UnitOfWorkFactory = Callable[[], Uow]


class SlaTimer:
    """The case service's background loop: fires due SLA clocks (`fire_due`) and, every
    `retention_interval_s` seconds (first at start), runs the retention job (`retention.erase_due`).

    Each round runs in fresh units of work from `unit_of_work()` (no consumed event; `now` read when it is
    made). Between rounds it sleeps until the next clock is due, at most `interval_s` seconds (a clock
    armed meanwhile by another transaction is seen within that), at least `min_sleep_s`. An error is
    logged and retried on the next round; a clock whose firing raises (`ClockFailed`) is left aside by
    this process for `failed_retry_s` seconds so that the others still fire (it stays due in PostgreSQL
    and fires once it can). The loop only ends with `stop()`.
    """

    def __init__(self, *, unit_of_work: UnitOfWorkFactory, jurisdiction: Jurisdiction,
                 clock: Callable[[], datetime], interval_s: float = 5.0, retention_interval_s: float = 3600.0,
                 batch: int = 100, retention: Callable[[Uow, Sequence[UUID]], Awaitable[int]] | None = None,
                 retention_batch: int = 20, failed_retry_s: float = 300.0) -> None:
        self._uow = unit_of_work
        self._jurisdiction = jurisdiction
        self._clock = clock
        self.interval_s = max(0.01, interval_s)
        self.min_sleep_s = min(0.05, self.interval_s)
        self.retention_interval_s = retention_interval_s
        self.batch = batch
        self._retention = retention
        self.retention_batch = retention_batch
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.fired = 0
        self.erased = 0
        self.failed_retry_s = failed_retry_s
        self._failing: dict[UUID, float] = {}  # case id -> loop time it is tried again

    def start(self) -> None:
        """Start the loop as a task of the running event loop."""
        self._stopping.clear()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="sla-timer")

    async def stop(self) -> None:
        """Stop the loop and wait for the round in progress (its transaction commits or rolls back)."""
        self._stopping.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                try:
                    await asyncio.wait_for(self._task, timeout=10)
                except TimeoutError:
                    self._task.cancel()
                    await self._task
            self._task = None

    def skipped(self) -> list[UUID]:
        """The cases whose clocks this process leaves aside for now (their firing raised lately)."""
        now = asyncio.get_running_loop().time()
        self._failing = {k: t for k, t in self._failing.items() if t > now}
        return list(self._failing)

    async def tick(self) -> int:
        """One round of clocks: fire every due clock, `batch` per transaction; returns how many fired. A
        transaction whose clock raised is rolled back, that clock set aside, and the round goes on."""
        total = 0
        while True:
            try:
                async with self._uow() as uow:
                    n = await fire_due(uow, jurisdiction=self._jurisdiction, limit=self.batch, skip=self.skipped())
            except ClockFailed as failed:
                log.error("sla_clock_failed", case_id=str(failed.case_id), error=repr(failed.__cause__)[:500])
                self._failing[failed.case_id] = asyncio.get_running_loop().time() + self.failed_retry_s
                continue
            total += n
            if n < self.batch:
                break
        self.fired += total
        return total

    async def run_retention(self) -> int:
        """One run of the retention job (`retention(uow, skip)`), `retention_batch` cases per transaction;
        returns how many cases were erased. A case whose erasure raises (`retention.ErasureFailed`) is
        logged and left for the next run; the others go on."""
        if self._retention is None:
            return 0
        total, failed = 0, []
        while not self._stopping.is_set():
            try:
                async with self._uow() as uow:
                    n = await self._retention(uow, failed)
            except ErasureFailed as exc:
                log.error("erasure_failed", case_id=str(exc.case_id), error=repr(exc.__cause__)[:500])
                failed.append(exc.case_id)
                continue
            total += n
            if n < self.retention_batch:
                break
        self.erased += total
        return total

    async def _delay(self) -> float:
        async with self._uow() as uow:
            nxt = await uow.repo.next_sla_fire_at(self.skipped())
        if nxt is None:
            return self.interval_s
        return min(self.interval_s, max(self.min_sleep_s, (nxt - self._clock()).total_seconds()))

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        next_retention = loop.time()
        while not self._stopping.is_set():
            delay = self.interval_s
            try:
                fired = await self.tick()
                if fired:
                    log.info("sla_timer_fired", clocks=fired)
                if self._retention is not None and loop.time() >= next_retention:
                    next_retention = loop.time() + self.retention_interval_s
                    erased = await self.run_retention()
                    if erased:
                        log.info("retention_erased", cases=erased)
                delay = await self._delay()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the loop must outlive a lost connection; retried next round
                log.error("sla_timer_failed", error=repr(exc)[:500])
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=delay)
