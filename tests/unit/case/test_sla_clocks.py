"""SLA clocks as pure functions: the warning share of business time, pauses and resumes across nights,
weekends and holidays, new generations, what fires when, the SLA badge and the escalation plan."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from uuid import uuid4
from zoneinfo import ZoneInfo

import pytest

from services.case.domain import sla
from services.case.domain.sla import EscalationRule, SlaClock, Span
from shared.jurisdiction import BusinessCalendar

TZ = ZoneInfo("America/Toronto")
CAL = BusinessCalendar(timezone="America/Toronto", weekdays=range(5), opens=time(8), closes=time(17),
                       holiday_country="CA", holiday_subdivision="ON")
BUSINESS = Span("business", CAL)
PLAIN = Span("calendar", CAL)
HOUR = 3600.0


def local(day: int, hour: int, minute: int = 0, month: int = 3) -> datetime:
    """An aware instant at local Toronto time in March 2026 (2 March is a Monday)."""
    return datetime(2026, month, day, hour, minute, tzinfo=TZ)


def armed(start: datetime, due: datetime, span: Span = BUSINESS, share: float = 0.75) -> SlaClock:
    clock = sla.arm(None, case_id=uuid4(), due_at=due, started_at=start, share=share, span=span)
    assert clock is not None
    return clock


def test_the_warning_comes_at_the_share_of_the_business_time_to_the_due_time() -> None:
    clock = armed(local(2, 8), local(2, 17))  # nine business hours on a Monday
    assert clock.total_s == 9 * HOUR
    assert clock.warn_at == local(2, 14, 45)
    assert clock.generation == 1 and clock.state == "running" and clock.next_fire_at == clock.warn_at


def test_the_warning_skips_the_weekend_like_the_due_time() -> None:
    # Friday 16:00 + 4 business hours = Monday 11:00; three quarters of it falls on Monday at 10:00.
    start = local(6, 16)
    due = CAL.add_business_hours(start, 4)
    assert due == local(9, 11)
    assert armed(start, due).warn_at == local(9, 10)


def test_a_report_made_at_night_counts_from_the_next_opening() -> None:
    clock = armed(local(2, 22), local(3, 17))  # Monday night, due Tuesday 17:00: nine business hours
    assert clock.total_s == 9 * HOUR and clock.warn_at == local(3, 14, 45)


def test_a_calendar_clock_counts_plain_time_round_the_clock() -> None:
    start = datetime(2026, 3, 7, 23, 0, tzinfo=UTC)  # a Saturday night
    clock = armed(start, start + timedelta(hours=4), span=PLAIN)
    assert clock.clock == "calendar" and clock.total_s == 4 * HOUR
    assert clock.warn_at == start + timedelta(hours=3)


def test_a_due_time_seconds_ahead_warns_seconds_ahead() -> None:
    start = datetime(2026, 3, 7, 23, 0, tzinfo=UTC)
    clock = armed(start, start + timedelta(seconds=10.8), span=PLAIN, share=0.5)
    assert clock.warn_at == start + timedelta(seconds=5.4)


def test_a_pause_keeps_the_business_time_left_and_a_resume_spends_it_from_then() -> None:
    clock = armed(local(2, 8), local(2, 17))
    paused = sla.pause(clock, local(2, 10), BUSINESS)  # seven business hours left
    assert paused is not None and paused.state == "paused" and paused.remaining_s == 7 * HOUR
    assert paused.next_fire_at is None
    # Resumed on Friday at 16:00: one hour on Friday, six on Monday.
    resumed = sla.resume(paused, local(6, 16), BUSINESS, 0.75)
    assert resumed is not None and resumed.state == "running"
    assert resumed.due_at == local(9, 14) and resumed.paused_at is None and resumed.remaining_s is None
    # The warning comes when a quarter of the nine hours (2h15) is left: Monday 11:45.
    assert resumed.warn_at == local(9, 11, 45)


def test_a_pause_over_a_holiday_weekend_keeps_the_business_time_left() -> None:
    # Good Friday 2026 is 3 April (a holiday in Ontario): two business hours from Thursday 16:00 end on
    # Monday 6 April at 09:00. Paused Thursday 16:30 (half an hour Thursday and one on Monday left), resumed
    # Tuesday 08:00: due 09:30.
    start = local(2, 16, month=4)
    clock = armed(start, CAL.add_business_hours(start, 2))
    assert clock.due_at == local(6, 9, month=4)
    paused = sla.pause(clock, local(2, 16, 30, month=4), BUSINESS)
    assert paused is not None and paused.remaining_s == 1.5 * HOUR
    resumed = sla.resume(paused, local(7, 8, month=4), BUSINESS, 0.75)
    assert resumed is not None and resumed.due_at == local(7, 9, 30, month=4)


def test_a_pause_without_a_calendar_counts_the_time_left_on_resume() -> None:
    clock = armed(local(2, 8), local(2, 17))
    paused = sla.pause(clock, local(2, 10))
    assert paused is not None and paused.remaining_s is None and paused.paused_at == local(2, 10)
    assert sla.remaining(paused, BUSINESS) == 7 * HOUR
    resumed = sla.resume(paused, local(3, 8), BUSINESS, 0.75)
    assert resumed is not None and resumed.due_at == local(3, 15)


def test_a_resume_after_the_warning_fired_keeps_the_warning_and_its_mark() -> None:
    clock = sla.fired(armed(local(2, 8), local(2, 17)), "warning", local(2, 14, 45))
    paused = sla.pause(clock, local(2, 16), BUSINESS)
    resumed = sla.resume(paused, local(3, 8), BUSINESS, 0.75)
    assert resumed is not None and resumed.due_at == local(3, 9)
    assert resumed.warning_fired_at == local(2, 14, 45) and resumed.next_fire_at == local(3, 9)
    assert sla.due_triggers(resumed, local(3, 9)) == ["breach"]


def test_pausing_twice_resuming_a_running_clock_or_stopping_twice_changes_nothing() -> None:
    clock = armed(local(2, 8), local(2, 17))
    paused = sla.pause(clock, local(2, 10), BUSINESS)
    assert sla.pause(paused, local(2, 11), BUSINESS) is None
    assert sla.resume(clock, local(2, 11), BUSINESS, 0.75) is None
    stopped = sla.stop(paused, local(2, 12))
    assert stopped is not None and stopped.state == "stopped" and stopped.paused_at == local(2, 10)
    assert sla.stop(stopped, local(2, 13)) is None and sla.pause(None, local(2, 10)) is None
    assert sla.pause(stopped, local(2, 13), BUSINESS) is None


def test_a_reopened_case_s_clock_resumes_with_the_time_it_had_left_when_it_closed() -> None:
    clock = sla.fired(armed(local(2, 8), local(2, 17)), "warning", local(2, 14, 45))
    closed = sla.stop(clock, local(2, 16))  # one business hour left
    assert closed is not None and closed.next_fire_at is None and closed.paused_at == local(2, 16)
    reopened = sla.resume(closed, local(9, 9), BUSINESS, 0.75)  # a week later
    assert reopened is not None and reopened.state == "running" and reopened.due_at == local(9, 10)
    assert reopened.warning_fired_at == local(2, 14, 45) and sla.due_triggers(reopened, local(9, 10)) == ["breach"]
    breached = sla.stop(sla.fired(reopened, "breach", local(9, 10)), local(9, 11))
    again = sla.resume(breached, local(10, 9), BUSINESS, 0.75)
    assert again is not None and sla.due_triggers(again, local(12, 9)) == []


def test_the_same_due_time_again_changes_nothing_and_a_new_one_starts_a_new_generation() -> None:
    clock = sla.fired(armed(local(2, 8), local(2, 17)), "warning", local(2, 14, 45))
    assert sla.arm(clock, case_id=clock.case_id, due_at=local(2, 17), started_at=local(2, 8), share=0.75,
                   span=BUSINESS) is None
    again = sla.arm(clock, case_id=clock.case_id, due_at=local(3, 17), started_at=local(2, 8), share=0.75,
                    span=BUSINESS)
    assert again is not None and again.generation == 2
    assert again.warning_fired_at is None and again.breach_fired_at is None
    assert again.total_s == 18 * HOUR and again.warn_at == local(3, 12, 30)


def test_a_new_due_time_on_a_paused_clock_stays_paused_with_the_time_from_the_pause() -> None:
    paused = sla.pause(armed(local(2, 8), local(2, 17)), local(2, 10), BUSINESS)
    again = sla.arm(paused, case_id=paused.case_id, due_at=local(3, 17), started_at=local(2, 8), share=0.75,
                    span=BUSINESS)
    assert again is not None and again.state == "paused" and again.generation == 2
    assert again.paused_at == local(2, 10) and again.remaining_s == 16 * HOUR


def test_a_closed_case_keeps_a_stopped_clock() -> None:
    clock = sla.arm(None, case_id=uuid4(), due_at=local(2, 17), started_at=local(2, 8), share=0.75,
                    span=BUSINESS, case_open=False)
    assert clock is not None and clock.state == "stopped" and clock.next_fire_at is None


def test_warning_then_breach_fire_once_each_and_a_late_clock_fires_both_in_order() -> None:
    clock = armed(local(2, 8), local(2, 17))
    assert sla.due_triggers(clock, local(2, 14)) == []
    assert sla.due_triggers(clock, local(2, 14, 45)) == ["warning"]
    warned = sla.fired(clock, "warning", local(2, 14, 45))
    assert sla.due_triggers(warned, local(2, 16)) == []
    assert sla.due_triggers(warned, local(2, 17)) == ["breach"]
    done = sla.fired(warned, "breach", local(2, 17))
    assert sla.due_triggers(done, local(9, 9)) == [] and done.next_fire_at is None
    assert sla.due_triggers(clock, local(5, 9)) == ["warning", "breach"]
    assert sla.due_triggers(sla.stop(clock, local(2, 12)), local(5, 9)) == []


@pytest.mark.parametrize(("at", "expected"), [
    (local(2, 9), "ok"), (local(2, 15), "warning"), (local(2, 17), "breached"),
])
def test_the_sla_badge_follows_the_clock(at: datetime, expected: str) -> None:
    clock = armed(local(2, 8), local(2, 17))
    assert sla.sla_state(clock, at) == expected
    assert sla.sla_state(clock.to_row(), at) == expected


def test_the_sla_badge_of_paused_stopped_and_missing_clocks() -> None:
    clock = armed(local(2, 8), local(2, 17))
    assert sla.sla_state(None, local(2, 9)) == "none"
    assert sla.sla_state(sla.pause(clock, local(2, 10), BUSINESS), local(9, 9)) == "paused"
    assert sla.sla_state(sla.stop(clock, local(2, 12)), local(9, 9)) == "none"
    assert sla.sla_state(sla.stop(sla.fired(clock, "breach", local(2, 17)), local(2, 18)), local(9, 9)) == "breached"
    assert sla.sla_state(sla.fired(clock, "warning", local(2, 9)), local(2, 9)) == "warning"


def test_escalation_only_raises_the_priority_and_moves_once_to_the_supervisor_queue() -> None:
    rules = [
        EscalationRule(id="pw-breach", raise_priority_to=1, move_to_queue="pw-supervisors",
                       email=("sup@city.test", "sup@city.test")),
        EscalationRule(id="lower", raise_priority_to=4, move_to_queue="pw-supervisors"),
    ]
    first, second = sla.plan_escalation(rules, priority=3, queue="roads")
    assert (first.priority, first.previous_priority, first.queue, first.previous_queue) == (1, 3, "pw-supervisors",
                                                                                            "roads")
    assert first.email_to == ("sup@city.test",)
    assert (second.priority, second.previous_priority, second.queue, second.previous_queue) == (None, 1, None,
                                                                                               "pw-supervisors")
    assert sla.plan_escalation([], priority=3, queue="roads") == []
    (only,) = sla.plan_escalation([EscalationRule(id="p", raise_priority_to=2)], priority=None, queue=None)
    assert only.priority == 2 and only.queue is None and only.email_to == ()


def test_naive_times_and_negative_spans_are_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        PLAIN.add(datetime(2026, 3, 2, 9), 10)
    with pytest.raises(ValueError, match=">= 0"):
        BUSINESS.add(local(2, 9), -1)


def test_a_due_time_long_past_when_armed_is_history_and_fires_nothing() -> None:
    now = local(20, 10)
    old = sla.arm(None, case_id=uuid4(), due_at=local(2, 17), started_at=local(2, 8), share=0.75, span=BUSINESS,
                  now=now)
    assert old is not None and old.warning_fired_at == now and old.breach_fired_at == now
    assert sla.due_triggers(old, now) == [] and sla.sla_state(old, now) == "breached"
    late = sla.arm(None, case_id=uuid4(), due_at=now - timedelta(hours=3), started_at=local(19, 8), share=0.75,
                   span=BUSINESS, now=now)
    assert late is not None and sla.due_triggers(late, now) == ["warning", "breach"]
