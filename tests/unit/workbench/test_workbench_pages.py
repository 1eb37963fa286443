"""The workbench's pages over fake case and agent APIs: sign-in and the session cookie, every call made
with the signed-in user's token, refusals shown with their status, forms that make no request sent
nowhere, cross-site posts refused, EN/FR."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from services.workbench.entrypoints.web import local_time
from shared.auth import Role
from workbench_fakes import FakeAgentApi, FakeStaffApi, a_case, demo, signed_in, workbench


def staff_api() -> FakeStaffApi:
    return FakeStaffApi(cases={"D-1": a_case("D-1", due_in_h=5), "D-2": a_case("D-2", due_in_h=1, state="warning"),
                               "D-3": a_case("D-3", due_in_h=-2, state="breached")})


async def test_a_page_without_a_session_sends_the_browser_to_sign_in_and_back(test_issuer) -> None:
    async with workbench(test_issuer, staff_api()) as client:
        page = await client.get("/cases/D-1?done=note")
        assert page.status_code == 303
        target = urlsplit(page.headers["location"])
        assert target.path == "/sign-in" and parse_qs(target.query)["next"] == ["/cases/D-1?done=note"]


async def test_an_expired_or_foreign_token_ends_the_session(test_issuer) -> None:
    for token in (test_issuer.token(Role.SUPERVISOR, expired=True), test_issuer.token(Role.SUPERVISOR, foreign=True),
                  test_issuer.token(Role.SUPERVISOR, issuer="someone-else")):
        async with workbench(test_issuer, staff := staff_api()) as client:
            page = await signed_in(client, token).get("/queue")
            assert page.status_code == 303 and "expired=1" in page.headers["location"]
            assert 'wb_session=""' in page.headers.get("set-cookie", "")
            assert staff.calls == []


async def test_development_sign_in_lists_one_user_per_role_and_sets_an_http_only_lax_cookie(test_issuer) -> None:
    async with workbench(test_issuer, staff_api()) as client:
        listing = await client.get("/sign-in")
        assert listing.status_code == 200
        for user in ("agent", "staff", "staff2", "supervisor", "admin"):
            assert f'id="sign-in-{user}"' in listing.text
        signed = await client.post("/sign-in", data={"user": "supervisor", "next": "/cases/D-1"})
        assert signed.status_code == 303 and signed.headers["location"] == "/cases/D-1"
        cookie = signed.headers["set-cookie"].lower()
        assert "wb_session=" in cookie and "httponly" in cookie and "samesite=lax" in cookie
        assert "secure" not in cookie
        agent = await client.get("/sign-in?user=agent&next=//evil.example/")
        assert agent.headers["location"] == "/console"
        unknown = await client.get("/sign-in?user=mallory")
        assert unknown.status_code == 404 and "mallory" in unknown.text


async def test_the_session_cookie_is_secure_when_the_workbench_is_served_over_https(test_issuer) -> None:
    async with workbench(test_issuer, staff_api(), workbench_base_url="https://311.example.org") as client:
        signed = await client.get("/sign-in?user=staff")
        assert "secure" in signed.headers["set-cookie"].lower()


async def test_the_queue_asks_for_my_cases_with_my_token_and_shows_them_soonest_due_first(test_issuer) -> None:
    token = test_issuer.token(Role.DEPARTMENT_STAFF)
    async with workbench(test_issuer, staff := staff_api()) as client:
        page = await signed_in(client, token).get("/queue?status=assigned&channel=email&evil=1")
    assert page.status_code == 200
    listing = next(c for c in staff.calls if c.path == "/staff/cases")
    assert listing.authorization == f"Bearer {token}"
    assert listing.params == {"assignee": "me", "status": "assigned", "channel": "email", "limit": "200"}
    order = [page.text.index(f'data-service-request-id="{sid}"') for sid in ("D-3", "D-2", "D-1")]
    assert order == sorted(order)
    for state in ("breached", "warning", "ok"):
        assert f'data-sla-state="{state}"' in page.text


async def test_htmx_filters_get_the_results_table_only(test_issuer) -> None:
    async with workbench(test_issuer, staff_api()) as client:
        page = await signed_in(client, test_issuer.token(Role.SUPERVISOR)).get(
            "/queue?view=queue:roads", headers={"HX-Request": "true", "HX-Target": "queue-results"})
    assert page.status_code == 200 and "<html" not in page.text and 'id="queue-table"' in page.text


async def test_the_case_page_marks_internal_notes_and_offers_the_allowed_transitions_only(test_issuer) -> None:
    async with workbench(test_issuer, staff_api()) as client:
        page = await signed_in(client, test_issuer.token(Role.DEPARTMENT_STAFF)).get("/cases/D-1")
    assert page.status_code == 200
    note = page.text[page.text.index('data-kind="internal_note"'):]
    assert "wb-tag--internal" in note[:600] and "Crew says Tuesday" in note[:900]
    select = page.text[page.text.index('id="transition-to"'):page.text.index("</select>", page.text.index('id="transition-to"'))]
    assert 'value="in_progress"' in select and 'value="closed"' not in select
    assert 'id="case-map"' in page.text and 'id="districts-data"' in page.text
    # A transition's note is Open311's public status_notes: the form says so, so no one types an internal
    # remark there.
    start = page.text.index('id="action-transition"')
    form = page.text[start:page.text.index("</form>", start)]
    assert "Public status note" in form and 'aria-describedby="transition-note-hint"' in form and "Open311" in form


async def test_an_action_is_sent_with_the_users_token_and_confirmed(test_issuer) -> None:
    token = test_issuer.token(Role.DEPARTMENT_STAFF)
    async with workbench(test_issuer, staff := staff_api()) as client:
        done = await signed_in(client, token).post("/cases/D-1/actions/note", data={"text": " Crew on Tuesday "})
        assert done.status_code == 303 and done.headers["location"] == "/cases/D-1?done=note"
        page = await client.get(done.headers["location"])
    write = next(c for c in staff.calls if c.method == "POST")
    assert (write.path, write.body, write.authorization) == ("/staff/cases/D-1/notes", {"text": "Crew on Tuesday"},
                                                             f"Bearer {token}")
    assert 'id="alert-done"' in page.text


async def test_a_refusal_of_the_case_api_is_shown_with_its_status_and_message(test_issuer) -> None:
    staff = staff_api()
    staff.refuse["transition"] = (409, {"detail": "A case in status 'assigned' cannot move to 'closed'; from "
                                                  "'assigned' it may move to: in_progress."})
    staff.refuse["assign"] = (403, {"detail": "only a supervisor may assign to someone else"})
    staff.refuse["merge"] = (422, {"detail": [{"loc": ["body", "into"], "msg": "field required"}]})
    async with workbench(test_issuer, staff) as client:
        client = signed_in(client, test_issuer.token(Role.DEPARTMENT_STAFF))
        refused = await client.post("/cases/D-1/actions/transition", data={"to": "closed"})
        assert refused.status_code == 409 and "cannot move to &#39;closed&#39;" in refused.text
        assert 'class="usa-alert usa-alert--error"' in refused.text
        forbidden = await client.post("/cases/D-1/actions/assign", data={"assignee": "dev-staff2", "reason": "x"})
        assert forbidden.status_code == 403 and "only a supervisor" in forbidden.text
        invalid = await client.post("/cases/D-1/actions/merge", data={"into": "D-2"})
        assert invalid.status_code == 422 and "into: field required" in invalid.text


async def test_a_public_update_form_carries_its_own_id_and_keeps_it_when_refused(test_issuer) -> None:
    # The case service writes an update id once: a double click or a retry after a timeout tells no one twice.
    import re

    staff = staff_api()
    staff.refuse["updates"] = (503, {"detail": "the case service is busy"})
    async with workbench(test_issuer, staff) as client:
        client = signed_in(client, test_issuer.token(Role.DEPARTMENT_STAFF))
        page = await client.get("/cases/D-1")
        update_id = re.search(r'name="update_id" value="([0-9a-f-]{36})"', page.text).group(1)
        reply_id = re.search(r'name="reply_id" value="([0-9a-f-]{36})"', page.text).group(1)
        assert update_id != reply_id
        refused = await client.post("/cases/D-1/actions/update", data={"text": "Crew booked", "update_id": update_id})
        assert refused.status_code == 503 and f'name="update_id" value="{update_id}"' in refused.text
        sent = next(c for c in staff.calls if c.method == "POST")
        assert sent.body == {"text": "Crew booked", "update_id": update_id}
        bad = await client.post("/cases/D-1/actions/reply", data={"contact_key": "ck_1", "text": "hi",
                                                                  "reply_id": "not-an-id"})
        assert bad.status_code == 422


async def test_a_form_that_makes_no_valid_request_sends_nothing(test_issuer) -> None:
    async with workbench(test_issuer, staff := staff_api()) as client:
        client = signed_in(client, test_issuer.token(Role.DEPARTMENT_STAFF))
        bad = await client.post("/cases/D-1/actions/priority", data={"priority": "9"})
        unknown = await client.post("/cases/D-1/actions/delete", data={})
    assert bad.status_code == 422 and "1 to 5" in bad.text
    assert unknown.status_code == 422
    assert not [c for c in staff.calls if c.method == "POST"]


async def test_a_form_posted_from_another_site_is_refused(test_issuer) -> None:
    async with workbench(test_issuer, staff := staff_api()) as client:
        client = signed_in(client, test_issuer.token(Role.DEPARTMENT_STAFF))
        page = await client.post("/cases/D-1/actions/note", data={"text": "x"},
                                 headers={"Origin": "https://evil.example"})
    assert page.status_code == 403
    assert not [c for c in staff.calls if c.method == "POST"]


async def test_the_language_switch_is_kept_in_a_cookie_and_sets_the_page_language(test_issuer) -> None:
    async with workbench(test_issuer, staff_api()) as client:
        client = signed_in(client, test_issuer.token(Role.DEPARTMENT_STAFF))
        switched = await client.get("/language?to=fr&next=/cases/D-1")
        assert switched.status_code == 303 and switched.headers["location"] == "/cases/D-1"
        assert "lang=fr" in switched.headers["set-cookie"]
        page = await client.get("/cases/D-1")
    assert '<html lang="fr">' in page.text and "Ajouter une note interne" in page.text
    assert "Attribué" in page.text  # the status label in French from /staff/config


async def test_the_console_logs_a_phone_request_with_the_agents_token_and_waits_for_the_case_number(
        test_issuer) -> None:
    token = test_issuer.token(Role.CALL_AGENT)
    agent = FakeAgentApi(case_number=None, earlier=[{"service_request_id": "D-7", "service_code": "pothole",
                                                     "status": "open"}])
    async with workbench(test_issuer, staff_api(), agent) as client:
        client = signed_in(client, token)
        console = await client.get("/console")
        assert console.status_code == 200 and 'id="console-map"' in console.text
        earlier = await client.post("/console/callers", data={"caller_phone": "613-555-0101"},
                                    headers={"HX-Request": "true"})
        assert 'data-state="found"' in earlier.text and 'data-service-request-id="D-7"' in earlier.text
        logged = await client.post("/console/requests", data={
            "request_id": "wb-0123456789", "caller_phone": "613-555-0101", "service_code": "pothole",
            "description": "Deep pothole", "lat": "45.42", "long": "-75.69"})
        assert logged.status_code == 202 and 'hx-get="/console/requests/tok-1"' in logged.text
        waiting = await client.get("/console/requests/tok-1")
        assert 'id="case-number"' not in waiting.text and "hx-get" in waiting.text
        agent.case_number = "D-9"
        found = await client.get("/console/requests/tok-1")
        assert '<strong id="case-number">D-9</strong>' in found.text
        refused = await client.post("/console/requests", data={"caller_phone": "", "service_code": "pothole"})
        assert refused.status_code == 400 and "caller_phone is required" in refused.text
    logged_call = next(c for c in agent.calls if c.path == "/agent/requests")
    assert logged_call.authorization == f"Bearer {token}"
    assert logged_call.body["request_id"] == "wb-0123456789" and logged_call.body["lat"] == "45.42"


async def test_suggestions_are_listed_and_decided_with_the_users_token(test_issuer) -> None:
    token = test_issuer.token(Role.DEPARTMENT_STAFF)
    staff = staff_api()
    staff.suggestions = [{"id": "5b0c", "case": "D-2", "duplicate_of": "D-1", "score": 0.71}]
    async with workbench(test_issuer, staff) as client:
        client = signed_in(client, token)
        page = await client.get("/suggestions")
        assert page.status_code == 200 and "D-2 may duplicate D-1" in page.text and "0.71" in page.text
        done = await client.post("/suggestions/5b0c/accept", data={})
        assert done.status_code == 303 and done.headers["location"] == "/suggestions?done=accept"
        bad = await client.post("/suggestions/5b0c/approve", data={})
        assert bad.status_code == 422
    decided = [c for c in staff.calls if c.method == "POST"]
    assert [(c.path, c.authorization) for c in decided] == [("/staff/suggestions/5b0c/accept", f"Bearer {token}")]


async def test_the_case_service_not_answering_is_said_plainly(test_issuer) -> None:
    import httpx

    from services.workbench.app import create_app
    from workbench_fakes import demo

    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    app = create_app(test_issuer.settings(jurisdiction="demo"), jurisdiction=demo(),
                     case_transport=httpx.MockTransport(down))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1:8088") as client:
        page = await signed_in(client, test_issuer.token(Role.DEPARTMENT_STAFF)).get("/cases/D-1")
    assert page.status_code == 503 and "did not answer" in page.text


async def test_a_call_agent_sees_the_case_with_the_internal_note_form_only(test_issuer) -> None:
    async with workbench(test_issuer, staff_api()) as client:
        page = await signed_in(client, test_issuer.token(Role.CALL_AGENT)).get("/cases/D-1")
    assert page.status_code == 200 and 'id="action-note"' in page.text
    for form in ("claim", "assign", "transition", "update", "reply", "merge"):
        assert f'id="action-{form}"' not in page.text
    assert 'href="/queue"' not in page.text and 'href="/console"' in page.text


async def test_resident_text_and_a_script_url_as_a_photo_are_shown_inert(test_issuer) -> None:
    # A report's media_url is the resident's (Open311 POST media_url): a javascript: URL must not become a link.
    evil = a_case("D-9", messages=[{"text": "<script>alert(1)</script>", "channel": "web",
                                    "media_url": ["javascript:alert(document.cookie)", "http://media.test/ok.jpg"],
                                    "received_at": "2026-03-02T10:00:00Z"}])
    async with workbench(test_issuer, FakeStaffApi(cases={"D-9": evil})) as client:
        page = await signed_in(client, test_issuer.token(Role.DEPARTMENT_STAFF)).get("/cases/D-9")
    assert page.status_code == 200
    assert "<script>alert(1)" not in page.text and "&lt;script&gt;alert(1)" in page.text
    assert "javascript:" not in page.text and 'src="http://media.test/ok.jpg"' in page.text


async def test_supervisors_and_administrators_land_on_their_department_staff_on_their_own_cases(test_issuer) -> None:
    async with workbench(test_issuer, staff := staff_api()) as client:
        landing = {user: (await client.get(f"/sign-in?user={user}")).headers["location"]
                   for user in ("supervisor", "admin", "staff")}
        assert landing == {"supervisor": "/queue?view=department", "admin": "/queue?view=all",
                           "staff": "/queue?view=mine"}
        staff.calls.clear()
        await signed_in(client, test_issuer.token(Role.SUPERVISOR)).get("/queue")
    listing = next(c for c in staff.calls if c.path == "/staff/cases")
    assert "assignee" not in listing.params


async def test_an_empty_my_cases_says_so_and_links_to_the_departments_queue(test_issuer) -> None:
    async with workbench(test_issuer, FakeStaffApi()) as client:
        client = signed_in(client, test_issuer.token(Role.DEPARTMENT_STAFF))
        mine = await client.get("/queue?view=mine")
        filtered = await client.get("/queue?view=mine&status=resolved")
    assert "No case is assigned to you." in mine.text
    assert 'id="to-department" href="/queue?view=department"' in mine.text
    assert "No case matches." in filtered.text and "No case is assigned to you." not in filtered.text


async def test_the_timeline_names_each_actor_once_with_a_readable_role(test_issuer) -> None:
    case = a_case("D-1")
    case["timeline"].append({"kind": "claimed", "at": "2026-11-30T14:00:00+00:00",
                             "detail": {"actor": "dev-supervisor", "actor_name": "Dana Roy (supervisor)",
                                        "role": "supervisor", "before": {}, "after": {"assignee": "dev-supervisor"}}})
    async with workbench(test_issuer, FakeStaffApi(cases={"D-1": case})) as client:
        client = signed_in(client, test_issuer.token(Role.DEPARTMENT_STAFF))
        page = await client.get("/cases/D-1")
        client.cookies.set("lang", "fr")
        french = await client.get("/cases/D-1")
        client.cookies.set("lang", "en")
        supervisor = await signed_in(client, test_issuer.token(Role.SUPERVISOR, name="Dana Roy (supervisor)")).get(
            "/queue")
    timeline = page.text[page.text.index('id="timeline"'):page.text.index("</ol>", page.text.index('id="timeline"'))]
    assert "by Dana Roy · Supervisor" in timeline and "(supervisor)" not in timeline
    assert "by Sam · Department staff" in timeline and "(department_staff)" not in timeline
    assert "par Dana Roy · Superviseur" in french.text
    assert "Signed in as Dana Roy <span" in supervisor.text


async def test_claim_is_offered_only_on_a_case_no_one_else_holds(test_issuer) -> None:
    cases = {"HELD": a_case("HELD", assignee="someone-else"), "TEAM": a_case("TEAM", assignee=None, team="roads"),
             "FREE": a_case("FREE", assignee=None, team=None)}
    async with workbench(test_issuer, FakeStaffApi(cases=cases)) as client:
        client = signed_in(client, test_issuer.token(Role.DEPARTMENT_STAFF))
        held, team, free = [await client.get(f"/cases/{sid}") for sid in ("HELD", "TEAM", "FREE")]
        supervisor = await signed_in(client, test_issuer.token(Role.SUPERVISOR)).get("/cases/HELD")
    assert 'id="action-claim"' not in held.text
    assert 'id="action-claim"' in team.text and 'id="action-claim"' in free.text
    assert 'data-offer="take_over"' in supervisor.text and "Take over this case from someone-else" in supervisor.text


async def test_times_carry_the_jurisdictions_zone_on_the_queue_and_the_case_page(test_issuer) -> None:
    case = a_case("D-1", requested_datetime="2026-11-29T23:00:00+00:00",
                  sla={"due_at": "2026-11-30T23:00:00+00:00", "warn_at": None, "state": "ok", "paused_at": None})
    async with workbench(test_issuer, FakeStaffApi(cases={"D-1": case})) as client:
        client = signed_in(client, test_issuer.token(Role.DEPARTMENT_STAFF))
        queue, page = await client.get("/queue"), await client.get("/cases/D-1")
    zone = demo().timezone
    opened = local_time("2026-11-29T23:00:00+00:00", zone)
    assert opened.rsplit(" ", 1)[1].strip() and opened in page.text
    due = local_time("2026-11-30T23:00:00+00:00", zone).split(" ", 1)
    assert f'<span class="wb-nowrap">{due[0]}</span> <span class="wb-nowrap">{due[1]}</span>' in queue.text


async def test_the_favicon_is_served_and_linked(test_issuer) -> None:
    async with workbench(test_issuer, staff_api()) as client:
        icon = await client.get("/favicon.ico")
        sign_in = await client.get("/sign-in")
    assert icon.status_code == 200 and icon.headers["content-type"] == "image/vnd.microsoft.icon"
    assert icon.content[:4] == b"\x00\x00\x01\x00"
    assert '<link rel="icon" href="/favicon.ico"' in sign_in.text
