"""The resident portal's routes through the real app (ASGI) with a fake publisher, an in-memory store and
fake case reads: what each page shows, what each form publishes, and what is refused with nothing
published."""

from __future__ import annotations

import base64
import io
import re
from datetime import timedelta
from typing import Any

import pytest
from PIL import Image

from portal_fakes import CASE, NOW, Portal
from services.intake_web.domain.portal import form_token, web_event_id
from shared.contacts import contact_key
from shared.intake import CaseApiNoRoute
from shared.events import FollowRequested, HelpDeflected, MessageReceived, SurveyAnswered
from shared.surveys import survey_jti, survey_token

REPORT = {"service_code": "pothole", "attribute[size]": "large", "description": "Un trou profond devant l'école",
          "lat": "45.4216", "long": "-75.6973", "notify": "email", "email": "ann@example.org", "website": ""}


def jpeg(width: int = 64, height: int = 48) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (10, 80, 160)).save(out, format="JPEG")
    return out.getvalue()


def later(portal: Portal, seconds: float = 10) -> None:
    portal.now = NOW + timedelta(seconds=seconds)


def report(portal: Portal, **over: Any) -> dict[str, Any]:
    """The report form as served at NOW (its form token) with `over`; the clock moved 10 s on."""
    later(portal)
    return {**REPORT, "form_token": form_token(portal.settings.portal_form_secret, NOW), **over}


async def test_home_follows_the_browser_language_and_a_chosen_one_is_kept_in_a_cookie() -> None:
    p = Portal()
    async with p.web as web:
        fr = await web.get("/", headers={"accept-language": "fr-CA,fr;q=0.9"})
        en = await web.get("/", headers={"accept-language": "en-US"})
        chosen = await web.get("/?lang=fr", headers={"accept-language": "en-US"})
    assert fr.status_code == 200 and '<html lang="fr">' in fr.text and "Signaler un problème" in fr.text
    assert '<html lang="en">' in en.text and "Report a problem" in en.text
    assert '<html lang="fr">' in chosen.text and "lang=fr" in chosen.headers["set-cookie"]
    assert 'href="/?lang=en"' in chosen.text and "Content-Security-Policy" in chosen.headers
    assert "/static/vendor/uswds/css/uswds.min.css" in en.text and "https://" not in en.text.split("<body>")[0]


async def test_the_report_form_groups_categories_and_carries_the_spam_guard() -> None:
    p = Portal()
    async with p.web as web:
        page = await web.get("/report?lang=fr")
        chosen = await web.get("/report?service_code=pothole&lang=fr")
        fragment = await web.get("/report/questions?service_code=graffiti&lang=en", headers={"hx-request": "true"})
    assert page.status_code == 200
    assert '<optgroup label="Streets">' in page.text and '>Nid-de-poule</option>' in page.text
    assert '<option value="pothole" data-search="' in page.text
    assert 'name="website"' in page.text and 'aria-hidden="true"' in page.text
    token = re.search(r'name="form_token" value="([^"]+)"', page.text)
    assert token and token.group(1) == form_token(p.settings.portal_form_secret, NOW)
    assert 'id="districts-data"' in page.text and 'id="report-map"' in page.text
    assert 'name="attribute[size]"' in chosen.text and "Quelle est la taille du trou ?" in chosen.text
    assert 'id="article-' not in chosen.text or "Nid" in chosen.text
    assert 'name="attribute[surface][]"' in fragment.text and "What is it painted on?" in fragment.text
    assert "<html" not in fragment.text


async def test_a_report_publishes_one_web_intake_message_and_shows_its_token() -> None:
    p = Portal()
    async with p.web as web:
        r = await web.post("/report", data=report(p), headers={"accept-language": "fr"})
    assert r.status_code == 200, r.text
    [env] = p.published
    msg = env.payload(MessageReceived)
    assert (msg.channel, msg.service_code, msg.language, msg.attributes) == ("web", "pothole", "fr", {"size": "large"})
    assert (msg.lat, msg.long, msg.pii.email) == (45.4216, -75.6973, "ann@example.org")
    assert msg.contact_key == contact_key("email", "ann@example.org") == env.subject
    assert msg.channel_message_id.startswith("web-") and msg.channel_message_id in r.text
    assert f'href="/track?q={msg.channel_message_id}"' in r.text


async def test_an_anonymous_report_with_an_address_only_keeps_no_contact() -> None:
    p = Portal()
    async with p.web as web:
        r = await web.post("/report", data=report(p, lat="", long="", address="12 rue Principale", notify="none"))
    assert r.status_code == 200, r.text
    msg = p.published[0].payload(MessageReceived)
    assert msg.pii.is_empty() and msg.contact_key.startswith("ck_anon_") and msg.address == "12 rue Principale"


@pytest.mark.parametrize(("over", "named"), [
    ({"attribute[size]": ""}, "size"),
    ({"attribute[size]": "huge"}, "size"),
    ({"service_code": "unicorns"}, "Choose a category"),
    ({"description": ""}, "Describe the problem"),
    ({"lat": "48.85", "long": "2.35"}, "outside the city"),
    ({"lat": "", "long": "", "address": ""}, "Place a pin"),
    ({"email": "nope"}, "email address like"),
    ({"jurisdiction_id": "nyc"}, "jurisdiction_id nyc not found"),
])
async def test_a_report_to_correct_is_shown_again_with_its_problem_and_nothing_is_published(
        over: dict[str, str], named: str) -> None:
    p = Portal()
    async with p.web as web:
        r = await web.post("/report", data=report(p, **over), headers={"accept-language": "en"})
    assert r.status_code == 400 and named in r.text and p.published == []
    assert "description" in over or "Un trou profond devant l&#39;école" in r.text  # the text is kept


@pytest.mark.parametrize(("over", "wait_s", "shown"), [
    ({"website": "http://cheap.example"}, 10, "could not be accepted"),
    ({}, 1, "sent too quickly"),
    ({}, 7201, "open too long"),
    ({"form_token": "123.forged"}, 10, "could not be accepted"),
])
async def test_the_spam_guard_refuses_and_keeps_the_text(over: dict[str, str], wait_s: float, shown: str) -> None:
    p = Portal()
    form = report(p, **over)
    later(p, wait_s)
    async with p.web as web:
        r = await web.post("/report", data=form, headers={"accept-language": "en"})
    assert r.status_code == 400 and shown in r.text and p.published == []
    assert "Un trou profond devant l&#39;école" in r.text
    assert form_token(p.settings.portal_form_secret, p.now) in r.text  # a fresh token to send again


async def test_a_photo_is_stored_clean_and_served_and_its_url_goes_on_the_report() -> None:
    p = Portal()
    async with p.web as web:
        up = await web.post("/photos", files={"photo": ("IMG_1.jpg", jpeg(3200, 2400), "image/jpeg")})
        photo = up.json()
        served = await web.get(f"/media/{photo['id']}.jpg")
        missing = await web.get("/media/8e0f5f5c-0000-4000-8000-00000000dead.jpg")
        sent = await web.post("/report", data={**report(p), "photo_id": photo["id"]})
    assert up.status_code == 201 and photo["url"] == f"http://127.0.0.1:8080/media/{photo['id']}.jpg"
    assert served.status_code == 200 and served.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(served.content)).size == (1600, 1200) and "public" in served.headers["cache-control"]
    assert missing.status_code == 404
    assert sent.status_code == 200 and p.published[0].payload(MessageReceived).media_url == [photo["url"]]


async def test_a_photo_sent_with_the_form_itself_works_without_javascript() -> None:
    p = Portal()
    async with p.web as web:
        r = await web.post("/report", data=report(p), files={"photo": ("a.jpg", jpeg(), "image/jpeg")})
    assert r.status_code == 200, r.text
    [url] = p.published[0].payload(MessageReceived).media_url
    assert url.startswith("http://127.0.0.1:8080/media/") and len(p.store.photos) == 1


async def test_what_is_not_an_image_gets_415_and_a_file_over_the_limit_413() -> None:
    p = Portal(max_upload_bytes=50_000)
    async with p.web as web:
        text = await web.post("/photos", files={"photo": ("notes.jpg", b"just some text", "image/jpeg")})
        big = await web.post("/photos", files={"photo": ("big.bmp", b"\0" * 60_000, "image/bmp")})
        none = await web.post("/photos", files={"other": ("a.jpg", jpeg(), "image/jpeg")})
        form = await web.post("/report", data=report(p), files={"photo": ("notes.jpg", b"text", "image/jpeg")})
    assert text.status_code == 415 and big.status_code == 413 and none.status_code == 400
    assert form.status_code == 415 and p.published == [] and p.store.photos == {}


async def test_nearby_open_reports_of_the_category_are_listed_nearest_first_with_a_follow_button() -> None:
    p = Portal()
    async with p.web as web:
        html = await web.get("/report/nearby?service_code=pothole&lat=45.42168&long=-75.6972",
                             headers={"hx-request": "true", "accept-language": "fr"})
        data = await web.get("/report/nearby?service_code=pothole&lat=45.42168&long=-75.6972",
                             headers={"accept": "application/json"})
        bad = await web.get("/report/nearby?service_code=pothole&lat=north&long=-75.6972")
    assert html.status_code == 200 and 'id="follow-DEMO-26-000042"' in html.text and "à 20 m" in html.text
    assert "DEMO-26-000043" not in html.text  # 1.8 km away
    assert data.json()["requests"] == [{"service_request_id": "DEMO-26-000042", "distance_m": 20,
                                        "address": "100 Main St", "lat": 45.4215, "long": -75.6972,
                                        "requested_datetime": NOW.isoformat()}]
    assert ("nearby", ("pothole", 45.42168, -75.6972, 100.0)) in p.reads.asked and bad.status_code == 400


async def test_nearby_says_so_when_the_case_service_does_not_answer() -> None:
    p = Portal(down=True)
    async with p.web as web:
        r = await web.get("/report/nearby?service_code=pothole&lat=45.42&long=-75.69", headers={"hx-request": "true"})
    assert r.status_code == 200 and 'id="nearby-unavailable"' in r.text


async def test_help_articles_answer_and_a_deflection_is_published() -> None:
    p = Portal()
    async with p.web as web:
        page = await web.get("/report/help?q=canap%C3%A9&lang=fr")
        fragment = await web.get("/report/help?service_code=snow&lang=en", headers={"hx-request": "true"})
        answered = await web.post("/help/bulky-items/answered?lang=fr", data={"service_code": "missed-collection"},
                                  headers={"hx-request": "true", "accept-language": "fr"})
        unknown = await web.post("/help/no-such-article/answered", data={})
    assert "Jours de collecte des encombrants" in page.text and "<html" in page.text
    assert "Snow clearing, street by street" in fragment.text and "<html" not in fragment.text
    assert answered.status_code == 200 and unknown.status_code == 404
    [env] = p.published
    event = env.payload(HelpDeflected)
    assert (event.article_id, event.service_code, event.language) == ("bulky-items", "missed-collection", "fr")
    assert event.contact_key.startswith("web:") and "@" not in event.contact_key


async def test_one_browser_answering_the_same_article_three_times_is_one_deflection_event() -> None:
    p = Portal()
    async with p.web as web:
        for session, article in [("s1", "bulky-items")] * 3 + [("s2", "bulky-items"), ("s1", "snow-clearing")]:
            r = await web.post(f"/help/{article}/answered", data={}, headers={"cookie": f"portal_session={session}"})
            assert r.status_code == 200, article
    ids = [(env.event_id, env.payload(HelpDeflected).channel_message_id) for env in p.published]
    # the consumer's inbox (insights, on event id) counts a repeated event once
    assert ids[0] == ids[1] == ids[2]
    assert len({ids[0], ids[3], ids[4]}) == 3


async def test_tracking_finds_a_case_by_number_or_token_and_says_when_it_is_not_there_yet() -> None:
    p = Portal()
    p.reads.tokens["web-known"] = CASE.service_request_id
    async with p.web as web:
        by_number = await web.get("/track?q=demo-26-000042")
        by_token = await web.get("/track?q=web-known")
        pending = await web.get("/track?q=web-not-yet")
        unknown = await web.get("/track?q=DEMO-26-999999")
        p.reads.down = True
        down = await web.get("/track?q=DEMO-26-000042")
    assert down.status_code == 503 and by_number.status_code == by_token.status_code == 303
    assert by_number.headers["location"] == by_token.headers["location"] == "/cases/DEMO-26-000042"
    assert pending.status_code == 200 and 'id="track-pending"' in pending.text
    assert unknown.status_code == 404 and 'id="track-not-found"' in unknown.text


async def test_the_tracking_page_shows_the_public_history_and_photos() -> None:
    p = Portal()
    async with p.web as web:
        page = await web.get("/cases/DEMO-26-000042", headers={"accept-language": "fr"})
        unknown = await web.get("/cases/DEMO-26-999999")
    assert page.status_code == 200
    for shown in ("Demande DEMO-26-000042", "Nid-de-poule", "Crew scheduled", "We fill it on Tuesday.",
                  "Demande reçue", 'src="/media/8e0f5f5c-0000-4000-8000-000000000001.jpg"', 'id="follow"',
                  'id="case-map"'):
        assert shown in page.text, shown
    assert unknown.status_code == 404
    followers, history = page.text.index('id="case-followers"'), page.text.index('id="history-title"')
    assert followers < history, "the follower count is part of the case summary, not an entry of the history"


async def test_the_tracking_page_shows_the_case_while_its_history_cannot_be_read() -> None:
    p = Portal()

    async def no_history(_sid: str) -> None:
        from shared.intake import CaseApiUnavailable
        raise CaseApiUnavailable("down", 503)

    p.reads.history = no_history  # type: ignore[method-assign]
    async with p.web as web:
        page = await web.get("/cases/DEMO-26-000042")
    assert page.status_code == 200 and "Request received" in page.text


def guarded(portal: Portal, **fields: str) -> dict[str, str]:
    """A follow form as the tracking page serves it at NOW (its form token, the empty honeypot); the clock
    moved 10 s on."""
    later(portal)
    return {"form_token": form_token(portal.settings.portal_form_secret, NOW), "website": "", **fields}


async def test_following_a_case_publishes_a_follow_request_for_that_address() -> None:
    p = Portal()
    async with p.web as web:
        page = await web.get("/cases/DEMO-26-000042")
        by_sms = await web.post("/cases/DEMO-26-000042/follow", data=guarded(p, notify="sms", phone="613 555 0123"),
                                headers={"accept-language": "fr"})
        no_address = await web.post("/cases/DEMO-26-000042/follow", data=guarded(p, notify="email", email=""))
        unknown = await web.post("/cases/DEMO-26-999999/follow",
                                 data=guarded(p, notify="email", email="a@example.org"))
        from_report = await web.post("/cases/DEMO-26-000042/follow", data=report(p), headers={"hx-request": "true"})
    assert 'name="form_token"' in page.text and 'name="website"' in page.text
    assert by_sms.status_code == 200 and "Vous suivez la demande DEMO-26-000042" in by_sms.text
    assert no_address.status_code == 400 and unknown.status_code == 404
    assert from_report.status_code == 200 and "<html" not in from_report.text
    first, second = (env.payload(FollowRequested) for env in p.published)
    assert (first.service_request_id, first.notify_channel, first.pii.phone, first.language) == (
        "DEMO-26-000042", "sms", "+16135550123", "fr")
    assert first.contact_key == contact_key("phone", "+16135550123")
    assert (second.notify_channel, second.pii.email) == ("email", "ann@example.org")
    assert first.channel_message_id != second.channel_message_id


@pytest.mark.parametrize(("fields", "wait_s"), [
    ({"website": "http://cheap.example"}, 10),  # the honeypot filled
    ({"form_token": ""}, 10),                   # no token: a script posting straight to the route
    ({"form_token": "123.forged"}, 10),
    ({}, 1),                                    # sooner than the minimum fill time
])
async def test_a_follow_without_the_spam_guard_is_refused_and_nothing_is_published(
        fields: dict[str, str], wait_s: float) -> None:
    p = Portal()
    form = {**guarded(p, notify="email", email="victim@example.org"), **fields}
    later(p, wait_s)
    async with p.web as web:
        page = await web.post("/cases/DEMO-26-000042/follow", data=form)
        fragment = await web.post("/cases/DEMO-26-000042/follow", data=form, headers={"hx-request": "true"})
    assert page.status_code == 400 and ("could not be accepted" in page.text or "too quickly" in page.text)
    assert 'value="victim@example.org"' in page.text  # the address is kept to send again
    assert fragment.status_code == 400 and "<html" not in fragment.text
    assert p.published == []


@pytest.mark.parametrize("phone", ["+44 7911 123456", "+1 876 555 0123", "+1 212 555 0123"])
async def test_texts_go_only_to_numbers_of_the_jurisdictions_country(phone: str) -> None:
    p = Portal()
    async with p.web as web:
        follow = await web.post("/cases/DEMO-26-000042/follow", data=guarded(p, notify="sms", phone=phone))
        sent = await web.post("/report", data=report(p, notify="sms", phone=phone, email=""))
    for r in (follow, sent):
        assert r.status_code == 400 and "only to phone numbers of this country" in r.text
    assert p.published == []


async def test_a_survey_is_answered_once_per_invitation() -> None:
    p = Portal()
    token = survey_token(p.settings.survey_secret, service_request_id="DEMO-26-000042", contact_key="ck_ann",
                         language="fr", now=NOW, ttl_s=3600)
    async with p.web as web:
        page = await web.get(f"/survey/{token}")
        bad_rating = await web.post(f"/survey/{token}", data={"rating": "7"})
        first = await web.post(f"/survey/{token}", data={"rating": "4", "comment": " Rapide, merci. "})
        second = await web.post(f"/survey/{token}", data={"rating": "1"})
    assert page.status_code == 200 and "DEMO-26-000042" in page.text and 'name="rating"' in page.text
    assert bad_rating.status_code == 400 and first.status_code == 200 and second.status_code == 409
    [env] = p.published
    answer = env.payload(SurveyAnswered)
    jti = survey_jti("DEMO-26-000042", "ck_ann")
    assert (answer.service_request_id, answer.channel_message_id, answer.rating, answer.comment, answer.language) == (
        "DEMO-26-000042", jti, 4, "Rapide, merci.", "fr")
    # the token names no reporter, so neither does the event: its key names the invitation
    assert answer.contact_key == env.subject == f"survey:{jti}" and "ck_ann" not in env.model_dump_json()
    assert env.event_id == web_event_id("survey", jti) and jti in p.store.answered


def _altered(token: str) -> str:
    raw = bytearray(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    raw[-20] ^= 1  # another case number under the same signature
    return base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()


@pytest.mark.parametrize("spoil", [
    pytest.param(lambda t: t[:-3] + "abc", id="forged"),
    pytest.param(lambda t: t[:-5], id="truncated"),
    pytest.param(lambda t: t[: len(t) // 2], id="cut-in-half"),
    pytest.param(_altered, id="altered"),
    pytest.param(lambda t: survey_token("another-secret-of-at-least-32-bytes!", service_request_id="DEMO-26-000042",
                                        contact_key="ck_ann", language="fr", now=NOW, ttl_s=3600), id="other-secret"),
    pytest.param(lambda t: "not-a-survey-token", id="garbage"),
])
async def test_a_forged_altered_or_truncated_survey_link_is_a_clear_400_and_nothing_is_published(spoil) -> None:
    p = Portal()
    token = spoil(survey_token(p.settings.survey_secret, service_request_id="DEMO-26-000042", contact_key="ck_ann",
                               language="fr", now=NOW, ttl_s=3600))
    async with p.web as web:
        page = await web.get(f"/survey/{token}", headers={"accept-language": "en"})
        answer = await web.post(f"/survey/{token}", data={"rating": "5"}, headers={"accept-language": "en"})
    for r in (page, answer):
        assert r.status_code == 400 and 'id="survey-invalid"' in r.text and "not valid" in r.text
    assert p.published == [] and p.store.answered == {}


async def test_a_survey_answer_that_could_not_be_published_is_not_recorded_and_can_be_sent_again() -> None:
    p = Portal()
    token = survey_token(p.settings.survey_secret, service_request_id="DEMO-26-000042", contact_key="ck_ann",
                         language="en", now=NOW, ttl_s=3600)
    publish = p.publisher.publish

    async def broken(_env: Any) -> None:
        raise ConnectionError("kafka down")

    p.publisher.publish = broken  # type: ignore[method-assign]
    async with p.web as web:
        with pytest.raises(ConnectionError):
            await web.post(f"/survey/{token}", data={"rating": "5"})
        assert p.store.answered == {}
        p.publisher.publish = publish  # type: ignore[method-assign]
        again = await web.post(f"/survey/{token}", data={"rating": "5"})
    assert again.status_code == 200 and len(p.published) == 1


async def test_a_crash_between_publishing_and_recording_loses_no_answer_and_a_retry_is_the_same_event() -> None:
    p = Portal()
    token = survey_token(p.settings.survey_secret, service_request_id="DEMO-26-000042", contact_key="ck_ann",
                         language="en", now=NOW, ttl_s=3600)
    claim = p.store.claim_survey

    async def crash(**_kwargs: Any) -> bool:
        raise ConnectionError("database gone")

    p.store.claim_survey = crash  # type: ignore[method-assign]
    async with p.web as web:
        with pytest.raises(ConnectionError):
            await web.post(f"/survey/{token}", data={"rating": "5", "comment": "Quick"})
        [published] = p.published  # the answer left before the crash: the case service has it
        assert published.payload(SurveyAnswered).rating == 5 and p.store.answered == {}
        p.store.claim_survey = claim  # type: ignore[method-assign]
        retry = await web.post(f"/survey/{token}", data={"rating": "5", "comment": "Quick"})
        third = await web.post(f"/survey/{token}", data={"rating": "2"})
    assert retry.status_code == 200 and third.status_code == 409
    first, again = p.published
    assert first.event_id == again.event_id  # the same event: the case service keeps one answer per jti
    assert survey_jti("DEMO-26-000042", "ck_ann") in p.store.answered


async def test_an_expired_survey_link_is_refused() -> None:
    p = Portal()
    token = survey_token(p.settings.survey_secret, service_request_id="DEMO-26-000042", contact_key="ck_ann",
                         language="en", now=NOW - timedelta(days=40), ttl_s=30 * 86400)
    async with p.web as web:
        r = await web.post(f"/survey/{token}", data={"rating": "5"})
    assert r.status_code == 400 and "not valid" in r.text and p.published == []


async def test_the_submitted_page_asks_for_its_case_number_until_the_case_is_open() -> None:
    p = Portal()
    async with p.web as web:
        sent = await web.post("/report", data=report(p), headers={"accept-language": "en"})
        token = p.published[0].payload(MessageReceived).channel_message_id
        waiting = await web.get(f"/report/status?token={token}&n=3", headers={"hx-request": "true"})
        p.reads.tokens[token] = CASE.service_request_id
        opened = await web.get(f"/report/status?token={token}&n=4", headers={"hx-request": "true"})
        given_up = await web.get("/report/status?token=web-never&n=60", headers={"hx-request": "true"})
    assert f'hx-get="/report/status?token={token}&amp;n=0"' in sent.text
    assert f'hx-get="/report/status?token={token}&amp;n=4"' in waiting.text
    assert 'href="/cases/DEMO-26-000042"' in opened.text and "hx-get" not in opened.text
    assert "hx-get" not in given_up.text


async def test_a_survey_page_opens_in_the_invitations_language_unless_one_was_chosen() -> None:
    p = Portal()
    token = survey_token(p.settings.survey_secret, service_request_id="DEMO-26-000042", contact_key="ck_ann",
                         language="fr", now=NOW, ttl_s=3600)
    async with p.web as web:
        invited = await web.get(f"/survey/{token}", headers={"accept-language": "en-US"})
        chosen = await web.get(f"/survey/{token}?lang=en")
    assert '<html lang="fr">' in invited.text and '<html lang="en">' in chosen.text


async def test_a_token_the_case_api_cannot_carry_is_no_case_but_a_programming_error_is_not_hidden() -> None:
    p = Portal()

    async def no_route(token: str, channel: str = "open311") -> str | None:
        raise CaseApiNoRoute("case API has no route for /cases/tokens/..")

    async def broken(token: str, channel: str = "open311") -> str | None:
        raise TypeError("a bug of ours")

    async with p.web as web:
        p.reads.case_of_token = no_route  # type: ignore[method-assign]
        tracked = await web.get("/track", params={"q": "web-.."})
        polled = await web.get("/report/status", params={"token": "web-..", "n": "3"})
        p.reads.case_of_token = broken  # type: ignore[method-assign]
        for path, params in (("/track", {"q": "web-x"}), ("/report/status", {"token": "web-x"})):
            with pytest.raises(TypeError):
                await web.get(path, params=params)
    assert tracked.status_code == 200 and "hx-get" not in polled.text


async def test_the_mobile_menu_and_its_close_button_are_labelled_in_the_page_language() -> None:
    """USWDS shows the menu button's text upper-cased ("MENU", the same word in French); the text and the
    close button's label come from the translations."""
    p = Portal()
    async with p.web as web:
        fr = await web.get("/report?lang=fr")
        en = await web.get("/report?lang=en")
    assert '<button type="button" class="usa-menu-btn">Menu</button>' in fr.text
    assert 'alt="Fermer"' in fr.text and 'alt="Close"' not in fr.text
    assert '<button type="button" class="usa-menu-btn">Menu</button>' in en.text and 'alt="Close"' in en.text
