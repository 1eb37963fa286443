"""A refused portal request (429 over a limit, 413 over a size) is a page of the portal (its USWDS layout,
the resident's language), while the Open311 routes keep their error lists."""

from __future__ import annotations

import pytest

from portal_fakes import Portal


@pytest.mark.parametrize(("lang", "title", "words"), [("en", "Too many requests", "retry in"),
                                                      ("fr", "Trop de demandes", "réessayez dans")])
async def test_a_portal_page_over_its_limit_is_a_portal_page_in_the_residents_language(
        lang: str, title: str, words: str) -> None:
    p = Portal(limit_reads_per_client="1/minute")
    async with p.web as web:
        await web.get("/track", headers={"accept-language": lang})
        r = await web.get("/track", headers={"accept-language": lang})
        api = await web.get("/services.json")
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
    assert 'class="usa-header' in r.text and '/static/portal/portal.css' in r.text
    assert f'<h1 id="page-title">{title}</h1>' in r.text and words in r.text
    assert api.status_code == 429 and api.json()[0]["code"] == 429


async def test_a_portal_body_over_the_size_limit_is_a_portal_page() -> None:
    p = Portal(max_body_bytes=1024)
    async with p.web as web:
        r = await web.post("/help/x/answered", content=b"a=" + b"x" * 4096,
                           headers={"content-type": "application/x-www-form-urlencoded", "accept-language": "fr"})
    assert r.status_code == 413
    assert '<h1 id="page-title">Demande trop volumineuse</h1>' in r.text and 'class="usa-header' in r.text
