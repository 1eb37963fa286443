"""A jurisdiction's classifier: trained once from its history and catalogue, then read back from its file."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

import shared.judgement.store as store
from shared.judgement import TextModel, catalogue_rows, label_codes, model_for, training_rows
from shared.jurisdiction import load_jurisdiction

CITY = """
id: tinytown
name: Tiny Town
timezone: America/New_York
departments: [{id: pw, name: Public Works}]
services:
  - {service_name: Pothole, department: pw, keywords: {en: [pothole, hole in the road], fr: [nid-de-poule]}}
  - {service_name: Street Light Out, department: pw, keywords: {fr: [lampadaire éteint]}}
  - {service_name: Graffiti, department: pw}
  - {service_name: Dead Animal, department: pw}
unclassified: {service_code: unclassified, service_name: To be triaged, department: pw}
classification:
  min_score: 0.45
  model:
    train_from:
      - file: ./history.json
    min_probability: 0.5
    min_examples: 3
"""

_TEXTS = {
    "Pothole": ["huge pothole on main", "hole in the asphalt", "road is broken here", "deep pothole near school"],
    "street light out": ["the lamp is dark", "light out on elm", "street lamp not working", "dark corner no light"],
    "GRAFFITI": ["tags on the wall", "spray paint on door", "graffiti on bridge", "vandals painted the fence"],
    "Noise": ["loud music", "party next door", "shouting all night", "barking dog"],  # not a service: left out
}


def _history() -> list[dict]:
    rows = []
    n = 0
    for label, texts in _TEXTS.items():
        for text in texts:
            n += 1
            rows.append({"service_request_id": str(n), "service_name": label, "description": text,
                         "requested_datetime": f"2024-01-{n:02d}T10:00:00-05:00", "status": "closed"})
    return rows


@pytest.fixture
def city(tmp_path: Path):
    folder = tmp_path / "tinytown"
    folder.mkdir()
    (folder / "jurisdiction.yaml").write_text(textwrap.dedent(CITY), encoding="utf-8")
    (folder / "history.json").write_text(json.dumps(_history()), encoding="utf-8")
    store._cache.clear()
    yield folder
    store._cache.clear()


def test_labels_name_services_whatever_their_case_and_the_rest_are_left_out(city: Path) -> None:
    town = load_jurisdiction(city, use_cache=False)
    codes = label_codes(town)
    assert codes["street light out"] == "street-light-out" and "unclassified" not in codes.values()
    texts, labels = training_rows(town)
    assert labels.count("street-light-out") == 4 + 2  # four reports, the name and its one keyword
    assert labels.count("graffiti") == 4 + 1
    assert "dead-animal" not in labels  # only its name: fewer than min_examples rows
    assert "loud music" not in texts  # "Noise" is no service of this city
    phrases, names = catalogue_rows(town, label="service_name")
    assert ("nid-de-poule", "Pothole") in set(zip(phrases, names, strict=True))


def test_the_first_call_trains_and_saves_and_later_ones_read_the_file(
        city: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    town = load_jurisdiction(city, use_cache=False)
    model_dir = tmp_path / "models"
    model = model_for(town, model_dir)
    assert model is not None and model.version.startswith("tinytown-")
    assert set(model.classes) == {"pothole", "street-light-out", "graffiti"}
    saved = model_dir / "tinytown" / f"{model.version}.joblib"
    assert saved.is_file()
    assert model.top("nid-de-poule énorme")[0].service_code == "pothole"

    store._cache.clear()

    def no_training(*args, **kwargs):
        raise AssertionError("trained again although the file matches the history")

    monkeypatch.setattr(TextModel, "train", no_training)
    again = model_for(town, model_dir)
    assert again is not None and again.version == model.version
    assert again.top_many(["lamp dark", "spray paint"]) == model.top_many(["lamp dark", "spray paint"])


def test_new_history_gives_a_new_version_beside_the_old_file(city: Path, tmp_path: Path) -> None:
    model_dir = tmp_path / "models"
    first = model_for(load_jurisdiction(city, use_cache=False), model_dir)
    rows = _history()
    rows.append({"service_request_id": "99", "service_name": "Pothole", "description": "another pothole",
                 "requested_datetime": "2024-02-01T10:00:00-05:00", "status": "open"})
    (city / "history.json").write_text(json.dumps(rows), encoding="utf-8")
    store._cache.clear()
    second = model_for(load_jurisdiction(city, use_cache=False), model_dir)
    assert first is not None and second is not None and second.version != first.version
    assert sorted(p.name for p in (model_dir / "tinytown").glob("*.joblib")) == sorted(
        [f"{first.version}.joblib", f"{second.version}.joblib"])


def test_a_damaged_model_file_is_trained_again(city: Path, tmp_path: Path) -> None:
    model_dir = tmp_path / "models"
    model = model_for(load_jurisdiction(city, use_cache=False), model_dir)
    assert model is not None
    path = model_dir / "tinytown" / f"{model.version}.joblib"
    path.write_bytes(b"not a model")
    store._cache.clear()
    again = model_for(load_jurisdiction(city, use_cache=False), model_dir)
    assert again is not None and again.version == model.version
    assert TextModel.load(path).version == model.version


def test_a_jurisdiction_without_a_model_has_none(tmp_path: Path) -> None:
    assert model_for(load_jurisdiction("demo"), tmp_path) is None
    assert list(tmp_path.iterdir()) == []
