"""MIMIC-III reader on the fixture in tests/fixtures/mimic3 (upper-case, one gzipped file)."""

import gzip
import shutil

import pandas as pd
import pytest

from graphs.records import read_mimic3, read_records
from ontologies.errors import DataNotFoundError, DuplicateIdError, ParseError, SchemaError

SECRET = "SECRET-NOTE-MARKER"


def gem_available() -> bool:
    try:
        from ontologies.icd9cm import map_icd9_to_icd10
    except ImportError:
        return False
    return callable(map_icd9_to_icd10)


@pytest.fixture
def copy3(tmp_path, fixtures):
    target = tmp_path / "mimic3"
    shutil.copytree(fixtures / "mimic3", target)
    return target


def test_counts_per_table(mimic3_records):
    assert mimic3_records.summary() | {"diagnosis_mapping": None} == {
        "patients": 4, "visits": 6, "diagnoses": 15, "medications": 5, "procedures": 5,
        "observations": 0, "notes": 3, "modalities": 0, "diagnosis_mapping": None}
    assert mimic3_records.metadata["dropped"] == {"diagnoses_empty_code": 1, "notes_iserror": 1}
    assert mimic3_records.metadata["files"]["noteevents"] == "NOTEEVENTS.csv.gz"


def test_patients_and_visits(mimic3_records):
    p = mimic3_records.patients.set_index("patient_id")
    assert p.loc["103", "sex"] == "M"
    assert p.loc["103", "death_date"] == pd.Timestamp("2152-09-12")
    assert p["death_date"].isna().sum() == 3
    v = mimic3_records.visits.set_index("visit_id")
    assert v.loc["1002", "start"] == pd.Timestamp("2141-05-02 22:40:00")
    assert v.loc["1006", "visit_type"] == "newborn"


def test_icd9_codes_are_dotted_curies_with_discharge_time(mimic3_records):
    dx = mimic3_records.diagnoses
    assert {"ICD9CM:250.00", "ICD9CM:401.9", "ICD9CM:428.0", "ICD9CM:V15.82",
            "ICD9CM:E888.9", "ICD9CM:073.0"} <= set(dx["source_code"])
    assert (dx["code"] == dx["source_code"]).all() and set(dx["mapping"]) == {"direct"}
    first = dx[dx["visit_id"] == "1001"]
    assert first["seq_num"].tolist() == [1, 2, 3]
    assert (first["time"] == pd.Timestamp("2140-01-14 15:00:00")).all()
    assert set(mimic3_records.procedures["code"]) == {
        "ICD9PROC:38.93", "ICD9PROC:36.15", "ICD9PROC:39.61", "ICD9PROC:96.04", "ICD9PROC:99.55"}


def test_medications_use_ndc_else_drug_name(mimic3_records):
    med = mimic3_records.medications.set_index("label")
    assert med.loc["Metformin", "code"] == "NDC:00093104801"
    assert med.loc["Insulin", "code"] == "MIMIC3DRUG:insulin"  # NDC "0" means none
    assert med.loc["NS (0.9%)", "code"] == "MIMIC3DRUG:ns_0.9"


def test_notes_drop_iserror_and_keep_notes_without_admission(mimic3_records):
    notes = mimic3_records.notes.set_index("note_id")
    assert "404" not in notes.index  # ISERROR = 1
    assert pd.isna(notes.loc["403", "visit_id"])
    assert notes.loc["402", "time"] == pd.Timestamp("2141-05-03 07:12:00")  # CHARTTIME wins
    assert notes.loc["401", "time"] == pd.Timestamp("2140-01-14")  # else CHARTDATE
    assert SECRET in notes.loc["401", "text"] and "\n" in notes.loc["401", "text"]


def test_patient_subset_is_applied_per_chunk(fixtures):
    rec = read_mimic3(fixtures / "mimic3", patients=[101], chunksize=2, map_to_icd10=False)
    assert rec.patient_ids == ["101"]
    assert rec.summary()["visits"] == 2 and rec.summary()["diagnoses"] == 6
    assert rec.summary()["notes"] == 2 and rec.summary()["procedures"] == 1


def test_registry_reads_the_same(fixtures, mimic3_records):
    rec = read_records("MIMIC3", fixtures / "mimic3", map_to_icd10=False, notes=False)
    assert rec.summary()["notes"] == 0
    pd.testing.assert_frame_equal(rec.diagnoses, mimic3_records.diagnoses)


@pytest.mark.skipif(not gem_available(), reason="ontologies.icd9cm.map_icd9_to_icd10 (GEMs) "
                    "is not available yet: ICD-9 -> ICD-10-CM mapping cannot be tested")
def test_diagnoses_are_mapped_to_icd10_through_the_gems(fixtures):
    rec = read_mimic3(fixtures / "mimic3")
    dx = rec.diagnoses
    targets = {k: set(g) for k, g in dx.groupby("source_code")["code"]}
    assert targets["ICD9CM:250.00"] == {"ICD10CM:E11.9"}
    assert targets["ICD9CM:401.9"] == {"ICD10CM:I10"}
    assert targets["ICD9CM:428.0"] == {"ICD10CM:I50.9"}
    assert dx["source_code"].str.startswith("ICD9CM:").all()
    kinds = dx.groupby("source_code")["mapping"].first()
    assert kinds["ICD9CM:250.00"] in ("gem_exact", "gem_approximate")
    # 365.70 has no GEM target: kept as its ICD-9 code
    assert kinds["ICD9CM:365.70"] == "no_map"
    assert targets["ICD9CM:365.70"] == {"ICD9CM:365.70"}
    # 073.0 (ornithosis with pneumonia) needs two ICD-10-CM codes together
    assert kinds["ICD9CM:073.0"] == "gem_combination" and len(targets["ICD9CM:073.0"]) >= 2
    mapped = dx[dx["mapping"] != "no_map"]
    assert mapped["code"].str.startswith("ICD10CM:").all()
    assert sum(rec.metadata["mapping"].values()) == len(dx)


def test_mapping_without_gems_is_a_clear_error(fixtures, monkeypatch):
    import sys

    from ontologies.errors import ConfigError

    monkeypatch.setitem(sys.modules, "ontologies.icd9cm", None)  # import now fails
    with pytest.raises(ConfigError, match="map_to_icd10=False"):
        read_mimic3(fixtures / "mimic3")


def test_non_date_admittime_names_file_column_and_row(copy3):
    path = copy3 / "ADMISSIONS.csv"
    lines = path.read_text().splitlines()
    lines[3] = lines[3].replace("2150-07-21 10:00:00", "not-a-date", 1)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(SchemaError, match=r"ADMISSIONS.csv: column 'ADMITTIME', data row 3: "
                                          r"value \(hidden, 10 characters\) is not a date") as err:
        read_mimic3(copy3, map_to_icd10=False)
    assert "not-a-date" not in str(err.value)  # dates (and what stands in them) stay private


def test_missing_column_is_named(copy3):
    path = copy3 / "DIAGNOSES_ICD.csv"
    text = path.read_text().replace("HADM_ID", "HADM", 1)
    path.write_text(text)
    with pytest.raises(SchemaError, match=r"DIAGNOSES_ICD.csv: missing columns \['hadm_id'\]"):
        read_mimic3(copy3, map_to_icd10=False)


def test_missing_required_table(copy3):
    (copy3 / "PATIENTS.csv").unlink()
    with pytest.raises(DataNotFoundError, match="table 'patients' not found"):
        read_mimic3(copy3)


def test_lower_case_file_and_column_names_are_accepted(copy3):
    for path in copy3.glob("*.csv"):
        lines = path.read_text().split("\n", 1)
        path.rename(path.with_name(path.name.lower()))
        path.with_name(path.name.lower()).write_text(lines[0].lower() + "\n" + lines[1])
    rec = read_mimic3(copy3, map_to_icd10=False)
    assert rec.summary()["diagnoses"] == 15


def _write_notes(folder, rows):
    import csv
    import io

    (folder / "NOTEEVENTS.csv.gz").unlink()
    buf = io.StringIO()
    csv.writer(buf).writerows([["ROW_ID", "SUBJECT_ID", "HADM_ID", "CHARTDATE", "CHARTTIME",
                                "STORETIME", "CATEGORY", "DESCRIPTION", "CGID", "ISERROR",
                                "TEXT"], *rows])
    (folder / "NOTEEVENTS.csv").write_text(buf.getvalue())


def test_note_text_never_appears_in_errors(copy3):
    secret = f"Pt stable {SECRET}"
    # the text shifted into the CHARTTIME column (a broken export)
    _write_notes(copy3, [["1", "101", "1001", "2140-01-14", secret, "", "Nursing", "", "", "",
                          "x"]])
    with pytest.raises(SchemaError) as err:
        read_mimic3(copy3, map_to_icd10=False)
    message = str(err.value)
    assert "NOTEEVENTS.csv: column 'CHARTTIME', data row 1" in message
    assert SECRET not in message and "Pt stable" not in message
    # an unterminated quote inside a note
    with gzip.open(copy3 / "NOTEEVENTS.csv.gz", "wt") as f:
        f.write("ROW_ID,SUBJECT_ID,HADM_ID,CATEGORY,ISERROR,TEXT\n"
                f'1,101,1001,Nursing,,"{secret}\n')
    (copy3 / "NOTEEVENTS.csv").unlink()
    with pytest.raises(ParseError) as err:
        read_mimic3(copy3, map_to_icd10=False)
    assert SECRET not in str(err.value) and "NOTEEVENTS.csv.gz" in str(err.value)


def test_notes_can_be_skipped(fixtures):
    rec = read_mimic3(fixtures / "mimic3", notes=False, map_to_icd10=False)
    assert rec.notes.empty and "noteevents" not in rec.metadata["files"]


def test_provenance_columns_are_dropped_after_validation(mimic3_records):
    from graphs.records.columns import SOURCE_FILE, SOURCE_ROW, TABLES

    for name, spec in TABLES.items():
        columns = list(getattr(mimic3_records, name).columns)
        assert columns[:len(spec)] == list(spec), name
        assert SOURCE_FILE not in columns and SOURCE_ROW not in columns, name


def test_repeated_subject_names_the_file_and_rows_not_the_id(copy3):
    path = copy3 / "PATIENTS.csv"
    path.write_text(path.read_text() + "9,102,F,2075-03-13 00:00:00,,,,0\n")
    with pytest.raises(DuplicateIdError, match=r"PATIENTS.csv: column 'patient_id' \(patients "
                                               r"table\), data rows 2, \d+: the same id") as err:
        read_mimic3(copy3, map_to_icd10=False)
    assert "102" not in str(err.value) and "2075" not in str(err.value)


@pytest.mark.parametrize("table", ["DIAGNOSES_ICD.csv", "PROCEDURES_ICD.csv"])
def test_bad_seq_num_is_an_error_not_a_missing_value(copy3, table):
    path = copy3 / table
    lines = path.read_text().splitlines()
    lines[1] = lines[1].replace(",1,", ",1.5,", 1)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(SchemaError, match=rf"{table}: column 'SEQ_NUM', data row 1: value "
                                          r"\(hidden, 3 characters\) is not an integer"):
        read_mimic3(copy3, map_to_icd10=False)


def test_a_stray_delimiter_is_a_parse_error_with_its_line(copy3):
    path = copy3 / "PRESCRIPTIONS.csv"
    lines = path.read_text().splitlines()
    lines[2] += ",surplus"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ParseError, match=r"PRESCRIPTIONS.csv:3: malformed CSV row"):
        read_mimic3(copy3, map_to_icd10=False)
