"""Routing decisions on the demo city and curated FR keywords: categories, rules, districts and SLA due times."""

from __future__ import annotations

import ast
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from services.router.domain import DEFAULT_RULE_ID, KeywordClassifier, RoutingInput, route
from shared.jurisdiction import DedupPolicy, Keyword, Service, load_jurisdiction, repo_root

NOW = datetime(2024, 1, 10, 15, 0, tzinfo=UTC)
TORONTO = ZoneInfo("America/Toronto")
NORD = (45.43, -75.70)
CENTRE = (45.415, -75.70)
needs_data = pytest.mark.usefixtures("require_shared_data")


LATER = datetime(2024, 6, 1, tzinfo=UTC)  # "now" for requests made in spring 2024


def _demo_route(text: str = "", now: datetime = NOW, **fields: object) -> object:
    return route(RoutingInput(description=text, **fields), load_jurisdiction("demo"), now)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "service_code"),
    [
        ("Il y a un énorme nid-de-poule devant chez moi", "pothole"),
        ("des nids de poule partout dans ma rue", "pothole"),
        ("Le lampadaire est éteint depuis trois jours", "streetlight"),
        ("Des graffitis sur le mur de l'école", "graffiti"),
        ("Mes voisins font du tapage toute la nuit, musique forte", "noise"),
        ("Les ordures n'ont pas été ramassées cette semaine", "missed-collection"),
        ("Fuite d'eau importante sur le trottoir", "water-leak"),
        ("Pas de chauffage dans mon appartement depuis hier", "no-heat"),
        ("Un arbre est tombé sur la route", "tree"),
        ("Voiture mal garée devant mon entrée", "illegal-parking"),
        ("Il faut le déneigement de notre rue", "snow"),
        ("J'ai trouvé une seringue par terre", "needle"),
        ("LAMPADAIRE ETEINT", "streetlight"),  # no accents, upper case
    ],
)
def test_french_texts_route_to_the_right_demo_category(text: str, service_code: str) -> None:
    decision = _demo_route(text, language="fr")
    assert decision.service_code == service_code  # type: ignore[attr-defined]
    assert decision.category_source == "keywords"  # type: ignore[attr-defined]
    assert decision.matched_keywords and decision.score >= 0.45  # type: ignore[attr-defined]


@needs_data
@pytest.mark.parametrize(
    ("city", "text", "service_code", "agency"),
    [
        ("nyc", "Il y a un énorme nid-de-poule devant chez moi", "street-condition", "DOT"),
        ("nyc", "Pas de chauffage ni d'eau chaude depuis lundi", "heat-hot-water", "HPD"),
        ("nyc", "tapage nocturne chez les voisins", "noise-residential", "NYPD"),
        ("nyc", "voiture abandonnée depuis des semaines", "derelict-vehicle", "NYPD"),
        ("nyc", "fuite d'eau dans la rue", "water-system", "DEP"),
        ("nyc", "le lampadaire du coin est éteint", "street-light-condition", "DOT"),
        ("boston", "nid-de-poule sur Tremont Street", "request-for-pothole-repair", "PWDx"),
        ("boston", "une seringue abandonnée sur le trottoir", "needle-pickup", "GEN_"),
        ("boston", "graffitis sur la façade", "graffiti-removal", "PROP"),
        ("boston", "trottoir glacé, non déneigé", "misc-snow-complaint", "PWDx"),
        ("boston", "des rats dans la ruelle", "rodent-activity", "ISD"),
        ("boston", "lampadaire éteint", "street-light-outages", "PWDx"),
    ],
)
def test_french_texts_route_to_the_right_category_in_real_cities(city: str, text: str, service_code: str, agency: str) -> None:
    decision = route(RoutingInput(description=text, language="fr"), load_jurisdiction(city), NOW)
    assert (decision.service_code, decision.agency_responsible) == (service_code, agency)


def test_typos_are_tolerated_but_short_false_friends_are_not() -> None:
    assert _demo_route("big potholle on main street").service_code == "pothole"  # type: ignore[attr-defined]
    assert _demo_route("grafitti on the bridge").service_code == "graffiti"  # type: ignore[attr-defined]
    # 'night' is one letter from 'light', but the first letter must agree.
    assert _demo_route("what a night").category_source == "fallback"  # type: ignore[attr-defined]


def test_service_code_wins_over_text_and_unknown_codes_fall_back_to_text() -> None:
    coded = _demo_route("there is a pothole", service_code="graffiti")
    assert (coded.service_code, coded.category_source, coded.score) == ("graffiti", "service_code", 1.0)  # type: ignore[attr-defined]
    unknown = _demo_route("there is a pothole", service_code="no-such-code")
    assert (unknown.service_code, unknown.category_source) == ("pothole", "keywords")  # type: ignore[attr-defined]
    assert any("unknown service_code" in n for n in unknown.notes)  # type: ignore[attr-defined]


def test_unmatched_text_goes_to_the_unclassified_triage_queue() -> None:
    decision = _demo_route("Bonjour, j'ai une question sur mon compte")
    assert (decision.service_code, decision.queue, decision.category_source) == ("unclassified", "311-triage", "fallback")  # type: ignore[attr-defined]
    assert decision.rule_id == DEFAULT_RULE_ID and decision.score < 0.45  # type: ignore[attr-defined]


def _service(code: str, words: list[str]) -> Service:
    return Service(
        service_code=code, service_name=code, department_id="d", queue="q", agency_responsible="a",
        priority=3, sla_hours=1, dedup=DedupPolicy(radius_m=1, window_hours=1),
        keywords={"en": tuple(Keyword(text=w) for w in words)},
    )


def test_ties_are_resolved_the_same_way_whatever_the_service_order() -> None:
    a, b = _service("beta", ["loud noise"]), _service("alpha", ["loud noise"])
    for services in ([a, b], [b, a]):
        ranked = KeywordClassifier(services).classify("very loud noise outside")
        assert [c.service_code for c in ranked] == ["alpha", "beta"]
    # More matched phrases beat fewer at equal best score.
    c = _service("gamma", ["loud noise", "outside"])
    assert KeywordClassifier([a, b, c]).classify("very loud noise outside")[0].service_code == "gamma"


def test_every_decision_carries_rule_version_source_and_evidence() -> None:
    demo = load_jurisdiction("demo")
    decision = _demo_route("pothole near the school", lat=NORD[0], long=NORD[1])
    assert decision.config_version == demo.config_version  # type: ignore[attr-defined]
    assert decision.jurisdiction_id == "demo" and decision.rule_id == DEFAULT_RULE_ID  # type: ignore[attr-defined]
    assert decision.matched_keywords == ["pothole"] and 0 < decision.score <= 1  # type: ignore[attr-defined]
    assert (decision.district_id, decision.location_status) == ("nord", "district")  # type: ignore[attr-defined]
    assert decision.agency_responsible == "Demoville Public Works" and decision.priority == 3  # type: ignore[attr-defined]


def test_first_matching_rule_overrides_queue_priority_and_sla() -> None:
    gas = _demo_route("Strong smell of gas near the pothole")
    assert (gas.service_code, gas.rule_id, gas.priority, gas.queue) == ("pothole", "gas-smell-urgent", 1, "311-urgent")  # type: ignore[attr-defined]
    assert gas.department == "311" and gas.agency_responsible == "Demoville 311"  # type: ignore[attr-defined]
    assert (gas.sla_hours, gas.sla_clock) == (1, "calendar")  # type: ignore[attr-defined]
    downtown = _demo_route("loud music all night", lat=CENTRE[0], long=CENTRE[1])
    uptown = _demo_route("loud music all night", lat=NORD[0], long=NORD[1])
    assert (downtown.rule_id, downtown.queue) == ("downtown-noise-night-patrol", "bylaw-noise-centre")  # type: ignore[attr-defined]
    assert (uptown.rule_id, uptown.queue) == (DEFAULT_RULE_ID, "bylaw-noise")  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("point", "status", "district"),
    [
        (None, "missing", None),
        ((45.4175, -75.68), "fallback", None),  # City Hall: the geocoder's "unknown"
        ((45.42, -75.635), "no_district", None),  # the riverside park
        ((40.0, -75.0), "outside", None),
        ((45.405, -75.68), "district", "sud"),
    ],
)
def test_location_status_and_district(point: tuple[float, float] | None, status: str, district: str | None) -> None:
    where = {"lat": point[0], "long": point[1]} if point else {}
    decision = _demo_route("pothole", address="somewhere", **where)
    assert (decision.location_status, decision.district_id) == (status, district)  # type: ignore[attr-defined]


def test_sla_due_time_skips_the_weekend_across_spring_forward() -> None:
    # Pothole: 45 business hours (five 9-hour days). Friday 8 March 2024 16:00 EST, DST on Sunday 10.
    decision = _demo_route("pothole", requested_datetime=datetime(2024, 3, 8, 16, tzinfo=TORONTO), now=LATER)
    assert decision.sla_started_at == datetime(2024, 3, 8, 21, tzinfo=UTC)  # type: ignore[attr-defined]
    assert decision.sla_due_at == datetime(2024, 3, 15, 20, tzinfo=UTC)  # type: ignore[attr-defined]  # Fri 16:00 EDT


def test_sla_due_time_skips_good_friday_in_ontario() -> None:
    decision = _demo_route("pothole", requested_datetime=datetime(2024, 3, 28, 16, tzinfo=TORONTO), now=LATER)
    assert decision.sla_due_at == datetime(2024, 4, 5, 20, tzinfo=UTC)  # type: ignore[attr-defined]


def test_naive_requested_datetime_is_local_time_and_future_ones_start_now() -> None:
    naive = _demo_route("pothole", requested_datetime=datetime(2024, 1, 5, 9))
    assert naive.sla_started_at == datetime(2024, 1, 5, 14, tzinfo=UTC)  # type: ignore[attr-defined]  # 09:00 EST
    future = _demo_route("pothole", requested_datetime=datetime(2030, 1, 1, tzinfo=UTC))
    assert future.sla_started_at == NOW and future.notes  # type: ignore[attr-defined]


def test_calendar_clock_services_run_through_nights_and_weekends() -> None:
    saturday = datetime(2024, 3, 9, 22, tzinfo=TORONTO)
    decision = _demo_route("loud party next door", requested_datetime=saturday, now=LATER)
    assert decision.sla_clock == "calendar" and decision.sla_hours == 8  # type: ignore[attr-defined]
    assert decision.sla_due_at == datetime(2024, 3, 10, 11, tzinfo=UTC)  # type: ignore[attr-defined]


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        route(RoutingInput(description="pothole"), load_jurisdiction("demo"), datetime(2024, 1, 1))


def test_lat_without_long_is_refused() -> None:
    with pytest.raises(ValueError, match="lat and long go together"):
        RoutingInput(lat=45.4)


def test_decision_fits_the_routing_decided_event() -> None:
    from shared.events import RoutingFields

    decision = _demo_route("pothole", lat=NORD[0], long=NORD[1])
    fields = RoutingFields.model_validate(decision.event_fields())  # type: ignore[attr-defined]
    assert fields.district == "nord" and fields.sla_due_at == decision.sla_due_at  # type: ignore[attr-defined]


FORBIDDEN = {"asyncpg", "aiokafka", "faststream", "httpx"}


def test_router_domain_and_jurisdiction_package_import_no_io_libraries() -> None:
    root = repo_root()
    files = [*sorted((root / "services" / "router" / "domain").glob("*.py")), *sorted((root / "shared" / "jurisdiction").glob("*.py"))]
    assert files
    for path in files:
        for node in ast.walk(ast.parse(Path(path).read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            )
            for name in names:
                assert name.split(".")[0] not in FORBIDDEN, f"{path.name} imports {name}"
