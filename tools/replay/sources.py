"""The replay's readers; they live in `shared.records` (re-exported here so callers keep their imports)."""

from shared.records import (
    ReplayFormatError,
    ReplayRecord,
    SourceFormat,
    detect_format,
    read_records,
    records_for,
    repair_mojibake,
)

__all__ = [
    "ReplayFormatError",
    "ReplayRecord",
    "SourceFormat",
    "detect_format",
    "read_records",
    "records_for",
    "repair_mojibake",
]
