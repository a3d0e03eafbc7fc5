"""OMOP CDM v5.4 reader on tests/fixtures/omop (with a tab-separated Athena CONCEPT.csv)."""

import shutil

import pandas as pd
import pytest

from graphs.records import read_omop, read_records
from ontologies.errors import SchemaError


@pytest.fixture(scope="module")
def omop(fixtures):
    return read_omop(fixtures / "omop")


def test_counts_per_table(omop):
    s = omop.summary()
    assert (s["patients"], s["visits"], s["diagnoses"], s["medications"], s["observations"]) \
        == (3, 4, 6, 3, 2)
    assert s["diagnosis_mapping"] == {"direct": 5, "no_map": 1}


def test_persons(omop):
    p = omop.patients.set_index("patient_id")
    assert p["sex"].tolist() == ["F", "M", "U"]
    assert p.loc["1", "birth_date"] == pd.Timestamp("1961-04-12")
    assert p.loc["2", "birth_date"] == pd.Timestamp("1948-01-01")  # month/day missing
    assert p.loc["2", "death_date"] == pd.Timestamp("2021-03-04")


def test_concepts_become_vocabulary_curies(omop):
    dx = omop.diagnoses
    assert dx["code"].iloc[0] == "SNOMEDCT:9000000001"
    assert dx["source_code"].iloc[0] == "ICD10CM:E11.9"  # concept_code E119 re-dotted
    assert dx["source_code"].iloc[2] == "ICD9CM:250.00"
    unmapped = dx[dx["mapping"] == "no_map"]
    assert unmapped["code"].tolist() == ["OMOPSOURCE:R69X"]
    assert set(omop.medications["code"]) == {"RXNORM:6809", "RXNORM:29046"}
    assert omop.medications["label"].iloc[0] == "metformin"
    obs = omop.observations
    assert obs["code"].tolist() == ["LOINC:8867-4"] * 2 and obs["value"].tolist() == [88, 112.5]
    assert omop.visits["visit_type"].tolist() == ["inpatient", "outpatient", "emergency", "home"]


def test_condition_without_visit_is_kept(omop):
    assert omop.diagnoses["visit_id"].isna().sum() == 1


def test_without_concept_table_codes_are_omop_ids(fixtures):
    rec = read_records("omop", fixtures / "omop", concepts=False)
    assert rec.diagnoses["code"].iloc[0] == "OMOP:2000000001"
    assert rec.medications["code"].iloc[0] == "OMOP:2000000020"
    assert rec.metadata["concept_table"] is False


def test_bad_date_names_file_column_row(tmp_path, fixtures):
    shutil.copytree(fixtures / "omop", tmp_path / "o")
    path = tmp_path / "o" / "visit_occurrence.csv"
    path.write_text(path.read_text().replace("2020-11-30,2020-11-30 22:10:00",
                                             "30.11.2020x,2020-11-30 22:10:00"))
    with pytest.raises(SchemaError, match=r"visit_occurrence.csv: column 'visit_start_date', "
                                          r"data row 3"):
        read_omop(tmp_path / "o")


def test_bad_year_of_birth_is_named(tmp_path, fixtures):
    shutil.copytree(fixtures / "omop", tmp_path / "o")
    path = tmp_path / "o" / "person.csv"
    path.write_text(path.read_text().replace("2,8507,1948", "2,8507,19x8"))
    with pytest.raises(SchemaError, match=r"person.csv: column 'year_of_birth', data row 2: "
                                          r"value \(hidden, 4 characters\) is not an integer") \
            as err:
        read_omop(tmp_path / "o")
    assert "19x8" not in str(err.value)  # a year of birth is private


@pytest.mark.parametrize("parts, match", [
    ("1948,2,30", r"columns 'year_of_birth', 'month_of_birth', 'day_of_birth', data row 2: "
                  r"the values make no date"),
    ("1948,13,", r"column 'month_of_birth', data row 2: value is not a month"),
    ("1948,,32", r"column 'day_of_birth', data row 2: value is not a day"),
    ("1500,,", r"column 'year_of_birth', data row 2: value is not a year in 1678..2262"),
])
def test_impossible_birth_dates_are_errors_not_missing(tmp_path, fixtures, parts, match):
    shutil.copytree(fixtures / "omop", tmp_path / "o")
    path = tmp_path / "o" / "person.csv"
    path.write_text(path.read_text().replace("2,8507,1948,,", f"2,8507,{parts}", 1))
    with pytest.raises(SchemaError, match=rf"person.csv: {match}") as err:
        read_omop(tmp_path / "o")
    assert parts.split(",")[0] not in str(err.value)  # the year of birth stays private


def test_text_measurement_value_names_the_file_column_and_row(tmp_path, fixtures):
    shutil.copytree(fixtures / "omop", tmp_path / "o")
    path = tmp_path / "o" / "measurement.csv"
    path.write_text(path.read_text().replace(",0,112.5,0,", ",0,high,0,", 1))
    with pytest.raises(SchemaError, match=r"measurement.csv: column 'value_as_number', data "
                                          r"row 2: value \(hidden, 4 characters\) is not a "
                                          r"number"):
        read_omop(tmp_path / "o")
