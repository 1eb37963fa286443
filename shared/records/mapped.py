"""Read any city's export with a column mapping (`ExportLayoutSpec`): CSV, a JSON array or JSON lines."""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from shared.jurisdiction.config import ExportColumnsSpec, ExportLabelsSpec, ExportLayoutSpec
from shared.open311.models import DECIMAL_TEXT
from shared.records.known import repair_mojibake, strict_csv_rows
from shared.records.record import ReplayFormatError, ReplayRecord

__all__ = ["parse_point", "read_layout"]

_WKT_POINT = re.compile(r"^\s*POINT\s*\(\s*(\S+)\s+(\S+)\s*\)\s*$", re.IGNORECASE)
_PAIR = re.compile(r"^\s*[\(\[]?\s*([^,\s\)\]]+)\s*[,\s]\s*([^,\s\)\]]+)\s*[\)\]]?\s*$")
_MISSING = object()


class _Reader:
    """One file read with one layout; ``where(position)`` names the file and record in every error."""

    def __init__(self, path: Path, layout: ExportLayoutSpec, zone: ZoneInfo) -> None:
        self.path, self.layout, self.zone = path, layout, zone
        self.nulls = frozenset(v.strip().casefold() for v in layout.null_values)
        self.closed = frozenset(v.strip().casefold() for v in layout.closed_statuses)

    def where(self, position: int) -> str:
        return f"{self.path}: record {position}"

    # -- cells -------------------------------------------------------------------------------
    def raw(self, row: Mapping[str, Any], column: str) -> Any:
        """The value at ``column``: a CSV header or JSON key as written, else a dotted path into JSON."""
        if column in row:
            return row[column]
        value: Any = row
        for part in column.split("."):
            if isinstance(value, Mapping) and part in value:
                value = value[part]
            elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
                value = value[int(part)]
            else:
                return _MISSING
        return value

    def text(self, row: Mapping[str, Any], column: str | list[str] | None) -> str | None:
        """Trimmed, repaired text of a column (a list: the columns' texts joined by a space); null -> None."""
        if column is None:
            return None
        if isinstance(column, list):
            parts = [t for c in column if (t := self.text(row, c)) is not None]
            return " ".join(parts) if parts else None
        value = self.raw(row, column)
        if value is _MISSING or value is None:
            return None
        if isinstance(value, bool):
            value = "true" if value else "false"
        elif isinstance(value, int | float):
            value = repr(value)
        elif not isinstance(value, str):
            value = json.dumps(value, ensure_ascii=False)
        cleaned = " ".join(repair_mojibake(value).split())
        return None if cleaned.casefold() in self.nulls else cleaned

    def coordinates(self, row: Mapping[str, Any], cols: ExportColumnsSpec, where: str) -> tuple[float | None, float | None]:
        if cols.lat or cols.long:
            lat, long = self.number(row, cols.lat, where), self.number(row, cols.long, where)
            if (lat is None) != (long is None):
                raise ReplayFormatError(f"{where}: only one of {cols.lat}/{cols.long} is given ({lat!r}, {long!r})")
        elif cols.point:
            value = self.raw(row, cols.point)
            try:
                point = parse_point(None if value is _MISSING else value, self.nulls)
            except ValueError as exc:
                raise ReplayFormatError(f"{where}: {cols.point}: {exc}") from None
            lat, long = point if point else (None, None)
        else:
            return None, None
        if lat is not None and long is not None and not (-90 <= lat <= 90 and -180 <= long <= 180):
            raise ReplayFormatError(f"{where}: coordinates out of range ({lat}, {long})")
        return lat, long

    def number(self, row: Mapping[str, Any], column: str | None, where: str) -> float | None:
        if column is None:
            return None
        value = self.raw(row, column)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        text = self.text(row, column)
        if text is None:
            return None
        if not DECIMAL_TEXT.match(text):
            raise ReplayFormatError(f"{where}: {column} {text!r} is not a number")
        return float(text)

    def instant(self, row: Mapping[str, Any], column: str | None, where: str, *, required: bool = False) -> datetime | None:
        """The column's time, aware UTC; naive times are in the layout's zone."""
        if column is None:
            return None
        value = self.raw(row, column)
        text = self.text(row, column)
        if text is None:
            if required:
                raise ReplayFormatError(f"{where}: {column} is blank")
            return None
        fmt = self.layout.datetime_format
        try:
            if fmt in ("unix", "unix_ms"):
                number = float(value) if isinstance(value, int | float) and not isinstance(value, bool) else float(text)
                parsed = datetime.fromtimestamp(number / (1000 if fmt == "unix_ms" else 1), UTC)
            elif fmt == "iso":
                parsed = datetime.fromisoformat(text)
            else:
                parsed = datetime.strptime(text, fmt)
            if parsed.tzinfo is None:
                # fold=0: an ambiguous fall-back time is read as its first occurrence.
                parsed = parsed.replace(tzinfo=self.zone)
            return parsed.astimezone(UTC)
        except (ValueError, OverflowError, OSError):
            raise ReplayFormatError(f"{where}: {column} {text!r} is not a {fmt} time") from None

    def status(self, row: Mapping[str, Any], column: str | None) -> Literal["open", "closed"] | None:
        text = self.text(row, column)
        if text is None:
            return None
        return "closed" if text.casefold() in self.closed else "open"

    # -- records -----------------------------------------------------------------------------
    def record(self, position: int, row: Mapping[str, Any], labels: Mapping[str, str]) -> ReplayRecord:
        cols, where = self.layout.columns, self.where(position)
        own_id = self.text(row, cols.id)
        service = labels.get(own_id, self.text(row, cols.service)) if own_id is not None else self.text(row, cols.service)
        description = self.text(row, cols.description)
        lat, long = self.coordinates(row, cols, where)
        address = self.text(row, cols.address)
        if address is None and cols.intersection:
            first, second = (self.text(row, c) for c in cols.intersection)
            address = f"{first} & {second}" if first and second else (first or second)
        free_text = description
        if description and service and service.casefold() in description.casefold():
            free_text = None
        return ReplayRecord(
            source_format="mapped",
            position=position,
            source_id=own_id if own_id is not None else f"row-{position}",
            service_name=service,
            description=description,
            lat=lat,
            long=long,
            address_string=address,
            zipcode=self.text(row, cols.zipcode),
            expected_agency=self.text(row, cols.agency),
            requested_datetime=self.instant(row, cols.requested, where, required=True),  # type: ignore[arg-type]
            status=self.status(row, cols.status),
            status_notes=self.text(row, cols.status_notes),
            free_text=free_text,
            city_due_at=self.instant(row, cols.due, where),
            closed_at=self.instant(row, cols.closed, where),
            district=self.text(row, cols.district),
        )


def parse_point(value: Any, nulls: frozenset[str] = frozenset({""})) -> tuple[float, float] | None:
    """``(lat, long)`` in WGS84 degrees from one cell holding both coordinates, or ``None`` when empty.

    Accepted: ``"(42.36, -71.06)"`` or ``"42.36 -71.06"`` (latitude first, as Socrata writes it),
    ``"POINT (-71.06 42.36)"`` (WKT: longitude first), a GeoJSON point (``{"type": "Point",
    "coordinates": [long, lat]}``, as an object or as its JSON text).

    Raises:
        ValueError: the value is none of these.
    """
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        if text.casefold() in nulls:
            return None
        if text.startswith("{"):
            try:
                value = json.loads(text)
            except json.JSONDecodeError:
                raise ValueError(f"{text[:60]!r} is not a point") from None
        elif match := _WKT_POINT.match(text):
            long_text, lat_text = match.groups()
            return _pair(lat_text, long_text, text)
        elif match := _PAIR.match(text):
            return _pair(*match.groups(), text)
        else:
            raise ValueError(f"{text[:60]!r} is not a point")
    if isinstance(value, Mapping):
        coordinates = value.get("coordinates")
        if value.get("type") != "Point" or not isinstance(coordinates, list) or len(coordinates) < 2:
            raise ValueError(f"{json.dumps(value)[:60]!r} is not a GeoJSON point")
        return _pair(str(coordinates[1]), str(coordinates[0]), json.dumps(value)[:60])
    raise ValueError(f"{value!r} is not a point")


def _pair(lat_text: str, long_text: str, shown: str) -> tuple[float, float]:
    if not (DECIMAL_TEXT.match(lat_text) and DECIMAL_TEXT.match(long_text)):
        raise ValueError(f"{shown!r} does not hold two numbers")
    return float(lat_text), float(long_text)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ReplayFormatError(f"unknown IANA time zone {name!r}") from None


def _csv_rows(path: Path, layout: ExportLayoutSpec, needed: set[str]) -> Iterator[tuple[int, dict[str, str]]]:
    """Header-checked CSV rows, strictly read (an unterminated quote, a cell count that is not the
    header's, or a byte that is not in the encoding is an error naming the record)."""
    with path.open(encoding=layout.encoding, errors="surrogateescape", newline="") as handle:
        position = [0]
        stream = strict_csv_rows(path, handle, position, delimiter=layout.delimiter, encoding=layout.encoding)
        header = [h.strip() for h in next(stream, [])]
        if not header:
            raise ReplayFormatError(f"{path}: file is empty")
        if missing := sorted(needed - set(header)):
            raise ReplayFormatError(
                f"{path}: the layout names columns {missing} that the header does not have "
                f"(delimiter {layout.delimiter!r}; header starts {header[:6]})"
            )
        if repeated := sorted({c for c in needed if header.count(c) > 1}):
            raise ReplayFormatError(f"{path}: columns {repeated} appear more than once; which one to read is ambiguous")
        for row in stream:
            position[0] += 1
            if len(row) != len(header):
                raise ReplayFormatError(f"{path}: record {position[0]} has {len(row)} cells, the header has {len(header)}")
            yield position[0], dict(zip(header, row, strict=True))


def _json_rows(path: Path, layout: ExportLayoutSpec) -> list[dict[str, Any]]:
    try:
        text = path.read_text(encoding=layout.encoding)
    except UnicodeError as exc:
        raise ReplayFormatError(f"{path}: not {layout.encoding} text: {exc}") from exc
    if layout.format == "jsonl":
        rows: list[Any] = []
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise ReplayFormatError(f"{path}: record {len(rows) + 1} (line {number}): not JSON: {exc}") from exc
    else:
        try:
            data: Any = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ReplayFormatError(f"{path}: not JSON: {exc}") from exc
        if layout.records:
            for part in layout.records.split("."):
                if not isinstance(data, Mapping) or part not in data:
                    raise ReplayFormatError(f"{path}: no array at {layout.records!r}")
                data = data[part]
        if not isinstance(data, list):
            raise ReplayFormatError(f"{path}: expected an array of records{f' at {layout.records!r}' if layout.records else ''}")
        rows = data
    for position, row in enumerate(rows, 1):
        if not isinstance(row, Mapping):
            raise ReplayFormatError(f"{path}: record {position} is a {type(row).__name__}, not an object")
    return rows


def _named_columns(columns: ExportColumnsSpec) -> set[str]:
    named: set[str] = set()
    for value in columns.model_dump().values():
        if isinstance(value, str):
            named.add(value)
        elif isinstance(value, list):
            named.update(value)
    return named


def _labels(path: Path, spec: ExportLabelsSpec) -> dict[str, str]:
    """``{export id: label}`` from the labels file (first matching row per id)."""
    file = Path(spec.file).expanduser()
    file = file if file.is_absolute() else path.parent / file
    needed = {spec.id_column, spec.label_column} | ({spec.filter_column} if spec.filter_column else set())
    sub = ExportLayoutSpec(format="csv", encoding=spec.encoding, delimiter=spec.delimiter,
                           columns=ExportColumnsSpec(requested=spec.id_column))
    try:
        rows = list(_csv_rows(file, sub, needed))
    except OSError as exc:
        raise ReplayFormatError(f"{path}: labels_from file {file} cannot be read: {exc}") from exc
    labels: dict[str, str] = {}
    for _, row in rows:
        if spec.filter_column and row[spec.filter_column].strip() != (spec.filter_value or "").strip():
            continue
        key, label = row[spec.id_column].strip(), " ".join(row[spec.label_column].split())
        if key and label:
            labels.setdefault(key, label)
    return labels


def read_layout(path: str | Path, layout: ExportLayoutSpec, *, timezone: str) -> Iterator[ReplayRecord]:
    """Read every record of an export with a column mapping, in file order, as ``ReplayRecord`` s.

    ``timezone`` (IANA name) is where naive times are, unless the layout names its own ``timezone``.
    The file is opened and its columns are checked before this returns (a CSV header must have every
    column the layout names; a JSON file is parsed whole and must be an array of objects, and every
    named path must occur in at least one record); the records are then converted lazily.

    Per record: text is trimmed, whitespace runs collapsed, mojibake repaired, ``null_values`` are
    ``None``; a list column joins its non-empty texts with a space; a record with no id gets
    ``row-<position>``; ``labels_from`` replaces the service label where the labels file has one;
    ``status`` is ``closed`` for ``closed_statuses``, ``open`` for any other value; times are aware UTC.

    Raises:
        ReplayFormatError: a bad file (an unknown ``encoding`` too) or (during iteration) a bad record,
            naming file and record
            (a blank ``requested`` time, a time or number that does not parse, one coordinate of two,
            coordinates out of range). Nothing is skipped silently.
        OSError: the file cannot be read.
    """
    path = Path(path)
    try:
        zone = _zone(layout.timezone or timezone)
    except ReplayFormatError as exc:
        raise ReplayFormatError(f"{path}: the layout's {exc}") from None
    try:
        codecs.lookup(layout.encoding)
    except LookupError:
        raise ReplayFormatError(f"{path}: the layout's encoding {layout.encoding!r} is no known encoding") from None
    reader = _Reader(path, layout, zone)
    named = _named_columns(layout.columns)
    labels = _labels(path, layout.labels_from) if layout.labels_from else {}
    if layout.format == "csv":
        rows = _csv_rows(path, layout, named)
        first = next(rows, None)  # reads and checks the header now, not at the first next()

        def csv_records() -> Iterator[ReplayRecord]:
            if first is not None:
                yield reader.record(*first, labels)
            for position, row in rows:
                yield reader.record(position, row, labels)

        return csv_records()
    objects = _json_rows(path, layout)
    if objects and (absent := sorted(c for c in named if all(reader.raw(o, c) is _MISSING for o in objects))):
        raise ReplayFormatError(f"{path}: no record has {absent} (the layout's columns; keys start {sorted(objects[0])[:8]})")
    return (reader.record(position, row, labels) for position, row in enumerate(objects, 1))
