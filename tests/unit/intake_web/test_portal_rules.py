"""The portal's pure rules: the page language, the spam guard's form token, help articles matched by
category or words (accents and case ignored), contact keys equal to the email and SMS channels' own, and
nearby reports ordered by distance."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest

from services.intake_email.domain.intake import contact_key as email_channel_key
from services.intake_web.domain.i18n import MESSAGES, choose_language, translate
from services.intake_web.domain.portal import (
    Contact,
    FormProblem,
    SpamRefused,
    check_form,
    follow_request,
    form_token,
    in_language,
    looks_like_case_number,
    nearest,
    parse_contact,
    survey_answer,
)
from shared.contacts import contact_key
from shared.jurisdiction.help import fold, load_help, match_articles
from shared.open311 import ServiceRequest

NOW = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)
SECRET = "s3cret"


@pytest.mark.parametrize(("query", "cookie", "header", "default", "expected"), [
    (None, None, "fr-CA,fr;q=0.9,en;q=0.8", "en", "fr"),
    (None, None, "de-DE,en;q=0.5", "fr", "en"),
    (None, None, "de-DE", "fr", "fr"),
    (None, None, None, "es", "en"),
    (None, "fr", "en-US", "en", "fr"),
    ("en", "fr", "fr", "fr", "en"),
    ("xx", None, "en;q=0.1, fr;q=0.9", "en", "fr"),
])
def test_the_page_language_follows_query_then_cookie_then_browser_then_jurisdiction(
        query: str | None, cookie: str | None, header: str | None, default: str, expected: str) -> None:
    assert choose_language(query, cookie, header, default=default) == expected


def test_every_english_text_has_a_french_one_with_the_same_fields() -> None:
    import string

    def fields(text: str) -> set[str]:
        return {f for _, f, _, _ in string.Formatter().parse(text) if f}

    assert set(MESSAGES["en"]) == set(MESSAGES["fr"])
    assert [k for k in MESSAGES["en"] if fields(MESSAGES["en"][k]) != fields(MESSAGES["fr"][k])] == []
    assert translate("fr", "case.title", sid="DEMO-26-1") == "Demande DEMO-26-1"
    assert translate("fr", "no.such.key") == "no.such.key"


def test_a_bilingual_jurisdiction_text_shows_one_language() -> None:
    assert in_language("How big is the hole? / Quelle est la taille du trou ?", "fr") == "Quelle est la taille du trou ?"
    assert in_language("How big is the hole? / Quelle est la taille du trou ?", "en") == "How big is the hole?"
    assert in_language("Only English", "fr") == "Only English"


def test_a_form_sent_in_time_with_an_empty_honeypot_passes() -> None:
    token = form_token(SECRET, NOW)
    check_form(SECRET, token, "", now=NOW + timedelta(seconds=5), min_fill_s=3, ttl_s=7200)


@pytest.mark.parametrize(("token", "honeypot", "after_s", "reason"), [
    ("ok", "http://spam.example", 10, "honeypot"),
    ("ok", "", 1, "form_too_fast"),
    ("ok", "", 7201, "form_expired"),
    ("", "", 10, "form_token_invalid"),
    ("1764514800.deadbeef", "", 10, "form_token_invalid"),
    ("other-secret", "", 10, "form_token_invalid"),
])
def test_the_spam_guard_refuses_bots_and_stale_or_forged_forms(token: str, honeypot: str, after_s: int,
                                                               reason: str) -> None:
    real = {"ok": form_token(SECRET, NOW), "other-secret": form_token("another", NOW)}.get(token, token)
    with pytest.raises(SpamRefused) as refused:
        check_form(SECRET, real, honeypot, now=NOW + timedelta(seconds=after_s), min_fill_s=3, ttl_s=7200)
    assert refused.value.reason == reason


def test_help_articles_match_a_category_or_words_without_accents_or_case() -> None:
    articles = load_help("demo")
    assert [a.id for a in match_articles(articles, service_code="snow")][:2] == ["snow-clearing", "overnight-parking"]
    assert [a.id for a in match_articles(articles, query="Il y a un CANAPE devant chez moi")] == ["bulky-items"]
    assert [a.id for a in match_articles(articles, query="Déneigement de ma rue ?")] == ["snow-clearing"]
    assert match_articles(articles, query="sofas") == []  # whole words only
    assert match_articles(articles, query="") == []
    assert fold("Déneigement, ÉTÉ!") == "deneigement ete"
    both = match_articles(articles, service_code="missed-collection", query="recycling calendar")
    assert [a.id for a in both] == ["bulky-items", "recycling-calendar"]  # each article once


def test_every_jurisdiction_with_help_has_articles_in_english_and_french() -> None:
    for name in ("demo", "nyc", "boston"):
        articles = load_help(name)
        assert articles, name
        assert all({"en", "fr"} <= set(a.title) and {"en", "fr"} <= set(a.body) for a in articles), name


def test_a_contact_key_is_the_one_the_email_and_sms_channels_compute() -> None:
    by_mail = parse_contact({"notify": "email", "email": " Ann.Dupont@Example.org "}, region="CA")
    assert by_mail == Contact("email", email="Ann.Dupont@Example.org")
    assert by_mail.key("x") == email_channel_key("ann.dupont@example.org", fallback="x")
    by_text = parse_contact({"notify": "sms", "phone": "(613) 555-0123", "email": "ignored@example.org"},
                            region="CA")
    assert by_text == Contact("sms", phone="+16135550123") and by_text.key("x") == contact_key("phone", "+16135550123")
    anonymous = parse_contact({"notify": "none", "email": "kept@nowhere.example"}, region="CA")
    assert anonymous == Contact() and anonymous.key("web-1").startswith("ck_anon_")


@pytest.mark.parametrize(("form", "field"), [
    ({"notify": "email", "email": "not-an-address"}, "email"),
    ({"notify": "sms", "phone": "12"}, "phone"),
    ({"notify": "pigeon"}, "notify"),
])
def test_a_malformed_contact_names_its_field(form: dict[str, str], field: str) -> None:
    with pytest.raises(FormProblem) as problem:
        parse_contact(form, region="CA")
    assert list(problem.value.problems) == [field]


def test_a_follow_needs_an_address() -> None:
    with pytest.raises(FormProblem):
        follow_request("DEMO-26-000001", Contact(), request_id=UUID(int=1), now=NOW, language="en")
    event = follow_request("DEMO-26-000001", Contact("sms", phone="+16135550123"), request_id=UUID(int=1), now=NOW,
                           language="fr")
    assert (event.notify_channel, event.pii.phone, event.contact_key) == ("sms", "+16135550123",
                                                                          contact_key("phone", "+16135550123"))


def test_nearby_reports_are_within_the_radius_nearest_first() -> None:
    def at(sid: str, lat: float | None, long: float | None) -> ServiceRequest:
        return ServiceRequest(service_request_id=sid, status="open", lat=lat, long=long, requested_datetime=NOW)

    found = nearest([at("far", 45.4300, -75.6800), at("20m", 45.42168, -75.6972), at("0m", 45.4215, -75.6972),
                     at("nowhere", None, None)], 45.4215, -75.6972, radius_m=100)
    assert [(n.request.service_request_id, round(n.distance_m)) for n in found] == [("0m", 0), ("20m", 20)]


def test_case_numbers_are_told_from_tokens() -> None:
    assert looks_like_case_number("DEMO-26-000042") and looks_like_case_number("nyc-26-000042")
    assert not looks_like_case_number("web-6f1c8f5e-2f7a-4c55-9b1e-0d1f2a3b4c5d")


def test_a_survey_answer_is_keyed_by_the_contact_key_it_is_given() -> None:
    event = survey_answer(service_request_id="DEMO-26-000001", contact_key="survey:0f3c", jti="0f3c", rating=4,
                          comment="", now=NOW, language="fr")
    assert (event.contact_key, event.channel_message_id, event.rating) == ("survey:0f3c", "0f3c", 4)
