"""The portal's "Link my email and phone" page (docs/integrations.md section 3) through the real app with a
fake notifier: the three steps, EN and FR, and every refusal (a field, the spam guard, the notifier's 422,
429, 410, 404 and silence) answered with the form again and nothing linked. The HTTP client of the
notifier's profile API is tested against a fake of its routes."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from portal_fakes import NOW, Portal
from services.intake_web.adapters.profiles import (
    CodeMismatch,
    Linked,
    LinkedContact,
    LinkExpired,
    LinkInvalid,
    LinkRateLimited,
    LinkRequest,
    LinkStarted,
    LinkUnknown,
    NotifierProfiles,
    ProfileLinkError,
    ProfilesUnavailable,
)
from services.intake_web.domain.portal import form_token


class FakeProfiles:
    """The notifier's profile API as the portal sees it: records what it was asked; `refuse_start` and
    `refuse_confirm` make the next call raise."""

    def __init__(self) -> None:
        self.started: list[LinkRequest] = []
        self.confirmed: list[tuple[str, str, str]] = []
        self.refuse_start: ProfileLinkError | None = None
        self.refuse_confirm: ProfileLinkError | None = None

    async def start_link(self, request: LinkRequest) -> LinkStarted:
        if self.refuse_start:
            raise self.refuse_start
        self.started.append(request)
        return LinkStarted(link_id="lnk_0123abcd", expires_at=NOW + timedelta(minutes=10))

    async def confirm(self, link_id: str, *, email_code: str, sms_code: str) -> Linked:
        if self.refuse_confirm:
            raise self.refuse_confirm
        self.confirmed.append((link_id, email_code, sms_code))
        return Linked(profile_id="p1", contacts=[LinkedContact(contact_key="ck_a", kind="email", masked="a***@example.org"),
                                                 LinkedContact(contact_key="ck_b", kind="phone", masked="+1 613-***-0123")])


def portal() -> tuple[Portal, FakeProfiles]:
    p = Portal()
    fake = FakeProfiles()
    p.web._transport.app.state.deps.site.profiles = fake  # type: ignore[attr-defined]
    return p, fake


def step1(p: Portal, **over: str) -> dict[str, str]:
    p.now = NOW + timedelta(seconds=10)
    return {"email": "ann@example.org", "phone": "613 555 0123", "preferred_channel": "sms", "language": "fr",
            "website": "", "form_token": form_token(p.settings.portal_form_secret, NOW), **over}


async def test_a_resident_links_email_and_phone_in_three_steps() -> None:
    p, fake = portal()
    async with p.web as web:
        form = await web.get("/profile/link", headers={"accept-language": "fr-CA"})
        sent = await web.post("/profile/link", data=step1(p), headers={"accept-language": "fr-CA"})
        action = re.search(r'action="(/profile/link/[^"]+/confirm)"', sent.text)
        assert action, sent.text
        done = await web.post(action.group(1), data={"sms_code": "123 456", "email_code": "654321"})
    assert form.status_code == 200 and "Lier mon courriel et mon téléphone" in form.text
    assert 'name="form_token"' in form.text and 'name="website"' in form.text
    assert sent.status_code == 200 and "Entrez les deux codes" in sent.text
    assert fake.started == [LinkRequest(email="ann@example.org", phone="+16135550123", preferred_channel="sms",
                                        language="fr")]
    assert fake.confirmed == [("lnk_0123abcd", "654321", "123456")]
    assert done.status_code == 200 and 'id="linked-contacts"' in done.text
    assert "a***@example.org" in done.text and "+1 613-***-0123" in done.text and "ck_a" not in done.text


async def test_the_home_and_track_pages_lead_to_the_link_page_in_english() -> None:
    p, _ = portal()
    async with p.web as web:
        home = await web.get("/?lang=en")
        track = await web.get("/track?lang=en")
        form = await web.get("/profile/link?lang=en")
    assert 'href="/profile/link"' in home.text and 'href="/profile/link"' in track.text
    assert "Link my email and phone" in form.text and 'value="en" checked' in form.text


@pytest.mark.parametrize(("over", "field"), [({"email": "not-an-address"}, "email"), ({"phone": "12"}, "phone"),
                                             ({"phone": "+33 6 12 34 56 78"}, "phone"),
                                             ({"preferred_channel": "fax"}, "preferred_channel"),
                                             ({"language": "de"}, "language")])
async def test_a_field_to_correct_shows_the_form_again_and_asks_nothing(over: dict[str, str], field: str) -> None:
    p, fake = portal()
    async with p.web as web:
        r = await web.post("/profile/link?lang=en", data=step1(p, **over))
    assert r.status_code == 400 and "usa-error-message" in r.text and 'id="link-form"' in r.text
    assert f'{field.replace("_", "-")}-error' in r.text
    assert fake.started == []


async def test_the_spam_guard_refuses_a_filled_honeypot_or_a_form_sent_too_fast() -> None:
    p, fake = portal()
    async with p.web as web:
        bot = await web.post("/profile/link", data=step1(p, website="http://spam.example"))
        fast = step1(p)
        p.now = NOW
        quick = await web.post("/profile/link", data=fast)
    assert bot.status_code == 400 and quick.status_code == 400 and 'id="link-notice"' in quick.text
    assert fake.started == []


@pytest.mark.parametrize(("refusal", "status", "words"), [
    (LinkInvalid("not a number"), 422, "cannot receive a code"),
    (LinkRateLimited(), 429, "Too many codes"),
    (ProfilesUnavailable(), 503, "Nothing was changed")])
async def test_the_notifiers_refusal_of_a_link_is_said_and_the_form_kept(refusal: ProfileLinkError, status: int,
                                                                          words: str) -> None:
    p, fake = portal()
    fake.refuse_start = refusal
    async with p.web as web:
        r = await web.post("/profile/link?lang=en", data=step1(p))
    assert r.status_code == status and words in r.text and 'value="ann@example.org"' in r.text
    assert (r.headers.get("retry-after") == "5") == (status == 503)


@pytest.mark.parametrize(("refusal", "status", "words"), [
    (CodeMismatch(3), 422, "Tries left: 3."),
    (LinkExpired(), 410, "have expired"),
    (LinkUnknown(), 404, "have expired"),
    (ProfilesUnavailable(), 503, "Nothing was changed")])
async def test_a_wrong_or_expired_code_links_nothing_and_says_what_to_do(refusal: ProfileLinkError, status: int,
                                                                           words: str) -> None:
    p, fake = portal()
    fake.refuse_confirm = refusal
    async with p.web as web:
        r = await web.post("/profile/link/lnk_0123abcd/confirm?lang=en",
                           data={"sms_code": "123456", "email_code": "654321"})
    assert r.status_code == status and words in r.text and 'id="linked-contacts"' not in r.text
    assert ('id="codes-form"' in r.text) == (status in (422, 503))


async def test_a_code_that_is_not_six_digits_spends_no_try() -> None:
    p, fake = portal()
    async with p.web as web:
        r = await web.post("/profile/link/lnk_0123abcd/confirm?lang=en", data={"sms_code": "12", "email_code": ""})
        odd = await web.post("/profile/link/..%2Fx/confirm?lang=en", data={"sms_code": "123456", "email_code": "1"})
    assert r.status_code == 400 and "sms-code-error" in r.text and "email-code-error" in r.text
    assert odd.status_code == 404
    assert fake.confirmed == []


def notifier(answers: dict[str, tuple[int, Any]], **kw: Any) -> tuple[NotifierProfiles, list[tuple[str, Any]]]:
    asked: list[tuple[str, Any]] = []
    app = FastAPI()

    @app.post("/profile-links")
    async def start(body: dict[str, Any], request: Request) -> Any:
        asked.append(("start", body))
        if request.headers.get("x-omni311-internal-token"):
            asked.append(("token", request.headers["x-omni311-internal-token"]))
        status, content = answers["start"]
        return JSONResponse(content, status_code=status)

    @app.post("/profile-links/{link_id}/confirm")
    async def confirm(link_id: str, body: dict[str, Any]) -> Any:
        asked.append((link_id, body))
        status, content = answers["confirm"]
        return JSONResponse(content, status_code=status)

    return NotifierProfiles("http://notifier.test", transport=httpx.ASGITransport(app=app), **kw), asked


async def test_the_client_speaks_the_contract_of_the_notifiers_profile_api() -> None:
    expires = datetime(2026, 11, 30, 12, tzinfo=UTC)
    client, asked = notifier({"start": (201, {"link_id": "abc", "expires_at": expires.isoformat()}),
                              "confirm": (200, {"profile_id": "p", "contacts": [
                                  {"contact_key": "ck_1", "kind": "email", "masked": "j***@example.org"}]})})
    started = await client.start_link(LinkRequest("j@example.org", "+15145550123", "sms", "en"))
    linked = await client.confirm("abc", email_code="111111", sms_code="222222")
    await client.stop()
    assert started == LinkStarted(link_id="abc", expires_at=expires)
    assert linked.contacts[0].masked == "j***@example.org"
    assert asked == [("start", {"email": "j@example.org", "phone": "+15145550123", "preferred_channel": "sms",
                                "language": "en"}), ("abc", {"email_code": "111111", "sms_code": "222222"})]


@pytest.mark.parametrize(("step", "status", "body", "raised"), [
    ("start", 422, {"detail": "phone is not a number"}, LinkInvalid),
    ("start", 429, {"detail": "rate"}, LinkRateLimited),
    ("start", 500, {}, ProfilesUnavailable),
    ("start", 201, {"nope": 1}, ProfilesUnavailable),
    ("confirm", 422, {"detail": {"error": "code_mismatch", "attempts_left": 2}}, CodeMismatch),
    ("confirm", 422, {"error": "code_mismatch", "attempts_left": 2}, CodeMismatch),
    ("confirm", 410, {"detail": "expired"}, LinkExpired),
    ("confirm", 404, {"detail": "unknown"}, LinkUnknown)])
async def test_the_client_turns_each_refusal_into_its_error(step: str, status: int, body: Any,
                                                           raised: type[Exception]) -> None:
    client, _ = notifier({step: (status, body)})
    with pytest.raises(raised) as caught:
        if step == "start":
            await client.start_link(LinkRequest("j@example.org", "+15145550123", "email", "fr"))
        else:
            await client.confirm("abc", email_code="111111", sms_code="222222")
    await client.stop()
    if isinstance(caught.value, CodeMismatch):
        assert caught.value.attempts_left == 2


async def test_the_client_says_unavailable_when_the_notifier_does_not_answer() -> None:
    client = NotifierProfiles("http://127.0.0.1:9", timeout_s=1)
    with pytest.raises(ProfilesUnavailable):
        await client.start_link(LinkRequest("j@example.org", "+15145550123", "email", "fr"))
    await client.stop()


async def test_the_client_sends_the_internal_token_when_one_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMNI311_NOTIFIER_INTERNAL_TOKEN", "s3cret")
    configured = NotifierProfiles.configured("http://notifier.test")
    client, asked = notifier({"start": (201, {"link_id": "abc", "expires_at": NOW.isoformat()})},
                             internal_token="s3cret")
    await client.start_link(LinkRequest("j@example.org", "+15145550123", "sms", "en"))
    await client.stop()
    assert configured._headers["X-Omni311-Internal-Token"] == "s3cret"
    assert ("token", "s3cret") in asked
