"""MIMIC-IV reader on tests/fixtures/mimic4 (hosp/ and note/ sub-folders, gzipped files)."""

import shutil

import pandas as pd
import pytest

from graphs.records import read_mimic4, read_records
from ontologies.errors import SchemaError

SECRET = "SECRET-NOTE-MARKER"


def test_counts_per_table(mimic4_records):
    s = mimic4_records.summary()
    assert (s["patients"], s["visits"], s["diagnoses"], s["procedures"], s["medications"],
            s["notes"]) == (3, 4, 10, 2, 3, 2)
    assert mimic4_records.metadata["files"]["diagnoses_icd"] == "hosp/diagnoses_icd.csv.gz"
    assert mimic4_records.metadata["files"]["note/discharge"] == "note/discharge.csv.gz"


def test_birth_date_is_approximated_from_anchor_year(mimic4_records):
    p = mimic4_records.patients.set_index("patient_id")
    assert p.loc["10000032", "birth_date"] == pd.Timestamp("2128-01-01")  # 2180 - 52
    assert p.loc["10000032", "death_date"] == pd.Timestamp("2180-09-09")
    assert "anchor_year" in mimic4_records.metadata["birth_date"]


def test_icd9_and_icd10_codes(mimic4_records):
    dx = mimic4_records.diagnoses
    assert {"ICD10CM:E11.9", "ICD10CM:I10", "ICD10CM:I50.9", "ICD10CM:R13.10",
            "ICD9CM:250.00", "ICD9CM:401.9", "ICD9CM:365.70"} <= set(dx["code"])
    assert set(mimic4_records.procedures["code"]) == {"ICD9PROC:54.91", "ICD10PCS:0W9G3ZZ"}
    assert mimic4_records.procedures["time"].iloc[1] == pd.Timestamp("2160-11-22")


def test_medications_and_notes(mimic4_records):
    codes = mimic4_records.medications["code"].tolist()
    assert codes == ["NDC:00054829725", "NDC:51079010320", "MIMIC4DRUG:sodium_chloride_0.9_flush"]
    notes = mimic4_records.notes.set_index("note_id")
    assert notes.loc["10000032-DS-21", "category"] == "DS"
    assert SECRET in notes.loc["10000032-DS-21", "text"]


def test_flat_layout_and_separate_note_folder(tmp_path, fixtures):
    shutil.copytree(fixtures / "mimic4" / "hosp", tmp_path / "tables")
    rec = read_records("mimic4", tmp_path / "tables", map_to_icd10=False)
    assert rec.notes.empty
    rec = read_mimic4(tmp_path / "tables", map_to_icd10=False,
                      note_folder=fixtures / "mimic4")
    assert len(rec.notes) == 2


def test_icd_version_must_be_9_or_10(tmp_path, fixtures):
    shutil.copytree(fixtures / "mimic4", tmp_path / "m4")
    path = tmp_path / "m4" / "hosp" / "diagnoses_icd.csv.gz"
    path.unlink()
    path.with_suffix("").write_text("subject_id,hadm_id,seq_num,icd_code,icd_version\n"
                                    "10000084,23052089,1,E119,10\n10000084,23052089,2,I10,11\n")
    with pytest.raises(SchemaError, match=r"diagnoses_icd.csv: column 'icd_version', data row 2:"
                                          r" value '11' is not 9 or 10"):
        read_mimic4(tmp_path / "m4", map_to_icd10=False)


def test_patient_subset(fixtures):
    rec = read_mimic4(fixtures / "mimic4", patients=["10000084"], map_to_icd10=False)
    assert rec.patient_ids == ["10000084"] and rec.summary()["diagnoses"] == 3


@pytest.mark.parametrize("age, year, match", [
    ("52.5", "2180", r"column 'anchor_age', data row 1: value \(hidden, 4 characters\) is not "
                     r"an integer"),
    ("-3", "2180", r"column 'anchor_age', data row 1: value is negative"),
    ("52", "99999", r"column 'anchor_year', data row 1: anchor_year - anchor_age is outside"),
])
def test_bad_anchor_values_are_errors_not_missing_birth_dates(tmp_path, fixtures, age, year,
                                                              match):
    shutil.copytree(fixtures / "mimic4", tmp_path / "m4")
    path = tmp_path / "m4" / "hosp" / "patients.csv"
    lines = path.read_text().splitlines()
    cells = lines[1].split(",")
    cells[2], cells[3] = age, year
    lines[1] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(SchemaError, match=rf"patients.csv: {match}") as err:
        read_mimic4(tmp_path / "m4", map_to_icd10=False)
    assert cells[0] not in str(err.value)  # nor the subject_id
