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
