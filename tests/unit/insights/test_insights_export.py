"""Open-data rendering: public fields only, CSV by RFC 4180, a GeoJSON FeatureCollection that validates
against the GeoJSON JSON Schema (RFC 7946), and a stream that never holds more than one chunk."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from typing import Any

import jsonschema

from services.insights.domain import PUBLIC_FIELDS, csv_header, csv_line, feature, window
from services.insights.service_layer.queries import export_chunks
from shared.web import NODE_MODULES

T = datetime(2011, 1, 2, 15, 4, 5, tzinfo=UTC)
SCHEMA = json.loads((NODE_MODULES / "geojson-schema" / "FeatureCollection.json").read_text("utf-8"))


def row(n: int = 1, **over: Any) -> dict[str, Any]:
    base = {"service_request_id": f"NYC-11-{n:06d}", "service_code": "noise", "service_name": "Noise - Street",
            "status": "open", "status_notes": None, "agency_responsible": "NYPD", "requested_at": T,
            "updated_at": T, "closed_at": None, "address": "12 Main St, NEW YORK 10001", "lat": 40.75,
            "long": -73.99, "description": "Loud Music/Party (Street/Sidewalk)", "channel": "open311",
            # columns that are never exported
            "case_id": "x", "department": "nypd", "followers": 3, "contact_key": "ck_secret"}
    return base | over


def test_the_csv_has_the_public_columns_and_quotes_what_needs_quoting() -> None:
    text = csv_header() + csv_line(row(description='He said "stop", then, left\nagain', lat=None, long=None))
    assert text.endswith("\r\n")
    header, first = list(csv.reader(io.StringIO(text, newline="")))
    assert tuple(header) == PUBLIC_FIELDS
    record = dict(zip(header, first, strict=True))
    assert record["description"] == 'He said "stop", then, left\nagain'
    assert record["requested_datetime"] == "2011-01-02T15:04:05Z" and record["closed_datetime"] == ""
    assert record["lat"] == "" and record["channel"] == "open311"
    assert "ck_secret" not in text and "followers" not in text


def test_a_feature_has_a_point_in_long_lat_order_or_a_null_geometry() -> None:
    located = json.loads(feature(row()))
    assert located["geometry"] == {"type": "Point", "coordinates": [-73.99, 40.75]}
    assert located["id"] == "NYC-11-000001" and set(located["properties"]) == set(PUBLIC_FIELDS)
    assert json.loads(feature(row(lat=None)))["geometry"] is None
    assert json.loads(feature(row(lat=float("nan"))))["geometry"] is None


class FakeReads:
    """A cursor over `rows`; records the largest prefetch asked for."""

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows
        self.prefetch: int | None = None

    async def stream(self, win: Any, *, service_code: str | None, prefetch: int) -> AsyncIterator[Mapping[str, Any]]:
        self.prefetch = prefetch
        for r in self.rows:
            if service_code is None or r["service_code"] == service_code:
                yield r


WIN = window(None, None, time_zone="America/New_York", now=T, open_ended=True)


async def collect(reads: FakeReads, fmt: str, **kw: Any) -> list[str]:
    return [c async for c in export_chunks(reads, WIN, fmt=fmt, **kw)]  # type: ignore[arg-type]


async def test_the_geojson_stream_is_one_valid_feature_collection_in_chunks() -> None:
    reads = FakeReads([row(n, lat=None if n % 7 == 0 else 40.7) for n in range(1, 451)])
    chunks = await collect(reads, "geojson", service_code=None, prefetch=50, rows_per_chunk=100)
    assert len(chunks) == 5 and reads.prefetch == 50
    doc = json.loads("".join(chunks))
    jsonschema.validate(doc, SCHEMA)
    assert [f["id"] for f in doc["features"]] == [f"NYC-11-{n:06d}" for n in range(1, 451)]
    assert sum(f["geometry"] is None for f in doc["features"]) == 64


async def test_an_empty_export_is_a_header_or_an_empty_collection() -> None:
    assert "".join(await collect(FakeReads([]), "csv", service_code=None)) == csv_header()
    empty = json.loads("".join(await collect(FakeReads([]), "geojson", service_code=None)))
    jsonschema.validate(empty, SCHEMA)
    assert empty == {"type": "FeatureCollection", "features": []}


async def test_the_csv_stream_filters_by_service_code() -> None:
    reads = FakeReads([row(1), row(2, service_code="pothole"), row(3)])
    lines = list(csv.DictReader(io.StringIO("".join(await collect(reads, "csv", service_code="noise")), newline="")))
    assert [r["service_request_id"] for r in lines] == ["NYC-11-000001", "NYC-11-000003"]


FORMULAS = {"description": "=HYPERLINK(\"http://evil.example\",\"click\")", "address": "+1+2",
            "status_notes": "-2+3", "service_name": "@SUM(A1:A9)", "agency_responsible": "\tcmd",
            "channel": "\r=1"}


def test_a_csv_text_cell_that_starts_like_a_formula_is_prefixed_with_a_quote() -> None:
    text = csv_header() + csv_line(row(**FORMULAS))
    record = dict(zip(*csv.reader(io.StringIO(text, newline="")), strict=True))
    for field, value in FORMULAS.items():
        assert record[field] == "'" + value, field


def test_numbers_and_harmless_text_are_left_as_they_are_in_the_csv() -> None:
    text = csv_header() + csv_line(row(lat=-33.87, long=-73.99, description="Loud music - again = 3 @ night"))
    record = dict(zip(*csv.reader(io.StringIO(text, newline="")), strict=True))
    assert record["long"] == "-73.99" and record["lat"] == "-33.87"
    assert record["description"] == "Loud music - again = 3 @ night"
    assert record["requested_datetime"] == "2011-01-02T15:04:05Z"


def test_the_geojson_keeps_formula_like_text_unchanged() -> None:
    properties = json.loads(feature(row(**FORMULAS)))["properties"]
    assert {f: properties[f] for f in FORMULAS} == FORMULAS
