"""Draft jurisdiction files sent to the router's replay API: YAML text read as the loader reads a file."""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

import yaml
from pydantic import ValidationError

from shared.jurisdiction import Jurisdiction, JurisdictionConfig, JurisdictionConfigError, build_jurisdiction
from shared.jurisdiction.loader import UniqueKeyLoader

__all__ = ["MAX_DRAFT_BYTES", "draft_from_text"]

MAX_DRAFT_BYTES = 1_000_000
"""The largest draft accepted (bytes of YAML); a jurisdiction file is a few tens of kilobytes."""

MAX_DRAFT_NODES = 200_000
"""The most values a draft may hold once its YAML aliases are expanded (Montréal's file holds about 3 300):
a "billion laughs" draft of nested aliases is small as text and as loaded objects, but validating it
walks every expanded value, for hours."""


def _expanded_size(document: Any, limit: int) -> int:
    """The number of values in `document` with aliases expanded (a shared list counts each time it is
    referred to); stops and answers more than `limit` as soon as it passes it."""
    size, todo = 0, [document]
    while todo:
        value = todo.pop()
        size += 1
        if size > limit:
            return size
        if isinstance(value, dict):
            todo.extend(value.values())
        elif isinstance(value, list):
            todo.extend(value)
    return size


def _references(config: JurisdictionConfig) -> list[tuple[str, str]]:
    refs: list[tuple[str, str]] = []
    if config.services_from is not None:
        refs.append(("services_from.csv", config.services_from.csv))
    if config.districts is not None:
        refs.append(("districts.geojson", config.districts.geojson))
    sources = [(f"geocoding.gazetteer[{n}]", s) for n, s in enumerate(config.geocoding.gazetteer)]
    if config.classification.model is not None:
        sources += [(f"classification.model.train_from[{n}]", s)
                    for n, s in enumerate(config.classification.model.train_from)]
    for key, spec in sources:  # a source's layout is a built-in name or a file, confined as its file is
        refs += [(f"{key}.file", spec.file)] + ([(f"{key}.layout", spec.layout)] if spec.layout else [])
    if config.export is not None and config.export.labels_from is not None:
        refs.append(("export.labels_from.file", config.export.labels_from.file))
    return refs


def draft_from_text(text: str, *, live: Jurisdiction, source: str = "<draft>", confined: bool = True) -> Jurisdiction:
    """A draft of `live`'s jurisdiction file, given as YAML text: validated and built as the loader builds
    a file, its ``./`` references read from the live jurisdiction's folder and the others from its data
    root. `confined` (the staff API): a draft may name only files there, an absolute path or a ``..`` step
    is refused; the command line (not confined) reads any path the user names.

    Raises:
        JurisdictionConfigError: not YAML, not a mapping, more than `MAX_DRAFT_NODES` values with its
            aliases expanded, an invalid configuration, a refused or missing
            file, inconsistent references; the message is the loader's.
    """
    try:
        document = yaml.load(text, Loader=UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except (yaml.YAMLError, ValueError) as exc:
        raise JurisdictionConfigError(f"{source}: not valid YAML: {exc}") from exc
    if not isinstance(document, dict):
        raise JurisdictionConfigError(f"{source}: expected a mapping at the top level")
    if _expanded_size(document, MAX_DRAFT_NODES) > MAX_DRAFT_NODES:
        raise JurisdictionConfigError(f"{source}: more than {MAX_DRAFT_NODES} values once its aliases are expanded "
                                      "(nested YAML aliases); a jurisdiction file holds a few thousand")
    try:
        config = JurisdictionConfig.model_validate(document)
    except ValidationError as exc:
        raise JurisdictionConfigError(f"{source}: invalid jurisdiction configuration:\n{exc}") from exc
    for key, reference in _references(config) if confined else ():
        parts = PurePosixPath(reference.replace("\\", "/"))
        if parts.is_absolute() or reference.startswith("~") or ".." in parts.parts:
            raise JurisdictionConfigError(f"{source}: {key} {reference!r} is refused: a draft names files of the "
                                          "jurisdiction folder (./...) or of the shared data, without '..'")
    if live.folder is None or live.data_root is None:
        raise JurisdictionConfigError(f"{source}: the live jurisdiction {live.id!r} has no folder to read files from")
    return build_jurisdiction(config, base_dir=Path(live.folder), data_root=Path(live.data_root), source=source,
                              raw=text.encode())
