"""The portal's category search matches a service's names, labels, group and keywords in every language,
accents and case ignored: the server puts those words, folded, on each option (``data-search``) and
portal.js folds what the resident types the same way."""

from __future__ import annotations

import re
from pathlib import Path

from portal_fakes import Portal
from services.intake_web.domain.portal import fold, grouped_services
from shared.jurisdiction import load_jurisdiction

PORTAL_JS = Path(__file__).parents[3] / "services" / "intake_web" / "static" / "portal.js"


def matches(search: str, typed: str) -> bool:
    """What portal.js does with an option's words and the text typed: every typed word is in them."""
    return all(w in search for w in fold(typed).split())


def test_a_french_keyword_of_a_nyc_service_finds_it_on_the_french_page() -> None:
    nyc = load_jurisdiction("nyc")
    words = {code: search for _, items in grouped_services(nyc.services, "fr") for code, _, search in items}
    assert matches(words["street-light-condition"], "Lampadaire")
    assert [code for code, search in words.items() if matches(search, "lampadaire")] == ["street-light-condition"]


async def test_each_rendered_option_carries_its_folded_names_group_and_keywords_in_every_language() -> None:
    p = Portal()
    async with p.web as web:
        page = await web.get("/report?lang=fr")
    option = re.search(r'<option value="pothole" data-search="([^"]*)">Nid-de-poule</option>', page.text)
    assert option, page.text
    for typed in ("CHAUSSÉE abîmée", "crater", "Streets", "Pothole", "nid"):
        assert matches(option.group(1), typed), typed
    assert "é" not in option.group(1) and option.group(1) == option.group(1).lower()


def test_portal_js_searches_the_data_search_words_folded_like_the_server() -> None:
    js = PORTAL_JS.read_text(encoding="utf-8")
    assert 'getAttribute("data-search")' in js and 'normalize("NFD")' in js
