"""The managers' dashboard, the hotspot map's data and the refusals page over fake insights and intake_web
APIs: only supervisors and administrators, every call with the user's token, the figures as tables with
bars, "figures unavailable" when insights is down, EN/FR; and the case page's attributes, photos and
survey answers."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from jinja2 import Environment, FileSystemLoader

from services.workbench.domain import dashboard as board
from services.workbench.domain.i18n import MESSAGES
from shared.auth import Role
from workbench_fakes import (
    DownTransport,
    FakeInsightsApi,
    FakeIntakeStaffApi,
    FakeStaffApi,
    a_case,
    demo,
    signed_in,
    workbench,
)

class Frozen:
    """The workbench's clock in one test: frozen when the test starts (its tokens are minted at the real
    time, within the verifier's leeway of it); `month` is the default date filter it implies."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0)
        today = self.now.astimezone(ZoneInfo(demo().timezone)).date()
        self.month = {"from": (today - timedelta(days=29)).isoformat(), "to": today.isoformat()}

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Frozen:
    return Frozen()


# -- roles -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/dashboard", "/refusals", "/dashboard/hotspots.json"])
@pytest.mark.parametrize("role", [Role.DEPARTMENT_STAFF, Role.CALL_AGENT])
async def test_only_supervisors_and_administrators_read_the_dashboard_and_the_refusals(test_issuer, path, role) -> None:
    insights, intake = FakeInsightsApi(), FakeIntakeStaffApi()
    async with workbench(test_issuer, FakeStaffApi(), insights=insights, intake_staff=intake) as client:
        page = await signed_in(client, test_issuer.token(role)).get(path)
    assert page.status_code == 403
    if not path.endswith(".json"):
        assert "Your role does not allow this." in page.text and 'id="signed-in-as"' in page.text
    assert insights.calls == [] and intake.calls == []


async def test_the_navigation_offers_the_dashboard_and_refusals_to_managers_only(test_issuer) -> None:
    async with workbench(test_issuer, FakeStaffApi()) as client:
        staff = await signed_in(client, test_issuer.token(Role.DEPARTMENT_STAFF)).get("/suggestions")
        supervisor = await signed_in(client, test_issuer.token(Role.SUPERVISOR)).get("/suggestions")
    assert 'id="nav-dashboard"' not in staff.text and 'id="nav-refusals"' not in staff.text
    assert 'href="/dashboard"' in supervisor.text and 'href="/refusals"' in supervisor.text


# -- the dashboard -------------------------------------------------------------------------------------------
async def test_the_dashboard_asks_insights_for_the_last_30_days_with_the_users_token(test_issuer, clock) -> None:
    token = test_issuer.token(Role.SUPERVISOR)
    insights = FakeInsightsApi()
    async with workbench(test_issuer, FakeStaffApi(), insights=insights, clock=clock) as client:
        page = await signed_in(client, token).get("/dashboard")
    assert page.status_code == 200
    assert {c.path for c in insights.calls} == {"/insights/summary", "/insights/hotspots"}
    for call in insights.calls:
        assert call.authorization == f"Bearer {token}"
        # the page (and its poll every 2 s) never asks for the points: the map fetches them on a new version
        assert call.params == (clock.month if call.path == "/insights/summary" else {**clock.month, "points": "false"})
    text = page.text
    # Tables with captions and row headers; the bar is decoration, the number is text.
    for table in ("channel-table", "service-table", "backlog-table", "sla-table", "top-table", "deflection-table",
                  "district-table"):
        assert f'id="{table}"' in text and f'id="{table}-caption"' in text
    assert '<span class="wb-bar-track" aria-hidden="true"><span class="wb-bar" style="width: 100.0%"></span>' in text
    assert 'id="figure-requests">6<' in text and 'id="figure-backlog">8<' in text
    assert text.index('id="headline"') < text.index('id="hotspot-map"') < text.index('id="dashboard-figures"')
    assert 'id="figure-median">1 d 2 h<' in text and "4.33/5" in text and "Answers: 3" in text
    assert "Public Works" in text and "outside every district" in text and "Without a place, not on the map: 1." in text
    assert "bulky-pickup" in text and "0–2 days" in text and "over 30 days" in text
    assert '80%' in text and '25%' in text
    # The map: district polygons, the points' address, the heat plugin, no tiles configured.
    assert 'id="hotspot-map"' in text
    assert f'data-src="/dashboard/hotspots.json?from={clock.month["from"]}&amp;to={clock.month["to"]}"' in text
    assert 'data-tile-url=""' in text and 'id="districts-data"' in text
    assert '/static/vendor/leaflet/leaflet-heat.js' in text
    assert 'hx-trigger="every 2s"' in text and 'data-hotspots-version="0123456789abcdef"' in text
    assert 'data-count="3"' in text  # the points are counted on the page, fetched by the map


async def test_the_dashboard_follows_the_date_filter_and_refuses_a_range_that_makes_none(test_issuer, clock) -> None:
    insights = FakeInsightsApi()
    async with workbench(test_issuer, FakeStaffApi(), insights=insights, clock=clock) as client:
        client = signed_in(client, test_issuer.token(Role.ADMINISTRATOR))
        page = await client.get("/dashboard?from=2026-10-01&to=2026-10-15")
        assert page.status_code == 200 and 'value="2026-10-01"' in page.text
        assert {**insights.calls[-1].params, "points": None} == {"from": "2026-10-01", "to": "2026-10-15",
                                                                  "points": None}
        asked = len(insights.calls)
        for bad in ("from=2026-10-15&to=2026-10-01", "from=yesterday", "from=2020-01-01&to=2026-01-01"):
            refused = await client.get(f"/dashboard?{bad}")
            assert refused.status_code == 400 and 'id="alert-filter"' in refused.text, bad
        assert len(insights.calls) == asked  # nothing asked for a range that makes none
        json_refused = await client.get("/dashboard/hotspots.json?from=nope")
        assert json_refused.status_code == 400 and "from" in json_refused.json()["detail"]


async def test_htmx_gets_the_figures_only_every_two_seconds(test_issuer, clock) -> None:
    async with workbench(test_issuer, FakeStaffApi(), clock=clock) as client:
        fragment = await signed_in(client, test_issuer.token(Role.SUPERVISOR)).get(
            "/dashboard?from=2026-11-01&to=2026-11-30", headers={"HX-Request": "true", "HX-Target": "dashboard-figures"})
    assert fragment.status_code == 200 and "<html" not in fragment.text
    assert fragment.text.lstrip().startswith('<div id="dashboard-figures"')
    assert 'hx-get="/dashboard?from=2026-11-01&amp;to=2026-11-30"' in fragment.text
    assert 'id="hotspot-map"' not in fragment.text  # the map stays; it reloads its points only on a new version
    assert '<div id="dashboard-headline" hx-swap-oob="true">' in fragment.text  # the headline above the map too


async def test_the_hotspots_json_carries_points_counts_and_a_version_that_changes_with_the_data(test_issuer) -> None:
    insights = FakeInsightsApi()
    async with workbench(test_issuer, FakeStaffApi(), insights=insights) as client:
        client = signed_in(client, test_issuer.token(Role.SUPERVISOR))
        first = (await client.get("/dashboard/hotspots.json")).json()
        again = (await client.get("/dashboard/hotspots.json")).json()
        insights.hotspots["points"].append([45.43, -75.68])
        insights.hotspots["version"] = "fedcba9876543210"
        changed = (await client.get("/dashboard/hotspots.json")).json()
    assert first["points"][0] == [45.4215, -75.6972] and len(first["points"]) == 3
    assert first["districts"][0] == {"id": "centre", "name": "Centre", "count": 2}
    assert first["total"] == 3 and first["truncated"] is False and first["unlocated"] == 1
    assert first["version"] == again["version"] == "0123456789abcdef" != changed["version"]
    assert [c.params.get("points") for c in insights.calls] == [None, None, None]  # the map asks with points


@pytest.mark.parametrize("insights", [FakeInsightsApi(fail=(503, {"detail": "projection catching up"})),
                                      FakeInsightsApi(fail=(500, "boom")), DownTransport()],
                         ids=["503", "500", "down"])
async def test_the_dashboard_still_renders_with_figures_unavailable_when_insights_fails(test_issuer, insights) -> None:
    async with workbench(test_issuer, FakeStaffApi(), insights=insights) as client:
        client = signed_in(client, test_issuer.token(Role.SUPERVISOR))
        page = await client.get("/dashboard")
        fragment = await client.get("/dashboard", headers={"HX-Request": "true", "HX-Target": "dashboard-figures"})
        spots = await client.get("/dashboard/hotspots.json")
    assert page.status_code >= 500 and 'id="alert-figures"' in page.text and "Figures unavailable" in page.text
    assert 'id="hotspot-map"' in page.text and 'id="dashboard-filter"' in page.text
    assert fragment.status_code == 200 and 'id="alert-figures"' in fragment.text  # htmx swaps it in
    assert 'hx-trigger="every 2s"' in fragment.text  # and keeps asking
    assert spots.status_code >= 500 and spots.json()["detail"]


async def test_requests_per_day_are_a_column_chart_with_the_table_folded_beneath(test_issuer, clock) -> None:
    """31 table rows per breakdown made the page very long: each breakdown is drawn as a small column chart
    (decoration, hidden from screen readers) and its table, the accessible form, is folded in a closed
    <details> a keyboard or screen-reader user opens (its summary has an id, so htmx's swap keeps focus)."""
    async with workbench(test_issuer, FakeStaffApi(), clock=clock) as client:
        page = (await signed_in(client, test_issuer.token(Role.SUPERVISOR)).get("/dashboard")).text
        client.cookies.set("lang", "fr")
        french = (await signed_in(client, test_issuer.token(Role.SUPERVISOR)).get("/dashboard")).text
    for breakdown in ("channel", "service"):
        chart = page.index(f'<div class="wb-columns" id="{breakdown}-chart" aria-hidden="true">')
        details = page.index(f'<details class="wb-fold" id="{breakdown}-details">')
        assert chart < details < page.index(f'id="{breakdown}-table"') < page.index("</details>", details)
        assert f'<summary id="{breakdown}-summary">Day by day, as a table</summary>' in page
        assert f'<summary id="{breakdown}-summary">Jour par jour, en tableau</summary>' in french
    channels = page[page.index('id="channel-chart"'):page.index('id="channel-details"')]
    # 29 November: 3 by email and 1 on the web (the busiest day, full height); 30 November: 2 by Open311
    assert channels.count('class="wb-column"') == 2
    assert 'class="wb-seg wb-seg--0" style="height: 75.0%"' in channels
    assert 'class="wb-seg wb-seg--2" style="height: 25.0%"' in channels
    assert 'class="wb-seg wb-seg--1" style="height: 50.0%"' in channels
    assert "2026-11-29" in channels and "2026-11-30" in channels  # the first and last day under the chart


async def test_the_dashboard_speaks_french(test_issuer, clock) -> None:
    async with workbench(test_issuer, FakeStaffApi(), clock=clock) as client:
        client.cookies.set("lang", "fr")
        page = await signed_in(client, test_issuer.token(Role.SUPERVISOR)).get("/dashboard")
    assert page.status_code == 200 and '<html lang="fr">' in page.text
    for text in ("Tableau de bord", "Demandes par jour et par canal", "Respect des délais par service", "1 j 2 h",
                 "4,33/5", "80 %", "0 à 2 jours", "Points chauds", "Demandes refusées"):
        assert text in page.text, text


def test_every_new_text_is_in_english_and_french() -> None:
    prefixes = ("dashboard.", "refusals.", "nav.dashboard", "nav.refusals", "case.attributes", "case.photo",
                "case.survey", "case.followed", "kind.survey_answered", "kind.followed", "unit.")
    english = {k for k in MESSAGES["en"] if k.startswith(prefixes)}
    assert english and english == {k for k in MESSAGES["fr"] if k.startswith(prefixes)}
    same_word = {"dashboard.filter", "dashboard.total", "dashboard.article", "unit.h", "unit.min", "refusals.minute",
                 "refusals.client", "refusals.route", "case.photos", "case.photo_link"}  # "Photo", "Total": one word in both
    assert {k for k in english if MESSAGES["fr"][k] == MESSAGES["en"][k]} == same_word


# -- the refusals ------------------------------------------------------------------------------------------
async def test_the_refusals_page_lists_intake_webs_refusals_newest_first(test_issuer, clock) -> None:
    intake = FakeIntakeStaffApi(rows=[
        {"minute": "2026-11-30T16:58:00+00:00", "client": "203.0.113.9", "api_key": None, "route": "POST /report",
         "reason": "form_too_fast", "count": 1, "last_at": "2026-11-30T16:58:10+00:00"},
        {"minute": "2026-11-30T16:59:00+00:00", "client": "198.51.100.7", "api_key": "k-3f2a9c",
         "route": "POST /requests.{fmt}", "reason": "reports_per_api_key", "count": 312,
         "last_at": "2026-11-30T16:59:58+00:00"},
    ])
    token = test_issuer.token(Role.ADMINISTRATOR)
    async with workbench(test_issuer, FakeStaffApi(), intake_staff=intake, clock=clock) as client:
        page = await signed_in(client, token).get("/refusals")
        week = await client.get("/refusals?window=7d")
    assert page.status_code == 200
    assert intake.calls[0].authorization == f"Bearer {token}"
    def z(t: datetime) -> str:
        return t.isoformat().replace("+00:00", "Z")
    assert intake.calls[0].params == {"since": z(clock.now - timedelta(hours=24))}
    assert intake.calls[1].params == {"since": z(clock.now - timedelta(days=7))} and week.status_code == 200
    text = page.text
    assert 'id="refusals-table"' in text and "<caption" in text
    assert text.index("198.51.100.7") < text.index("203.0.113.9")  # newest first
    assert "too many reports with this API key" in text and "312" in text and "k-3f2a9c" in text
    assert "spam guard: form sent too fast" in text


async def test_the_refusals_page_says_when_there_is_nothing_or_intake_web_fails(test_issuer) -> None:
    async with workbench(test_issuer, FakeStaffApi(), intake_staff=FakeIntakeStaffApi()) as client:
        empty = await signed_in(client, test_issuer.token(Role.SUPERVISOR)).get("/refusals")
    assert empty.status_code == 200 and 'id="refusals-empty"' in empty.text
    failing = FakeIntakeStaffApi(fail=(503, {"detail": "refusal log unavailable"}))
    async with workbench(test_issuer, FakeStaffApi(), intake_staff=failing) as client:
        page = await signed_in(client, test_issuer.token(Role.SUPERVISOR)).get("/refusals")
    assert page.status_code == 503 and 'id="alert-refusals"' in page.text and "refusal log unavailable" in page.text


# -- the case page: attributes, photos, survey answers -----------------------------------------------------
class _Attr:
    def __init__(self, code: str, description: str, order: int, values: list[dict[str, str]] | None = None) -> None:
        self.code, self.description, self.order, self.values = code, description, order, values or []


def test_attributes_are_labelled_by_their_description_in_the_definitions_order() -> None:
    defs = [_Attr("size", "How big is it?", 2, [{"key": "s", "name": "Small"}, {"key": "l", "name": "Large"}]),
            {"code": "lanes", "description": "Which lanes?", "order": 1,
             "values": [{"key": "left", "name": "Left lane"}, {"key": "right", "name": "Right lane"}]}]
    shown = board.case_attributes({"size": "l", "lanes": ["left", "right"], "gone": "x"}, defs)
    assert shown == [{"code": "lanes", "label": "Which lanes?", "texts": ["Left lane", "Right lane"]},
                     {"code": "size", "label": "How big is it?", "texts": ["Large"]},
                     {"code": "gone", "label": "gone", "texts": ["x"]}]
    assert board.case_attributes(None, defs) == [] and board.case_attributes({}, defs) == []


def test_attributes_the_case_service_labelled_are_shown_as_it_sent_them() -> None:
    staff_read = [{"code": "surface", "label": "What is it painted on?", "value": ["wall", "sign"],
                   "display": "Wall, Sign"}, {"code": "plate", "label": "Plate", "value": "AB 123", "display": ""}]
    assert board.case_attributes(staff_read, ()) == [
        {"code": "surface", "label": "What is it painted on?", "texts": ["Wall, Sign"]},
        {"code": "plate", "label": "Plate", "texts": ["AB 123"]}]


async def test_the_case_page_shows_attributes_photos_and_survey_answers(test_issuer) -> None:
    case = a_case("D-9", media_url="https://portal.test/media/abc.jpg", attributes={"depth": "deep", "lane": "x"},
                  messages=[{"text": "look", "media_url": ["https://portal.test/media/abc.jpg", "javascript:alert(1)",
                                                           "https://portal.test/media/def.jpg"],
                             "channel": "web", "received_at": datetime.now(UTC).isoformat()}])
    case["timeline"] += [
        {"kind": "followed", "at": datetime.now(UTC).isoformat(), "detail": {"notify_channel": "sms", "pii": "+16135550000"}},
        {"kind": "survey_answered", "at": datetime.now(UTC).isoformat(), "detail": {"rating": 4, "comment": "Quick fix, thanks"}},
        {"kind": "weather_alert", "at": datetime.now(UTC).isoformat(), "detail": {"text": "Storm coming"}},
    ]
    async with workbench(test_issuer, FakeStaffApi(cases={"D-9": case})) as client:
        page = await signed_in(client, test_issuer.token(Role.DEPARTMENT_STAFF)).get("/cases/D-9")
    assert page.status_code == 200
    text = page.text
    assert 'id="case-attributes"' in text and '<dd data-code="depth">deep</dd>' in text
    photos = text[text.index('id="case-photos"'):text.index("</ul>", text.index('id="case-photos"'))]
    assert photos.count("<img") == 2 and 'alt="Photo 1 of case D-9, sent by a reporter"' in photos
    assert 'href="https://portal.test/media/def.jpg"' in photos and "javascript:" not in text
    assert "Survey: 4/5 — Quick fix, thanks" in text
    assert "Followed by a resident, notified by sms" in text and "+16135550000" not in text
    assert 'data-kind="weather_alert"' in text and "weather alert" in text and "Storm coming" in text


async def test_attributes_take_their_labels_from_the_services_definition(test_issuer) -> None:
    jur = demo()
    defs = (_Attr("depth", "How deep is the pothole?", 1, [{"key": "deep", "name": "Deeper than 10 cm"}]),)
    services = tuple(s.model_copy(update={"attributes": defs}) if s.service_code == "pothole" else s
                     for s in jur.services)
    case = a_case("D-9", attributes={"depth": "deep"})
    async with workbench(test_issuer, FakeStaffApi(cases={"D-9": case}),
                         jurisdiction=jur.model_copy(update={"services": services})) as client:
        page = await signed_in(client, test_issuer.token(Role.DEPARTMENT_STAFF)).get("/cases/D-9")
    assert 'How deep is the pothole?</dt><dd data-code="depth">Deeper than 10 cm</dd>' in page.text


# -- the pure parts ------------------------------------------------------------------------------------------
def test_the_date_filter_defaults_to_the_last_30_days_and_names_a_bad_field() -> None:
    today = date(2026, 11, 30)
    assert board.date_range(None, None, today) == (date(2026, 11, 1), today)
    assert board.date_range("", "2026-02-10", today) == (date(2026, 1, 12), date(2026, 2, 10))
    with pytest.raises(board.FilterError, match="^to:"):
        board.date_range(None, "30/11/2026", today)
    with pytest.raises(board.FilterError, match="after"):
        board.date_range("2026-12-01", None, today)


def test_requests_per_day_by_service_keeps_the_busiest_five_and_sums_the_rest() -> None:
    days = [{"date": "2026-11-30", "total": 52, "by_service": {f"s{i}": 10 - i for i in range(8)}}]
    bars = board.per_day(days, "by_service", names={"s0": "Zero"}, columns=5, other="Other")
    assert bars.columns == ["Zero", "s1", "s2", "s3", "s4", "Other"]
    assert bars.rows == [{"key": "2026-11-30", "label": "2026-11-30", "cells": [10, 9, 8, 7, 6, 5 + 4 + 3],
                          "total": 52, "share": 100.0}]


def test_durations_and_hotspots_tolerate_missing_or_malformed_figures() -> None:
    units = {"d": "d", "h": "h", "min": "min"}
    assert board.duration(None, units) is None and board.duration(3 * 3600 + 720, units) == "3 h 12 min"
    assert board.duration(300, units) == "5 min" and board.duration(86400, units) == "1 d"
    spots = board.hotspots({"points": [[45.4, -75.7], ["x", 1], [91, 0], {"lat": 45.5}, [45.5, -75.6]],
                            "districts": [{"district": "centre", "count": 3}, {"district": "unknown", "count": 1}],
                            "total": 25000, "truncated": True}, {"centre": "Centre"})
    assert spots["points"] == [[45.4, -75.7], [45.5, -75.6]]
    assert spots["districts"] == [{"id": "centre", "name": "Centre", "count": 3}, {"id": "unknown", "name": "", "count": 1}]
    assert spots["total"] == 25000 and spots["truncated"] is True
    # an insights answer without its own version: a digest of the points and counts, which moves with them
    moved = board.hotspots({"points": [[45.4, -75.7]], "districts": []}, {})
    assert moved["version"] != board.hotspots({"points": [[45.4, -75.8]], "districts": []}, {})["version"]
    assert moved["point_count"] == 1


async def test_the_hotspot_map_draws_the_configured_tiles_under_the_districts(test_issuer) -> None:
    tiles = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
    async with workbench(test_issuer, FakeStaffApi(), map_tile_url=tiles,
                         map_tile_attribution="© OpenStreetMap contributors") as client:
        page = await signed_in(client, test_issuer.token(Role.SUPERVISOR)).get("/dashboard")
    assert f'data-tile-url="{tiles}"' in page.text
    assert 'data-tile-attribution="© OpenStreetMap contributors"' in page.text


def test_a_years_columns_are_drawn_dense_and_shrink_to_fit_the_page() -> None:
    """A year of days (/dashboard?from=2011-01-01&to=2011-12-31) made the page 1983 px wide at 1280 px:
    365 columns of at least 3 px plus 2 px gaps. Past 62 columns the plot drops its gaps, and no column
    has a minimum width."""
    root = Path(__file__).parents[3] / "services" / "workbench"
    env = Environment(loader=FileSystemLoader(root / "templates"), autoescape=True)
    env.globals["t"] = lambda key, **kw: key
    days = [{"date": (date(2011, 1, 1) + timedelta(d)).isoformat(), "total": 1, "by_channel": {"web": 1}}
            for d in range(365)]
    month = days[:31]

    def plot(rows: list[dict[str, Any]]) -> str:
        html = env.get_template("_day_columns.html").render(bars=board.per_day(rows, "by_channel"), name="channel",
                                                             id="channel-table", caption="", first="", total_label="")
        return html[html.index('class="wb-columns__plot'):].split('"', 2)[1]

    assert plot(days) == "wb-columns__plot wb-columns__plot--dense" and plot(month) == "wb-columns__plot"
    css = (root / "static" / "workbench.css").read_text(encoding="utf-8")
    column = css[css.index(".wb-column {"):].split("}", 1)[0]
    assert "min-width: 0;" in column and ".wb-columns__plot--dense { gap: 0; }" in css
