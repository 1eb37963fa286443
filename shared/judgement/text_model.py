"""The learned free-text classifier: word and character n-gram TF-IDF, a linear model, calibrated probabilities."""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import re
import tempfile
import unicodedata
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import sklearn
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import FeatureUnion
from sklearn.svm import LinearSVC
from threadpoolctl import ThreadpoolController

from shared.events.routing import Suggestion

__all__ = ["PARAMS", "TextModel", "fold_text"]

#: The model's hyper-parameters; part of every model version, so changing one makes a new version.
#: char_wb 2-5-grams carry typos, plurals and French elisions; word 1-2-grams carry phrases ("no plates").
#: ``C`` and the calibration were chosen inside the training splits only (the newest 20 % of the Boston
#: Open311, Montpellier and Detroit training rows as validation; never their test rows): C in
#: {0.1, 0.3, 0.5, 1} × {sigmoid, isotonic}; 0.1 with sigmoid was best or within 1 point on all three.
PARAMS: dict[str, Any] = {
    "word_ngrams": [1, 2],
    "word_max_features": 40_000,
    "char_ngrams": [2, 5],
    "char_max_features": 60_000,
    "min_df_from_rows": 200,  # below this many training rows every n-gram counts (min_df 1), else min_df 2
    "C": 0.1,
    "calibration": "sigmoid",
    "calibration_folds": 3,
    "max_chars": 2000,  # a longer report is cut: its first words say what it is about
    "folding": 2,  # bumped when `fold_text` changes
}

_SPACES = re.compile(r"\s+")
# Letters that NFKD does not decompose but French and German writers use (as shared.jurisdiction.text).
_LIGATURES = str.maketrans({"œ": "oe", "Œ": "oe", "æ": "ae", "Æ": "ae", "ß": "ss"})


def fold_text(text: str | None) -> str:
    """``text`` case-folded, without accents, ligatures spelt out, whitespace collapsed, cut at
    ``PARAMS["max_chars"]`` (``"Nid-de-Poule  ÉNORME"`` → ``"nid-de-poule enorme"``; ``"cœur"`` → ``"coeur"``);
    ``""`` for ``None``. The only normalisation the model sees."""
    if not text:
        return ""
    decomposed = unicodedata.normalize("NFKD", text[: PARAMS["max_chars"]].translate(_LIGATURES))
    bare = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    return _SPACES.sub(" ", bare).strip()


def _version(name: str, texts: Sequence[str], labels: Sequence[str]) -> str:
    digest = hashlib.sha256()
    digest.update(json.dumps({"params": PARAMS, "sklearn": sklearn.__version__}, sort_keys=True).encode())
    for text, label in zip(texts, labels, strict=True):
        digest.update(b"\x1e")
        digest.update(label.encode("utf-8", "surrogatepass"))
        digest.update(b"\x1f")
        digest.update((text or "").encode("utf-8", "surrogatepass"))
    return f"{name}-{digest.hexdigest()[:12]}"


class TextModel:
    """A trained classifier of report texts into labels (a jurisdiction's ``service_code``).

    Build with :meth:`train` or :meth:`load`. ``version`` is ``<name>-<12 hex>``: the SHA-256 of the
    training rows (text and label, in order), :data:`PARAMS` and the scikit-learn version, so the same
    rows always give the same version (training is deterministic) and any change gives a new one.
    ``classes`` are the learned labels, sorted. ``training_rows`` counts the rows per class.
    """

    def __init__(self, *, name: str, version: str, features: FeatureUnion, classifier: Any,
                 classes: Sequence[str], training_rows: dict[str, int], calibrated: bool) -> None:
        """Use :meth:`train` or :meth:`load`; this only assembles the parts."""
        self.name = name
        self.version = version
        self._features = features
        self._classifier = classifier
        self.classes: tuple[str, ...] = tuple(classes)
        self.training_rows = dict(training_rows)
        self.calibrated = calibrated

    # -- training --------------------------------------------------------------------------------

    @staticmethod
    def version_for(texts: Sequence[str], labels: Sequence[str], *, name: str) -> str:
        """The version :meth:`train` would give these rows, without training (cheap: one hash)."""
        return _version(name, texts, labels)

    @classmethod
    def train(cls, texts: Sequence[str], labels: Sequence[str], *, name: str) -> TextModel:
        """Learn labels from texts (same length, in the source's order).

        Calibration is ``CalibratedClassifierCV`` (sigmoid, stratified folds without shuffling, one final
        model: ``ensemble=False``). With fewer than 3 rows in its smallest class there are as many folds
        as that class has rows; with a class of a single row there is no calibration fold at all, and the
        probabilities are the linear model's margins through a softmax (``calibrated`` is then False).

        Raises:
            ValueError: the lengths differ, a label is empty, fewer than two distinct labels, or no text
                gives a single n-gram.
        """
        # One BLAS thread: the sigmoid fits are thousands of tiny L-BFGS steps, which BLAS thread pools
        # slow down several times over on a busy machine (measured: 7.9 s → 1.9 s for NYC's 800 rows).
        with _one_blas_thread():
            return cls._train(texts, labels, name=name)

    @classmethod
    def _train(cls, texts: Sequence[str], labels: Sequence[str], *, name: str) -> TextModel:
        if len(texts) != len(labels):
            raise ValueError(f"{len(texts)} texts but {len(labels)} labels")
        if any(not label for label in labels):
            raise ValueError("every training row needs a label")
        counts = Counter(labels)
        if len(counts) < 2:
            raise ValueError(f"a classifier needs at least two labels, got {sorted(counts)}")
        folded = [fold_text(t) for t in texts]
        min_df = 1 if len(folded) < PARAMS["min_df_from_rows"] else 2
        features = FeatureUnion([
            ("word", TfidfVectorizer(analyzer="word", ngram_range=tuple(PARAMS["word_ngrams"]), min_df=min_df,
                                     max_features=PARAMS["word_max_features"], sublinear_tf=True,
                                     dtype=np.float32, lowercase=False)),
            ("char", TfidfVectorizer(analyzer="char_wb", ngram_range=tuple(PARAMS["char_ngrams"]), min_df=min_df,
                                     max_features=PARAMS["char_max_features"], sublinear_tf=True,
                                     dtype=np.float32, lowercase=False)),
        ])
        matrix = features.fit_transform(folded)
        for _, vectorizer in features.transformer_list:
            vectorizer.stop_words_ = None  # the n-grams left out: only needed for introspection, and large
        y = np.asarray(labels)
        base = LinearSVC(C=PARAMS["C"], random_state=0)
        smallest = min(counts.values())
        folds = min(PARAMS["calibration_folds"], smallest)
        if folds >= 2:
            classifier: Any = CalibratedClassifierCV(
                base, method=PARAMS["calibration"], cv=StratifiedKFold(folds), ensemble=False)
            calibrated = True
        else:
            classifier = base
            calibrated = False
        classifier.fit(matrix, y)
        _shrink(classifier)
        return cls(name=name, version=_version(name, texts, labels), features=features, classifier=classifier,
                   classes=[str(c) for c in classifier.classes_], training_rows=dict(sorted(counts.items())),
                   calibrated=calibrated)

    # -- prediction ------------------------------------------------------------------------------

    def probabilities(self, texts: Sequence[str]) -> np.ndarray:
        """Class probabilities, shape ``(len(texts), len(classes))``, columns in :attr:`classes` order;
        each row sums to 1. A text with nothing to read (empty after folding) gets a row of zeros."""
        folded = [fold_text(t) for t in texts]
        if not folded:
            return np.zeros((0, len(self.classes)))
        with _one_blas_thread():
            return self._probabilities(folded)

    def _probabilities(self, folded: list[str]) -> np.ndarray:
        matrix = self._features.transform(folded)
        if self.calibrated:
            probs = self._classifier.predict_proba(matrix)
        else:
            margins = np.asarray(self._classifier.decision_function(matrix), dtype=np.float64)
            if margins.ndim == 1:  # two classes: one margin, for the second class
                margins = np.column_stack([-margins, margins])
            margins = margins - margins.max(axis=1, keepdims=True)
            probs = np.exp(margins)
            probs /= probs.sum(axis=1, keepdims=True)
        probs = np.asarray(probs, dtype=np.float64)
        empty = np.fromiter((not f for f in folded), dtype=bool, count=len(folded))
        probs[empty] = 0.0
        return probs

    def top_many(self, texts: Sequence[str], k: int = 3) -> list[list[Suggestion]]:
        """:meth:`top` of each text, computed in one pass (one matrix for all texts)."""
        probs = self.probabilities(texts)
        out: list[list[Suggestion]] = []
        for row in probs:
            order = sorted(range(len(self.classes)), key=lambda i: (-row[i], self.classes[i]))[:k]
            out.append([Suggestion(service_code=self.classes[i], probability=_rounded(row[i]))
                        for i in order if row[i] > 0])
        return out

    def top(self, text: str, k: int = 3) -> list[Suggestion]:
        """The ``k`` most probable labels for ``text``, best first, ties by label; probabilities in [0, 1]
        (rounded down to 4 places) summing to at most 1. ``[]`` when the text has nothing to read (empty or
        whitespace). Text in a language the model never saw still gets suggestions, with low probabilities."""
        return self.top_many([text], k)[0]

    # -- files -----------------------------------------------------------------------------------

    def save(self, folder: str | Path) -> Path:
        """Write ``<folder>/<version>.joblib`` (folder created) atomically: a temporary file in the same
        folder, then ``os.replace``, so a reader never sees half a file. Returns the path."""
        target_dir = Path(folder)
        target_dir.mkdir(parents=True, exist_ok=True)
        target = target_dir / f"{self.version}.joblib"
        payload = {
            "format": 1, "name": self.name, "version": self.version, "sklearn": sklearn.__version__,
            "classes": list(self.classes), "training_rows": self.training_rows, "calibrated": self.calibrated,
            "features": self._features, "classifier": self._classifier,
        }
        handle, temp = tempfile.mkstemp(prefix=f".{self.version}.", suffix=".tmp", dir=target_dir)
        os.close(handle)
        try:
            joblib.dump(payload, temp, compress=3)
            os.chmod(temp, 0o644)  # mkstemp makes it private; every service process of the host reads it
            os.replace(temp, target)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
        return target

    @classmethod
    def load(cls, path: str | Path) -> TextModel:
        """Read a file written by :meth:`save`. It is a pickle: read only files this platform wrote (the
        model folder is the platform's own, never an upload).

        Raises:
            FileNotFoundError: no such file.
            ValueError: not a model file of this format (damaged, or something else), or written by another scikit-learn version
                (its pipeline may not unpickle faithfully: train again).
        """
        try:
            payload = joblib.load(Path(path))
        except FileNotFoundError:
            raise
        except Exception as exc:  # a damaged or foreign file fails in many ways inside pickle
            raise ValueError(f"{path}: not a readable TextModel file ({type(exc).__name__})") from exc
        keys = {"format", "name", "version", "sklearn", "classes", "training_rows", "calibrated", "features",
                "classifier"}
        if not isinstance(payload, dict) or payload.get("format") != 1 or not keys <= payload.keys():
            raise ValueError(f"{path}: not a TextModel file")
        if payload["sklearn"] != sklearn.__version__:
            raise ValueError(f"{path}: written with scikit-learn {payload['sklearn']}, this is {sklearn.__version__}")
        return cls(name=payload["name"], version=payload["version"], features=payload["features"],
                   classifier=payload["classifier"], classes=payload["classes"],
                   training_rows=payload["training_rows"], calibrated=payload["calibrated"])

    def __repr__(self) -> str:
        return f"TextModel({self.version!r}, {len(self.classes)} classes)"


@functools.cache
def _controller() -> ThreadpoolController:
    return ThreadpoolController()  # scans the loaded libraries once (a few ms), not at import


def _one_blas_thread() -> Any:
    return _controller().limit(limits=1, user_api="blas")


def _rounded(p: float) -> float:
    # Rounded down, so that rounded probabilities never sum to more than 1.
    return float(min(1.0, max(0.0, math.floor(float(p) * 10_000) / 10_000)))


def _shrink(classifier: Any) -> None:
    """Store the linear weights as float32: half the file, the same rankings to 1e-6."""
    estimators = [c.estimator for c in getattr(classifier, "calibrated_classifiers_", [])] or [classifier]
    for estimator in estimators:
        if hasattr(estimator, "coef_"):
            estimator.coef_ = estimator.coef_.astype(np.float32)
