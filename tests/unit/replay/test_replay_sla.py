"""The replay report's `sla` section: our due times and on-time verdicts against the city's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from tools.replay.sla import SlaSample, city_verdict, sla_section

NY = ZoneInfo("America/New_York")
OPEN = datetime(2022, 1, 3, 9, 0, tzinfo=NY)


def sample(source_id: str = "1", *, ours: datetime | None, city: datetime | None, closed: datetime | None = None,
           ontime: bool | None = None) -> SlaSample:
    return SlaSample(source_id=source_id, service_name="Pothole", opened_at=OPEN, our_due_at=ours,
                     city_due_at=city, closed_at=closed, city_on_time=ontime)


def test_due_times_within_the_hour_are_counted_inclusive_and_across_time_zones():
    city = datetime(2022, 1, 4, 9, 0, tzinfo=NY)  # 14:00 UTC
    rows = [
        sample("a", ours=datetime(2022, 1, 4, 14, 0, tzinfo=UTC), city=city),  # same instant, other zone
        sample("b", ours=datetime(2022, 1, 4, 10, 0, tzinfo=NY), city=city),  # exactly one hour later
        sample("c", ours=datetime(2022, 1, 4, 16, 0, tzinfo=timezone(timedelta(hours=1))), city=city),  # 15:00 UTC
        sample("d", ours=datetime(2022, 1, 6, 9, 0, tzinfo=NY), city=city),  # 48 h later
        sample("e", ours=datetime(2022, 1, 3, 21, 0, tzinfo=NY), city=city),  # 12 h earlier
    ]

    section = sla_section(rows)

    assert section["due_compared"] == 5
    assert section["due_within_tolerance"] == 3
    assert section["due_within_tolerance_share"] == 0.6
    assert section["due_abs_diff_hours_median"] == 1.0
    assert section["due_diff_hours_median"] == 1.0
    assert (section["ours_earlier"], section["ours_later"]) == (1, 1)
    assert [d["source_id"] for d in section["largest_differences"]][:2] == ["d", "e"]
    assert section["largest_differences"][0]["diff_hours"] == 48.0


def test_missing_due_times_are_counted_but_not_compared():
    due = datetime(2022, 1, 4, 9, 0, tzinfo=NY)
    rows = [sample("a", ours=None, city=due), sample("b", ours=due, city=None), sample("c", ours=None, city=None)]

    section = sla_section(rows)

    assert (section["records"], section["with_city_due"], section["with_our_due"]) == (3, 1, 1)
    assert section["due_compared"] == 0
    assert section["due_within_tolerance_share"] is None
    assert section["due_abs_diff_hours_median"] is None
    assert section["verdict_judged"] == 0 and section["verdict_agreement"] is None
    assert section["largest_differences"] == []


def test_verdicts_compare_closed_at_with_our_due_against_the_citys():
    ours = datetime(2022, 1, 4, 12, 0, tzinfo=NY)
    city = datetime(2022, 1, 5, 12, 0, tzinfo=NY)
    rows = [
        sample("both-on-time", ours=ours, city=city, closed=ours),  # on the due time is on time
        sample("ours-late", ours=ours, city=city, closed=ours + timedelta(hours=3)),
        sample("both-late", ours=ours, city=city, closed=city + timedelta(seconds=1)),
        sample("open", ours=ours, city=city, closed=None),
    ]

    section = sla_section(rows)

    assert section["verdict_judged"] == 3
    assert section["verdict_agree"] == 2
    assert section["verdict_agreement"] == round(2 / 3, 4)
    assert section["verdict_pairs"] == {
        "ours_on_time_city_on_time": 1, "ours_late_city_late": 1,
        "ours_late_city_on_time": 1, "ours_on_time_city_late": 0,
    }
    assert section["open_excluded"] == 1
    assert "closed records only" in section["verdict_basis"]


def test_a_stated_verdict_wins_and_its_contradictions_are_counted():
    due = datetime(2022, 1, 4, 12, 0, tzinfo=NY)
    late = due + timedelta(days=2)
    stated_on_time = sample("x", ours=due, city=due, closed=late, ontime=True)  # Boston says ONTIME anyway

    assert city_verdict(stated_on_time) is True
    section = sla_section([stated_on_time])
    assert section["verdict_pairs"]["ours_late_city_on_time"] == 1
    assert section["city_verdict_inconsistent"] == 1


def test_a_record_without_a_city_due_time_has_no_verdict():
    # Boston marks records without target_dt ONTIME: no clock ran, so there is nothing to agree with.
    closed = datetime(2022, 1, 3, 10, 0, tzinfo=NY)
    row = sample("no-target", ours=closed + timedelta(hours=1), city=None, closed=closed, ontime=True)

    assert city_verdict(row) is None
    assert sla_section([row])["verdict_judged"] == 0


def test_naive_datetimes_are_refused():
    with pytest.raises(ValueError, match="record n: closed_at must be timezone-aware"):
        sla_section([sample("n", ours=OPEN, city=OPEN, closed=datetime(2022, 1, 3, 10, 0))])
