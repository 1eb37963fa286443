"""The portal's phone hints and errors give a number of the jurisdiction's own country, in EN and FR: the
forms accept SMS numbers of that country only, so a Canadian example on the NYC portal was refused by the
very page that suggested it."""

from __future__ import annotations

import re
from datetime import timedelta
from functools import cache

import httpx
import pytest

from portal_fakes import NOW, FakeReads, MemoryPortalStore, _NoCaseApi
from services.intake_web.adapters.profiles import LinkRequest, LinkStarted
from services.intake_web.app import create_app
from services.intake_web.domain.i18n import phone_example
from services.intake_web.domain.portal import form_token
from shared.jurisdiction import Jurisdiction, load_jurisdiction
from shared.settings import Settings
from web_fakes import FakePublisher


@cache
def _jurisdiction(name: str) -> Jurisdiction:
    return load_jurisdiction(name)


def portal_of(name: str) -> tuple[httpx.AsyncClient, Settings]:
    """The portal of jurisdiction `name` on fakes, its clock 10 s after `NOW` (past the form's minimum fill)."""
    settings = Settings(jurisdiction=name, portal_min_fill_s=3.0)
    app = create_app(settings, jurisdiction=_jurisdiction(name), publisher=FakePublisher(), case_api=_NoCaseApi(),
                     clock=lambda: NOW + timedelta(seconds=10), portal_store=MemoryPortalStore(),
                     portal_reads=FakeReads())
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://portal.test"), settings


def hint(html: str) -> str:
    found = re.search(r'id="link-phone-hint">([^<]*)<', html)
    assert found, html
    return found.group(1)


@pytest.mark.parametrize(("name", "example"), [("nyc", "+1 201-555-0123"), ("boston", "+1 201-555-0123"),
                                               ("demo", "+1 506-234-5678"), ("montreal", "+1 506-234-5678")])
async def test_the_link_page_hints_a_number_of_the_jurisdictions_country_in_both_languages(name: str,
                                                                                            example: str) -> None:
    web, _ = portal_of(name)
    async with web:
        en = await web.get("/profile/link?lang=en")
        fr = await web.get("/profile/link?lang=fr")
    assert hint(en.text) == f"For example {example}. The code comes by text message."
    assert hint(fr.text) == f"Par exemple {example}. Le code arrive par texto."
    assert "613 555 0123" not in en.text + fr.text


async def test_the_number_the_nyc_link_page_suggests_is_accepted_by_it() -> None:
    web, settings = portal_of("nyc")
    sent: list[LinkRequest] = []

    class Profiles:
        async def start_link(self, request: LinkRequest) -> LinkStarted:
            sent.append(request)
            return LinkStarted(link_id="lnk_0123abcd", expires_at=NOW + timedelta(minutes=10))

    web._transport.app.state.deps.site.profiles = Profiles()  # type: ignore[attr-defined]
    form = {"email": "ann@example.org", "phone": phone_example("US"), "preferred_channel": "sms", "language": "en",
            "website": "", "form_token": form_token(settings.portal_form_secret, NOW)}
    async with web:
        r = await web.post("/profile/link?lang=en", data=form)
    assert r.status_code == 200 and [request.phone for request in sent] == ["+12015550123"]


async def test_a_malformed_number_is_answered_with_an_example_of_the_country_in_both_languages() -> None:
    web, settings = portal_of("nyc")
    form = {"email": "ann@example.org", "phone": "12", "preferred_channel": "sms", "language": "en", "website": "",
            "form_token": form_token(settings.portal_form_secret, NOW)}
    async with web:
        en = await web.post("/profile/link?lang=en", data=form)
        fr = await web.post("/profile/link?lang=fr", data=form)
    assert en.status_code == 400 and "Enter a phone number like +1 201-555-0123." in en.text
    assert fr.status_code == 400 and "Entrez un numéro comme +1 201-555-0123." in fr.text


def test_a_region_libphonenumber_does_not_know_gets_the_us_example() -> None:
    assert phone_example("fr") == "+33 6 12 34 56 78"
    assert phone_example("ZZ") == "+1 201-555-0123"
