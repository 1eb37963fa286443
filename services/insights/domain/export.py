"""Open-data rendering of projected cases: the public fields (docs/residents-and-insights.md, "Public
fields"), one CSV line (RFC 4180) or one GeoJSON Feature (RFC 7946) per case. Times are ISO 8601 UTC with
``Z``; coordinates WGS84 degrees. The projection already holds only public values, scrubbed; a CSV text cell
that a spreadsheet would read as a formula is neutralised (OWASP "CSV Injection")."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

PUBLIC_FIELDS = ("service_request_id", "service_code", "service_name", "status", "status_notes",
                 "agency_responsible", "requested_datetime", "updated_datetime", "closed_datetime", "address",
                 "lat", "long", "description", "channel")
"""The columns of the CSV and the properties of each GeoJSON Feature, in this order; never a contact key,
name, email, phone or internal note."""

TEXT_FIELDS = frozenset({"service_request_id", "service_code", "service_name", "status", "status_notes",
                         "agency_responsible", "address", "description", "channel"})
"""The CSV columns whose text comes from residents, staff or the jurisdiction's files: the ones a formula
could hide in. `lat` and `long` are numbers and the `*_datetime` columns are ours, so they are left as
they are (a longitude of -73.99 stays a number)."""

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
"""A cell starting with one of these is run as a formula by Excel, LibreOffice or Google Sheets (OWASP,
"CSV Injection")."""

COLLECTION_START = '{"type":"FeatureCollection","features":['
COLLECTION_END = "]}\n"


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value is not None else None


def _coordinate(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def public_record(row: Mapping[str, Any]) -> dict[str, Any]:
    """The public fields of a projection row (columns as in the `insights.cases` table)."""
    return {
        "service_request_id": row["service_request_id"], "service_code": row["service_code"],
        "service_name": row["service_name"], "status": row["status"], "status_notes": row["status_notes"],
        "agency_responsible": row["agency_responsible"], "requested_datetime": _iso(row["requested_at"]),
        "updated_datetime": _iso(row["updated_at"]), "closed_datetime": _iso(row["closed_at"]),
        "address": row["address"], "lat": _coordinate(row["lat"]), "long": _coordinate(row["long"]),
        "description": row["description"], "channel": row["channel"],
    }


def _csv(values: list[Any]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow(["" if v is None else v for v in values])
    return out.getvalue()


def neutralise_formula(text: str) -> str:
    """`text` with a single quote `'` in front when it starts with one of `FORMULA_PREFIXES`, so a
    spreadsheet shows it as text instead of evaluating it (OWASP "CSV Injection"); any other text
    unchanged. The quote is part of the cell: a program reading the CSV sees it too."""
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def csv_header() -> str:
    """The header line, CRLF-terminated (RFC 4180 §2)."""
    return _csv(list(PUBLIC_FIELDS))


def csv_line(row: Mapping[str, Any]) -> str:
    """One case as a CSV line: empty cells for missing values, quoted where RFC 4180 needs it, each text
    cell of `TEXT_FIELDS` that starts like a formula prefixed with `'` (`neutralise_formula`); numbers
    untouched. The GeoJSON (`feature`) keeps the text as it is: it is not opened by spreadsheets."""
    record = public_record(row)
    return _csv([neutralise_formula(record[f]) if f in TEXT_FIELDS and isinstance(record[f], str) else record[f]
                 for f in PUBLIC_FIELDS])


def feature(row: Mapping[str, Any]) -> str:
    """One case as a GeoJSON Feature (RFC 7946 §3.2), compact JSON: a Point [long, lat] or, for a case
    without both coordinates, `geometry` null; `id` is the `service_request_id`."""
    record = public_record(row)
    lat, long = record["lat"], record["long"]
    geometry = {"type": "Point", "coordinates": [long, lat]} if lat is not None and long is not None else None
    return json.dumps({"type": "Feature", "id": record["service_request_id"], "geometry": geometry,
                       "properties": record}, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
