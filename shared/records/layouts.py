"""Named column mappings (``shared/records/layouts/<name>.yaml``) and the one entry point, `records_for`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import yaml
from pydantic import ValidationError

from shared.jurisdiction.config import ExportLayoutSpec
from shared.records.known import detect_format, read_records
from shared.records.mapped import read_layout
from shared.records.record import ReplayFormatError, ReplayRecord

__all__ = ["LAYOUT_DIR", "builtin_layouts", "load_layout", "records_for"]

#: Where the built-in layouts are (package data).
LAYOUT_DIR = Path(__file__).with_name("layouts")

#: What a `ReplayFormatError` says when no reader fits a file.
HOW_TO_MAP = (
    "add an `export:` column mapping to the jurisdiction file (jurisdictions/README.md, section "
    "'Reading your export: export'), or pass --layout NAME|FILE.yaml (built-in layouts: {names})"
)


class _HasExport(Protocol):
    """What `records_for` needs of a jurisdiction (`shared.jurisdiction.Jurisdiction` has it)."""

    @property
    def export(self) -> ExportLayoutSpec | None: ...

    @property
    def timezone(self) -> str: ...


def builtin_layouts() -> list[str]:
    """Names of the built-in layouts, sorted."""
    return sorted(p.stem for p in LAYOUT_DIR.glob("*.yaml"))


def load_layout(name_or_path: str | Path) -> ExportLayoutSpec:
    """A layout by built-in name (``montreal_311_json``) or from a YAML file (an `ExportLayoutSpec` document).

    A value that names an existing file, or ends in ``.yaml``/``.yml``, is a path; anything else a name.

    Raises:
        ReplayFormatError: unknown name, missing file, YAML that does not parse or does not validate.
    """
    text = str(name_or_path)
    path = Path(text).expanduser()
    if not (path.is_file() or text.endswith((".yaml", ".yml"))):
        path = LAYOUT_DIR / f"{text}.yaml"
        if not path.is_file():
            raise ReplayFormatError(f"unknown layout {text!r}; built-in layouts: {', '.join(builtin_layouts())}")
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ReplayFormatError(f"layout file {path} cannot be read: {exc}") from exc
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ReplayFormatError(f"layout file {path} is not YAML: {exc}") from exc
    try:
        return ExportLayoutSpec.model_validate(document)
    except ValidationError as exc:
        raise ReplayFormatError(f"layout file {path} is not a valid layout: {exc}") from exc


def records_for(
    path: str | Path,
    *,
    layout: str | Path | ExportLayoutSpec | None = None,
    jurisdiction: _HasExport | None = None,
) -> Iterator[ReplayRecord]:
    """Every record of an export, read by the first reader that applies, in this order:

    1. ``layout``: an `ExportLayoutSpec`, a built-in layout name or a layout YAML file;
    2. the jurisdiction's ``export:`` mapping;
    3. a known layout detected from the file (NYC CSV, Boston CSV, Open311 JSON/XML; `read_records`).

    Naive times are in the layout's ``timezone``, else the jurisdiction's, else UTC.

    Raises:
        ReplayFormatError: no reader fits (the message says how to add an ``export:`` mapping), or a bad
            file or record (see `read_layout` and `read_records`).
        OSError: the file cannot be read.
    """
    timezone = jurisdiction.timezone if jurisdiction is not None else "UTC"
    if layout is not None:
        spec = layout if isinstance(layout, ExportLayoutSpec) else load_layout(layout)
        return read_layout(path, spec, timezone=timezone)
    if jurisdiction is not None and jurisdiction.export is not None:
        return read_layout(path, jurisdiction.export, timezone=timezone)
    try:
        fmt = detect_format(path)
    except ReplayFormatError as exc:
        if "unknown layout" not in str(exc):
            raise
        raise ReplayFormatError(f"{exc}; {HOW_TO_MAP.format(names=', '.join(builtin_layouts()))}") from None
    try:
        return read_records(path, fmt)
    except ReplayFormatError as exc:
        if fmt not in ("open311_json", "open311_xml"):
            raise
        # Only the first character said Open311: a JSON lines file or another city's JSON lands here.
        raise ReplayFormatError(f"{exc}; if this is no Open311 file, "
                                f"{HOW_TO_MAP.format(names=', '.join(builtin_layouts()))}") from None
