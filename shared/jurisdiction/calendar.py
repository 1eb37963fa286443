"""Business-hours arithmetic for SLA targets: opening hours, public holidays and time zones."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays as holidays_lib

__all__ = ["BusinessCalendar"]

# Ten years in a row without a single business day means the calendar is misconfigured (a long SLA on
# a sparse calendar may run for longer than that, as long as business days keep coming).
_MAX_DAYS_SCANNED = 3660
# Days whose opening window is remembered (about 270 years of days; forgotten all at once past that).
_DAYS_KEPT = 100_000


def _require_aware(value: datetime, name: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {value!r}")


class BusinessCalendar:
    """When a jurisdiction's departments work: week days, opening hours, holidays, in one time zone.

    Opening hours are local wall-clock times, so a working day keeps its local hours across a
    daylight-saving change (08:00-17:00 is nine real hours on both sides). All arithmetic is done on
    aware UTC instants; results are aware UTC ``datetime``s.
    """

    def __init__(
        self,
        *,
        timezone: str,
        weekdays: Iterable[int],
        opens: time,
        closes: time | None,
        holiday_country: str | None = None,
        holiday_subdivision: str | None = None,
        ignored_holidays: Iterable[str] = (),
        extra_closed_dates: Iterable[date] = (),
    ) -> None:
        """Build a calendar.

        ``weekdays``: 0 = Monday … 6 = Sunday. ``closes=None`` means midnight at the end of the day.
        ``holiday_country``/``holiday_subdivision``: ISO codes understood by the ``holidays``
        library (``"US"``/``"NY"``, ``"CA"``/``"QC"``). Holidays whose name is in
        ``ignored_holidays`` stay working days (e.g. commemorations on which offices open).

        Raises:
            ValueError: unknown time zone or holiday country/subdivision, empty weekdays,
                or ``closes`` not after ``opens``.
        """
        self.tz = ZoneInfo(timezone)
        self.weekdays = frozenset(weekdays)
        if not self.weekdays or not self.weekdays <= set(range(7)):
            raise ValueError(f"weekdays must be a non-empty subset of 0..6, got {sorted(self.weekdays)}")
        self.opens = opens
        self.closes = closes
        if closes is not None and closes <= opens:
            raise ValueError(f"closing time {closes} must be after opening time {opens}")
        self._holidays = (
            holidays_lib.country_holidays(holiday_country, subdiv=holiday_subdivision)
            if holiday_country
            else None
        )
        self._ignored = frozenset(ignored_holidays)
        self._extra_closed = frozenset(extra_closed_dates)
        # local date -> its window (aware UTC) when a business day, else None: a holiday look-up and two
        # time-zone conversions per day once, not on every walk over it.
        self._days: dict[date, tuple[datetime, datetime] | None] = {}

    # -- days -----------------------------------------------------------------------------------
    def holiday_name(self, day: date) -> str | None:
        """The name of the public holiday (or configured closure) on ``day``, else ``None``."""
        if day in self._extra_closed:
            return "closure"
        if self._holidays is None:
            return None
        names = self._holidays.get_list(day)
        names = [n for n in names if n not in self._ignored]
        return "; ".join(names) if names else None

    def is_business_day(self, day: date) -> bool:
        """True when ``day`` (a local calendar date) is a configured weekday and not a holiday."""
        return day.weekday() in self.weekdays and self.holiday_name(day) is None

    def _window(self, day: date) -> tuple[datetime, datetime]:
        """Opening and closing instants (aware UTC) of local ``day``."""
        start = datetime.combine(day, self.opens, tzinfo=self.tz)
        if self.closes is None:
            end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=self.tz)
        else:
            end = datetime.combine(day, self.closes, tzinfo=self.tz)
        return start.astimezone(UTC), end.astimezone(UTC)

    def _open_window(self, day: date) -> tuple[datetime, datetime] | None:
        """`_window(day)` when ``day`` is a business day, else ``None``; remembered per day (the
        calendar's settings do not change after it is built). Raises `OverflowError` as `_window`."""
        try:
            return self._days[day]
        except KeyError:
            pass
        window = self._window(day) if self.is_business_day(day) else None
        if len(self._days) >= _DAYS_KEPT:
            self._days.clear()
        self._days[day] = window
        return window

    # -- arithmetic -----------------------------------------------------------------------------
    def add_business_hours(self, start: datetime, hours: float) -> datetime:
        """The instant ``hours`` working hours after ``start``, as an aware UTC ``datetime``.

        A start outside opening hours starts the clock at the next opening. Weekends, holidays and
        nights are skipped; DST changes are handled by working on UTC instants of local windows.
        ``hours == 0`` returns ``start`` itself (in UTC), even outside opening hours.

        Raises:
            ValueError: ``start`` is naive, ``hours`` is negative, ten years in a row pass without a
                business day, or the due time falls outside the range of dates (year 1 to 9999).
        """
        _require_aware(start, "start")
        if hours < 0:
            raise ValueError(f"hours must be >= 0, got {hours}")
        try:
            return self._add_business_hours(start, timedelta(hours=hours))
        except OverflowError:  # year 1 or 9999: the days around start cannot be represented
            raise ValueError(
                f"{hours} business hours from {start.isoformat()} fall outside the range of dates"
            ) from None

    def _add_business_hours(self, start: datetime, remaining: timedelta) -> datetime:
        at = start.astimezone(UTC)
        if not remaining:
            return at
        day = at.astimezone(self.tz).date() - timedelta(days=1)  # previous day's window may run past midnight
        closed_days = 0
        while closed_days < _MAX_DAYS_SCANNED:
            window = self._open_window(day)
            if window is not None:
                closed_days = 0
                open_at, close_at = window
                begin = max(open_at, at)
                if begin < close_at:
                    available = close_at - begin
                    if remaining <= available:
                        return begin + remaining
                    remaining -= available
            else:
                closed_days += 1
            day += timedelta(days=1)
        raise ValueError("no business day found in ten years; check business_hours and holidays")

    def business_hours_between(self, start: datetime, end: datetime) -> float:
        """Working hours (float) elapsed from ``start`` to ``end``; negative when ``end < start``.

        Raises:
            ValueError: either argument is naive, or one lies at the very ends of the range of dates.
        """
        _require_aware(start, "start")
        _require_aware(end, "end")
        if end < start:
            return -self.business_hours_between(end, start)
        try:
            return self._business_hours_between(start, end)
        except OverflowError:
            raise ValueError(f"{start.isoformat()}..{end.isoformat()} falls outside the range of dates") from None

    def _business_hours_between(self, start: datetime, end: datetime) -> float:
        a, b = start.astimezone(UTC), end.astimezone(UTC)
        day = a.astimezone(self.tz).date() - timedelta(days=1)
        last = b.astimezone(self.tz).date()
        total = timedelta()
        while day <= last:
            window = self._open_window(day)
            if window is not None:
                open_at, close_at = window
                lo, hi = max(open_at, a), min(close_at, b)
                if lo < hi:
                    total += hi - lo
            day += timedelta(days=1)
        return total.total_seconds() / 3600.0
