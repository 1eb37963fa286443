"""Reading any city's 311 export as `ReplayRecord` s: the known layouts, column mappings, and time-ordered splits.

One entry point for every command: `records_for(path, layout=..., jurisdiction=...)` (see
docs/judgement.md, "Reading any city's export").
"""

from shared.records.known import detect_format, read_records, repair_mojibake
from shared.records.layouts import LAYOUT_DIR, builtin_layouts, load_layout, records_for
from shared.records.mapped import parse_point, read_layout
from shared.records.record import ReplayFormatError, ReplayRecord, SourceFormat
from shared.records.splits import time_ordered_split

__all__ = [
    "LAYOUT_DIR",
    "ReplayFormatError",
    "ReplayRecord",
    "SourceFormat",
    "builtin_layouts",
    "detect_format",
    "load_layout",
    "parse_point",
    "read_layout",
    "read_records",
    "records_for",
    "repair_mojibake",
    "time_ordered_split",
]
