"""The one location check every channel applies (`shared.jurisdiction.point_check`), on the demo city."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.jurisdiction import load_jurisdiction
from shared.jurisdiction.point_check import check_point

DEMO = load_jurisdiction("demo")
INSIDE = (45.4215, -75.6972)  # the demo city's centre (Ottawa's Parliament Hill)


def check(lat: float, long: float):
    return check_point(lat, long, contains=DEMO.contains)


def test_a_point_inside_is_ok_and_kept_as_given() -> None:
    c = check(*INSIDE)
    assert (c.verdict, c.lat, c.long, c.reason, c.as_attribute()) == ("ok", 45.4215, -75.6972, None, None)


def test_the_sms_swap_is_recognised_and_read_the_right_way_round() -> None:
    c = check(-75.6972, 45.4215)  # "Pothole at -75.6972, 45.4215": longitude written first
    assert (c.verdict, c.lat, c.long) == ("swapped", 45.4215, -75.6972)
    assert c.as_attribute() == {"verdict": "swapped", "reason": c.reason, "given": {"lat": -75.6972, "long": 45.4215}}


def test_a_swap_is_recognised_only_when_the_swapped_point_is_here() -> None:
    c = check(-75.6972, 45.4215 + 0.0001)
    assert c.verdict == "swapped"
    c = check(-120.0, 45.0)  # swapped, (45, -120) is in Oregon: nowhere near the demo city
    assert (c.verdict, c.usable) == ("out_of_range", False)


@pytest.mark.parametrize("point", [(0.0, 0.0), (-0.0, 0.0), (0.0000004, -0.0000002)])
def test_zero_zero_is_the_no_fix_placeholder_never_a_place(point: tuple[float, float]) -> None:
    c = check(*point)
    assert (c.verdict, c.usable) == ("placeholder", False)
    assert "placeholder" in (c.reason or "")


@pytest.mark.parametrize("point", [(91.0, -75.0), (45.0, -181.0), (math.nan, -75.6972), (45.4215, math.inf)])
def test_values_off_the_earth_are_out_of_range(point: tuple[float, float]) -> None:
    c = check(*point)
    assert (c.verdict, c.usable) == ("out_of_range", False)
    attribute = c.as_attribute()
    assert attribute is not None and attribute["verdict"] == "out_of_range"


def test_a_real_place_elsewhere_is_outside_and_kept() -> None:
    c = check(40.7128, -74.0060)  # New York City
    assert (c.verdict, c.lat, c.long) == ("outside", 40.7128, -74.006)


@given(st.floats(allow_nan=True, allow_infinity=True), st.floats(allow_nan=True, allow_infinity=True))
def test_every_float_pair_gets_a_verdict_and_a_usable_point_is_in_range(lat: float, long: float) -> None:
    c = check(lat, long)
    if c.usable:
        assert c.lat is not None and c.long is not None
        assert -90 <= c.lat <= 90 and -180 <= c.long <= 180
    else:
        assert c.verdict in {"placeholder", "out_of_range"}
