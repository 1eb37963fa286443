"""Hostile variants of the real NYC and Boston exports: a record is read exactly or the reader says why."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.data import shared_data

from tools.replay.sources import ReplayFormatError, detect_format, read_records

RECORDS = shared_data() / "311_records"
NYC = (RECORDS / "nyc311_2011_sample_1000.csv").read_bytes()
BOSTON = (RECORDS / "qsv_boston311-100.csv").read_bytes()
BOSTON_LINES = BOSTON.split(b"\n")
NYC_LINES = NYC.split(b"\n")
FIRST_BOSTON = BOSTON_LINES[1]  # 101004143000, "BTDT: Complaint", 2022-01-21 13:47:00, City Hall point


def _write(tmp_path: Path, data: bytes, name: str = "export.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _boston(*rows: bytes, header: bytes = BOSTON_LINES[0]) -> bytes:
    return b"\n".join([header, *rows]) + b"\n"


def test_the_real_exports_still_read_whole_with_crlf_line_ends(tmp_path: Path) -> None:
    assert len(list(read_records(_write(tmp_path, NYC.replace(b"\n", b"\r\n"))))) == 999
    assert len(list(read_records(_write(tmp_path, BOSTON, "b.csv")))) == 100


def test_a_latin1_byte_in_a_record_names_the_record_instead_of_raising_unicode_error(tmp_path: Path) -> None:
    row = FIRST_BOSTON.replace(b"Comments", b"Comm\xe9nts")
    path = _write(tmp_path, _boston(BOSTON_LINES[2], row))
    with pytest.raises(ReplayFormatError, match=r"record 2.*UTF-8"):
        list(read_records(path))


def test_a_cell_larger_than_the_csv_field_limit_is_a_format_error(tmp_path: Path) -> None:
    path = _write(tmp_path, _boston(FIRST_BOSTON.replace(b"BTDT: Complaint", b"x" * 200_000)))
    with pytest.raises(ReplayFormatError, match="record 1"):
        list(read_records(path))


def test_an_unterminated_quote_does_not_swallow_the_following_records(tmp_path: Path) -> None:
    broken = FIRST_BOSTON.replace(b"BTDT: Complaint", b'"BTDT: Complaint')
    path = _write(tmp_path, _boston(broken, BOSTON_LINES[2], BOSTON_LINES[3]))
    with pytest.raises(ReplayFormatError, match="record 1"):
        list(read_records(path))


def test_a_quoted_cell_may_span_lines(tmp_path: Path) -> None:
    spanning = FIRST_BOSTON.replace(b"BTDT: Complaint", b'"BTDT:\r\nComplaint"')
    records = list(read_records(_write(tmp_path, _boston(spanning, BOSTON_LINES[2]))))
    assert [r.position for r in records] == [1, 2]
    assert records[0].description == "BTDT: Complaint" and records[1].source_id == "101004130437"


def test_a_record_cut_short_is_reported_not_padded_with_blanks(tmp_path: Path) -> None:
    # A file truncated mid-record: the last row has an id and a date but lost its coordinates.
    cut = NYC_LINES[2][: NYC_LINES[2].index(b",DOT,") + 5]
    path = _write(tmp_path, b"\n".join([NYC_LINES[0], NYC_LINES[1], cut]))
    records = read_records(path)
    assert next(records).source_id == "19937896"
    with pytest.raises(ReplayFormatError, match=r"record 2 has \d+ cells, the header has 41"):
        next(records)


def test_a_repeated_column_name_is_ambiguous(tmp_path: Path) -> None:
    path = _write(tmp_path, _boston(FIRST_BOSTON + b",OTHER TITLE", header=BOSTON_LINES[0] + b",case_title"))
    with pytest.raises(ReplayFormatError, match="case_title.*more than once"):
        read_records(path)


def test_blank_lines_before_the_header_are_skipped_as_detect_format_does(tmp_path: Path) -> None:
    path = _write(tmp_path, b"\n\r\n\n" + BOSTON)
    assert detect_format(path) == "boston_csv"
    assert len(list(read_records(path))) == 100


def test_blank_lines_between_records_are_not_records(tmp_path: Path) -> None:
    path = _write(tmp_path, _boston(FIRST_BOSTON, b"", b"", BOSTON_LINES[2]))
    assert [r.position for r in read_records(path)] == [1, 2]


def test_a_header_only_file_has_no_records(tmp_path: Path) -> None:
    assert list(read_records(_write(tmp_path, NYC_LINES[0]))) == []


@pytest.mark.parametrize(
    ("old", "new"),
    [(b"2022-01-21 13:47:00", b"9999-12-31 23:59:59"), (b"2022-01-21 13:47:00", b"0001-01-01 00:00:00+05:00")],
)
def test_a_date_beyond_the_calendar_is_a_format_error(tmp_path: Path, old: bytes, new: bytes) -> None:
    path = _write(tmp_path, _boston(FIRST_BOSTON.replace(old, new)))
    with pytest.raises(ReplayFormatError, match="record 1.*open_dt"):
        list(read_records(path))


def test_a_nyc_date_beyond_the_calendar_is_a_format_error(tmp_path: Path) -> None:
    row = NYC_LINES[1].replace(b"03/01/2011 02:27:57 PM", b"12/31/9999 11:59:59 PM", 1)
    with pytest.raises(ReplayFormatError, match="record 1.*Created Date"):
        list(read_records(_write(tmp_path, b"\n".join([NYC_LINES[0], row]))))


@pytest.mark.parametrize("coords", [b"4_2,-7_1", b"nan,nan", b"inf,-inf", b"\xd9\xa4\xd9\xa2,-71"])
def test_coordinates_must_be_plain_decimal_numbers(tmp_path: Path, coords: bytes) -> None:
    path = _write(tmp_path, _boston(FIRST_BOSTON.replace(b"42.3594,-71.0587", coords)))
    with pytest.raises(ReplayFormatError, match="record 1.*coordinates"):
        list(read_records(path))


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(cut=st.integers(0, len(BOSTON)), flips=st.lists(st.tuples(st.integers(0, len(BOSTON) - 1), st.integers(0, 255)),
                                                      max_size=3))
def test_truncated_or_garbled_boston_exports_fail_only_with_replay_format_error(tmp_path_factory, cut, flips) -> None:  # noqa: ANN001
    data = bytearray(BOSTON[:cut])
    for where, byte in flips:
        if where < len(data):
            data[where] = byte
    path = _write(tmp_path_factory.mktemp("fuzz"), bytes(data))
    try:
        records = list(read_records(path))
    except ReplayFormatError:
        return
    # Whatever was read is a prefix of the file's records: nothing padded, nothing merged.
    assert len(records) <= 100


def test_an_open311_record_with_only_one_coordinate_is_refused_like_a_csv_one(tmp_path: Path) -> None:
    # The CSV readers refuse it; from an Open311 file it was replayed and the POST then failed with a 400.
    body = b'[{"service_request_id":"1","status":"open","requested_datetime":"2024-01-01T00:00:00Z","lat":42.36}]'
    with pytest.raises(ReplayFormatError, match="record 1.*latitude/longitude"):
        list(read_records(_write(tmp_path, body, "feed.json")))
