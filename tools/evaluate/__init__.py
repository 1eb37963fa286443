"""Evaluation commands: how well routing, geocoding and duplicate detection do on any city's export."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

NEAR_M = 50.0
"""A placed answer this close to the record's own point (metres) is "within 50 m" (the issue's measure)."""
FAR_M = 200.0
"""A placed answer this close to the record's own point (metres) is "within 200 m"; farther, it is wrong."""


def add_input_arguments(parser: argparse.ArgumentParser, *, jurisdiction_help: str) -> None:
    """``FILE [--layout NAME|PATH] [--jurisdiction ID|PATH]``: what an evaluation command reads."""
    parser.add_argument("file", type=Path, help="an export in a known layout, a built-in layout or a mapping")
    parser.add_argument("--layout", help="a built-in layout name (shared/records/layouts) or a layout YAML file")
    parser.add_argument("--jurisdiction", help=jurisdiction_help)


def read_input(args: argparse.Namespace) -> tuple[Any, list[Any]]:
    """The jurisdiction named by ``--jurisdiction`` (or None) and every record of FILE, read with
    ``--layout``, the jurisdiction's ``export:`` or a detected layout (`shared.records.records_for`).

    Raises:
        FileNotFoundError: no such file.
        ReplayFormatError: the file cannot be read in any layout.
        JurisdictionConfigError: the jurisdiction cannot be loaded.
    """
    from shared.jurisdiction import load_jurisdiction  # noqa: PLC0415 - after argparse, so --help stays fast
    from shared.records import records_for  # noqa: PLC0415

    if not args.file.is_file():
        raise FileNotFoundError(f"no such file: {args.file}")
    jurisdiction = load_jurisdiction(args.jurisdiction) if args.jurisdiction else None
    return jurisdiction, list(records_for(args.file, layout=args.layout, jurisdiction=jurisdiction))
