"""One location check for every channel: is a point a resident's app or phone sent a real place here?

Every intake adapter and the case service (for anything that arrives with a point) call `check_point`
and act on its verdict; the verdict and its reason travel on the message as ``attributes.location_check``
(`as_attribute`) and stay on the case. Channels differ only in what they do with a point that is not
usable: the web refuses a swap (a program can correct itself) but ignores a placeholder when a written
address comes with it; SMS and chat ask the resident (docs/channels.md, "One location check").

Rules, in this order (degrees, WGS84):

1. ``out_of_range``: a value that is not a finite number, or a latitude outside [-90, 90] or a
   longitude outside [-180, 180], unless swapping the two gives a point inside the jurisdiction (then 3);
2. ``placeholder``: 0,0 (within `PLACEHOLDER_TOLERANCE_DEG` of it), the point many apps send when the
   device has no fix ("Null Island"), never a real place for a city;
3. ``ok``: inside the jurisdiction (`Jurisdiction.contains`);
4. ``swapped``: outside, but (long, lat) is inside: the axes were given in the wrong order (a common
   mistake: GeoJSON and many maps write longitude first); the swapped point is the one to use;
5. ``outside``: anything else; the point is kept (the router says it is outside the jurisdiction).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

Verdict = Literal["ok", "swapped", "placeholder", "out_of_range", "outside"]
PLACEHOLDER_TOLERANCE_DEG = 1e-6
"""How close to 0,0 (degrees on each axis, about 0.1 m) a point is still the "no fix" placeholder."""


@dataclass(frozen=True)
class PointCheck:
    """The verdict on one point. `lat`/`long` is the point to use (WGS84 degrees): the given one (``ok``,
    ``outside``), the swapped one (``swapped``), or None (``placeholder``, ``out_of_range``: the message
    has no usable point). `given` is the point as received (floats, possibly not finite), `reason` one
    sentence for staff and for a refusal (None when ``ok``)."""

    verdict: Verdict
    lat: float | None
    long: float | None
    given: tuple[float, float]
    reason: str | None = None

    @property
    def usable(self) -> bool:
        """True when the check leaves a point to use (``ok``, ``swapped``, ``outside``)."""
        return self.lat is not None and self.long is not None

    def as_attribute(self) -> dict[str, Any] | None:
        """The check as kept on a message and its case (``attributes.location_check``), None when ``ok``:
        ``{"verdict": ..., "reason": ..., "given": {"lat": ..., "long": ...}}`` (a value that is not a
        finite number is given as its text, JSON having no NaN or infinity)."""
        if self.verdict == "ok":
            return None
        lat, long = self.given
        return {"verdict": self.verdict, "reason": self.reason,
                "given": {"lat": _json_number(lat), "long": _json_number(long)}}


def _json_number(value: float) -> float | str:
    return value if math.isfinite(value) else str(value)


def _in_range(lat: float, long: float) -> bool:
    return math.isfinite(lat) and math.isfinite(long) and -90 <= lat <= 90 and -180 <= long <= 180


def check_point(lat: float, long: float, *, contains: Callable[[float, float], bool]) -> PointCheck:
    """The verdict on the point (`lat`, `long`) (WGS84 degrees) for the jurisdiction whose
    `contains(lat, long)` says what is inside it (`Jurisdiction.contains`). Pure; never raises for any
    float (NaN and infinities are ``out_of_range``). Rules: the module docstring."""
    given = (float(lat), float(long))
    lat, long = given
    swapped_inside = _in_range(long, lat) and contains(long, lat)
    if not _in_range(lat, long):
        if swapped_inside:
            return _swapped(given)
        return PointCheck("out_of_range", None, None, given,
                          f"({lat}, {long}) is not a point on Earth: latitude must be within -90..90 and "
                          "longitude within -180..180 degrees")
    if abs(lat) <= PLACEHOLDER_TOLERANCE_DEG and abs(long) <= PLACEHOLDER_TOLERANCE_DEG:
        return PointCheck("placeholder", None, None, given,
                          "coordinates 0,0 are a placeholder sent when the device has no location fix, "
                          "not a real place")
    if contains(lat, long):
        return PointCheck("ok", lat, long, given)
    if swapped_inside:
        return _swapped(given)
    return PointCheck("outside", lat, long, given, f"({lat}, {long}) is outside the jurisdiction's boundaries")


def _swapped(given: tuple[float, float]) -> PointCheck:
    lat, long = given
    return PointCheck("swapped", long, lat, given,
                      f"latitude and longitude were swapped: ({lat}, {long}) is outside the jurisdiction "
                      f"but ({long}, {lat}) is inside; read as lat={long}, long={lat}")
