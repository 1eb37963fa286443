"""Replay readers over the real NYC, Boston and Open311 exports in the shared corpus."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from support.data import shared_data
from tools.replay.sources import ReplayFormatError, ReplayRecord, detect_format, read_records, repair_mojibake


def _data_dir() -> Path:
    return shared_data()


NYC = _data_dir() / "311_records" / "nyc311_2011_sample_1000.csv"
BOSTON = _data_dir() / "311_records" / "qsv_boston311-100.csv"
BOSTON_DUPES = _data_dir() / "311_records" / "qsv_boston311-100-20dupes-random.csv"
CHICAGO = _data_dir() / "open311" / "chicago_requests_small.json"
TORONTO = _data_dir() / "open311" / "toronto_requests_many.xml"


@pytest.fixture(scope="module")
def nyc() -> dict[str, ReplayRecord]:
    return {r.source_id: r for r in read_records(NYC)}


@pytest.fixture(scope="module")
def boston() -> dict[str, ReplayRecord]:
    return {r.source_id: r for r in read_records(BOSTON)}


@pytest.mark.parametrize(
    ("path", "expected"),
    [(NYC, "nyc_csv"), (BOSTON, "boston_csv"), (BOSTON_DUPES, "boston_csv"), (CHICAGO, "open311_json"),
     (TORONTO, "open311_xml")],
)
def test_format_is_detected_from_the_header(path, expected):
    assert detect_format(path) == expected


def test_unknown_layout_is_refused(tmp_path):
    path = tmp_path / "other.csv"
    path.write_text("id,when,what\n1,2020-01-01,x\n", encoding="utf-8")

    with pytest.raises(ReplayFormatError, match="unknown layout"):
        detect_format(path)


def test_missing_columns_are_reported_before_reading(tmp_path):
    path = tmp_path / "short.csv"
    path.write_text("Unique Key,Complaint Type\n1,Noise\n", encoding="utf-8")

    with pytest.raises(ReplayFormatError, match="missing columns .*Created Date"):
        read_records(path)


def test_nyc_file_has_999_records_294_without_coordinates(nyc):
    assert len(nyc) == 999
    without = [r for r in nyc.values() if r.lat is None]
    assert len(without) == 294
    assert all(r.long is None for r in without)
    assert Counter(r.expected_agency for r in without)["DOF"] == 212


def test_nyc_record_fields(nyc):
    record = nyc["19937901"]

    assert record.source_format == "nyc_csv"
    assert record.position == 2
    assert record.service_name == "Street Sign - Dangling"
    assert record.description == "Street Cleaning - ASP (Street)"
    assert record.free_text == "Street Cleaning - ASP (Street)"
    assert record.address_string == "186 25 STREET, BROOKLYN 11232"
    assert record.zipcode == "11232"
    assert record.expected_agency == "DOT"
    assert (record.lat, record.long) == (40.660811976282695, -73.99859430999363)
    assert record.status == "closed"
    assert record.email is None
    assert record.district == "07 BROOKLYN"  # Community Board, as the export writes it


def test_nyc_intersection_and_blockface_addresses(nyc):
    assert nyc["19937902"].address_string == "158 STREET & NORTHERN BOULEVARD, FLUSHING 11358"
    # "WEST   63 STREET": runs of spaces collapse
    assert nyc["19937904"].address_string == "WEST 63 STREET & WEST END AVENUE, NEW YORK 10069"
    assert nyc["19938163"].address_string == "WEST 260 STREET between SPENCER AVENUE and FIELDSTON ROAD, BRONX 10471"


def test_nyc_records_without_street_level_location_have_no_address(nyc):
    phone_case = nyc["19937896"]  # DOF payment issue taken by phone: zip and city only

    assert phone_case.address_string is None
    assert phone_case.zipcode == "10027"
    assert sum(r.address_string is None for r in nyc.values()) == 286
    assert sum(r.address_string is None and r.lat is None for r in nyc.values()) == 286


def test_nyc_unspecified_borough_is_not_used_as_a_locality(nyc):
    assert nyc["19942256"].address_string == "5200 W MERCURY BLVD, HAMPTON 23608"
    assert nyc["19941557"].address_string == "MCCOMBS PLACE, MANHATTAN"
    texts = (v for r in nyc.values() for v in (r.address_string, r.description, r.zipcode) if v)
    assert not any("Unspecified" in t for t in texts)


def test_nyc_mojibake_is_repaired_in_all_72_resolution_texts(nyc):
    repaired = [r for r in nyc.values() if r.status_notes and "\u00a0" in r.status_notes]

    assert len(repaired) == 72
    assert not any("\u00c2" in (r.status_notes or "") for r in nyc.values())
    assert nyc["19937942"].status_notes.startswith(
        "The Department for the Aging contacted you and provided the assistance requested.\u00a0 No further"
    )


def test_nyc_local_times_become_utc_across_daylight_saving(nyc):
    # 1 March 2011 is EST (UTC-5); 2 November 2011 is still EDT (UTC-4).
    assert nyc["19937896"].requested_datetime == datetime(2011, 3, 1, 19, 27, 57, tzinfo=UTC)
    assert nyc["19937901"].requested_datetime == datetime(2011, 3, 1, 15, 41, 13, tzinfo=UTC)
    assert nyc["21801941"].requested_datetime == datetime(2011, 11, 3, 0, 43, tzinfo=UTC)
    assert all(r.requested_datetime.tzinfo is UTC for r in nyc.values())


def test_free_text_never_contains_the_category_label(nyc, boston):
    for record in [*nyc.values(), *boston.values()]:
        if record.free_text is not None:
            assert record.service_name.casefold() not in record.free_text.casefold()
    assert nyc["19937901"].free_text is not None
    # "SCRIE Assistance" would hand the router its "SCRIE" label
    scrie = [r for r in nyc.values() if r.service_name == "SCRIE"]
    assert scrie and all(r.free_text is None for r in scrie)
    assert sum(r.free_text is None for r in nyc.values()) == 83
    assert sum(r.free_text is not None for r in boston.values()) == 8


def test_boston_file_has_100_records_and_keeps_the_fallback_point(boston):
    assert len(boston) == 100
    assert all(r.lat is not None for r in boston.values())
    fallback = [r for r in boston.values() if (r.lat, r.long) == (42.3594, -71.0587)]
    assert len(fallback) == 19


def test_boston_record_fields(boston):
    record = boston["101004130437"]

    assert record.source_format == "boston_csv"
    assert record.service_name == "Needle Pickup"
    assert record.description == "Needle Pickup"
    assert record.free_text is None
    assert record.address_string == "42 Cross St  Boston  MA  02113"
    assert record.zipcode == "02113"
    assert record.expected_agency == "GEN_"
    assert record.status == "closed"
    assert record.district == "03"  # ward, as the export writes it ("Ward 3" on other rows)
    assert record.status_notes.startswith("Case Closed. Closed date : Wed Jan 19 11:42:16 EST 2022")
    # 11:18 EST
    assert record.requested_datetime == datetime(2022, 1, 19, 16, 18, tzinfo=UTC)


def test_boston_blank_location_is_none_and_other_titles_are_free_text(boston):
    record = boston["101004143000"]

    assert record.address_string is None
    assert (record.lat, record.long) == (42.3594, -71.0587)
    assert record.free_text == "BTDT: Complaint"
    assert record.status == "open" and record.status_notes is None


def test_twenty_dupes_file_has_100_rows_80_ids_and_identical_duplicates():
    records = list(read_records(BOSTON_DUPES))

    assert len(records) == 100
    counts = Counter(r.source_id for r in records)
    assert len(counts) == 80
    assert sorted(counts.values()).count(2) == 20
    by_id: dict[str, list[ReplayRecord]] = {}
    for record in records:
        by_id.setdefault(record.source_id, []).append(record)
    first, second = by_id["101004113637"]
    assert (first.position, second.position) == (1, 65)
    assert first.requested_datetime == second.requested_datetime
    assert {r.source_id for r in records} <= {r.source_id for r in read_records(BOSTON)}


def test_open311_json_records():
    first, second = read_records(CHICAGO)

    assert first.source_format == "open311_json"
    assert (first.source_id, first.service_name) == ("14-01100669", "Alley Light Out")
    assert first.expected_agency == "Division of Electrical Operations CDOT"
    assert first.address_string == "1540 W 17TH ST, CHICAGO, IL, 60608"
    assert first.requested_datetime == datetime(2014, 7, 12, 15, 58, 43, tzinfo=UTC)
    assert first.description is None and first.free_text is None
    assert second.status_notes == "Locked"


def test_open311_xml_records():
    first, _ = read_records(TORONTO)

    assert first.source_format == "open311_xml"
    assert first.address_string == "Warden Ave / Freeman St, Scarborough"
    assert first.requested_datetime == datetime(2018, 7, 30, 4, 1, tzinfo=UTC)


def test_a_bad_value_stops_the_read_with_file_and_record(tmp_path):
    header = BOSTON.read_text(encoding="utf-8").splitlines()[0]
    good = BOSTON.read_text(encoding="utf-8").splitlines()[1]
    bad = good.replace("42.3594,-71.0587", "north,-71.0587")
    path = tmp_path / "boston.csv"
    path.write_text("\n".join([header, good, bad]) + "\n", encoding="utf-8")

    records = read_records(path)
    next(records)
    with pytest.raises(ReplayFormatError, match=r"record 2: coordinates are not numbers"):
        next(records)


@pytest.mark.parametrize(
    ("broken", "fixed"),
    [
        ("requested.\u00c2\u00a0 No further", "requested.\u00a0 No further"),
        ("Stra\u00c3\u0178e", "Straße"),
        ("it\u00e2\u20ac\u2122s", "it\u2019s"),
        ("S\u00c3O PAULO", "S\u00c3O PAULO"),  # a real Ã stays
        ("plain text", "plain text"),
    ],
)
def test_repair_mojibake(broken, fixed):
    assert repair_mojibake(broken) == fixed


def test_boston_city_times_and_verdict_are_read_in_utc(boston):
    open_case = boston["101004143000"]  # target 2022-02-04 13:47:30 EST, not closed, OVERDUE
    no_target = boston["101004130437"]  # no target_dt, closed 11:42:16 EST, ONTIME

    assert open_case.city_due_at == datetime(2022, 2, 4, 18, 47, 30, tzinfo=UTC)
    assert open_case.closed_at is None
    assert open_case.city_on_time is False
    assert no_target.city_due_at is None
    assert no_target.closed_at == datetime(2022, 1, 19, 16, 42, 16, tzinfo=UTC)
    assert no_target.city_on_time is True
    assert sum(r.city_due_at is not None for r in boston.values()) == 89
    assert sum(r.closed_at is not None for r in boston.values()) == 85


def test_nyc_due_and_closed_dates_are_local_times_across_daylight_saving(nyc):
    record = nyc["19937901"]  # Created 03/01/2011 10:41:13 AM EST, Due 03/15/2011 05:32:23 PM EDT

    assert record.city_due_at == datetime(2011, 3, 15, 21, 32, 23, tzinfo=UTC)
    assert record.closed_at == datetime(2011, 3, 15, 20, 14, 19, tzinfo=UTC)
    assert record.city_on_time is None
    assert sum(r.city_due_at is not None for r in nyc.values()) == 990


def test_a_bad_ontime_or_due_time_stops_the_read(tmp_path):
    header, good = BOSTON.read_text(encoding="utf-8").splitlines()[:2]
    path = tmp_path / "boston.csv"
    path.write_text("\n".join([header, good.replace("OVERDUE", "LATE")]) + "\n", encoding="utf-8")
    with pytest.raises(ReplayFormatError, match=r"record 1: ontime 'LATE' is neither ONTIME nor OVERDUE"):
        list(read_records(path))

    path.write_text("\n".join([header, good.replace("2022-02-04 13:47:30", "next week")]) + "\n", encoding="utf-8")
    with pytest.raises(ReplayFormatError, match=r"record 1: target_dt 'next week' is not YYYY-MM-DD"):
        list(read_records(path))
