"""`python -m tools.evaluate location FILE`: the JSON report and the table, on any readable export."""

from __future__ import annotations

import json

import pytest

from support.data import shared_data
from tools.evaluate.__main__ import main
from tools.evaluate.location import render


def test_the_location_command_prints_the_report_for_an_export(
        require_shared_data: None, capsys: pytest.CaptureFixture[str]) -> None:
    file = shared_data() / "311_records" / "qsv_boston311-100.csv"
    assert main(["location", str(file), "--jurisdiction", "boston", "--json", "--folds", "3"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["skipped"]["fallback point"] == 19  # City Hall is no place (INDEX.md: 19/100)
    assert report["n_tested"] == 100 - 19 - sum(v for k, v in report["skipped"].items() if k != "fallback point")
    assert report["folds"] == 3 and (report["accept_from"], report["confirm_from"]) == (0.8, 0.5)
    total = report["counts"]["placed"] + report["counts"]["confirm"] + report["counts"]["not_found"]
    assert total == report["n_tested"]
    table = render(report)
    for line in ("placed", "within 50 m", "within 200 m", "asked to confirm", "not found", "wrong district"):
        assert line in table


def test_a_missing_file_is_a_usage_error(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["location", str(tmp_path / "nothing.csv")]) == 2
    assert "no such file" in capsys.readouterr().err
