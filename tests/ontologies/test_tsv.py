"""The strict TSV reader shared by the SNOMED CT and HPO annotation readers."""

from __future__ import annotations

import pytest

from ontologies.errors import DataNotFoundError, ParseError
from ontologies.tsv import read_tsv


def test_keeps_strings_and_crlf(tmp_path):
    path = tmp_path / "x.txt"
    path.write_bytes(b"\xef\xbb\xbfid\tvalue\r\n000123\t1.50\r\n\r\n9\t\r\n")
    table, lines = read_tsv(path, ["id", "value"])
    assert table.values.tolist() == [["000123", "1.50"], ["9", ""]]
    assert lines.tolist() == [2, 4]


def test_last_line_without_newline_and_trailing_cr(tmp_path):
    path = tmp_path / "x.txt"
    path.write_bytes(b"id\tvalue\n1\ta\n2\tb\r")
    table, lines = read_tsv(path, ["id", "value"])
    assert table.values.tolist() == [["1", "a"], ["2", "b"]]
    assert lines.tolist() == [2, 3]


@pytest.mark.parametrize("data, line", [
    (b"id\tvalue\n1\tbro\rken\n2\tok\n", 2),     # inside a value: pandas would split the row
    (b"id\tvalue\n1\tok\n2\tx\r\r\n", 3),        # doubled before the newline
    (b"id\tvalue\r1\tok\r", 1),                  # classic Mac line ends
    (b"id\tva\rlue\n1\tok\n", 1),                # in the header
])
def test_bare_carriage_return_is_refused_with_its_line(tmp_path, data, line):
    path = tmp_path / "cr.txt"
    path.write_bytes(data)
    with pytest.raises(ParseError, match="carriage return") as info:
        read_tsv(path, ["id", "value"])
    assert info.value.line == line and "cr.txt" in str(info.value)


def test_field_count_and_header_errors_name_the_line(tmp_path):
    path = tmp_path / "x.txt"
    path.write_bytes(b"# comment\nid\tvalue\n1\ta\n2\n")
    with pytest.raises(ParseError, match="1 fields, expected 2") as info:
        read_tsv(path, ["id", "value"], header_index=1)
    assert info.value.line == 4
    path.write_bytes(b"id\tother\n1\ta\n")
    with pytest.raises(ParseError, match="missing column") as info:
        read_tsv(path, ["id", "value"])
    assert info.value.line == 1
    path.write_bytes(b"\n\r\n")
    with pytest.raises(ParseError, match="empty file"):
        read_tsv(path, ["id"])
    path.write_bytes(b"id\tvalue\n1\t\xe9\n")
    with pytest.raises(ParseError, match="UTF-8") as info:
        read_tsv(path, ["id", "value"])
    assert info.value.line == 2
    with pytest.raises(DataNotFoundError):
        read_tsv(tmp_path / "missing.txt", ["id"])


def test_header_only_gives_an_empty_table(tmp_path):
    path = tmp_path / "x.txt"
    path.write_bytes(b"id\tvalue\r\n")
    table, lines = read_tsv(path, ["value", "id"])
    assert list(table.columns) == ["value", "id"] and len(table) == len(lines) == 0
