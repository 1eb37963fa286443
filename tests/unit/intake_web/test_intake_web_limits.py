"""The Open311 limits of intake_web as pure rules: when a POSTed report may say it was made, where it may
be, and what a GET Service Requests query may ask (the 90-day span, the status values, dates with offset)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.intake_web.domain.limits import (
    MAX_QUERY_SPAN,
    Problem,
    Refused,
    RequestQuery,
    place_problem,
    request_query,
    requested_at,
)
from shared.open311 import parse_post_form
from web_fakes import demo

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def test_a_report_without_requested_datetime_was_made_now() -> None:
    assert requested_at(None, NOW) == NOW
    assert requested_at("", NOW) == NOW


def test_a_report_queued_offline_keeps_the_time_it_was_made_in_utc() -> None:
    assert requested_at("2026-11-28T09:30:00-05:00", NOW) == datetime(2026, 11, 28, 14, 30, tzinfo=UTC)
    assert requested_at("2026-11-29T12:04:59Z", NOW) == NOW + timedelta(minutes=4, seconds=59)
    assert requested_at("1990-01-01T00:00:00Z", NOW) == datetime(1990, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize("raw", ["2026-11-29T12:05:01Z", "2027-01-01T00:00:00Z", "1989-12-31T23:59:59Z", "   "],
                         ids=["just-too-far-ahead", "future", "before-1990", "blank"])
def test_a_requested_datetime_in_the_future_or_before_1990_is_refused(raw: str) -> None:
    with pytest.raises(Refused) as refused:
        requested_at(raw, NOW)
    assert refused.value.problem is Problem.INVALID
    assert refused.value.descriptions == ("requested_datetime must be an ISO 8601 time with offset, not in the "
                                          "future and not before 1990",)


@pytest.mark.parametrize("raw", ["2026-11-28T09:30:00", "yesterday"], ids=["no-offset", "not-a-time"])
def test_a_requested_datetime_that_is_not_iso_8601_with_offset_is_refused_with_the_reason(raw: str) -> None:
    with pytest.raises(Refused) as refused:
        requested_at(raw, NOW)
    assert refused.value.problem is Problem.INVALID and refused.value.descriptions[0].startswith("requested_datetime: ")


def test_a_query_may_span_90_days_and_its_dates_are_sent_in_utc() -> None:
    q = request_query(start_date="2026-09-01T00:00:00-04:00", end_date="2026-11-30T00:00:00-04:00",
                      status="open,closed", service_code="pothole")
    assert q == RequestQuery(service_code="pothole", status="open,closed",
                             start_date=datetime(2026, 9, 1, 4, tzinfo=UTC), end_date=datetime(2026, 11, 30, 4, tzinfo=UTC))
    assert q.end_date - q.start_date == MAX_QUERY_SPAN  # type: ignore[operator]
    assert q.start_date.tzinfo is UTC  # type: ignore[union-attr]


def test_a_query_over_90_days_is_refused() -> None:
    with pytest.raises(Refused) as refused:
        request_query(start_date="2026-09-01T00:00:00Z", end_date="2026-11-30T00:00:01Z")
    assert (refused.value.problem, refused.value.descriptions) == (
        Problem.INVALID, ("start_date and end_date may not span more than 90 days",))


def test_one_open_end_of_the_range_has_no_span_limit() -> None:
    assert request_query(start_date="2000-01-01T00:00:00Z").start_date == datetime(2000, 1, 1, tzinfo=UTC)
    assert request_query(end_date="2026-01-01T00:00:00Z").start_date is None


@pytest.mark.parametrize("status", ["pending", "open,pending", "OPEN", "open,"])
def test_a_status_other_than_open_and_closed_is_refused(status: str) -> None:
    with pytest.raises(Refused) as refused:
        request_query(status=status)
    assert refused.value.descriptions == ("status must be open, closed or both separated by a comma",)


@pytest.mark.parametrize(("start", "end"), [("2026-09-01", None), (None, "last week")], ids=["no-offset", "text"])
def test_query_dates_must_be_iso_8601_with_offset(start: str | None, end: str | None) -> None:
    with pytest.raises(Refused) as refused:
        request_query(start_date=start, end_date=end)
    assert refused.value.descriptions[0].startswith("start_date/end_date must be ISO 8601 with offset: ")


def test_a_bad_date_is_named_before_a_bad_status() -> None:
    with pytest.raises(Refused) as refused:
        request_query(start_date="soon", status="pending")
    assert refused.value.descriptions[0].startswith("start_date/end_date")


def test_blank_filters_are_no_filters() -> None:
    assert request_query(service_request_id="", service_code="", status="", start_date="", end_date="") \
        == RequestQuery()


def test_a_report_is_refused_for_a_service_or_a_place_the_city_does_not_serve() -> None:
    codes = {sv.service_code for sv in demo().services}

    def problem(**form: str) -> str | None:
        return place_problem(parse_post_form({"description": "x", **form}), service_codes=codes,
                             contains=demo().contains, services_url="/services.xml")

    assert problem(service_code="unicorns", lat="45.42", long="-75.69") \
        == "service_code unicorns is not offered here; see GET /services.xml"
    assert "0,0" in (problem(service_code="pothole", lat="0", long="0") or "")
    assert "swapped" in (problem(service_code="pothole", lat="-75.69", long="45.42") or "")
    assert "outside" in (problem(lat="40.7", long="-74.0") or "")
    assert problem(service_code="pothole", lat="45.42", long="-75.69") is None
    assert problem(address_string="12 Oak Ave") is None
