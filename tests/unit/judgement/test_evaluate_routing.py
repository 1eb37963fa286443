"""The routing evaluation: calibration arithmetic, the keyword baseline, and the command on a file it never saw."""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

import pytest

from tools.evaluate import routing
from tools.evaluate.__main__ import main

_SUBJECTS = {
    "Pothole": ["pothole", "hole in the road", "nid-de-poule", "road surface broken"],
    "Street Light": ["light out", "lampadaire éteint", "lamp post dark", "streetlight flickering"],
    "Graffiti": ["graffiti on the wall", "tag sur le mur", "spray paint on the door", "vandal tagging"],
}
_PLACES = ["on Main St", "near the school", "rue Saint-Denis", "at the corner", "since monday"]


def _rows() -> list[tuple[str, str]]:
    return [(f"{s} {p}", label) for label, subjects in _SUBJECTS.items()
            for s, p in itertools.product(subjects, _PLACES)]


def test_expected_calibration_error_weighs_each_bin_by_its_rows() -> None:
    # Bin 0.9-1.0: two rows at 0.95, one right (accuracy 0.5, gap 0.45); bin 0.6-0.7: two rows at 0.65,
    # both right (gap 0.35); 1.0 falls in the last bin with them.
    report = routing.calibration([0.95, 0.95, 0.65, 0.65, 1.0], [True, False, True, True, True])
    top = report["bins"][9]
    assert top == {"low": 0.9, "high": 1.0, "n": 3, "confidence": pytest.approx(0.9667, abs=1e-4),
                   "accuracy": pytest.approx(0.6667, abs=1e-4)}
    assert report["bins"][6]["n"] == 2 and report["bins"][0] == {
        "low": 0.0, "high": 0.1, "n": 0, "confidence": None, "accuracy": None}
    assert report["ece"] == pytest.approx(3 / 5 * 0.3 + 2 / 5 * 0.35, abs=1e-4)
    assert routing.calibration([], [])["ece"] is None


def test_the_baseline_learns_each_labels_name_and_distinctive_words_from_training_rows_only() -> None:
    texts = ["deep pothole on elm", "pothole again on elm", "asphalt crumbling", "lamp dark on elm",
             "lamp flickering", "other thing"]
    labels = ["Pothole", "Pothole", "Pothole", "Street Light", "Street Light", "Other"]
    services = {s.service_name: s for s in routing.baseline_services(
        texts, labels, learned=["Pothole", "Street Light", "Other"], phrases=[("Pothole", "nid-de-poule")])}
    pothole = {k.text: k.weight for k in services["Pothole"].keywords["en"]}
    assert pothole["Pothole"] == 1.0 and pothole["nid-de-poule"] == 1.0
    assert pothole["pothole"] == 0.7  # the name's word
    assert pothole["elm"] == pytest.approx(2 / 3 * 2 / 3, abs=1e-4)  # 2 of its 3 rows are potholes: 2/3 × 2/3
    lamp = {k.text: k.weight for k in services["Street Light"].keywords["en"]}
    assert "elm" not in lamp  # one row only
    assert lamp["lamp"] == pytest.approx(1.0 * 2 / 3, abs=1e-4)  # 2 rows, all Street Light: 1 × 2/3
    assert [k.text for k in services["Other"].keywords["en"]] == ["Other"]  # "other" is a generic word


def test_evaluate_split_trains_on_one_side_and_measures_the_other() -> None:
    rows = _rows()
    train = rows[0::2]
    test = rows[1::2]
    report = routing.evaluate_split([t for t, _ in train], [lab for _, lab in train],
                                    [t for t, _ in test], [lab for _, lab in test], name="syn")
    assert report["n_train"] == len(train) and report["n_test"] == len(test)
    assert set(report["classes"]) == set(_SUBJECTS)
    assert report["model"]["version"].startswith("syn-")
    assert 0 <= report["model"]["top1"] <= report["model"]["top3"] <= 1
    assert report["model"]["top3"] == 1.0  # three labels: the right one is always among the top 3
    assert report["model"]["top1"] >= 0.8
    assert sum(b["n"] for b in report["model"]["calibration"]["bins"]) == len(test)
    assert 0 <= report["baseline"]["top1"] <= report["baseline"]["top3"] <= 1


def test_labels_with_too_few_training_rows_are_not_learned_but_their_test_rows_count() -> None:
    rows = _rows()
    train_texts = [t for t, _ in rows] + ["dead raccoon on the road"]
    train_labels = [lab for _, lab in rows] + ["Dead Animal"]
    report = routing.evaluate_split(train_texts, train_labels, ["dead cat", "pothole"], ["Dead Animal", "Pothole"],
                                    min_examples=3)
    assert "Dead Animal" not in report["classes"] and report["n_train_unlearned"] == 1
    assert report["unlearned_test_rows"] == 1
    assert report["model"]["top1"] <= 0.5 and report["model"]["top1_learned"] == 1.0


def test_the_command_reads_a_file_in_a_known_layout_and_prints_both_figures(tmp_path: Path) -> None:
    records = []
    for n, (text, label) in enumerate(_rows() * 2):
        day = 1 + n // 24
        records.append({"service_request_id": str(n), "service_name": label, "description": text,
                        "requested_datetime": f"2024-01-{day:02d}T{n % 24:02d}:00:00Z", "status": "open"})
    path = tmp_path / "requests.json"
    path.write_text(json.dumps(records), encoding="utf-8")
    parser = argparse.ArgumentParser()
    routing.add_arguments(parser)
    args = parser.parse_args([str(path)])
    report = routing.run(args)
    assert report["n_test"] == round(len(records) * 0.2) and report["skipped"] == 0
    json.dumps(report)  # the --json output
    table = routing.render(report)
    assert "keyword baseline" in table and "expected calibration error" in table and "top-3" in table
    with pytest.raises(FileNotFoundError):
        routing.run(parser.parse_args([str(tmp_path / "missing.json")]))


@pytest.mark.parametrize("command", ["routing", "location", "dedup"])
def test_a_jurisdiction_the_loader_refuses_is_an_input_error_not_a_traceback(tmp_path: Path, capsys, command) -> None:
    path = tmp_path / "requests.json"
    path.write_text("[]", encoding="utf-8")

    status = main([command, str(path), "--jurisdiction", str(tmp_path / "nowhere" / "draft.yaml")])

    assert status == 2
    assert "no jurisdiction configuration at" in capsys.readouterr().err
