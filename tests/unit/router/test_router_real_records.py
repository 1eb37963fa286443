"""Routing real NYC and Boston 311 records: structured codes reach the right agency, free text mostly does."""

from __future__ import annotations

import csv
import dataclasses
from datetime import UTC, datetime
from functools import cache

import pytest
import yaml

from services.router.domain import RoutingInput, route
from shared.jurisdiction import (
    Jurisdiction,
    JurisdictionConfig,
    build_jurisdiction,
    derive_services,
    jurisdiction_path,
    load_jurisdiction,
    service_code_for,
    shared_data_root,
)

DATA = shared_data_root()
pytestmark = pytest.mark.usefixtures("require_shared_data")
NOW = datetime(2024, 1, 10, 15, 0, tzinfo=UTC)
NYC_CSV = "nyc311_2011_sample_1000.csv"
BOSTON_CSV = "qsv_boston311-100.csv"


@cache
def _rows(name: str) -> tuple[dict[str, str], ...]:
    with (DATA / "311_records" / name).open(newline="", encoding="utf-8-sig") as handle:
        return tuple(csv.DictReader(handle))


def _agency_accuracy(jurisdiction: Jurisdiction, rows: tuple[dict[str, str], ...], type_col: str, agency_col: str) -> float:
    right = 0
    for row in rows:
        decision = route(RoutingInput(service_code=service_code_for(row[type_col])), jurisdiction, NOW)
        assert decision.category_source == "service_code"
        right += decision.agency_responsible == row[agency_col].strip()
    return right / len(rows)


def test_every_nyc_record_routes_by_service_code_to_its_agency() -> None:
    accuracy = _agency_accuracy(load_jurisdiction("nyc"), _rows(NYC_CSV), "Complaint Type", "Agency")
    print(f"NYC structured agency accuracy: {accuracy:.4f} over {len(_rows(NYC_CSV))} records")
    assert accuracy >= 0.98


def test_every_boston_record_routes_by_service_code_to_its_department() -> None:
    accuracy = _agency_accuracy(load_jurisdiction("boston"), _rows(BOSTON_CSV), "type", "department")
    print(f"Boston structured department accuracy: {accuracy:.4f} over {len(_rows(BOSTON_CSV))} records")
    assert accuracy >= 0.98  # 'PWD Graffiti' goes to BTDT twice and PWDx once: one miss is inherent


def _free_text_accuracy(jurisdiction: Jurisdiction, rows: tuple[dict[str, str], ...], type_col: str, text_col: str) -> float:
    right = 0
    for row in rows:
        decision = route(RoutingInput(description=row[text_col]), jurisdiction, NOW)
        right += decision.service_code == service_code_for(row[type_col])
    return right / len(rows)


def _held_out(name: str, csv_name: str) -> tuple[Jurisdiction, tuple[dict[str, str], ...]]:
    """The city re-derived from even rows only; the odd rows are then unseen text.

    Types absent from the even rows keep their names (a city knows its service list) but lose the
    keywords learnt from data, so the held-out score is not flattered.
    """
    path = jurisdiction_path(name)
    config = JurisdictionConfig.model_validate(yaml.safe_load(path.read_bytes()))
    assert config.services_from is not None
    rows = _rows(csv_name)
    calendar = load_jurisdiction(name).calendar
    train = derive_services(rows[0::2], config.services_from, calendar=calendar)
    full = derive_services(rows, config.services_from, calendar=calendar)
    for code, service in full.services.items():
        if code not in train.services:
            names_only = [k for k in service.keywords if k.origin == "name"]
            train.services[code] = dataclasses.replace(service, keywords=names_only)
            department = train.departments.setdefault(service.agency, dataclasses.replace(full.departments[service.agency], queues=[]))
            if service.queue not in department.queues:
                department.queues.append(service.queue)
    held_out = build_jurisdiction(config, base_dir=path.parent, data_root=DATA, source=str(path), derived=train)
    assert held_out.config_version != load_jurisdiction(name).config_version
    return held_out, rows[1::2]


def test_nyc_free_text_from_descriptors() -> None:
    rows = _rows(NYC_CSV)
    in_sample = _free_text_accuracy(load_jurisdiction("nyc"), rows, "Complaint Type", "Descriptor")
    held_out, unseen = _held_out("nyc", NYC_CSV)
    out_of_sample = _free_text_accuracy(held_out, unseen, "Complaint Type", "Descriptor")
    print(f"NYC free text (Descriptor → Complaint Type): in-sample {in_sample:.4f}, held-out {out_of_sample:.4f}")
    # The Descriptor alone cannot do better than 0.958: 'Loud Music/Party' is residential, commercial,
    # street and park noise alike. The floors sit a few points under the measured 0.93 / 0.90.
    assert in_sample >= 0.90
    assert out_of_sample >= 0.85


def test_boston_free_text_from_case_titles() -> None:
    rows = _rows(BOSTON_CSV)
    in_sample = _free_text_accuracy(load_jurisdiction("boston"), rows, "type", "case_title")
    held_out, unseen = _held_out("boston", BOSTON_CSV)
    out_of_sample = _free_text_accuracy(held_out, unseen, "type", "case_title")
    print(f"Boston free text (case_title → type): in-sample {in_sample:.4f}, held-out {out_of_sample:.4f}")
    assert in_sample >= 0.95
    assert out_of_sample >= 0.90


def test_boston_fallback_rows_get_no_district_but_are_still_routed() -> None:
    boston = load_jurisdiction("boston")
    for row in _rows(BOSTON_CSV):
        decision = route(
            RoutingInput(
                service_code=service_code_for(row["type"]),
                lat=float(row["latitude"]),
                long=float(row["longitude"]),
                requested_datetime=datetime.fromisoformat(row["open_dt"]),
            ),
            boston,
            NOW,
        )
        if (float(row["latitude"]), float(row["longitude"])) == (42.3594, -71.0587):
            assert decision.location_status == "fallback" and decision.district_id is None
        else:
            assert decision.location_status in ("district", "outside", "no_district")
        assert decision.sla_due_at >= decision.sla_started_at
