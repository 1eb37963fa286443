"""intake_web's public edge under hostile input (a review's reproductions): every odd value gets a clear
4xx naming what is wrong, never a 500, a hang, or an answer about something else."""

from __future__ import annotations

import pytest

from portal_fakes import Portal


@pytest.mark.parametrize("point", ["lat=91&long=-75.69", "lat=1e308&long=-75.69", "lat=-90.5&long=0",
                                   "lat=45.42&long=181", "lat=45.42&long=-1e400"])
async def test_a_nearby_pin_off_the_globe_is_400_and_the_case_service_is_not_asked(point: str) -> None:
    p = Portal()
    async with p.web as web:
        r = await web.get(f"/report/nearby?service_code=pothole&{point}", headers={"hx-request": "true"})
        edge = await web.get("/report/nearby?service_code=pothole&lat=90&long=-180", headers={"hx-request": "true"})
    assert r.status_code == 400 and "lat" in r.json()["detail"]
    assert edge.status_code == 200, "the poles and the antimeridian are points"
    assert [a for a in p.reads.asked if a[0] == "nearby"] == [("nearby", ("pothole", 90.0, -180.0, 100.0))]
