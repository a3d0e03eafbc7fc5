"""Finding and reading CSV tables: case-insensitive names, gzip, chunks, errors."""

import gzip

import pandas as pd
import pytest

from graphs.records.files import find_table, id_filter, read_table
from ontologies.errors import DataNotFoundError, ParseError, SchemaError


def test_find_table_is_case_insensitive_and_accepts_gzip(fixtures):
    assert find_table(fixtures / "mimic3", "admissions").name == "ADMISSIONS.csv"
    assert find_table(fixtures / "mimic3", "NoteEvents").name == "NOTEEVENTS.csv.gz"
    assert find_table(fixtures / "mimic4", "diagnoses_icd", ("hosp", "")).name == \
        "diagnoses_icd.csv.gz"


def test_find_table_prefers_plain_csv_and_reports_missing(tmp_path):
    (tmp_path / "a.csv").write_text("x\n1\n")
    with gzip.open(tmp_path / "A.csv.gz", "wt") as f:
        f.write("x\n2\n")
    assert find_table(tmp_path, "a").name == "a.csv"
    with pytest.raises(DataNotFoundError, match=r"table 'b' not found: expected b.csv or b.csv.gz"):
        find_table(tmp_path, "b")
    assert find_table(tmp_path, "b", required=False) is None
    with pytest.raises(DataNotFoundError, match="does not exist"):
        find_table(tmp_path / "nope", "a")


def test_read_table_keeps_leading_zeros_and_indexes_file_rows(fixtures):
    path = find_table(fixtures / "mimic3", "prescriptions")
    df = read_table(path, ["subject_id", "ndc"], ["not_there"])
    assert df["ndc"].iloc[0] == "00093104801"
    assert df.index.tolist() == [1, 2, 3, 4, 5]  # 1-based data rows
    assert df["not_there"].isna().all()


def test_chunked_reading_with_filter_equals_reading_at_once(fixtures):
    path = find_table(fixtures / "mimic3", "diagnoses_icd")
    whole = read_table(path, ["subject_id", "icd9_code"], chunksize=None)
    keep = id_filter([103, "101"])
    chunked = read_table(path, ["subject_id", "icd9_code"], keep=keep, chunksize=3)
    expected = whole[whole["subject_id"].isin(["101", "103"])]
    pd.testing.assert_frame_equal(chunked, expected)


def test_missing_column_names_file_and_column(fixtures):
    path = find_table(fixtures / "mimic3", "patients")
    with pytest.raises(SchemaError, match=r"PATIENTS.csv: missing columns \['gender_x'\]"):
        read_table(path, ["subject_id", "gender_x"])


def test_malformed_csv_is_a_parse_error_with_line(tmp_path):
    path = tmp_path / "admissions.csv"
    path.write_text('a,b\n1,2\n3,"4\n5,6\n')
    with pytest.raises(ParseError, match=r"admissions.csv:3: malformed CSV"):
        read_table(path, ["a", "b"])


def test_tab_separated_vocabulary_files_are_read(fixtures):
    path = find_table(fixtures / "omop", "concept")
    df = read_table(path, ["concept_id", "vocabulary_id", "concept_code"])
    assert ("RxNorm", "6809") in set(zip(df["vocabulary_id"], df["concept_code"], strict=True))


def test_corrupt_gzip_is_a_parse_error(tmp_path):
    path = tmp_path / "patients.csv.gz"
    path.write_bytes(b"\x1f\x8b\x08\x00garbage")
    with pytest.raises(ParseError, match="patients.csv.gz"):
        read_table(path, ["subject_id"])


@pytest.mark.parametrize("text, line, found", [
    ("a,b\n1,2,3\n4,5\n", 2, 3),  # a surplus field in the first row (pandas' index guess)
    ("a,b\n1,2\n3,4,5\n", 3, 3),  # ... in a later row (pandas drops it with usecols)
    ("a,b\n1,2\n3\n", 3, 1),  # a field too few: the values would shift left
    ('a,b\n1,"x\ny"\n2,3,4\n', 4, 3),  # a quoted newline: the line, not the data row
])
def test_rows_with_the_wrong_field_count_are_refused_with_their_line(tmp_path, text, line,
                                                                    found):
    path = tmp_path / "admissions.csv"
    path.write_text(text)
    with pytest.raises(ParseError, match=rf"admissions.csv:{line}: malformed CSV row "
                                         rf"\({found} fields\): expected 2 fields"):
        read_table(path, ["a"])


def test_quoted_newlines_and_delimiters_are_one_field(tmp_path):
    path = tmp_path / "NOTEEVENTS.csv"
    path.write_text('ROW_ID,TEXT\n1,"line one\nline, two"\n2,plain\n')
    df = read_table(path, ["row_id", "text"])
    assert df["text"].tolist() == ["line one\nline, two", "plain"]
    assert df.index.tolist() == [1, 2]


@pytest.mark.parametrize("data", ["a,b\n1,2\n".encode("utf-16"),
                                  "a,b\n1,caf\u00e9\n".encode("latin-1")],
                         ids=["utf16", "latin1_body"])
def test_text_that_is_not_utf8_is_a_parse_error(tmp_path, data):
    path = tmp_path / "patients.csv"
    path.write_bytes(data)
    with pytest.raises(ParseError, match=r"patients.csv.*not UTF-8"):
        read_table(path, ["a", "b"])


def test_upper_case_gzip_suffix_is_read(tmp_path):
    path = tmp_path / "PATIENTS.CSV.GZ"
    with gzip.open(path, "wt") as f:
        f.write("SUBJECT_ID\n7\n")
    assert find_table(tmp_path, "patients") == path
    assert read_table(path, ["subject_id"])["subject_id"].tolist() == ["7"]


def test_numbers_are_checked_and_named_without_their_value(tmp_path):
    from pathlib import Path

    from graphs.records.files import parse_numbers

    df = pd.DataFrame({"seq_num": ["1", "2.5"], "value_as_number": ["1.5", "1e400"]},
                      index=[1, 2])
    with pytest.raises(SchemaError, match=r"DIAGNOSES_ICD.csv: column 'SEQ_NUM', data row 2: "
                                          r"value \(hidden, 3 characters\) is not an integer"):
        parse_numbers(df.copy(), ["seq_num"], Path("DIAGNOSES_ICD.csv"), integer=True)
    with pytest.raises(SchemaError, match=r"measurement.csv: column 'value_as_number', data "
                                          r"row 2: .* is not a finite number"):
        parse_numbers(df.copy(), ["value_as_number"], Path("measurement.csv"))
    out = parse_numbers(df.iloc[:1].copy(), ["seq_num", "value_as_number"], Path("m.csv"))
    assert out["value_as_number"].tolist() == [1.5]
