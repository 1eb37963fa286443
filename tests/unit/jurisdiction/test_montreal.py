"""Montréal, French first: the jurisdiction loads from the City's open data, every spelling of a borough
in the export names one, Québec holidays close the calendar, and the rats and vermin records route offline
(Open311 form checks, then the pure router) with the borough of their place agreeing with ARRONDISSEMENT_GEO."""

from __future__ import annotations

import csv
import json
from collections import Counter
from datetime import UTC, date, datetime

import pytest

from services.router.domain import RoutingInput, route
from shared.jurisdiction import Jurisdiction, load_jurisdiction
from shared.jurisdiction.geo import district_key
from shared.open311.post import InvalidPostServiceRequest, parse_post_form
from shared.records import records_for
from support.data import shared_data
from tools.replay.cli import form_for

pytestmark = pytest.mark.usefixtures("require_shared_data")

RECORD_FILES = ("feldev-hackqc_rats_data.json", "feldev-hackqc_vermines_data.json")
SPELLED_COLUMNS = ("ARRONDISSEMENT_GEO", "ARRONDISSEMENT", "UNITE_RESP_PARENT")
NOW = datetime(2026, 1, 5, 12, tzinfo=UTC)


@pytest.fixture(scope="module")
def montreal() -> Jurisdiction:
    return load_jurisdiction("montreal")


@pytest.fixture(scope="module")
def raw_rows() -> list[dict[str, object]]:
    """Every row of the two JSON files and of today's CSV, as the export wrote them."""
    folder = shared_data() / "montreal"
    rows: list[dict[str, object]] = []
    for name in RECORD_FILES:
        rows += json.loads((folder / name).read_text(encoding="utf-8"))
    with (folder / "ragathon_requetes311_head_test.csv").open(encoding="utf-8-sig", newline="") as f:
        rows += list(csv.DictReader(f))
    return rows


def test_montreal_loads_french_first_with_its_boroughs_and_linked_municipalities(montreal: Jurisdiction) -> None:
    assert montreal.locales[0] == "fr"
    assert montreal.timezone == "America/Montreal"
    assert montreal.districts is not None
    areas = montreal.districts.districts
    assert len(areas) == 34
    kinds = Counter(str(d.properties["TYPE"]) for d in areas)
    assert kinds == {"Arrondissement": 19, "Ville liée": 15}
    rats = next(s for s in montreal.services if s.service_name == "Extermination à l'extérieur - Rats")
    assert rats.name_in("en") == "Outdoor extermination - rats"
    assert rats.name_in("fr") == rats.service_name


def test_every_french_category_name_in_the_export_is_a_service(montreal: Jurisdiction, raw_rows) -> None:  # noqa: ANN001
    names = {" ".join(str(r["ACTI_NOM"]).split()) for r in raw_rows}
    offered = {" ".join(s.service_name.split()) for s in montreal.services}
    assert len(names) >= 120
    assert names <= offered, sorted(names - offered)


def test_every_spelling_of_a_borough_or_unit_in_the_export_resolves(montreal: Jurisdiction, raw_rows) -> None:  # noqa: ANN001
    assert montreal.districts is not None
    units = {district_key(d.agency_responsible): d for d in montreal.departments}
    unresolved: dict[str, set[str]] = {}
    seen = 0
    for column in SPELLED_COLUMNS:
        for spelling in {str(r.get(column) or "").strip() for r in raw_rows} - {""}:
            seen += 1
            if montreal.districts.resolve(spelling) is None and district_key(spelling) not in units:
                unresolved.setdefault(column, set()).add(spelling)
    assert seen >= 60
    assert not unresolved, unresolved
    # The three spellings of one borough meet.
    for spelling in ("Mercier-Hochelaga-Maisonneuve", "Mercier - Hochelaga-Maisonneuve", "MERCIER - HOCHELAGA-MAISONNEUVE"):
        assert montreal.districts.resolve(spelling).id == "MH"  # type: ignore[union-attr]
    assert montreal.districts.resolve("ST-LAURENT").id == "LR"  # type: ignore[union-attr]
    assert montreal.districts.resolve("ARRONDISSEMENT DE VERDUN").id == "VD"  # type: ignore[union-attr]
    assert montreal.districts.resolve("L ÎLE BIZARD - STE-GENEVIÈVE").id == "IS"  # type: ignore[union-attr]
    assert montreal.districts.resolve("L'Île-Dorval").id == "ID"  # type: ignore[union-attr]
    assert montreal.districts.resolve("Dorval").id == "DV"  # type: ignore[union-attr]
    assert montreal.districts.resolve("Ville-Marie").id == "VM"  # type: ignore[union-attr]
    assert montreal.districts.resolve("Gotham") is None


@pytest.mark.parametrize(
    ("day", "name"),
    [(date(2018, 6, 25), "Fête nationale (observed)"), (date(2019, 6, 24), "Fête nationale"),
     (date(2018, 5, 21), "Journée nationale des patriotes"), (date(2018, 12, 25), "Noël"),
     (date(2018, 3, 30), "Vendredi saint")],
)
def test_quebec_holidays_close_the_calendar(montreal: Jurisdiction, day: date, name: str) -> None:
    assert montreal.calendar.holiday_name(day) is not None, name
    assert not montreal.calendar.is_business_day(day)


def test_a_report_before_the_fete_nationale_is_due_after_it(montreal: Jurisdiction) -> None:
    # Friday 22 June 2018, 16:00 in Montréal; Monday 25 June is the observed Fête nationale.
    start = datetime(2018, 6, 22, 20, tzinfo=UTC)
    due = montreal.due_at(start, 2, "business")
    assert due == datetime(2018, 6, 26, 14, tzinfo=UTC)  # Tuesday 10:00 EDT: 30 min on Friday, 1 h 30 on Tuesday


def test_rats_and_vermin_records_each_get_a_decision_or_a_reasoned_rejection(montreal: Jurisdiction) -> None:
    assert montreal.districts is not None
    codes = {s.service_name.strip().casefold(): s.service_code for s in montreal.services}
    outcomes: Counter[str] = Counter()
    located = agreeing = 0
    wrong: list[tuple[str, str | None, str | None]] = []
    total = 0
    for name in RECORD_FILES:
        for record in records_for(shared_data() / "montreal" / name, jurisdiction=montreal):
            total += 1
            form = form_for(record, "structured", codes, "offline")
            assert form is not None, f"{record.service_name!r} is not offered"
            try:
                request = parse_post_form(form)
            except InvalidPostServiceRequest as exc:
                assert str(exc).strip(), "a rejection says why"
                outcomes[f"rejected: {exc}"] += 1
                continue
            decision = route(RoutingInput(
                service_code=request.service_code, description=request.description or "", lat=request.lat,
                long=request.long, address=request.address_string, requested_datetime=record.requested_datetime,
            ), montreal, NOW)
            assert decision.service_name == record.service_name
            outcomes[decision.location_status] += 1
            if decision.location_status == "fallback":
                continue  # a borough-office point (LOC_ERREUR_GDT=1) is no place
            expected = montreal.districts.resolve(record.district)
            assert expected is not None, record.district
            located += 1
            if decision.district_id == expected.id:
                agreeing += 1
            else:
                wrong.append((record.source_id, record.district, decision.district_id))
    share = agreeing / located
    print(f"\nMontréal rats+vermin offline: {total} records, {dict(outcomes)}; borough agrees with "
          f"ARRONDISSEMENT_GEO on {agreeing}/{located} located = {share:.4f}; disagreeing: {wrong}")
    assert total == 2513 + 248
    assert sum(outcomes.values()) == total
    assert outcomes["rejected: a location is required: lat and long, address_string or address_id"] == 676
    assert outcomes["fallback"] >= 24
    assert located >= 2000
    assert share >= 0.99


def test_a_borough_service_goes_to_the_borough_of_its_place_and_a_linked_city_is_referred(montreal: Jurisdiction) -> None:
    def routed(lat: float, long: float, code: str = "extermination-a-l-exterieur-rats"):  # noqa: ANN202
        return route(RoutingInput(service_code=code, lat=lat, long=long), montreal, NOW)

    plateau = routed(45.5225, -73.5800)
    assert (plateau.district_id, plateau.department, plateau.agency_responsible) == ("PM", "plateau-mont-royal", "PLATEAU-MONT-ROYAL")
    westmount = routed(45.4840, -73.5985)
    assert (westmount.district_id, westmount.queue) == ("WM", "villes-liees")
    taxes = routed(45.5225, -73.5800, "taxes-foncieres")
    assert taxes.department == "centre-311"
    office = routed(45.525239, -73.591364)
    assert office.location_status == "fallback" and office.district_id is None
    assert office.department == "concertation"


def test_todays_csv_reads_with_its_layout_and_every_category_is_offered(montreal: Jurisdiction) -> None:
    records = list(records_for(shared_data() / "montreal" / "ragathon_requetes311_head_test.csv",
                               layout="montreal_311_csv", jurisdiction=montreal))
    assert len(records) == 694
    offered = {s.service_name.strip().casefold() for s in montreal.services}
    assert all((r.service_name or "").strip().casefold() in offered for r in records)
    assert all(r.lat is None for r in records), "today's sample holds only Information records, with no place"
    assert {r.requested_datetime.tzinfo is not None for r in records} == {True}


def test_an_alias_names_a_borough_and_one_that_names_another_is_refused() -> None:
    from shared.jurisdiction import DistrictIndex, JurisdictionConfigError

    data = json.loads((shared_data() / "montreal" / "limadmin.geojson").read_text(encoding="utf-8"))
    index = DistrictIndex.from_geojson(data, id_property="ABREV", name_property="NOM")
    assert index.resolve("Centre-ville") is None
    index.add_aliases({"VM": ["Centre-Ville de Montréal", "CENTRE-VILLE"]})
    assert index.resolve("centre ville").id == "VM"  # type: ignore[union-attr]
    with pytest.raises(JurisdictionConfigError, match="already names 'OM'"):
        index.add_aliases({"VM": ["OUTREMONT"]})
    with pytest.raises(JurisdictionConfigError, match="unknown district"):
        index.add_aliases({"XX": ["Gotham"]})
