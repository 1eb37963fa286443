"""The workbench's pure rules: languages and the message catalogue, queue views, filters and order, action
forms, the district map data, safe redirects."""

from __future__ import annotations

import pytest

from services.workbench.domain import forms
from services.workbench.domain.district_map import districts_geojson
from services.workbench.domain.i18n import MESSAGES, choose_language, translate
from services.workbench.domain.case_page import actor_label, claim_offer
from services.workbench.domain.queue import by_due_time, queue_views, sla_state, start_path, start_view, view_query
from services.workbench.entrypoints.web import local_time, safe_next
from shared.auth import Principal, Role
from workbench_fakes import a_case, demo


def test_every_message_is_in_english_and_french() -> None:
    assert set(MESSAGES["en"]) == set(MESSAGES["fr"])
    assert all(MESSAGES["fr"][k].strip() for k in MESSAGES["fr"])


@pytest.mark.parametrize(("cookie", "header", "expected"), [
    ("fr", "en-US,en;q=0.9", "fr"),
    (None, "fr-CA,fr;q=0.9,en;q=0.8", "fr"),
    (None, "de-DE,en;q=0.5,fr;q=0.7", "fr"),
    (None, "de-DE", "en"),
    ("xx", None, "en"),
    (None, "fr;q=0", "en"),
])
def test_the_language_comes_from_the_cookie_then_accept_language(cookie: str | None, header: str | None,
                                                                expected: str) -> None:
    assert choose_language(cookie, header) == expected


def test_a_missing_translation_falls_back_and_fields_are_filled() -> None:
    assert translate("fr", "case.title", sid="D-1") == "Dossier D-1"
    assert translate("fr", "no.such.key") == "no.such.key"
    assert translate("en", "case.title") == "Case {sid}"


def test_cases_are_sorted_soonest_due_first_with_paused_and_undated_last() -> None:
    cases = [a_case("A", due_in_h=5), a_case("B", due_in_h=-1, state="breached"), a_case("C", due_in_h=None),
             a_case("D", due_in_h=0.5, state="paused"), a_case("E", due_in_h=1, state="warning")]
    assert [c["service_request_id"] for c in by_due_time(cases)] == ["B", "E", "A", "C", "D"]


def test_a_list_row_with_top_level_sla_fields_is_read_like_a_detail() -> None:
    row = {"service_request_id": "X", "sla_state": "warning", "sla_due_at": "2026-11-30T15:00:00+00:00"}
    assert sla_state(row) == "warning"
    assert sla_state({"sla_state": "bogus"}) == "none"
    assert by_due_time([row, {"service_request_id": "Y"}])[0]["service_request_id"] == "X"


QUEUES = [{"id": "roads", "name": "Roads", "department_id": "public-works"},
          {"id": "pw-sup", "name": "Escalations", "department_id": "public-works", "supervisor": True},
          {"id": "water-ops", "name": "Water", "department_id": "water"}]


def test_staff_see_their_own_cases_their_department_and_its_queues_only() -> None:
    views = queue_views(department="public-works", is_admin=False, queues=QUEUES)
    assert [v.id for v in views] == ["mine", "department", "queue:roads", "queue:pw-sup"]
    assert views[3].label_key == "queue.supervisor"
    admin = queue_views(department=None, is_admin=True, queues=QUEUES)
    assert [v.id for v in admin] == ["mine", "all", "queue:roads", "queue:pw-sup", "queue:water-ops"]


def test_the_query_keeps_the_view_and_the_known_filters_only() -> None:
    views = queue_views(department="public-works", is_admin=False, queues=QUEUES)
    chosen, query = view_query(views, "queue:roads", {"status": "assigned,in_progress", "sla_state": " ",
                                                     "district": "centre", "evil": "x"})
    assert chosen.id == "queue:roads"
    assert query == {"queue": "roads", "status": "assigned,in_progress", "district": "centre", "limit": "200"}
    assert view_query(views, "queue:unknown", {})[1] == {"assignee": "me", "limit": "200"}


def test_action_forms_make_the_contract_bodies() -> None:
    assert forms.priority({"priority": "2", "reason": " urgent "}) == {"priority": 2, "reason": "urgent"}
    assert forms.assign({"assignee": "dev-staff", "team": "", "reason": ""}) == {
        "assignee": "dev-staff", "team": None, "reason": None}
    assert forms.reply({"contact_key": "ck_1", "canned_response_id": "thanks", "text": "", "language": "fr"}) == {
        "contact_key": "ck_1", "canned_response_id": "thanks", "language": "fr"}
    assert forms.transition({"to": "resolved", "note": ""}) == {"to": "resolved"}
    assert forms.merge({"into": "D-1"}) == {"into": "D-1", "reason": None}
    assert {path for path, _ in forms.ACTIONS.values()} == {
        "claim", "assign", "transition", "priority", "recategorise", "notes", "updates", "replies", "merge",
        "unmerge"}


@pytest.mark.parametrize(("build", "form"), [
    (forms.priority, {"priority": "9"}),
    (forms.priority, {"priority": "high"}),
    (forms.assign, {"assignee": " ", "team": ""}),
    (forms.reply, {"contact_key": "ck_1", "text": "", "canned_response_id": ""}),
    (forms.note, {"text": "   "}),
    (forms.note, {"text": "x" * (forms.MAX_TEXT + 1)}),
    (forms.recategorise, {"service_code": "graffiti", "reason": ""}),
    (forms.merge, {"into": ""}),
])
def test_a_form_that_makes_no_valid_request_is_refused_with_a_message(build, form) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(forms.FormError) as refused:
        build(form)
    assert refused.value.message


def test_the_demo_districts_are_a_feature_collection_in_lon_lat() -> None:
    found = districts_geojson(demo())
    assert found is not None and found["type"] == "FeatureCollection"
    assert {f["properties"]["id"] for f in found["features"]} >= {"centre", "nord", "sud"}
    west, south, east, north = found["bbox"]
    ring = found["features"][0]["geometry"]["coordinates"][0]
    assert all(west - 1e-4 <= x <= east + 1e-4 and south - 1e-4 <= y <= north + 1e-4 for x, y in ring)


@pytest.mark.parametrize(("given", "expected"), [
    ("/cases/D-1?done=note", "/cases/D-1?done=note"), ("//evil.example/x", "/"), ("https://evil.example", "/"),
    ("/\\evil.example", "/"), (None, "/"), ("queue", "/"),
])
def test_only_same_site_paths_are_followed_after_sign_in(given: str | None, expected: str) -> None:
    assert safe_next(given) == expected


def test_every_district_of_nyc_is_drawn_as_polygons_even_those_stored_as_geometry_collections(
        require_shared_data: None) -> None:
    from shared.jurisdiction import load_jurisdiction

    nyc = load_jurisdiction("nyc")
    found = districts_geojson(nyc)
    assert found is not None
    assert nyc.districts is not None
    collections = [d.id for d in nyc.districts.areas
                   if (g := nyc.districts.geometry(d.id)) is not None and g.geom_type == "GeometryCollection"]
    assert collections, "the NYC districts no longer hold a GeometryCollection: this test checks nothing"
    drawn = {f["properties"]["id"]: f["geometry"]["type"] for f in found["features"]}
    assert set(collections) <= set(drawn)
    assert set(drawn.values()) <= {"Polygon", "MultiPolygon"}


@pytest.mark.parametrize(("role", "department", "expected"), [
    ("administrator", None, "all"),
    ("supervisor", "public-works", "department"),
    ("supervisor", None, "mine"),
    ("department_staff", "public-works", "mine"),
])
def test_supervisors_start_on_their_department_administrators_on_every_one_staff_on_their_own(
        role: str, department: str | None, expected: str) -> None:
    assert start_view(role=role, department=department) == expected
    assert start_path(role=role, department=department) == f"/queue?view={expected}"
    views = queue_views(department=department, is_admin=role == "administrator", queues=QUEUES)
    assert view_query(views, None, {}, default=start_view(role=role, department=department))[0].id == expected


@pytest.mark.parametrize(("entry", "lang", "expected"), [
    ({"detail": {"actor": "dev-supervisor", "actor_name": "Dana Roy (supervisor)", "role": "supervisor"}}, "en",
     "Dana Roy · Supervisor"),
    ({"detail": {"actor": "dev-staff", "actor_name": "Sam Tremblay (staff)", "role": "department_staff"}}, "en",
     "Sam Tremblay · Department staff"),
    ({"detail": {"actor": "dev-staff", "actor_name": "Sam Tremblay (staff)", "role": "department_staff"}}, "fr",
     "Sam Tremblay · Personnel du service"),
    ({"detail": {"actor": "u-7", "actor_name": "Marie (Mimi) Leduc", "role": "administrator"}}, "en",
     "Marie (Mimi) Leduc · Administrator"),
    ({"actor": "u-8", "role": "auditor"}, "en", "u-8 · Auditor"),
    ({"detail": {"actor": "u-9"}}, "en", "u-9"),
    ({"detail": {"actor": "system", "role": "system"}}, "en", "System"),
    ({"detail": {}}, "en", None),
])
def test_a_timeline_entry_names_its_actor_once_and_its_role_once(entry: dict, lang: str, expected: str | None) -> None:
    assert actor_label(entry, lambda key: translate(lang, key)) == expected


def _who(role: Role, subject: str = "me") -> Principal:
    return Principal(subject=subject, name="Me", roles=frozenset({role}), department="public-works",
                     teams=frozenset(), token="t")


@pytest.mark.parametrize(("assignee", "role", "fields", "expected"), [
    (None, Role.DEPARTMENT_STAFF, {}, "claim"),
    (None, Role.DEPARTMENT_STAFF, {"team": "roads"}, "claim"),
    ("me", Role.DEPARTMENT_STAFF, {}, None),
    ("someone-else", Role.DEPARTMENT_STAFF, {}, None),
    ("someone-else", Role.SUPERVISOR, {}, "take_over"),
    ("someone-else", Role.ADMINISTRATOR, {}, "take_over"),
    (None, Role.CALL_AGENT, {}, None),
    (None, Role.DEPARTMENT_STAFF, {"status": "closed"}, None),
    (None, Role.SUPERVISOR, {"merged_into": "D-9"}, None),
])
def test_a_claim_is_offered_only_where_the_case_api_accepts_it(assignee: str | None, role: Role, fields: dict,
                                                              expected: str | None) -> None:
    case = a_case("D-1", **{"assignee": assignee, "team": None, **fields})
    assert claim_offer(case, _who(role)) == expected


@pytest.mark.parametrize(("instant", "zone", "expected"), [
    ("2026-11-29T23:00:00Z", "America/New_York", "2026-11-29 18:00 EST"),
    ("2026-07-01T16:00:00+00:00", "America/New_York", "2026-07-01 12:00 EDT"),
    ("2026-11-29T23:00:00Z", "America/Toronto", "2026-11-29 18:00 EST"),
    (None, "America/New_York", "—"),
])
def test_times_are_shown_in_the_jurisdictions_zone_with_its_abbreviation(instant: str | None, zone: str,
                                                                         expected: str) -> None:
    assert local_time(instant, zone) == expected
