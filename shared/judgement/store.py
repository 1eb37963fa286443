"""Where a jurisdiction's classifier comes from: its model file when one matches its history, else trained and saved."""

from __future__ import annotations

import fcntl
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import structlog

from shared.judgement.text_model import TextModel
from shared.jurisdiction.text import fold_label

__all__ = ["catalogue_rows", "label_codes", "model_for", "training_rows"]

log = structlog.get_logger(__name__)

_cache: dict[tuple[str, str, str], TextModel] = {}
_cache_lock = threading.Lock()


def label_codes(jurisdiction: Any) -> dict[str, str]:
    """Folded service name (case and accents folded, whitespace collapsed) → ``service_code``, for every
    service of the jurisdiction but the unclassified one; its codes map to themselves too (a file may
    carry codes as labels)."""
    unclassified = jurisdiction.unclassified.service_code if getattr(jurisdiction, "unclassified", None) else None
    out: dict[str, str] = {}
    for service in jurisdiction.services:
        if service.service_code == unclassified:
            continue
        out.setdefault(fold_label(service.service_code), service.service_code)
    for service in jurisdiction.services:
        if service.service_code != unclassified:
            out[fold_label(service.service_name)] = service.service_code
    return out


def catalogue_rows(jurisdiction: Any, *, label: str = "service_code") -> tuple[list[str], list[str]]:
    """``(texts, labels)``: what the catalogue itself says about each service (the unclassified one
    excepted), one row per phrase: its name, its names in other languages, and its curated keyword phrases
    in every language. Keywords derived from an export (origin ``data`` and ``name``) are left out: they
    are the export's own words, and an evaluation must not learn them from its test rows. ``label``:
    ``service_code`` or ``service_name``.

    They let the model know the services and words (French ones too) that the history lacks: a NYC export
    without a single pothole still teaches "nid-de-poule" → street-condition.
    """
    unclassified = jurisdiction.unclassified.service_code if getattr(jurisdiction, "unclassified", None) else None
    texts: list[str] = []
    labels: list[str] = []
    for service in jurisdiction.services:
        if service.service_code == unclassified:
            continue
        phrases = [service.service_name, *service.labels.values()]
        for _, keywords in sorted(service.keywords.items()):
            phrases += [k.text for k in keywords if k.origin == "curated"]
        for phrase in dict.fromkeys(p.strip() for p in phrases if p and p.strip()):
            texts.append(phrase)
            labels.append(getattr(service, label))
    return texts, labels


def training_rows(jurisdiction: Any) -> tuple[list[str], list[str]]:
    """``(texts, service_codes)`` to learn from: every ``classification.model.train_from`` file in order,
    read with `shared.records.records_for` (the source's ``layout``, else the jurisdiction's ``export``,
    else the detected layout), then the catalogue's own phrases (`catalogue_rows`). A history row counts
    when it has a text (``description``, else ``free_text``) and a label naming a service (`label_codes`);
    services with fewer than ``min_examples`` rows in all (history and catalogue) are left out.

    Raises:
        ValueError: the jurisdiction has no ``classification.model``.
        ReplayFormatError, OSError: a training file cannot be read.
    """
    from shared.records import records_for  # noqa: PLC0415 - keeps `import shared.judgement` light

    spec = jurisdiction.classification.model
    if spec is None:
        raise ValueError(f"jurisdiction {jurisdiction.id!r} has no classification.model")
    codes = label_codes(jurisdiction)
    texts: list[str] = []
    labels: list[str] = []
    for source in spec.train_from:
        layout = source.layout
        if layout is not None and layout.startswith(("./", "../")):
            layout = str(jurisdiction.resolve(layout))
        for record in records_for(jurisdiction.resolve(source.file), layout=layout, jurisdiction=jurisdiction):
            text = record.description or record.free_text
            code = codes.get(fold_label(record.service_name or ""))
            if text and text.strip() and code:
                texts.append(text)
                labels.append(code)
    extra_texts, extra_labels = catalogue_rows(jurisdiction)
    texts += extra_texts
    labels += extra_labels
    counts = Counter(labels)
    keep = [i for i, code in enumerate(labels) if counts[code] >= spec.min_examples]
    return [texts[i] for i in keep], [labels[i] for i in keep]


def model_for(jurisdiction: Any, model_dir: str | Path) -> TextModel | None:
    """The jurisdiction's learned classifier, or ``None`` when it has no ``classification.model``.

    The training rows (`training_rows`) give the version (`TextModel.version_for`, named after the
    jurisdiction id). ``<model_dir>/<id>/<version>.joblib`` is loaded when present; otherwise the model is
    trained and saved there. Training holds an exclusive lock on ``<model_dir>/<id>/.train.lock`` and the
    file is written to a temporary name then renamed, so two processes starting at once train once and
    never read half a file. The result is kept in memory per (id, config version, folder).

    Raises:
        ValueError: fewer than two services have ``min_examples`` rows to learn from.
        ReplayFormatError, OSError: a training file cannot be read, or the folder cannot be written.
    """
    if jurisdiction.classification.model is None:
        return None
    key = (jurisdiction.id, str(jurisdiction.config_version), str(Path(model_dir).resolve()))
    with _cache_lock:
        found = _cache.get(key)
    if found is not None:
        return found
    texts, labels = training_rows(jurisdiction)
    if len(set(labels)) < 2:
        raise ValueError(
            f"jurisdiction {jurisdiction.id!r}: classification.model has {len(set(labels))} service(s) with "
            f"{jurisdiction.classification.model.min_examples}+ training rows whose label names a service; need 2")
    version = TextModel.version_for(texts, labels, name=jurisdiction.id)
    folder = Path(model_dir) / jurisdiction.id
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{version}.joblib"
    model = _load(path)
    if model is None:
        with open(folder / ".train.lock", "a+b") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                model = _load(path)  # another process may have trained it while this one waited
                if model is None:
                    model = TextModel.train(texts, labels, name=jurisdiction.id)
                    model.save(folder)
                    log.info("classifier_trained", jurisdiction=jurisdiction.id, model_version=model.version,
                             rows=len(texts), classes=len(model.classes))
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
    with _cache_lock:
        _cache[key] = model
    return model


def _load(path: Path) -> TextModel | None:
    if not path.is_file():
        return None
    try:
        return TextModel.load(path)
    except (ValueError, EOFError, OSError) as exc:  # a file from another scikit-learn, or damaged: train again
        log.warning("classifier_file_unusable", path=str(path), error=str(exc))
        return None
