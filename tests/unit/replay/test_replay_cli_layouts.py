"""The replay reads any export from a layout or the jurisdiction's mapping, and says when free text is missing."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from shared.jurisdiction import load_jurisdiction
from shared.jurisdiction.config import ExportLayoutSpec
from shared.records import ReplayFormatError, ReplayRecord
from tools.replay.cli import Submission, check_free_text, district_section, layout_in_use, main

NO_TEXT = ExportLayoutSpec.model_validate({"columns": {"service": "what", "requested": "when"}})
WITH_TEXT = ExportLayoutSpec.model_validate({"columns": {"description": "text", "requested": "when"}})


def test_free_text_mode_refuses_a_mapping_without_a_description_column():
    with pytest.raises(ReplayFormatError, match="maps no description column.*add `description: <column>`"):
        check_free_text(NO_TEXT, ["structured", "free-text"])
    check_free_text(NO_TEXT, ["structured"])
    check_free_text(WITH_TEXT, ["free-text"])
    check_free_text(None, ["free-text"])  # a detected layout always has its text column


def test_the_named_layout_comes_before_the_jurisdiction_export(tmp_path):
    class City:
        export, timezone = WITH_TEXT, "UTC"

    assert layout_in_use(None, City()) is WITH_TEXT  # type: ignore[arg-type]
    assert layout_in_use(NO_TEXT, City()) is NO_TEXT  # type: ignore[arg-type]
    assert layout_in_use("seeclickfix_v2", None).columns.service == "request_type.title"
    assert layout_in_use(None, None) is None


def test_the_cli_error_says_how_to_add_a_mapping(tmp_path, capsys):
    path = tmp_path / "export.csv"
    path.write_text("numéro;créé\n1;2024-01-01\n", encoding="utf-8")

    with pytest.raises(SystemExit):
        main([str(path), "--jurisdiction", "demo"])

    err = capsys.readouterr().err
    assert "unknown layout" in err and "`export:` column mapping" in err and "--layout" in err


def test_the_cli_refuses_free_text_mode_with_a_layout_that_has_no_text(tmp_path, capsys):
    layout = tmp_path / "layout.yaml"
    layout.write_text("delimiter: ';'\ncolumns: {id: numéro, requested: créé}\n", encoding="utf-8")
    path = tmp_path / "export.csv"
    path.write_text("numéro;créé\n1;2024-01-01\n", encoding="utf-8")

    with pytest.raises(SystemExit):
        main([str(path), "--jurisdiction", "demo", "--layout", str(layout), "--mode", "free-text"])

    assert "maps no description column" in capsys.readouterr().err


def _sub(district_label: str | None, routed: str | None) -> Submission:
    record = ReplayRecord(source_format="mapped", position=1, source_id="1", service_name=None, description=None,
                          lat=None, long=None, address_string=None, zipcode=None, expected_agency=None,
                          requested_datetime=datetime(2024, 1, 1, tzinfo=UTC), status=None, status_notes=None,
                          free_text=None, district=district_label)
    return Submission(record, "structured", "t", time.monotonic(), case_id="c", routed_at=1.0, routed_district=routed)


def test_district_section_compares_the_routed_district_with_the_export_label():
    boston = load_jurisdiction("boston")
    ward = boston.districts.resolve("Ward 3")
    assert ward is not None

    section = district_section([_sub("Ward 3", ward.id), _sub("3", ward.id), _sub("Ward 4", ward.id),
                                _sub("Nowhere", ward.id), _sub(None, None)], boston)

    assert section == {"with_label": 4, "label_not_a_district": 1, "judged": 3, "agree": 2,
                       "agreement": 0.6667, "routed_without_district": 1}


def test_structured_mode_with_the_demo_city_reads_its_own_file():
    path = Path(__file__).resolve().parents[3] / "jurisdictions" / "demo" / "replay" / "requests.json"
    assert layout_in_use(None, load_jurisdiction("demo")) is None and path.is_file()


def test_free_text_records_without_text_are_reported_as_what_the_api_did_with_them():
    # Boston in free-text mode: 83 records had no text of their own, and the API refused every one; the
    # report said they were "sent with its place only" beside a rejected_by_reason that refused them.
    from collections import Counter

    from tools.replay.cli import free_text_missing_section

    reason = "either service_code or a description of the problem is required"
    refused = free_text_missing_section(83, Counter({reason: 83}))
    assert (refused["records"], refused["accepted"], refused["refused"]) == (83, 0, {reason: 83})
    assert refused["what_happened"].endswith(f"all were refused: {reason}")
    mixed = free_text_missing_section(5, Counter({reason: 2}))
    assert (mixed["accepted"], "3 accepted, 2 refused" in mixed["what_happened"]) == (3, True)
    assert free_text_missing_section(0, Counter())["what_happened"] == "every record had a text of its own"
