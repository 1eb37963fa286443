"""The built-in layouts read the evaluation datasets whole, and the time-ordered split keeps the newest for testing."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from shared.records import ReplayRecord, builtin_layouts, records_for, time_ordered_split
from support.data import shared_data

DATASETS = {
    "boston_open311_jsonl": ("freetext/boston_bos311_requests_sample.jsonl", 3925),
    "montpellier_vigilo": ("freetext/vigilo_montpellier_fr_observations.json", 4120),
    "seeclickfix_detroit": ("freetext/seeclickfix_detroit_traffic_complaints_issues.csv", 4179),
    "seeclickfix_v2": ("freetext/seeclickfix_v2_multicity_2024-08.json", 986),
    "seeclickfix_wwscf": ("freetext/seeclickfix_virginia_beach_2015_issues.jsonl", 100),
    "montreal_311_json": ("montreal/feldev-hackqc_rats_data.json", 2513),
    "montreal_311_csv": ("montreal/ragathon_requetes311_head_test.csv", 694),
}


def test_every_built_in_layout_has_a_dataset_here():
    assert sorted(DATASETS) == builtin_layouts()


@pytest.mark.usefixtures("require_shared_data")
@pytest.mark.parametrize("name", sorted(DATASETS))
def test_a_built_in_layout_reads_every_record_of_its_dataset(name):
    file, count = DATASETS[name]

    records = list(records_for(shared_data() / file, layout=name))

    assert len(records) == count
    assert all(r.source_format == "mapped" and r.requested_datetime.tzinfo is UTC for r in records)
    assert len({r.source_id for r in records}) == count  # ids, or row-<position> when the export has none
    # Vigilo has 7 reports without a category, SeeClickFix v2 12 issues with an empty request type.
    assert sum(not r.service_name for r in records) == {"montpellier_vigilo": 7, "seeclickfix_v2": 12}.get(name, 0)


@pytest.mark.usefixtures("require_shared_data")
def test_montreal_records_carry_borough_unit_and_local_time():
    records = {r.source_id: r for r in records_for(shared_data() / DATASETS["montreal_311_json"][0],
                                                    layout="montreal_311_json")}

    record = records["19-13809"]
    assert (record.service_name, record.expected_agency, record.district) == (
        "Extermination à l'extérieur - Rats", "VILLE-MARIE", "Ville-Marie")
    assert (record.lat, record.long, record.address_string) == (45.5329688123745, -73.5508238049224, "rue Ontario")
    assert record.requested_datetime == datetime(2019, 1, 12, 14, 52, 11, tzinfo=UTC)  # 09:52 EST
    assert sum(r.lat is not None for r in records.values()) == 1911
    assert sum(" & " in (r.address_string or "") for r in records.values()) == 181  # crossing streets only


@pytest.mark.usefixtures("require_shared_data")
def test_detroit_sub_labels_come_from_the_questions_file():
    records = list(records_for(shared_data() / DATASETS["seeclickfix_detroit"][0], layout="seeclickfix_detroit"))

    labels = Counter(r.service_name for r in records)
    assert labels["Speeding"] == 1205
    assert labels["Traffic Complaints"] == 0  # every traffic complaint has its resident's answer
    assert sum(labels.values()) - labels["None of the above (see below)"] > 2000


def _at(hour: int, position: int) -> ReplayRecord:
    return ReplayRecord(source_format="mapped", position=position, source_id=str(position), service_name="x",
                        description=None, lat=None, long=None, address_string=None, zipcode=None, expected_agency=None,
                        requested_datetime=datetime(2024, 1, 1, tzinfo=UTC) + timedelta(hours=hour), status=None,
                        status_notes=None, free_text=None)


def test_time_ordered_split_tests_on_the_newest_records():
    records = [_at(h, p) for p, h in enumerate([5, 1, 9, 3, 7, 2, 8, 4, 6, 0], 1)]

    train, test = time_ordered_split(records, test_share=0.2)

    assert [r.requested_datetime.hour for r in train] == [0, 1, 2, 3, 4, 5, 6, 7]
    assert [r.requested_datetime.hour for r in test] == [8, 9]


def test_time_ordered_split_breaks_ties_by_position_and_keeps_one_each_side():
    same = [_at(0, 3), _at(0, 1), _at(0, 2)]

    train, test = time_ordered_split(same, test_share=0.01)

    assert [r.position for r in train] == [1, 2] and [r.position for r in test] == [3]
    assert time_ordered_split([_at(0, 1)]) == ([_at(0, 1)], [])
    with pytest.raises(ValueError, match="between 0 and 1"):
        time_ordered_split(same, test_share=1.0)
