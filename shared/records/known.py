"""Readers of the known 311 export layouts (NYC and Boston CSV, Open311 JSON/XML), detected from the file."""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Literal, TextIO
from zoneinfo import ZoneInfo

from shared.open311 import Open311FormatError, ServiceRequest, parse_requests
from shared.open311.models import DECIMAL_TEXT
from shared.records.record import ReplayFormatError, ReplayRecord, SourceFormat

__all__ = [
    "ReplayFormatError",
    "ReplayRecord",
    "SourceFormat",
    "detect_format",
    "read_records",
    "repair_mojibake",
]

NYC_COLUMNS = frozenset(
    {"Unique Key", "Created Date", "Agency", "Complaint Type", "Descriptor", "Location Type",
     "Incident Zip", "Incident Address", "Street Name", "Cross Street 1", "Cross Street 2",
     "Intersection Street 1", "Intersection Street 2", "Address Type", "City", "Landmark",
     "Status", "Resolution Description", "Borough", "Latitude", "Longitude"}
)
BOSTON_COLUMNS = frozenset(
    {"case_enquiry_id", "open_dt", "case_status", "closure_reason", "case_title", "type",
     "department", "location", "location_zipcode", "latitude", "longitude"}
)
# Values the exports use to mean "nothing here".
_PLACEHOLDERS = frozenset({"unspecified", "n/a"})
# "Â" followed by U+00A0..U+00BF is the UTF-8 encoding of that character read as Latin-1/cp1252.
_MOJIBAKE_C2 = re.compile("\u00c2([\u00a0-\u00bf])")
_MOJIBAKE_HINTS = ("\u00c2", "\u00c3", "\u00e2\u20ac")
# What ``errors="surrogateescape"`` makes of a byte that is not UTF-8.
_UNDECODED = re.compile("[\udc80-\udcff]")


def repair_mojibake(text: str) -> str:
    """Undo UTF-8 text that was decoded as Latin-1/cp1252 once (``"Â\\xa0"`` -> ``"\\xa0"``).

    The whole string is re-decoded when that succeeds; otherwise only the ``Â`` + U+00A0..U+00BF
    pairs (the double-encoded Latin-1 supplement, e.g. the NBSP in NYC resolution texts) are fixed.
    Text without the tell-tale characters is returned unchanged.
    """
    if not any(hint in text for hint in _MOJIBAKE_HINTS):
        return text
    for codec in ("cp1252", "latin-1"):
        try:
            return text.encode(codec).decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            continue
    return _MOJIBAKE_C2.sub(r"\1", text)


def _text(value: str | None) -> str | None:
    """Repaired, trimmed cell; blank and placeholder values ("Unspecified", "N/A") are ``None``."""
    if value is None:
        return None
    cleaned = repair_mojibake(value).strip()
    if not cleaned or cleaned.casefold() in _PLACEHOLDERS:
        return None
    return cleaned


def _words(value: str | None) -> str | None:
    """Like ``_text`` with runs of whitespace (including NBSP) collapsed to one space."""
    cleaned = _text(value)
    return " ".join(cleaned.split()) if cleaned else None


def _free_text(text: str | None, label: str | None) -> str | None:
    if text is None:
        return None
    if label and " ".join(label.split()).casefold() in " ".join(text.split()).casefold():
        return None
    return text


def _status(value: str | None) -> Literal["open", "closed"] | None:
    cleaned = _text(value)
    if cleaned is None:
        return None
    return "closed" if cleaned.casefold() == "closed" else "open"


@cache
def _eastern() -> ZoneInfo:
    return ZoneInfo("America/New_York")


def _local_to_utc(naive: datetime) -> datetime:
    # fold=0: an ambiguous fall-back time is taken as the first (daylight) occurrence, and a
    # spring-forward gap time keeps the standard offset; both are rare in these exports.
    return _to_utc(naive.replace(tzinfo=_eastern()))


def _to_utc(aware: datetime) -> datetime:
    """Raises ``OverflowError`` for an instant UTC cannot hold (e.g. 9999-12-31 23:59 in New York)."""
    return aware.astimezone(UTC)


def _coordinates(lat_text: str | None, long_text: str | None, where: str) -> tuple[float | None, float | None]:
    lat_clean, long_clean = _text(lat_text), _text(long_text)
    if lat_clean is None and long_clean is None:
        return None, None
    if lat_clean is None or long_clean is None:
        raise ReplayFormatError(f"{where}: only one of latitude/longitude is given ({lat_text!r}, {long_text!r})")
    # DECIMAL_TEXT: float() alone also takes "4_2" (42) and non-ASCII digits.
    if not (DECIMAL_TEXT.match(lat_clean) and DECIMAL_TEXT.match(long_clean)):
        raise ReplayFormatError(f"{where}: coordinates are not numbers ({lat_text!r}, {long_text!r})")
    lat, long = float(lat_clean), float(long_clean)
    if not (-90 <= lat <= 90 and -180 <= long <= 180):
        raise ReplayFormatError(f"{where}: coordinates out of range ({lat}, {long})")
    return lat, long


# --------------------------------------------------------------------------- NYC


def _nyc_address(row: Mapping[str, str]) -> str | None:
    """``Incident Address, City Zip``; intersections as ``A & B``; blockfaces as ``S between A and B``."""
    incident, street = _words(row["Incident Address"]), _words(row["Street Name"])
    cross_1, cross_2 = _words(row["Cross Street 1"]), _words(row["Cross Street 2"])
    corner_1, corner_2 = _words(row["Intersection Street 1"]), _words(row["Intersection Street 2"])
    if (_text(row["Address Type"]) or "").upper() == "BLOCKFACE" and street and cross_1 and cross_2:
        place = f"{street} between {cross_1} and {cross_2}"
    elif incident:
        place = incident
    elif corner_1 and corner_2:
        place = f"{corner_1} & {corner_2}"
    elif _words(row["Landmark"]):
        place = _words(row["Landmark"])
    else:
        return None
    locality = " ".join(p for p in (_words(row["City"]) or _words(row["Borough"]), _words(row["Incident Zip"])) if p)
    return f"{place}, {locality}" if locality else place


def _nyc_description(descriptor: str | None, location_type: str | None) -> str | None:
    """``Loud Music/Party (Street/Sidewalk)``: the descriptor, then where, when known."""
    if descriptor and location_type:
        return f"{descriptor} ({location_type})"
    return descriptor or location_type


def _nyc_datetime(value: str, where: str, column: str = "Created Date") -> datetime:
    text = _words(value)
    if text is None:
        raise ReplayFormatError(f"{where}: {column} is blank")
    for pattern in ("%m/%d/%Y %I:%M:%S %p", "%m/%d/%Y %I:%M %p", "%Y-%m-%dT%H:%M:%S.%f", "%Y-%m-%dT%H:%M:%S"):
        try:
            local = datetime.strptime(text, pattern)
        except ValueError:
            continue
        try:
            return _local_to_utc(local)
        except OverflowError:
            raise ReplayFormatError(f"{where}: {column} {value!r} is outside the representable range") from None
    raise ReplayFormatError(f"{where}: {column} {value!r} is not MM/DD/YYYY hh:mm:ss AM/PM")


def _optional_datetime(
    row: Mapping[str, str], column: str, where: str, parse: Callable[[str, str, str], datetime]
) -> datetime | None:
    """``parse(cell, where, column)`` of an optional column; ``None`` when the column is absent or blank."""
    value = row.get(column)
    return parse(value, where, column) if _words(value) is not None else None


def _read_nyc(path: Path) -> Iterator[ReplayRecord]:
    for position, row in _csv_rows(path, NYC_COLUMNS):
        where = f"{path}: record {position}"
        source_id = _text(row["Unique Key"])
        if source_id is None:
            raise ReplayFormatError(f"{where}: Unique Key is blank")
        complaint = _words(row["Complaint Type"])
        description = _nyc_description(_words(row["Descriptor"]), _words(row["Location Type"]))
        lat, long = _coordinates(row["Latitude"], row["Longitude"], where)
        yield ReplayRecord(
            source_format="nyc_csv",
            position=position,
            source_id=source_id,
            service_name=complaint,
            description=description,
            lat=lat,
            long=long,
            address_string=_nyc_address(row),
            zipcode=_words(row["Incident Zip"]),
            expected_agency=_words(row["Agency"]),
            requested_datetime=_nyc_datetime(row["Created Date"], where),
            status=_status(row["Status"]),
            status_notes=_text(row["Resolution Description"]),
            free_text=_free_text(description, complaint),
            city_due_at=_optional_datetime(row, "Due Date", where, _nyc_datetime),
            closed_at=_optional_datetime(row, "Closed Date", where, _nyc_datetime),
            district=_words(row.get("Community Board")),
        )


# --------------------------------------------------------------------------- Boston


def _boston_datetime(value: str, where: str, column: str = "open_dt") -> datetime:
    text = _words(value)
    if text is None:
        raise ReplayFormatError(f"{where}: {column} is blank")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ReplayFormatError(f"{where}: {column} {value!r} is not YYYY-MM-DD hh:mm:ss") from None
    try:
        return _to_utc(parsed) if parsed.tzinfo else _local_to_utc(parsed)
    except OverflowError:
        raise ReplayFormatError(f"{where}: {column} {value!r} is outside the representable range") from None


def _boston_on_time(row: Mapping[str, str], where: str) -> bool | None:
    """Boston's ``ontime``: ``ONTIME`` -> True, ``OVERDUE`` -> False, blank or absent -> None."""
    value = _words(row.get("ontime"))
    if value is None:
        return None
    verdicts = {"ONTIME": True, "OVERDUE": False}
    if value.upper() not in verdicts:
        raise ReplayFormatError(f"{where}: ontime {value!r} is neither ONTIME nor OVERDUE")
    return verdicts[value.upper()]


def _read_boston(path: Path) -> Iterator[ReplayRecord]:
    for position, row in _csv_rows(path, BOSTON_COLUMNS):
        where = f"{path}: record {position}"
        source_id = _text(row["case_enquiry_id"])
        if source_id is None:
            raise ReplayFormatError(f"{where}: case_enquiry_id is blank")
        service_name = _words(row["type"])
        title = _words(row["case_title"])
        lat, long = _coordinates(row["latitude"], row["longitude"], where)
        yield ReplayRecord(
            source_format="boston_csv",
            position=position,
            source_id=source_id,
            service_name=service_name,
            description=title,
            lat=lat,
            long=long,
            address_string=_text(row["location"]),
            zipcode=_words(row["location_zipcode"]),
            expected_agency=_words(row["department"]),
            requested_datetime=_boston_datetime(row["open_dt"], where),
            status=_status(row["case_status"]),
            status_notes=_text(row["closure_reason"]),
            free_text=_free_text(title, service_name),
            city_due_at=_optional_datetime(row, "target_dt", where, _boston_datetime),
            closed_at=_optional_datetime(row, "closed_dt", where, _boston_datetime),
            city_on_time=_boston_on_time(row, where),
            district=_words(row.get("ward")),
        )


# --------------------------------------------------------------------------- Open311


def _read_open311(path: Path, fmt: Literal["json", "xml"]) -> Iterator[ReplayRecord]:
    try:
        requests = parse_requests(path.read_bytes(), fmt)
    except Open311FormatError as exc:
        raise ReplayFormatError(f"{path}: {exc}") from exc
    source_format: SourceFormat = "open311_json" if fmt == "json" else "open311_xml"
    return (_open311_record(request, position, path, source_format) for position, request in enumerate(requests, 1))


def _open311_record(request: ServiceRequest, position: int, path: Path, source_format: SourceFormat) -> ReplayRecord:
    if request.requested_datetime is None:
        raise ReplayFormatError(f"{path}: record {position}: requested_datetime is missing")
    if (request.lat is None) != (request.long is None):
        raise ReplayFormatError(
            f"{path}: record {position}: only one of latitude/longitude is given ({request.lat!r}, {request.long!r})"
        )
    return ReplayRecord(
        source_format=source_format,
        position=position,
        source_id=request.service_request_id,
        service_name=request.service_name,
        description=request.description,
        lat=request.lat,
        long=request.long,
        address_string=request.address,
        zipcode=request.zipcode,
        expected_agency=request.agency_responsible,
        requested_datetime=request.requested_datetime,
        status=request.status,
        status_notes=request.status_notes,
        free_text=_free_text(request.description, request.service_name),
        city_due_at=request.expected_datetime,
    )


# --------------------------------------------------------------------------- files


def _header(path: Path, rows: Iterator[list[str]], required: frozenset[str]) -> list[str]:
    """The first non-blank row (``detect_format`` skips leading blank lines too), checked."""
    header = next((row for row in rows if row), [])
    missing = required - set(header)
    if missing:
        raise ReplayFormatError(f"{path}: missing columns {sorted(missing)}")
    if repeated := sorted({c for c in required if header.count(c) > 1}):
        raise ReplayFormatError(f"{path}: columns {repeated} appear more than once; which one to read is ambiguous")
    return header


def strict_csv_rows(
    path: Path, handle: Iterator[str], position: list[int], *, delimiter: str = ",", encoding: str = "UTF-8"
) -> Iterator[list[str]]:
    """Non-blank CSV rows; bad bytes or bad quoting raise ``ReplayFormatError`` naming the record being read.

    ``position[0]`` is the caller's count of records read so far (a list so the caller can advance it).
    ``strict``: an unterminated quote is an error instead of a cell that swallows the rest of the file.
    The file is opened with ``errors="surrogateescape"`` so that a byte the encoding cannot decode is
    found in its own record (a decoding error would surface wherever the reader's buffer happens to be).

    Raises:
        ReplayFormatError: bad quoting, a byte that is not ``encoding`` text, or a NUL byte (the record
            is named).
    """
    reader = csv.reader(handle, delimiter=delimiter, strict=True)
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise ReplayFormatError(f"{path}: record {position[0] + 1}: {exc}") from exc
        except UnicodeError as exc:  # a codec that cannot start (UTF-16 without its byte order mark)
            raise ReplayFormatError(f"{path}: record {position[0] + 1}: not {encoding} text: {exc}") from exc
        for cell in row:
            if "\x00" in cell:  # PostgreSQL text cannot hold it; usually a UTF-16 file read as UTF-8
                raise ReplayFormatError(
                    f"{path}: record {position[0] + 1}: a NUL byte in {cell[:40]!r} (is the file UTF-16? "
                    f"re-encode it as {encoding})"
                )
            if bad := _UNDECODED.search(cell):
                raise ReplayFormatError(
                    f"{path}: record {position[0] + 1}: byte 0x{ord(bad.group()) - 0xDC00:02X} in {cell[:40]!r} "
                    f"is not {encoding} text (re-encode the file as {encoding})"
                )
        if row:  # a blank line is no record
            yield row


def _open_csv(path: Path) -> TextIO:
    return path.open(encoding="utf-8-sig", errors="surrogateescape", newline="")


def _check_columns(path: Path, required: frozenset[str]) -> None:
    with _open_csv(path) as handle:
        _header(path, strict_csv_rows(path, handle, [0]), required)


def _csv_rows(path: Path, required: frozenset[str]) -> Iterator[tuple[int, dict[str, str]]]:
    with _open_csv(path) as handle:
        position = [0]
        rows = strict_csv_rows(path, handle, position)
        header = _header(path, rows, required)
        for row in rows:
            position[0] += 1
            if len(row) != len(header):  # more cells, or a record cut short: never pad or drop cells
                raise ReplayFormatError(
                    f"{path}: record {position[0]} has {len(row)} cells, the header has {len(header)}"
                )
            yield position[0], dict(zip(header, row, strict=True))


def detect_format(path: str | Path) -> SourceFormat:
    """Name the layout of a 311 export from its first bytes / header row.

    Returns ``"nyc_csv"`` (header has ``Unique Key``, ``Complaint Type``), ``"boston_csv"``
    (``case_enquiry_id``, ``open_dt``), ``"open311_json"`` (starts with ``[`` or ``{``) or
    ``"open311_xml"`` (starts with ``<``).

    Raises:
        ReplayFormatError: none of these layouts.
        OSError: the file cannot be read.
    """
    path = Path(path)
    with path.open("rb") as handle:
        head = handle.readline(1 << 20).removeprefix(b"\xef\xbb\xbf").lstrip()
        while not head:
            line = handle.readline(1 << 20)
            if not line:
                raise ReplayFormatError(f"{path}: file is empty")
            head = line.lstrip()
    if head[:1] in (b"[", b"{"):
        return "open311_json"
    if head[:1] == b"<":
        return "open311_xml"
    try:
        header = set(next(csv.reader([head.decode("utf-8").rstrip("\r\n")])))
    except (UnicodeDecodeError, StopIteration, csv.Error) as exc:
        raise ReplayFormatError(f"{path}: not a CSV header: {exc}") from exc
    if {"Unique Key", "Complaint Type"} <= header:
        return "nyc_csv"
    if {"case_enquiry_id", "open_dt"} <= header:
        return "boston_csv"
    raise ReplayFormatError(f"{path}: unknown layout; header starts {sorted(header)[:6]}")


def read_records(path: str | Path, fmt: SourceFormat | None = None) -> Iterator[ReplayRecord]:
    """Read every record of a 311 export, in file order, as ``ReplayRecord`` s.

    ``fmt`` defaults to ``detect_format(path)``; the layout is checked before this returns, the
    records are then read lazily. Nothing is skipped: a record that cannot be read stops the
    iteration with ``ReplayFormatError`` naming the file and record.

    CSV is read strictly: a record with more or fewer cells than the header (a truncated file), an
    unterminated quote, a byte that is not UTF-8 or a required column named twice is an error.

    Normalisation: cells are trimmed, ``Unspecified``/``N/A``/blank become ``None``, doubly
    encoded UTF-8 (NYC's ``Â\\xa0``) is repaired; NYC and Boston local times are taken as
    America/New_York and returned in UTC.

    Raises:
        ReplayFormatError: unknown layout, missing columns, or (during iteration) a bad record.
        OSError: the file cannot be read.
    """
    path = Path(path)
    layout = fmt or detect_format(path)
    if layout == "nyc_csv":
        _check_columns(path, NYC_COLUMNS)
        return _read_nyc(path)
    if layout == "boston_csv":
        _check_columns(path, BOSTON_COLUMNS)
        return _read_boston(path)
    if layout == "open311_json":
        return _read_open311(path, "json")
    if layout == "open311_xml":
        return _read_open311(path, "xml")
    raise ReplayFormatError(f"unknown format {layout!r}")
