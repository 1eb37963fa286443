"""The dashboard's figures from a small projection's aggregates: local-date windows, age bands, every day of
the window, backlog by department and band, SLA ratios, top categories, surveys, deflections and hotspots."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from services.insights.domain import AGE_BANDS, InvalidWindow, hotspots, summary, window
from services.insights.domain.figures import MAX_POINTS, Aggregates, age_band

NOW = datetime(2026, 3, 10, 3, 30, tzinfo=UTC)  # 23:30 on 9 March in New York (EDT, UTC-4)
NY = "America/New_York"


def test_the_default_window_is_the_last_30_local_days_up_to_today_in_the_city() -> None:
    win = window(None, None, time_zone=NY, now=NOW)
    assert (win.start, win.end) == (date(2026, 2, 8), date(2026, 3, 9))
    assert win.start_at == datetime(2026, 2, 8, 5, 0, tzinfo=UTC)  # midnight EST
    assert win.end_at == datetime(2026, 3, 10, 4, 0, tzinfo=UTC)   # midnight EDT after the DST change
    assert len(win.days()) == 30


def test_a_window_of_one_day_covers_that_local_day() -> None:
    win = window("2026-03-01", "2026-03-01", time_zone="America/Toronto", now=NOW)
    assert (win.start_at, win.end_at) == (datetime(2026, 3, 1, 5, tzinfo=UTC), datetime(2026, 3, 2, 5, tzinfo=UTC))


@pytest.mark.parametrize(("start", "end", "named"), [
    ("2026-13-01", None, "from"), ("yesterday", None, "from"), (None, "2026/03/01", "to"),
    ("2026-03-02", "2026-03-01", "to"), ("1990-01-01", "2026-03-01", "from..to"),
    (None, "9999-12-31", "to"), ("1989-12-31", "1990-01-02", "from"), ("2100-12-31", "2101-01-01", "to"),
])
def test_a_bad_window_is_refused_naming_the_parameter(start: str | None, end: str | None, named: str) -> None:
    with pytest.raises(InvalidWindow, match=named):
        window(start, end, time_zone=NY, now=NOW)


def test_an_open_data_window_without_bounds_takes_every_case() -> None:
    win = window(None, None, time_zone=NY, now=NOW, names=("start_date", "end_date"), open_ended=True)
    assert win.start.year == 1900 and win.end.year == 9998
    with pytest.raises(InvalidWindow, match="start_date"):
        window("01/02/2011", None, time_zone=NY, now=NOW, names=("start_date", "end_date"), open_ended=True)


@pytest.mark.parametrize(("days", "band"), [(0, "0-2d"), (2.99, "0-2d"), (3, "3-7d"), (7.5, "3-7d"), (8, "8-30d"),
                                            (30.9, "8-30d"), (31, ">30d"), (400, ">30d")])
def test_age_bands(days: float, band: str) -> None:
    assert age_band(days * 86400) == band


def small_projection() -> Aggregates:
    return Aggregates(
        per_day=[(date(2026, 3, 1), "web", "pothole", 3), (date(2026, 3, 1), "email", "pothole", 1),
                 (date(2026, 3, 3), "sms", "noise", 2), (date(2026, 3, 3), None, None, 1)],
        service_names={"pothole": "Pothole", "noise": "Noise"},
        backlog=[("pw", "0-2d", 2), ("pw", ">30d", 1), (None, "3-7d", 1)],
        closed=4, median_close_s=5400.0,
        sla=[("pw", 3, 2), ("parks", 0, 0)],
        surveys=(3, 13 / 3),
        deflections=[("bulky-items", 2), ("noise-hours", 5)],
    )


def test_the_summary_of_a_small_projection() -> None:
    win = window("2026-03-01", "2026-03-03", time_zone=NY, now=NOW)
    s = summary(win, small_projection(), generated_at=NOW, department_names={"pw": "Public Works"})
    assert (s["from"], s["to"], s["time_zone"], s["generated_at"]) == ("2026-03-01", "2026-03-03", NY,
                                                                        "2026-03-10T03:30:00Z")
    assert s["totals"] == {"opened": 7, "closed": 4, "open_backlog": 4}
    assert s["per_day"] == [
        {"date": "2026-03-01", "total": 4, "by_channel": {"web": 3, "email": 1}, "by_service": {"pothole": 4}},
        {"date": "2026-03-02", "total": 0, "by_channel": {}, "by_service": {}},
        {"date": "2026-03-03", "total": 3, "by_channel": {"sms": 2, "unknown": 1},
         "by_service": {"noise": 2, "unclassified": 1}},
    ]
    assert s["by_channel"] == [{"channel": "web", "count": 3}, {"channel": "sms", "count": 2},
                               {"channel": "email", "count": 1}, {"channel": "unknown", "count": 1}]
    assert s["top_categories"] == [{"service_code": "pothole", "service_name": "Pothole", "count": 4},
                                   {"service_code": "noise", "service_name": "Noise", "count": 2},
                                   {"service_code": "unclassified", "service_name": "unclassified", "count": 1}]
    assert s["backlog"] == [
        {"department": "pw", "department_name": "Public Works", "total": 3,
         "bands": {"0-2d": 2, "3-7d": 0, "8-30d": 0, ">30d": 1}},
        {"department": "unknown", "department_name": "unknown", "total": 1,
         "bands": {"0-2d": 0, "3-7d": 1, "8-30d": 0, ">30d": 0}},
    ]
    assert s["age_bands"] == list(AGE_BANDS)
    assert s["median_time_to_close_s"] == 5400.0
    assert s["sla_compliance"] == [
        {"department": "parks", "department_name": "parks", "closed_with_due": 0, "closed_within_due": 0,
         "ratio": None},
        {"department": "pw", "department_name": "Public Works", "closed_with_due": 3, "closed_within_due": 2,
         "ratio": 0.6667},
    ]
    assert s["surveys"] == {"count": 3, "mean_rating": 4.33}
    assert s["deflections"] == [{"article_id": "noise-hours", "count": 5}, {"article_id": "bulky-items", "count": 2}]


def test_an_empty_projection_gives_zero_days_and_no_median_or_mean() -> None:
    win = window("2026-03-01", "2026-03-02", time_zone=NY, now=NOW)
    s = summary(win, Aggregates(), generated_at=NOW, department_names={})
    assert [d["total"] for d in s["per_day"]] == [0, 0]
    assert s["median_time_to_close_s"] is None and s["surveys"] == {"count": 0, "mean_rating": None}
    assert s["backlog"] == [] and s["top_categories"] == [] and s["totals"]["opened"] == 0


def test_hotspots_keep_the_newest_points_and_count_districts() -> None:
    win = window("2026-03-01", "2026-03-03", time_zone=NY, now=NOW)
    h = hotspots(win, service_code="pothole", points=[(40.7, -73.9), (40.8, -73.95)], total=2,
                 districts=[("MN01", 1), (None, 2), ("BK02", 3)], unlocated=1, digest=7)
    assert h["points"] == [[40.7, -73.9], [40.8, -73.95]] and not h["truncated"]
    assert h["districts"] == [{"district": "BK02", "count": 3}, {"district": "unknown", "count": 2},
                              {"district": "MN01", "count": 1}]
    assert (h["service_code"], h["total"], h["unlocated"]) == ("pothole", 2, 1)
    many = hotspots(win, service_code=None, points=[(1.0, 2.0)] * MAX_POINTS, total=MAX_POINTS + 5, districts=[],
                    unlocated=0, digest=7)
    assert len(many["points"]) == MAX_POINTS and many["truncated"]


def test_hotspots_without_points_carry_the_same_version_and_counts_for_a_cheap_poll() -> None:
    win = window("2026-03-01", "2026-03-03", time_zone=NY, now=NOW)
    spots = {"service_code": None, "total": MAX_POINTS + 5, "districts": [("MN01", 1)], "unlocated": 1}
    full = hotspots(win, points=[(1.0, 2.0)] * MAX_POINTS, digest=7, **spots)
    light = hotspots(win, points=[], digest=7, with_points=False, **spots)
    assert "points" not in light and light["version"] == full["version"]
    assert light["point_count"] == full["point_count"] == MAX_POINTS and light["truncated"] and full["truncated"]
    assert hotspots(win, points=[], digest=8, with_points=False, **spots)["version"] != light["version"]
    assert hotspots(win, points=[], digest=7, with_points=False, **{**spots, "unlocated": 2})["version"] != \
        light["version"]
