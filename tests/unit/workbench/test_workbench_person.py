"""The workbench's person page (docs/integrations.md section 3, "History") over fake case, agent and
notifier APIs: a contact key, an email or a phone number finds the person; the profile and every case of
every key of it show newest first with their channel; staff link a number and an email and set the
preferences with their own token; refusals are shown with their status and nothing else is asked; the case
page's reporters and the console's caller look-up lead there."""

from __future__ import annotations

import httpx

from shared.auth import Role
from shared.contacts import contact_key
from workbench_fakes import NOW, FakeAgentApi, FakeProfileApi, FakeStaffApi, a_case, signed_in, workbench

PHONE_KEY = contact_key("phone", "+16135550123")
EMAIL_KEY = contact_key("email", "ann@example.org")


def profile() -> dict:
    return {"profile_id": "p1", "preferred_channel": "sms", "language": "fr", "contacts": [
        {"contact_key": PHONE_KEY, "kind": "phone", "masked": "+1 613-***-0123", "linked_by": "resident",
         "linked_at": NOW.isoformat()},
        {"contact_key": EMAIL_KEY, "kind": "email", "masked": "a***@example.org", "linked_by": "resident",
         "linked_at": NOW.isoformat()}]}


def history() -> list[dict]:
    return [{"service_request_id": "DEMO-26-000001", "status": "open", "workflow_status": "acknowledged",
             "service_code": "pothole", "service_name": "Pothole", "channel": "sms", "contact_key": PHONE_KEY,
             "requested_datetime": "2026-11-01T10:00:00Z", "address": "1 Elm Street"},
            {"service_request_id": "DEMO-26-000007", "status": "open", "workflow_status": "new",
             "service_code": "graffiti", "service_name": "Graffiti", "channel": "email", "contact_key": EMAIL_KEY,
             "requested_datetime": "2026-11-20T10:00:00Z", "address": None}]


async def test_a_phone_number_finds_the_person_and_every_case_of_every_linked_key_newest_first(test_issuer) -> None:
    staff = FakeStaffApi(reporter_cases=history())
    profiles = FakeProfileApi(profiles={"p1": profile()})
    token = test_issuer.token(Role.CALL_AGENT)
    async with workbench(test_issuer, staff, profiles=profiles) as client:
        page = await signed_in(client, token).get("/people?phone=613-555-0123")
        by_key = await client.get(f"/people?contact_key={EMAIL_KEY}")
        by_email = await client.get("/people?email=Ann@Example.org")
    assert page.status_code == 200, page.text
    assert 'id="profile-channel" data-channel="sms"' in page.text and 'data-language="fr"' in page.text
    assert "+1 613-***-0123" in page.text and "a***@example.org" in page.text
    assert page.text.index("DEMO-26-000007") < page.text.index("DEMO-26-000001")
    assert 'data-channel="email"' in page.text and 'data-channel="sms"' in page.text
    assert staff.reporter_keys_asked[0] == [PHONE_KEY, EMAIL_KEY]
    assert staff.reporter_keys_asked[1] == [EMAIL_KEY, PHONE_KEY] and by_key.status_code == 200
    assert by_email.status_code == 200 and staff.reporter_keys_asked[2][0] == EMAIL_KEY
    assert {c.authorization for c in (*staff.calls, *profiles.calls)} == {f"Bearer {token}"}


async def test_a_key_without_a_profile_shows_its_own_cases_and_the_link_form(test_issuer) -> None:
    staff = FakeStaffApi(reporter_cases=history())
    async with workbench(test_issuer, staff) as client:
        page = await signed_in(client, test_issuer.token(Role.DEPARTMENT_STAFF)).get(f"/people?contact_key={PHONE_KEY}")
    assert page.status_code == 200 and 'id="profile-none"' in page.text and 'id="action-link"' in page.text
    assert "DEMO-26-000001" in page.text and "DEMO-26-000007" not in page.text


async def test_a_question_that_names_no_contact_is_422_and_asks_nothing(test_issuer) -> None:
    staff, profiles = FakeStaffApi(), FakeProfileApi()
    async with workbench(test_issuer, staff, profiles=profiles) as client:
        signed_in(client, test_issuer.token(Role.CALL_AGENT))
        pages = [await client.get(q) for q in ("/people?phone=12", "/people?email=nope",
                                                 "/people?contact_key=ck_%27%3Cscript%3E")]
        search = await client.get("/people")
    assert [p.status_code for p in pages] == [422, 422, 422] and 'id="alert-error"' in pages[0].text
    assert search.status_code == 200 and 'id="person-search"' in search.text
    assert staff.calls == [] and profiles.calls == []


async def test_staff_link_a_callers_number_and_an_email_with_their_token_and_see_the_person(test_issuer) -> None:
    staff, profiles = FakeStaffApi(reporter_cases=history()), FakeProfileApi()
    token = test_issuer.token(Role.CALL_AGENT)
    async with workbench(test_issuer, staff, profiles=profiles) as client:
        done = await signed_in(client, token).post("/people/link", data={
            "contact_key": PHONE_KEY, "phone": "613 555 0123", "email": "ann@example.org",
            "preferred_channel": "sms", "language": "fr"})
        page = await client.get(done.headers["location"])
    assert done.status_code == 303 and done.headers["location"] == f"/people?contact_key={PHONE_KEY}&done=link"
    link = next(c for c in profiles.calls if c.method == "POST")
    assert link.body == {"contacts": [{"kind": "phone", "value": "+16135550123"},
                                      {"kind": "email", "value": "ann@example.org"}],
                         "preferred_channel": "sms", "language": "fr"}
    assert link.authorization == f"Bearer {token}"
    assert 'id="alert-done"' in page.text and "DEMO-26-000007" in page.text


async def test_a_link_refused_by_the_notifier_or_the_form_shows_why_and_keeps_the_typing(test_issuer) -> None:
    profiles = FakeProfileApi(refuse={"link": (422, {"detail": "this number texted STOP", "error": "invalid"})})
    async with workbench(test_issuer, FakeStaffApi(), profiles=profiles) as client:
        signed_in(client, test_issuer.token(Role.CALL_AGENT))
        refused = await client.post("/people/link", data={"contact_key": PHONE_KEY, "phone": "+16135550123",
                                                          "email": "ann@example.org"})
        bad = await client.post("/people/link", data={"contact_key": PHONE_KEY, "phone": "x", "email": "a@b.org"})
        cross = await client.post("/people/link", data={"phone": "+16135550123", "email": "a@b.org"},
                                  headers={"origin": "https://evil.example"})
    assert refused.status_code == 422 and "this number texted STOP" in refused.text
    assert 'value="ann@example.org"' in refused.text
    assert bad.status_code == 422 and "phone number" in bad.text
    assert cross.status_code == 403
    assert [c.method for c in profiles.calls].count("POST") == 1


async def test_preferences_are_set_on_the_profile_and_the_page_says_so(test_issuer) -> None:
    profiles = FakeProfileApi(profiles={"p1": profile()})
    async with workbench(test_issuer, FakeStaffApi(), profiles=profiles) as client:
        signed_in(client, test_issuer.token(Role.SUPERVISOR))
        done = await client.post("/people/p1/preferences", data={"contact_key": PHONE_KEY,
                                                                 "preferred_channel": "email", "language": ""})
        wrong = await client.post("/people/p1/preferences", data={"contact_key": PHONE_KEY, "language": "de"})
    assert done.status_code == 303 and done.headers["location"].endswith("&done=preferences")
    patch = next(c for c in profiles.calls if c.method == "PATCH")
    assert patch.path == "/staff/profiles/p1" and patch.body == {"preferred_channel": "email", "language": None}
    assert wrong.status_code == 422 and [c.method for c in profiles.calls].count("PATCH") == 1


async def test_a_silent_notifier_still_shows_the_cases_and_a_refusing_one_its_status(test_issuer) -> None:
    class Down(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            raise httpx.ConnectError("down")

    staff = FakeStaffApi(reporter_cases=history())
    async with workbench(test_issuer, staff, profiles=Down()) as client:
        page = await signed_in(client, test_issuer.token(Role.CALL_AGENT)).get(f"/people?contact_key={PHONE_KEY}")
    assert page.status_code == 200 and 'id="profile-unavailable"' in page.text and "DEMO-26-000001" in page.text
    forbidden = FakeProfileApi(refuse={"get": (403, {"detail": "call agents and up"})})
    async with workbench(test_issuer, FakeStaffApi(), profiles=forbidden) as client:
        page = await signed_in(client, test_issuer.token(Role.CALL_AGENT)).get(f"/people?contact_key={PHONE_KEY}")
    assert page.status_code == 403 and "call agents and up" in page.text


async def test_the_case_pages_reporters_and_the_consoles_caller_lead_to_the_person(test_issuer) -> None:
    case = a_case("D-1")
    case["reporters"] = [{"contact_key": PHONE_KEY, "channel": "sms", "masked_address": "+1 613-***-0123"}]
    staff = FakeStaffApi(cases={"D-1": case}, reporter_cases=history())
    profiles = FakeProfileApi(profiles={"p1": profile()})
    async with workbench(test_issuer, staff, FakeAgentApi(), profiles=profiles) as client:
        signed_in(client, test_issuer.token(Role.SUPERVISOR))
        page = await client.get("/cases/D-1")
        earlier = await client.post("/console/callers", data={"caller_phone": "613-555-0123"},
                                    headers={"hx-request": "true"})
    assert f'href="/people?contact_key={PHONE_KEY}"' in page.text
    assert 'id="earlier-across"' in earlier.text and 'data-channel="email"' in earlier.text
    assert 'href="/people?phone=613-555-0123"' in earlier.text


async def test_the_console_asks_the_case_service_for_a_callers_other_channels_only_when_there_are_some(
        test_issuer) -> None:
    staff = FakeStaffApi(reporter_cases=history())
    alone = {"profile_id": "p2", "preferred_channel": None, "language": None, "contacts": [profile()["contacts"][0]]}
    for profiles in (FakeProfileApi(), FakeProfileApi(profiles={"p2": alone})):
        async with workbench(test_issuer, staff, FakeAgentApi(), profiles=profiles) as client:
            signed_in(client, test_issuer.token(Role.CALL_AGENT))
            earlier = await client.post("/console/callers", data={"caller_phone": "613-555-0123"},
                                        headers={"hx-request": "true"})
        assert earlier.status_code == 200 and 'id="earlier-across"' not in earlier.text
        assert [c.path for c in profiles.calls] == ["/staff/profiles"], "the profile was asked"
    assert staff.reporter_keys_asked == [], "no profile, or one of this number alone: nothing more to list"
