"""SLA clocks as pure functions: arming from a routed due time, pausing and resuming over business time,
new generations, what is due to fire, the SLA state staff see, and which escalation rules act.

A clock runs on one of two spans (a service's `sla_clock` in the jurisdiction): ``business`` time of the
jurisdiction's calendar (opening hours, weekends, holidays; `shared.jurisdiction.BusinessCalendar`) or
``calendar`` time round the clock. Durations are float seconds of that span; instants are aware UTC
`datetime`s. Nothing here reads the clock or touches storage (docs/architecture.md, house rules 1 and 5);
the contract is docs/staff-work.md, "SLA clocks".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol
from uuid import UUID

ClockKind = Literal["business", "calendar"]
ClockState = Literal["running", "paused", "stopped"]
SlaState = Literal["ok", "warning", "breached", "paused", "none"]
Trigger = Literal["warning", "breach"]

SLA_STATES: tuple[SlaState, ...] = ("ok", "warning", "breached", "paused", "none")
"""Every value `sla_state` gives, in the order a list filter offers them."""


class BusinessTime(Protocol):
    """What a span needs of a jurisdiction's calendar (`shared.jurisdiction.BusinessCalendar`)."""

    def add_business_hours(self, start: datetime, hours: float) -> datetime: ...

    def business_hours_between(self, start: datetime, end: datetime) -> float: ...


class Span:
    """Time arithmetic on one clock kind: ``business`` hours of `calendar`, or plain ``calendar`` time.

    `add(start, seconds)` is the instant `seconds` of the span after `start` (a business start outside
    opening hours begins at the next opening; 0 seconds gives `start` itself); `between(a, b)` the span's
    seconds from `a` to `b` (negative when `b < a`). Raises `ValueError` for naive datetimes or negative
    seconds (from the calendar).
    """

    def __init__(self, kind: ClockKind, calendar: BusinessTime) -> None:
        self.kind = kind
        self._calendar = calendar

    def add(self, start: datetime, seconds: float) -> datetime:
        if seconds < 0:
            raise ValueError(f"seconds must be >= 0, got {seconds}")
        if self.kind == "calendar":
            _require_aware(start)
            return start.astimezone(UTC) + timedelta(seconds=seconds)
        return self._calendar.add_business_hours(start, seconds / 3600.0)

    def between(self, start: datetime, end: datetime) -> float:
        if self.kind == "calendar":
            _require_aware(start)
            _require_aware(end)
            return (end - start).total_seconds()
        return self._calendar.business_hours_between(start, end) * 3600.0


def _require_aware(value: datetime) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"datetimes must be timezone-aware, got naive {value!r}")


@dataclass(frozen=True)
class SlaClock:
    """One case's SLA clock (a row of `sla_clocks`).

    `routed_due_at` is the due time routing gave (the generation's identity: the same one again changes
    nothing); `due_at` the effective due time (moved by pauses); `warn_at` when the warning fires;
    `total_s` the span's seconds from `started_at` to `routed_due_at`; `paused_at` when it stopped
    counting (paused or stopped; None while running); `remaining_s` the span's seconds left then (None:
    count them from `paused_at` to `due_at`). Fired marks are per `generation` (from 1).
    """

    case_id: UUID
    generation: int
    clock: ClockKind
    started_at: datetime
    routed_due_at: datetime
    due_at: datetime
    warn_at: datetime | None
    total_s: float
    state: ClockState
    paused_at: datetime | None = None
    remaining_s: float | None = None
    warning_fired_at: datetime | None = None
    breach_fired_at: datetime | None = None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> SlaClock:
        """From a `sla_clocks` row as a dict (extra keys, such as joined case columns, are ignored)."""
        return cls(**{f: row[f] for f in cls.__dataclass_fields__ if f in row})

    def to_row(self) -> dict[str, Any]:
        """The `sla_clocks` columns (column → value) of this clock."""
        return {f: getattr(self, f) for f in self.__dataclass_fields__}

    @property
    def next_fire_at(self) -> datetime | None:
        """When this clock fires next (its warning, else its breach), None when it will not (paused,
        stopped, or both fired). The table keeps the same expression as a generated column."""
        if self.state != "running":
            return None
        if self.warning_fired_at is None and self.warn_at is not None:
            return self.warn_at
        if self.breach_fired_at is None:
            return self.due_at
        return None


def warn_at(span: Span, start: datetime, total_s: float, share: float) -> datetime:
    """The warning instant: `share` (0 < share < 1) of the span's `total_s` seconds after `start`."""
    return span.add(start, max(0.0, share * total_s))


QUIET_AFTER = timedelta(days=1)
"""A due time this far in the past when the clock is armed is history (a replay or an import of old
records): the clock is armed breached, without events or escalation."""


def arm(previous: SlaClock | None, *, case_id: UUID, due_at: datetime, started_at: datetime, share: float,
        span: Span, case_open: bool = True, now: datetime | None = None,
        quiet_after: timedelta | None = QUIET_AFTER) -> SlaClock | None:
    """The clock after routing gave the case the due time `due_at` (aware UTC), the time having started
    at `started_at` (the case's `requested_datetime`, as the router counts from it); None when nothing
    changes (the same routed due time again: a replayed or repeated decision).

    A first due time is generation 1; another due time (recategorisation, a new place) starts the next
    generation with fresh fired marks. A paused clock stays paused, with the span's time from its pause to
    the new due time left. A closed case (`case_open` False) keeps a clock stopped since `now` (default
    `started_at`). The warning comes at `share` of the span's time from start to due (`warn_at`). A due
    time more than `quiet_after` before `now` (None: never) is armed with both marks already set at `now`:
    it shows as breached but fires nothing (a late routing within that time still warns and breaches).
    """
    if previous is not None and previous.routed_due_at == due_at:
        return None
    total = max(0.0, span.between(started_at, due_at))
    generation = previous.generation + 1 if previous is not None else 1
    clock = SlaClock(case_id=case_id, generation=generation, clock=span.kind, started_at=started_at,
                     routed_due_at=due_at, due_at=due_at, warn_at=warn_at(span, started_at, total, share),
                     total_s=total, state="running" if case_open else "stopped",
                     paused_at=None if case_open else (now or started_at))
    if now is not None and quiet_after is not None and case_open and due_at < now - quiet_after:
        clock = replace(clock, warning_fired_at=now, breach_fired_at=now)
    if previous is not None and previous.state == "paused" and case_open:
        assert previous.paused_at is not None, "a paused clock knows when it paused"
        left = max(0.0, span.between(previous.paused_at, due_at))
        clock = replace(clock, state="paused", paused_at=previous.paused_at, remaining_s=left)
    return clock


def pause(clock: SlaClock | None, now: datetime, span: Span | None = None) -> SlaClock | None:
    """The clock paused at `now`, keeping the span's seconds left to its due time (0 when already past;
    without `span`, left unknown: `resume` counts them from the pause); None when there is nothing to
    pause (no clock, or paused or stopped already)."""
    if clock is None or clock.state != "running":
        return None
    left = max(0.0, span.between(now, clock.due_at)) if span is not None else None
    return replace(clock, state="paused", paused_at=now, remaining_s=left)


def remaining(clock: SlaClock, span: Span) -> float:
    """The span's seconds a paused or stopped clock has left (kept at its pause, or counted from
    `paused_at` to `due_at`); 0 for a running clock or one past due."""
    if clock.state == "running" or clock.paused_at is None:
        return 0.0
    if clock.remaining_s is not None:
        return clock.remaining_s
    return max(0.0, span.between(clock.paused_at, clock.due_at))


def resume(clock: SlaClock | None, now: datetime, span: Span, share: float) -> SlaClock | None:
    """The clock running again from `now` (after a pause, or a stop: a reopened or unmerged case): due
    after the seconds it had left when it stopped counting, and, if its warning has not fired, warned when
    the time left falls to (1 - `share`) of its total (at once when already below); fired marks stay.
    None when it was running (or there is none)."""
    if clock is None or clock.state == "running":
        return None
    left = remaining(clock, span)
    due = span.add(now, left)
    warn = clock.warn_at
    if clock.warning_fired_at is None:
        warn = span.add(now, max(0.0, left - (1.0 - share) * clock.total_s))
        warn = min(warn, due)
    return replace(clock, state="running", due_at=due, warn_at=warn, paused_at=None, remaining_s=None)


def stop(clock: SlaClock | None, now: datetime) -> SlaClock | None:
    """The clock stopped at `now` (the case closed or was merged; a paused clock stays stopped since its
    pause); it fires nothing more unless `resume`d (the case reopened). None when there is none or it is
    stopped already."""
    if clock is None or clock.state == "stopped":
        return None
    if clock.state == "paused":
        return replace(clock, state="stopped")
    return replace(clock, state="stopped", paused_at=now, remaining_s=None)


def due_triggers(clock: SlaClock, now: datetime) -> list[Trigger]:
    """What a running clock must fire at `now`, in order: ``warning`` (its warning time passed, not fired
    in this generation), then ``breach`` (its due time passed, not fired). A clock found late fires both."""
    if clock.state != "running":
        return []
    out: list[Trigger] = []
    if clock.warning_fired_at is None and clock.warn_at is not None and clock.warn_at <= now:
        out.append("warning")
    if clock.breach_fired_at is None and clock.due_at <= now:
        if clock.warning_fired_at is None and "warning" not in out:
            out.append("warning")
        out.append("breach")
    return out


def fired(clock: SlaClock, trigger: Trigger, now: datetime) -> SlaClock:
    """The clock with the fired mark of `trigger` set to `now`."""
    if trigger == "warning":
        return replace(clock, warning_fired_at=now)
    return replace(clock, breach_fired_at=now)


def sla_state(clock: SlaClock | dict[str, Any] | None, now: datetime) -> SlaState:
    """The SLA badge of a case at `now`: ``none`` (no clock, or stopped without a breach), ``paused``,
    ``breached`` (fired, or the due time passed), ``warning`` (fired, or the warning time passed), else
    ``ok``. Takes a `SlaClock` or a `sla_clocks` row as a dict."""
    if clock is None:
        return "none"
    c = clock if isinstance(clock, SlaClock) else SlaClock.from_row(clock)
    if c.state == "stopped":
        return "breached" if c.breach_fired_at is not None else "none"
    if c.state == "paused":
        return "paused"
    if c.breach_fired_at is not None or c.due_at <= now:
        return "breached"
    if c.warning_fired_at is not None or (c.warn_at is not None and c.warn_at <= now):
        return "warning"
    return "ok"


# --- escalation -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EscalationRule:
    """An escalation rule of the jurisdiction as it acts on one case: its id, the priority it raises to,
    the queue it moves to (resolved for the case's department; None: none) and the addresses it emails
    (resolved: the rule's own, else the department's supervisor; may be empty)."""

    id: str
    raise_priority_to: int | None = None
    move_to_queue: str | None = None
    email: tuple[str, ...] = ()


@dataclass(frozen=True)
class EscalationStep:
    """What one rule does to the case: the priority and queue before and after (after None: unchanged)
    and who is emailed."""

    rule_id: str
    priority: int | None
    previous_priority: int | None
    queue: str | None
    previous_queue: str | None
    email_to: tuple[str, ...]


def plan_escalation(rules: Iterable[EscalationRule], *, priority: int | None, queue: str | None
                    ) -> list[EscalationStep]:
    """The steps of the rules that act on an SLA trigger, applied in order on the case's `priority` (1 most
    urgent … 5) and `queue`: a priority is only ever raised (a lower number) and a move to the queue the
    case is in changes nothing. Each rule gives one step, even one that changes nothing but emails (its
    addresses may be empty). Source: docs/staff-work.md, "SLA clocks"."""
    steps: list[EscalationStep] = []
    for rule in rules:
        new_priority = None
        if rule.raise_priority_to is not None and (priority is None or rule.raise_priority_to < priority):
            new_priority = rule.raise_priority_to
        new_queue = rule.move_to_queue if rule.move_to_queue and rule.move_to_queue != queue else None
        steps.append(EscalationStep(rule_id=rule.id, priority=new_priority, previous_priority=priority,
                                    queue=new_queue, previous_queue=queue,
                                    email_to=tuple(dict.fromkeys(rule.email))))
        priority = new_priority if new_priority is not None else priority
        queue = new_queue if new_queue is not None else queue
    return steps
