"""intake_web's public edge under hostile input (a review's reproductions): every odd value gets a clear
4xx naming what is wrong, never a 500, a hang, or an answer about something else."""

from __future__ import annotations

from datetime import timedelta

import pytest

from portal_fakes import NOW, Portal
from services.intake_web.domain.portal import SpamRefused, check_form, form_token


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


REPORT = {"service_code": "graffiti", "description": "Tag on the library wall", "lat": "45.4215", "long": "-75.6972",
          "attribute[surface]": "wall", "notify": "none", "website": ""}


def report(p: Portal, **over: str) -> dict[str, str]:
    """The report form as served at NOW (its form token), posted 10 s later, with `over`."""
    p.now = NOW + timedelta(seconds=10)
    return {**REPORT, "form_token": form_token(p.settings.portal_form_secret, NOW), **over}


@pytest.mark.parametrize("token", ["1796003574.\u00e9", "1796003574.\u00e9\u00e9\u00e9", "\u00b2.abc", "\u0661\u0662.abc",
                                   "1796003574.\x00", ""])
async def test_a_form_token_that_is_not_ascii_is_refused_as_invalid_not_a_500(token: str) -> None:
    p = Portal()
    async with p.web as web:
        r = await web.post("/report", data=report(p, form_token=token))
        ok = await web.post("/report", data=report(p))
    assert r.status_code == 400 and "<html" in r.text
    assert ok.status_code == 200 and len(p.published) == 1, "the refused one published nothing"
    with pytest.raises(SpamRefused) as refused:
        check_form("s" * 32, token, "", now=NOW, min_fill_s=0, ttl_s=3600)
    assert refused.value.reason == "form_token_invalid"
