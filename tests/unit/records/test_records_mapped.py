"""Reading an export in a layout the code has never seen, from a column mapping alone."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from shared.jurisdiction.config import ExportLayoutSpec
from shared.records import ReplayFormatError, load_layout, parse_point, read_layout, records_for


def _layout(**fields) -> ExportLayoutSpec:
    return ExportLayoutSpec.model_validate(fields)


SEMICOLON = (
    "numéro;catégorie;service;texte;précision;position;adresse;créé le;échéance;état;quartier\n"
    "A-1;Nid-de-poule;Voirie;Un trou;devant l'école;(45.5, -73.6);12 rue Roy;31/03/2024 08:30;"
    "02/04/2024 17:00;Terminée;Plateau\n"
    "A-2;Graffiti;Propreté;;;;;05/04/2024 09:00;;en cours;N/D\n"
)


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


FRENCH = {
    "delimiter": ";",
    "datetime_format": "%d/%m/%Y %H:%M",
    "closed_statuses": ["terminée"],
    "null_values": ["", "n/d"],
    "columns": {
        "id": "numéro", "service": "catégorie", "agency": "service", "description": ["texte", "précision"],
        "point": "position", "address": "adresse", "requested": "créé le", "due": "échéance",
        "status": "état", "district": "quartier",
    },
}


def test_a_semicolon_csv_with_french_headers_is_read_from_its_mapping(tmp_path):
    path = _write(tmp_path, "export.csv", SEMICOLON)

    first, second = read_layout(path, _layout(**FRENCH), timezone="America/Montreal")

    assert first.source_format == "mapped"
    assert (first.position, first.source_id, first.service_name, first.expected_agency) == (1, "A-1", "Nid-de-poule", "Voirie")
    assert first.description == "Un trou devant l'école"
    assert first.free_text == "Un trou devant l'école"
    assert (first.lat, first.long) == (45.5, -73.6)
    assert first.address_string == "12 rue Roy"
    # 08:30 EDT (UTC-4) on 31 March; 17:00 EDT on 2 April
    assert first.requested_datetime == datetime(2024, 3, 31, 12, 30, tzinfo=UTC)
    assert first.city_due_at == datetime(2024, 4, 2, 21, 0, tzinfo=UTC)
    assert first.status == "closed"
    assert first.district == "Plateau"
    assert (second.description, second.lat, second.address_string, second.city_due_at) == (None, None, None, None)
    assert second.status == "open"
    assert second.district is None  # "N/D" is a null value


def test_nested_json_is_read_with_dotted_paths_and_unix_times(tmp_path):
    records = {"data": {"items": [
        {"ref": 7, "kind": {"label": "Pothole", "team": "Roads"}, "body": "deep hole",
         "geo": {"type": "Point", "coordinates": [-71.06, 42.36]}, "at": 1700000000000, "state": "OPEN"},
        {"ref": 8, "kind": {"label": "Graffiti"}, "body": None, "geo": "POINT (-71.1 42.3)", "at": 1700000060000},
    ]}}
    path = _write(tmp_path, "export.json", json.dumps(records))
    layout = _layout(format="json", records="data.items", datetime_format="unix_ms",
                     columns={"id": "ref", "service": "kind.label", "agency": "kind.team", "description": "body",
                              "point": "geo", "requested": "at", "status": "state"})

    first, second = read_layout(path, layout, timezone="UTC")

    assert (first.source_id, first.service_name, first.expected_agency) == ("7", "Pothole", "Roads")
    assert (first.lat, first.long) == (42.36, -71.06)
    assert first.requested_datetime == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
    assert first.status == "open"
    assert (second.expected_agency, second.description, second.status) == (None, None, None)
    assert (second.lat, second.long) == (42.3, -71.1)


def test_json_lines_with_iso_offsets_and_naive_times_in_the_layout_zone(tmp_path):
    path = _write(tmp_path, "export.jsonl",
                  '{"id": "1", "t": "2024-07-01T10:00:00-04:00", "what": "x"}\n\n'
                  '{"id": "2", "t": "2024-07-01 10:00:00", "what": "y"}\n')
    layout = _layout(format="jsonl", timezone="Europe/Paris", columns={"id": "id", "service": "what", "requested": "t"})

    first, second = read_layout(path, layout, timezone="America/New_York")

    assert first.requested_datetime == datetime(2024, 7, 1, 14, 0, tzinfo=UTC)
    assert second.requested_datetime == datetime(2024, 7, 1, 8, 0, tzinfo=UTC)  # the layout's zone wins


def test_a_record_without_an_id_is_kept_with_its_position(tmp_path):
    path = _write(tmp_path, "export.csv", "id,when\n,2024-01-01T00:00:00\n")

    (record,) = read_layout(path, _layout(columns={"id": "id", "requested": "when"}), timezone="UTC")

    assert record.source_id == "row-1"


def test_crossing_streets_are_the_address_when_there_is_none(tmp_path):
    path = _write(tmp_path, "export.csv",
                  "rue,x1,x2,when\n,rue Roy,rue Drolet,2024-01-01T00:00:00\nrue Basin,rue A,rue B,2024-01-01T00:00:00\n")
    layout = _layout(columns={"address": "rue", "intersection": ["x1", "x2"], "requested": "when"})

    first, second = read_layout(path, layout, timezone="UTC")

    assert first.address_string == "rue Roy & rue Drolet"
    assert second.address_string == "rue Basin"


def test_labels_from_a_second_file_replace_the_service_label(tmp_path):
    path = _write(tmp_path, "issues.csv", "id,summary,when\n1,Traffic,2024-01-01T00:00:00\n2,Traffic,2024-01-01T00:00:00\n")
    _write(tmp_path, "answers.csv", "question,answer,issue_id\nWhat?  ,Speeding,1\nDetails,blah,1\nDetails,blah,2\n")
    layout = _layout(columns={"id": "id", "service": "summary", "requested": "when"},
                     labels_from={"file": "answers.csv", "id_column": "issue_id", "label_column": "answer",
                                  "filter_column": "question", "filter_value": "What?"})

    first, second = read_layout(path, layout, timezone="UTC")

    assert (first.service_name, second.service_name) == ("Speeding", "Traffic")


@pytest.mark.parametrize(
    ("text", "layout", "message"),
    [
        ("id,when\n1,yesterday\n", {"columns": {"id": "id", "requested": "when"}},
         r"record 1: when 'yesterday' is not a iso time"),
        ("id,when\n1,2024-01-01\n2,\n", {"columns": {"id": "id", "requested": "when"}}, r"record 2: when is blank"),
        ("id,when,y,x\n1,2024-01-01,45.5,\n", {"columns": {"requested": "when", "lat": "y", "long": "x"}},
         r"record 1: only one of y/x"),
        ("id,when,y,x\n1,2024-01-01,95,10\n", {"columns": {"requested": "when", "lat": "y", "long": "x"}},
         r"record 1: coordinates out of range"),
        ("id,when,p\n1,2024-01-01,somewhere\n", {"columns": {"requested": "when", "point": "p"}},
         r"record 1: p: 'somewhere' is not a point"),
        ("id,when\n1,2024-01-01,extra\n", {"columns": {"requested": "when"}}, r"record 1 has 3 cells, the header has 2"),
        ("id;when\n1;2024-01-01\n", {"columns": {"requested": "when"}}, r"names columns \['when'\] that the header"),
        ("id,when,y\n1,2024-01-01,4_2\n", {"columns": {"requested": "when", "lat": "y", "long": "id"}},
         r"record 1: y '4_2' is not a number"),
    ],
)
def test_a_bad_record_stops_the_read_naming_file_and_record(tmp_path, text, layout, message):
    path = _write(tmp_path, "bad.csv", text)

    with pytest.raises(ReplayFormatError, match=message) as caught:
        list(read_layout(path, _layout(**layout), timezone="UTC"))

    assert str(path) in str(caught.value)


def test_a_byte_that_is_not_in_the_layouts_encoding_names_its_record_and_blank_lines_are_no_records(tmp_path):
    path = tmp_path / "mixed.csv"
    path.write_bytes(b"id,when,what\n\n1,2024-01-01,caf\xc3\xa9\n\n2,2024-01-02,caf\xe9\n")

    with pytest.raises(ReplayFormatError, match=r"record 2: byte 0xE9 in .* is not utf-8-sig text") as caught:
        list(read_layout(path, _layout(columns={"requested": "when", "description": "what"}), timezone="UTC"))

    assert str(path) in str(caught.value)


@pytest.mark.parametrize(("data", "encoding", "message"), [
    (b"id,when,what\n1,2024-01-01,pot\x00hole\n", "utf-8-sig", r"record 1: a NUL byte in 'pot\\x00hole'"),
    ("id,when,what\n".encode("utf-16-le"), "utf-8-sig", r"a NUL byte .*is the file UTF-16"),
    (b"id,when,what\n1,2024-01-01,x\n", "utf-16", r"record 1: not utf-16 text"),
    (b"id,when,what\n1,2024-01-01,x\n", "no-such-codec", r"encoding 'no-such-codec' is no known encoding"),
])
def test_a_nul_byte_or_an_encoding_that_cannot_read_the_file_is_a_format_error(tmp_path, data, encoding, message):
    # A NUL went through into the record (PostgreSQL text refuses it); an unknown or unstartable codec
    # raised LookupError or UnicodeError instead of the reader's own error.
    path = tmp_path / "export.csv"
    path.write_bytes(data)

    with pytest.raises(ReplayFormatError, match=message) as caught:
        list(read_layout(path, _layout(encoding=encoding, columns={"requested": "when", "description": "what"}),
                         timezone="UTC"))

    assert str(path) in str(caught.value)


def test_a_json_path_that_no_record_has_is_refused_before_reading(tmp_path):
    path = _write(tmp_path, "export.json", '[{"t": "2024-01-01", "desc": "x"}]')

    with pytest.raises(ReplayFormatError, match=r"no record has \['descr'\]"):
        read_layout(path, _layout(format="json", columns={"requested": "t", "description": "descr"}), timezone="UTC")


def test_json_that_is_no_array_of_objects_is_refused(tmp_path):
    with pytest.raises(ReplayFormatError, match="record 2 is a int"):
        read_layout(_write(tmp_path, "a.json", '[{"t": "2024-01-01"}, 3]'), _layout(format="json", columns={"requested": "t"}),
                    timezone="UTC")
    with pytest.raises(ReplayFormatError, match="no array at 'rows'"):
        read_layout(_write(tmp_path, "b.json", '{"data": []}'),
                    _layout(format="json", records="rows", columns={"requested": "t"}), timezone="UTC")
    with pytest.raises(ReplayFormatError, match=r"record 2 \(line 3\): not JSON"):
        read_layout(_write(tmp_path, "c.jsonl", '{"t": "2024-01-01"}\n\n{oops\n'),
                    _layout(format="jsonl", columns={"requested": "t"}), timezone="UTC")


@pytest.mark.parametrize(
    ("value", "point"),
    [("(42.36, -71.06)", (42.36, -71.06)), ("42.36 -71.06", (42.36, -71.06)), ("POINT (-71.06 42.36)", (42.36, -71.06)),
     ({"type": "Point", "coordinates": [-71.06, 42.36]}, (42.36, -71.06)),
     ('{"type": "Point", "coordinates": [-71.06, 42.36]}', (42.36, -71.06)), ("", None), (None, None)],
)
def test_point_cells(value, point):
    assert parse_point(value) == point


def test_an_unknown_layout_says_how_to_add_an_export_mapping(tmp_path):
    path = _write(tmp_path, "other.csv", "id,when,what\n1,2020-01-01,x\n")

    with pytest.raises(ReplayFormatError, match=r"unknown layout.*`export:` column mapping.*--layout.*montreal_311_json"):
        records_for(path)


@pytest.mark.parametrize(("name", "text"), [
    ("export.jsonl", '{"id": 1, "when": "2020-01-01"}\n{"id": 2, "when": "2020-01-02"}\n'),
    ("export.json", '{"data": [{"id": 1}]}'),
])
def test_json_that_is_no_open311_says_how_to_add_an_export_mapping(tmp_path, name, text):
    # It said only "service_requests (json): not valid JSON: Extra data": the first character made it Open311.
    with pytest.raises(ReplayFormatError, match=r"if this is no Open311 file.*`export:` column mapping.*--layout"):
        records_for(_write(tmp_path, name, text))


class _City:
    def __init__(self, export: ExportLayoutSpec | None, timezone: str = "America/Montreal") -> None:
        self.export, self.timezone = export, timezone


def test_records_for_prefers_the_named_layout_then_the_jurisdiction_export(tmp_path):
    path = _write(tmp_path, "export.csv", SEMICOLON)
    layout_file = _write(tmp_path, "mine.yaml", json.dumps(FRENCH))  # JSON is YAML
    city = _City(_layout(**FRENCH))
    other = _City(_layout(delimiter=";", columns={"requested": "créé le", "service": "service"},
                          datetime_format="%d/%m/%Y %H:%M"))

    from_city = list(records_for(path, jurisdiction=city))
    from_file = list(records_for(path, layout=layout_file, jurisdiction=other))

    assert [r.service_name for r in from_city] == ["Nid-de-poule", "Graffiti"]
    assert from_city == from_file
    assert from_city[0].requested_datetime == datetime(2024, 3, 31, 12, 30, tzinfo=UTC)  # the jurisdiction's zone
    assert [r.service_name for r in records_for(path, jurisdiction=other)] == ["Voirie", "Propreté"]


def test_records_for_detects_a_known_layout_when_nothing_is_mapped(tmp_path):
    path = _write(tmp_path, "open311.json", '[{"service_request_id": "9", "status": "open", "requested_datetime": "2024-01-01T00:00:00Z"}]')

    (record,) = records_for(path, jurisdiction=_City(None))

    assert (record.source_format, record.source_id) == ("open311_json", "9")


def test_a_layout_file_that_is_not_text_or_a_zone_that_does_not_exist_is_a_format_error(tmp_path):
    # A layout file in another encoding raised UnicodeDecodeError; an unknown zone did not name the file.
    binary = tmp_path / "layout.yaml"
    binary.write_bytes(b"\xff\xfe columns")
    with pytest.raises(ReplayFormatError, match="layout.yaml is not YAML"):
        load_layout(binary)
    export = _write(tmp_path, "export.csv", "when\n2024-01-01\n")
    with pytest.raises(ReplayFormatError, match=r"export.csv: the layout's unknown IANA time zone 'Nowhere/X'"):
        read_layout(export, _layout(timezone="Nowhere/X", columns={"requested": "when"}), timezone="UTC")


def test_load_layout_names_the_built_in_layouts_when_the_name_is_unknown(tmp_path):
    with pytest.raises(ReplayFormatError, match=r"unknown layout 'nope'; built-in layouts: .*seeclickfix_v2"):
        load_layout("nope")
    with pytest.raises(ReplayFormatError, match="is not a valid layout"):
        load_layout(_write(tmp_path, "bad.yaml", "columns: {}\n"))
