"""How every web page picks its language and fills its messages (`shared.web.i18n`): one set of rules used by
the portal, the workbench and the refusal pages of `shared.abuse`; each service keeps its own catalogue."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI, Request

import services.intake_web.domain.i18n as portal_i18n
import services.workbench.domain.i18n as workbench_i18n
from shared.abuse import refusal_response
from shared.web import i18n


@pytest.mark.parametrize(("chosen", "header", "default", "expected"), [
    ((None, None), "fr-CA,fr;q=0.9,en;q=0.8", "en", "fr"),
    ((None, "fr"), "en-US", "en", "fr"),
    (("en", "fr"), "fr", "fr", "en"),
    ((None, None), "fr;q=0.5, en", "fr", "en"),   # q-values, not the first tag
    ((None, None), "de, fr;q=0", "fr", "fr"),      # q=0 is a refusal; the default then
    (("de", None), None, "es", "en"),
])
def test_a_pages_language_follows_the_choice_then_the_browser_then_the_default(
        chosen: tuple[str | None, ...], header: str | None, default: str, expected: str) -> None:
    assert i18n.choose_language(*chosen, accept_language=header, default=default) == expected


def test_each_service_keeps_its_catalogue_with_the_shared_rules() -> None:
    assert portal_i18n.translate("fr", "nav.home") == portal_i18n.MESSAGES["fr"]["nav.home"]
    assert workbench_i18n.translate("fr", "no.such.key") == "no.such.key"
    assert i18n.translate({"en": {"hi": "Hi {name}"}, "fr": {}}, "fr", "hi", name="Ann") == "Hi Ann"
    assert portal_i18n.other_language is workbench_i18n.other_language is i18n.other_language
    assert portal_i18n.LANGUAGE_COOKIE == workbench_i18n.LANGUAGE_COOKIE == i18n.LANGUAGE_COOKIE


async def test_the_plain_refusal_page_weighs_the_browsers_languages() -> None:
    app = FastAPI()

    @app.get("/page")
    async def page(request: Request) -> object:
        return refusal_response(request, 429, "too many requests", "trop de demandes")

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as web:
        weighed = await web.get("/page", headers={"accept-language": "fr;q=0.3, en;q=0.9"})
        french = await web.get("/page", headers={"accept-language": "en;q=0.1, fr-CA"})
    assert 'lang="en"' in weighed.text and 'lang="fr"' in french.text
