"""The learned text classifier: suggestions best first, a versioned file that reads back the same, any text safe."""

from __future__ import annotations

import csv
import itertools
from pathlib import Path

import pytest

from shared.judgement import TextModel, fold_text

_SUBJECTS = {
    "pothole": ["pothole", "big hole in the road", "nid-de-poule", "trou dans la chaussée", "road surface broken"],
    "streetlight": ["street light out", "lampadaire éteint", "lamp post dark", "streetlight flickering",
                    "éclairage de rue en panne"],
    "graffiti": ["graffiti on the wall", "tag sur le mur", "spray paint on the door", "graffitis sur la façade",
                 "vandal tagging"],
}
_PLACES = ["on Main St", "near the school", "rue Saint-Denis", "at the corner", "devant chez moi", "since monday"]


def _corpus() -> tuple[list[str], list[str]]:
    texts, labels = [], []
    for label, subjects in _SUBJECTS.items():
        for subject, place in itertools.product(subjects, _PLACES):
            texts.append(f"{subject} {place}")
            labels.append(label)
    return texts, labels


@pytest.fixture(scope="module")
def model() -> TextModel:
    texts, labels = _corpus()
    return TextModel.train(texts, labels, name="test")


def test_suggestions_are_the_three_best_services_with_probabilities_summing_to_at_most_one(model: TextModel) -> None:
    for text in ["there is a pothole on my street", "le lampadaire ne marche plus", "someone sprayed graffiti"]:
        top = model.top(text)
        assert len(top) == 3
        assert [s.probability for s in top] == sorted((s.probability for s in top), reverse=True)
        assert all(0 <= s.probability <= 1 for s in top)
        assert sum(s.probability for s in top) <= 1.0
        assert len({s.service_code for s in top}) == 3
    assert model.top("there is a pothole on my street")[0].service_code == "pothole"
    assert model.top("le lampadaire ne marche plus")[0].service_code == "streetlight"
    assert model.top("someone sprayed graffiti")[0].service_code == "graffiti"
    assert len(model.top("pothole", k=1)) == 1


def test_accents_and_case_do_not_change_the_answer(model: TextModel) -> None:
    assert fold_text("Nid-de-Poule  ÉNORME") == "nid-de-poule enorme"
    assert fold_text("Œuvre au cœur de la Straße") == "oeuvre au coeur de la strasse"
    assert model.top("TROU DANS LA CHAUSSEE") == model.top("trou dans la chaussée")


def test_empty_text_gets_no_suggestion_and_the_batch_matches_one_by_one(model: TextModel) -> None:
    assert model.top("") == []
    assert model.top("   \n") == []
    texts = ["pothole", "", "tag sur le mur", "123456"]
    assert model.top_many(texts) == [model.top(t) for t in texts]


def test_a_saved_model_reads_back_with_the_same_version_and_suggestions(model: TextModel, tmp_path: Path) -> None:
    path = model.save(tmp_path / "models")
    assert path == tmp_path / "models" / f"{model.version}.joblib"
    assert path.stat().st_size < 2_000_000
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left behind
    again = TextModel.load(path)
    assert again.version == model.version and again.classes == model.classes
    texts = ["big pothole", "lampadaire", "graffiti everywhere", "nothing to see"]
    assert again.top_many(texts) == model.top_many(texts)


@pytest.mark.parametrize("payload", [{"format": 1}, {"format": 1, "name": "x", "sklearn": "1.0"}, ["format", 1]])
def test_a_file_that_is_not_a_whole_model_is_a_value_error(payload: object, tmp_path: Path) -> None:
    # A dict of the format with keys missing raised KeyError, which model_for does not catch (no retraining).
    import joblib  # noqa: PLC0415

    path = tmp_path / "partial.joblib"
    joblib.dump(payload, path)
    with pytest.raises(ValueError, match="not a TextModel file"):
        TextModel.load(path)


def test_the_version_names_the_training_rows_and_training_is_deterministic(model: TextModel) -> None:
    texts, labels = _corpus()
    assert model.version.startswith("test-") and len(model.version) == len("test-") + 12
    same = TextModel.train(texts, labels, name="test")
    assert same.version == model.version
    assert same.top_many(texts[:5]) == model.top_many(texts[:5])
    assert TextModel.version_for(texts, labels, name="test") == model.version
    changed = list(labels)
    changed[0] = "streetlight"
    assert TextModel.version_for(texts, changed, name="test") != model.version
    assert TextModel.version_for([*texts, "one more pothole"], [*labels, "pothole"], name="test") != model.version
    assert TextModel.version_for(texts, labels, name="other").startswith("other-")


def test_classes_too_small_for_three_calibration_folds_are_still_learned() -> None:
    texts, labels = _corpus()
    two = TextModel.train([*texts, "dead raccoon", "dead rat on the sidewalk"], [*labels, "animal", "animal"],
                          name="t")
    assert two.calibrated and "animal" in two.classes
    one = TextModel.train([*texts, "dead raccoon"], [*labels, "animal"], name="t")
    assert not one.calibrated and "animal" in one.classes
    top = one.top("pothole on Main St")
    assert top[0].service_code == "pothole" and sum(s.probability for s in top) <= 1.0


def test_bad_training_input_is_refused() -> None:
    with pytest.raises(ValueError, match="two labels"):
        TextModel.train(["a pothole", "another pothole"], ["pothole", "pothole"], name="t")
    with pytest.raises(ValueError, match="labels"):
        TextModel.train(["a pothole"], ["pothole", "graffiti"], name="t")
    with pytest.raises(ValueError, match="label"):
        TextModel.train(["a pothole", "graffiti"], ["pothole", ""], name="t")


def test_a_file_that_is_no_model_is_refused(tmp_path: Path) -> None:
    import joblib

    path = tmp_path / "x.joblib"
    joblib.dump({"something": "else"}, path)
    with pytest.raises(ValueError, match="not a TextModel"):
        TextModel.load(path)
    with pytest.raises(FileNotFoundError):
        TextModel.load(tmp_path / "missing.joblib")


@pytest.mark.usefixtures("require_shared_data")
def test_dutch_reports_get_modest_suggestions_and_never_an_error(model: TextModel) -> None:
    from support.data import shared_data

    with open(shared_data() / "freetext" / "amsterdam_nl_meldingen_sample.csv", encoding="utf-8-sig") as handle:
        texts = [row[0] for row in list(csv.reader(handle))[1:] if row]
    assert len(texts) >= 90
    tops = model.top_many(texts)
    assert len(tops) == len(texts)
    for top in tops:
        assert len(top) <= 3
        assert all(0 <= s.probability <= 1 for s in top)
        assert sum(s.probability for s in top) <= 1.0
    # A language it never saw: on average less sure than of the texts it knows.
    known = model.top_many(_corpus()[0])
    assert _mean_top1(tops) < _mean_top1(known) - 0.1


def _mean_top1(tops: list) -> float:
    return sum(top[0].probability if top else 0.0 for top in tops) / len(tops)
