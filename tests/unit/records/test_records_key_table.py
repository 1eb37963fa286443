"""Every key of `JurisdictionConfig` is in the key table of jurisdictions/README.md."""

from __future__ import annotations

import re
import typing
from collections import defaultdict
from pathlib import Path

from pydantic import BaseModel

from shared.jurisdiction.config import JurisdictionConfig

README = Path(__file__).resolve().parents[3] / "jurisdictions" / "README.md"


def _models(annotation: object) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _models(arg)]


def _keys(model: type[BaseModel], prefix: str = "", out: dict | None = None) -> dict[tuple[type, str], list[str]]:
    """``{(model, key): [dotted paths where it occurs]}`` over the whole schema (a YAML alias is the key)."""
    out = defaultdict(list) if out is None else out
    for name, field in model.model_fields.items():
        key = field.alias or name
        path = f"{prefix}.{key}" if prefix else key
        out[(model, key)].append(path)
        for sub in _models(field.annotation):
            if path.count(".") < 6:
                _keys(sub, path, out)
    return out


def _rows() -> list[tuple[list[str], str]]:
    """``(keys of the first cell, whole row)`` for every table row of the README."""
    rows = []
    for line in README.read_text(encoding="utf-8").splitlines():
        if line.startswith("| `"):
            first = line.split(" | ")[0]
            rows.append((re.findall(r"`([^`]+)`", first), line))
    return rows


def _documented(path: str, key: str, rows: list[tuple[list[str], str]]) -> bool:
    """A row whose first cell names the path (or a key above it) mentions the key inside backticks."""
    named = re.compile(r"`[^`]*\b" + re.escape(key) + r"\b[^`]*`")
    for row_keys, line in rows:
        for row_key in row_keys:
            if path == row_key:
                return True
            if path.startswith(row_key + ".") and named.search(line.split(" | ", 1)[1]):
                return True
    return False


def test_every_jurisdiction_key_is_in_the_key_table():
    rows = _rows()
    missing = sorted({paths[0] for (_, key), paths in _keys(JurisdictionConfig).items()
                      if not any(_documented(p, key, rows) for p in paths)})

    assert not missing, f"jurisdictions/README.md 'Keys' does not document: {missing}"


def test_the_check_finds_an_undocumented_key():
    rows = [(["districts"], "| `districts` | `geojson`, `id_property` |")]

    assert _documented("districts.geojson", "geojson", rows)
    assert not _documented("districts.edge_tolerance_m", "edge_tolerance_m", rows)
    assert not _documented("bounds.south", "south", rows)
