"""SLA arithmetic in business hours: weekends, holidays, subdivisions and daylight-saving changes."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.jurisdiction import BusinessCalendar

NEW_YORK = ZoneInfo("America/New_York")


def _calendar(subdivision: str = "NY", **overrides: object) -> BusinessCalendar:
    options: dict[str, object] = dict(
        timezone="America/New_York",
        weekdays=range(5),
        opens=time(8),
        closes=time(17),
        holiday_country="US",
        holiday_subdivision=subdivision,
    )
    options.update(overrides)
    return BusinessCalendar(**options)  # type: ignore[arg-type]


def _local(*args: int) -> datetime:
    return datetime(*args, tzinfo=NEW_YORK)


def test_spring_forward_weekend_is_skipped_and_local_hours_kept() -> None:
    # Friday 8 March 2024 16:00 EST; clocks go forward on Sunday 10 March.
    due = _calendar().add_business_hours(_local(2024, 3, 8, 16), 9)
    assert due == datetime(2024, 3, 11, 20, tzinfo=UTC)  # Monday 16:00 EDT (UTC-4)
    assert due.tzinfo is UTC


def test_fall_back_weekend_is_skipped_and_local_hours_kept() -> None:
    # Friday 1 November 2024 16:00 EDT; clocks go back on Sunday 3 November.
    due = _calendar().add_business_hours(_local(2024, 11, 1, 16), 9)
    assert due == datetime(2024, 11, 4, 21, tzinfo=UTC)  # Monday 16:00 EST (UTC-5)


def test_holiday_after_a_weekend_is_skipped() -> None:
    # Friday 8 Nov 2024 16:00; Monday 11 Nov is Veterans Day.
    due = _calendar().add_business_hours(_local(2024, 11, 8, 16), 9)
    assert due == datetime(2024, 11, 12, 21, tzinfo=UTC)  # Tuesday 16:00 EST


def test_state_holidays_follow_the_subdivision() -> None:
    friday = _local(2024, 4, 12, 16)  # Monday 15 April 2024 is Patriots' Day in Massachusetts only
    assert _calendar("MA").add_business_hours(friday, 9) == datetime(2024, 4, 16, 20, tzinfo=UTC)
    assert _calendar("NY").add_business_hours(friday, 9) == datetime(2024, 4, 15, 20, tzinfo=UTC)
    assert _calendar("MA").holiday_name(date(2024, 4, 15)) == "Patriots' Day"


def test_ignored_holidays_and_extra_closures() -> None:
    calendar = _calendar(ignored_holidays=["Susan B. Anthony Day"], extra_closed_dates=[date(2024, 2, 16)])
    assert calendar.is_business_day(date(2024, 2, 15))  # Susan B. Anthony Day: offices open
    assert not calendar.is_business_day(date(2024, 2, 16))  # a configured closure


def test_clock_starts_at_next_opening_and_zero_hours_is_now() -> None:
    calendar = _calendar()
    saturday_night = _local(2024, 6, 1, 23)
    assert calendar.add_business_hours(saturday_night, 1) == datetime(2024, 6, 3, 13, tzinfo=UTC)  # Mon 09:00 EDT
    assert calendar.add_business_hours(saturday_night, 0) == saturday_night.astimezone(UTC)


def test_round_the_clock_calendar_crosses_dst_in_real_hours() -> None:
    calendar = _calendar(weekdays=range(7), opens=time(0), closes=None, holiday_country=None)
    start = _local(2024, 3, 9, 12)  # Saturday noon EST
    assert calendar.add_business_hours(start, 24) == start.astimezone(UTC) + timedelta(hours=24)


def test_naive_start_and_negative_hours_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        _calendar().add_business_hours(datetime(2024, 3, 8, 16), 1)
    with pytest.raises(ValueError, match=">= 0"):
        _calendar().add_business_hours(_local(2024, 3, 8, 16), -1)


def test_bad_calendar_settings_are_refused() -> None:
    with pytest.raises(ValueError):
        _calendar(weekdays=[])
    with pytest.raises(ValueError):
        _calendar(opens=time(17), closes=time(8))


_CALENDAR = _calendar()


@settings(max_examples=60, deadline=None)
@given(
    start=st.datetimes(min_value=datetime(2023, 1, 1), max_value=datetime(2025, 12, 31)),
    hours=st.floats(min_value=0.25, max_value=200, allow_nan=False),
)
def test_business_hours_between_inverts_add_business_hours(start: datetime, hours: float) -> None:
    aware = start.replace(tzinfo=NEW_YORK)
    due = _CALENDAR.add_business_hours(aware, hours)
    assert _CALENDAR.business_hours_between(aware, due) == pytest.approx(hours, abs=1e-6)
    local_due = due.astimezone(NEW_YORK)
    assert _CALENDAR.is_business_day(local_due.date()) and time(8) < local_due.time() <= time(17)


def _reference_window(cal: BusinessCalendar, day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, cal.opens, tzinfo=cal.tz)
    end = (datetime.combine(day + timedelta(days=1), time(0), tzinfo=cal.tz) if cal.closes is None
           else datetime.combine(day, cal.closes, tzinfo=cal.tz))
    return start.astimezone(UTC), end.astimezone(UTC)


def _reference_add(cal: BusinessCalendar, start: datetime, hours: float) -> datetime:
    """The day-by-day walk `add_business_hours` did before its days were remembered (holidays looked up and
    windows converted on every walk), kept here as the reference."""
    at, remaining = start.astimezone(UTC), timedelta(hours=hours)
    if not remaining:
        return at
    day = at.astimezone(cal.tz).date() - timedelta(days=1)
    while True:
        if cal.is_business_day(day):
            open_at, close_at = _reference_window(cal, day)
            begin = max(open_at, at)
            if begin < close_at:
                if remaining <= close_at - begin:
                    return begin + remaining
                remaining -= close_at - begin
        day += timedelta(days=1)


def _reference_between(cal: BusinessCalendar, start: datetime, end: datetime) -> float:
    a, b = start.astimezone(UTC), end.astimezone(UTC)
    day, last, total = a.astimezone(cal.tz).date() - timedelta(days=1), b.astimezone(cal.tz).date(), timedelta()
    while day <= last:
        if cal.is_business_day(day):
            open_at, close_at = _reference_window(cal, day)
            lo, hi = max(open_at, a), min(close_at, b)
            if lo < hi:
                total += hi - lo
        day += timedelta(days=1)
    return total.total_seconds() / 3600.0


_REMEMBERING = [
    _calendar(),
    _calendar(timezone="America/Toronto", holiday_country="CA", holiday_subdivision="QC", opens=time(2, 30),
              closes=None, weekdays=(0, 2, 3, 5), extra_closed_dates=[date(2024, 3, 11), date(2024, 11, 4)]),
]


@settings(max_examples=80, deadline=None)
@given(
    which=st.sampled_from(range(len(_REMEMBERING))),
    starts=st.lists(st.datetimes(min_value=datetime(2023, 1, 1), max_value=datetime(2026, 12, 31)),
                    min_size=1, max_size=4),
    hours=st.floats(min_value=0, max_value=1500, allow_nan=False),
)
def test_remembered_days_give_what_the_day_by_day_walk_gave(which: int, starts: list[datetime], hours: float) -> None:
    cal = _REMEMBERING[which]  # shared across examples: later walks read days remembered by earlier ones
    for naive in starts:
        start = naive.replace(tzinfo=cal.tz)
        due = cal.add_business_hours(start, hours)
        assert due == _reference_add(cal, start, hours)
        assert cal.business_hours_between(start, due) == _reference_between(cal, start, due)
        later = start + timedelta(days=400)
        assert cal.business_hours_between(start, later) == _reference_between(cal, start, later)
