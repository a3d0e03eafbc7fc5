"""PatientRecords: coercion, validation, privacy of messages, subset/concat, save/load."""

import os
from pathlib import Path

import pandas as pd
import pytest

from graphs.records import TABLE_NAMES, PatientRecords, coerce_table, concat, empty_table
from ontologies.errors import DataNotFoundError, DuplicateIdError, InputError, SchemaError

SECRET = "Patient John Q. Invented reports chest pain"


def tiny() -> PatientRecords:
    rec = PatientRecords.empty()
    rec.patients = pd.DataFrame({"patient_id": ["p1", "p2"], "sex": ["F", "M"],
                                 "birth_date": ["2000-01-01", "1990-06-30"],
                                 "death_date": [None, "2020-02-02"]})
    rec.visits = pd.DataFrame({"patient_id": ["p1", "p2"], "visit_id": ["v1", "v2"],
                               "start": ["2019-01-01 10:00", "2019-05-01"],
                               "end": ["2019-01-03", "2019-05-02"],
                               "visit_type": ["inpatient", "emergency"]})
    rec.diagnoses = pd.DataFrame({"patient_id": ["p1", "p2"], "visit_id": ["v1", "v2"],
                                  "code": ["ICD10CM:E11.9", "ICD10CM:I10"],
                                  "time": ["2019-01-03", "2019-05-02"], "seq_num": [1, None],
                                  "source_code": ["ICD9CM:250.00", "ICD10CM:I10"],
                                  "mapping": ["gem_exact", "direct"]})
    rec.notes = pd.DataFrame({"patient_id": ["p1"], "visit_id": ["v1"], "note_id": ["n1"],
                              "category": ["Discharge summary"], "time": ["2019-01-03"],
                              "text": [SECRET]})
    return rec.validate()


def test_every_table_has_columns_and_dtypes_even_when_empty():
    rec = PatientRecords.empty().validate()
    for name in TABLE_NAMES:
        table = getattr(rec, name)
        assert len(table) == 0
        assert list(table.columns) == list(empty_table(name).columns)
    assert str(rec.patients["patient_id"].dtype) == "string"
    assert str(rec.visits["start"].dtype) == "datetime64[ns]"
    assert str(rec.diagnoses["seq_num"].dtype) == "Int64"
    assert str(rec.observations["value"].dtype) == "float64"


def test_validate_casts_types():
    rec = tiny()
    assert rec.visits["start"].iloc[0] == pd.Timestamp("2019-01-01 10:00")
    assert rec.patients["death_date"].isna().tolist() == [True, False]
    assert rec.diagnoses["seq_num"].tolist()[0] == 1 and rec.diagnoses["seq_num"].isna().iloc[1]


def test_coerce_table_lowercases_names_and_fixes_float_ids():
    df = pd.DataFrame({"Patient_ID": [1.0, 2.0, None], "VISIT_ID": [10, 11, 12],
                       "Start": ["2100-01-01", "2100-01-02", "2100-01-03"],
                       "end": [None] * 3, "visit_type": ["a", "b", ""], "Extra": [1, 2, 3]})
    out = coerce_table(df, "visits")
    assert list(out.columns) == ["patient_id", "visit_id", "start", "end", "visit_type", "extra"]
    assert out["patient_id"].tolist()[:2] == ["1", "2"] and out["patient_id"].isna().iloc[2]
    assert out["visit_id"].tolist() == ["10", "11", "12"]
    assert out["visit_type"].isna().iloc[2]  # blank cells are missing


def test_coerce_table_converts_utc_offsets():
    df = pd.DataFrame({"patient_id": ["a", "b"], "visit_id": ["1", "2"],
                       "start": ["2019-01-05T03:00:00+01:00", "2019-01-05T03:00:00-05:00"],
                       "end": [None, None], "visit_type": [None, None]})
    out = coerce_table(df, "visits")
    assert out["start"].tolist() == [pd.Timestamp("2019-01-05 02:00"),
                                     pd.Timestamp("2019-01-05 08:00")]


def test_missing_column_is_named():
    df = empty_table("visits").drop(columns=["start"])
    with pytest.raises(SchemaError, match=r"visits: missing columns \['start'\]"):
        coerce_table(df, "visits")


def test_uncoercible_values_name_table_column_and_row():
    df = empty_table("observations").reindex(range(3))
    df["patient_id"], df["code"] = "p", "LOINC:8867-4"
    df["value"] = ["1.5", "2", "high"]
    with pytest.raises(SchemaError, match=r"observations: column 'value', row 2: value "
                                          r"\(hidden, 4 characters\) is not a number"):
        coerce_table(df, "observations")
    df["value"] = 1.0
    df["time"] = ["2020-01-01", "31/31/2020", None]
    with pytest.raises(SchemaError, match=r"column 'time', row 1: .*not a date"):
        coerce_table(df, "observations")


def test_dates_outside_pandas_range_are_refused():
    df = tiny().patients.assign(birth_date=["1500-01-01", "2000-01-01"])
    with pytest.raises(SchemaError, match="birth_date', row 0: .*outside"):
        coerce_table(df, "patients")


def test_visit_of_unknown_patient_is_refused_without_showing_the_id():
    rec = tiny()
    rec.visits.loc[1, "patient_id"] = "MRN-0042-SECRET"
    with pytest.raises(SchemaError, match=r"visits: column 'patient_id', row 1: refers to a "
                                          r"patient") as err:
        rec.validate()
    assert "MRN-0042-SECRET" not in str(err.value)


def test_diagnosis_with_unknown_visit_is_refused():
    rec = tiny()
    rec.diagnoses.loc[0, "visit_id"] = "v999"
    with pytest.raises(SchemaError, match=r"diagnoses: column 'visit_id', row 0"):
        rec.validate()


def test_event_visit_of_another_patient_is_refused():
    rec = tiny()
    rec.diagnoses.loc[0, "visit_id"] = "v2"
    with pytest.raises(SchemaError, match="row 0: visit_id belongs to another patient"):
        rec.validate()


def test_duplicate_patient_ids_are_refused_by_row():
    rec = tiny()
    rec.patients.loc[1, "patient_id"] = "p1"
    with pytest.raises(DuplicateIdError, match="rows 0, 1") as err:
        rec.validate()
    assert "'p1'" not in str(err.value)


@pytest.mark.parametrize("table,column,value,match", [
    ("patients", "sex", "X", "'X' is not one of F, M, U"),
    ("diagnoses", "mapping", "guessed", "'guessed' is not one of direct"),
    ("diagnoses", "code", "E11.9", "'E11.9' is not a CURIE"),
])
def test_bad_categories_and_codes_are_named(table, column, value, match):
    rec = tiny()
    getattr(rec, table).loc[0, column] = value
    with pytest.raises(SchemaError, match=match):
        rec.validate()


def test_note_text_never_appears_in_errors():
    rec = tiny()
    # text pasted into the time column, and a bad note id: neither may leak the text
    rec.notes = rec.notes.assign(time=[SECRET])
    with pytest.raises(SchemaError) as err:
        rec.validate()
    assert SECRET not in str(err.value) and "Patient John" not in str(err.value)
    assert "notes: column 'time', row 0" in str(err.value)
    short = "pt ok"
    rec = tiny()
    rec.notes = rec.notes.assign(time=[short])
    with pytest.raises(SchemaError) as err:
        rec.validate()
    assert short not in str(err.value)


def test_subset_keeps_only_the_patients_rows():
    rec = tiny().subset(["p2", "nobody"])
    assert rec.patient_ids == ["p2"]
    assert rec.visits["visit_id"].tolist() == ["v2"]
    assert rec.notes.empty and len(rec.diagnoses) == 1
    rec.validate()


def test_summary_counts_rows_and_mappings():
    summary = tiny().summary()
    assert summary["patients"] == 2 and summary["notes"] == 1 and summary["modalities"] == 0
    assert summary["diagnosis_mapping"] == {"gem_exact": 1, "direct": 1}


def test_concat_stacks_and_duplicates_are_caught():
    a, b = tiny().subset(["p1"]), tiny().subset(["p2"])
    both = concat([a, b]).validate()
    assert sorted(both.patient_ids) == ["p1", "p2"]
    assert PatientRecords.concat([a, b]).summary() == tiny().summary()
    with pytest.raises(DuplicateIdError):
        concat([a, a]).validate()


def test_concat_with_different_roots_makes_modality_paths_absolute(tmp_path):
    parts = []
    for name in ("a", "b"):
        rec = tiny().subset([{"a": "p1", "b": "p2"}[name]])
        rec.root = tmp_path / name
        pid = rec.patient_ids[0]
        rec.modalities = pd.DataFrame({"patient_id": [pid], "visit_id": [None],
                                       "modality": ["image"], "path": ["x.png"], "time": [None]})
        parts.append(rec.validate())
    both = concat(parts).validate()
    assert both.root is None
    second = both.modalities["path"].iloc[1]
    assert both.resolve_path(second) == (tmp_path / "b" / "x.png").resolve()


def test_save_load_round_trip_is_equal(tmp_path, mimic3_records):
    folder = mimic3_records.save(tmp_path / "saved")
    back = PatientRecords.load(folder)
    for name in TABLE_NAMES:
        pd.testing.assert_frame_equal(getattr(back, name), getattr(mimic3_records, name))
    assert back.metadata["format"] == "mimic3"
    assert back.root == mimic3_records.root
    # a second save replaces the folder as a whole, leaving no temporary siblings
    mimic3_records.subset(["101"]).save(folder)
    assert PatientRecords.load(folder).patient_ids == ["101"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["saved"]


def test_load_of_a_wrong_folder_is_a_clear_error(tmp_path):
    with pytest.raises(DataNotFoundError, match="metadata.json is missing"):
        PatientRecords.load(tmp_path)


def test_resolve_path_refuses_escapes(tmp_path):
    root = tmp_path / "data"
    (root / "img").mkdir(parents=True)
    rec = PatientRecords.empty(root=root)
    assert rec.resolve_path("img/a.png") == (root / "img" / "a.png").resolve()
    assert rec.resolve_path(root / "img" / "b.png") == (root / "img" / "b.png").resolve()
    for bad in ("../secret.txt", "img/../../secret.txt", "/etc/passwd", str(tmp_path / "x")):
        with pytest.raises(InputError, match="escapes the records root"):
            rec.resolve_path(bad)


def test_resolve_path_refuses_symlinks_out_of_root(tmp_path):
    root = tmp_path / "data"
    root.mkdir()
    os.symlink(tmp_path, root / "link")
    with pytest.raises(InputError, match="escapes"):
        PatientRecords.empty(root=root).resolve_path("link/outside.txt")


def test_relative_path_without_root_is_refused():
    with pytest.raises(InputError, match="no root"):
        PatientRecords.empty().resolve_path("a.png")
    assert PatientRecords.empty().resolve_path("/tmp/a.png") == Path("/tmp/a.png").resolve()


def _sourced(df, file, rows):
    from graphs.records.columns import SOURCE_FILE, SOURCE_ROW

    return df.assign(**{SOURCE_FILE: [file] * len(df), SOURCE_ROW: rows})


def test_provenance_columns_make_errors_cite_file_and_row():
    rec = tiny()
    rec.patients = _sourced(rec.patients.assign(patient_id=["MRN-1", "MRN-1"]),
                            "PATIENTS.csv", [4, 9])
    with pytest.raises(DuplicateIdError, match=r"PATIENTS.csv: column 'patient_id' \(patients "
                                               r"table\), data rows 4, 9: the same id") as err:
        rec.validate()
    assert "MRN-1" not in str(err.value)
    rec = tiny()
    rec.diagnoses = _sourced(rec.diagnoses.assign(visit_id=["v2", "v2"]), "dx.csv", [3, 5])
    with pytest.raises(SchemaError, match=r"dx.csv: diagnoses table, data row 3: visit_id "
                                          r"belongs to another patient"):
        rec.validate()
    rec = tiny()
    rec.visits = _sourced(rec.visits, "b.json", [2, 7]).assign(start=["2019-01-01", "soon"])
    with pytest.raises(SchemaError, match=r"b.json: column 'start' \(visits table\), entry 7: "
                                          r"value \(hidden, 4 characters\) is not a date"):
        rec.validate()


def test_repeated_ids_across_files_name_every_file():
    rec = tiny()
    rec.patients = rec.patients.assign(patient_id=["p1", "p1"])
    rec.patients = pd.concat([_sourced(rec.patients.iloc[:1], "a.json", [0]),
                              _sourced(rec.patients.iloc[1:], "b.json", [0])])
    with pytest.raises(DuplicateIdError, match=r"column 'patient_id' \(patients table\): "
                                               r"a.json entry 0, b.json entry 0"):
        rec.validate()


def test_patients_without_id_are_refused():
    rec = tiny()
    rec.patients.loc[1, "patient_id"] = None
    with pytest.raises(SchemaError, match=r"patients: column 'patient_id', row 1: empty value"):
        rec.validate()


def test_infinite_values_and_ids_are_refused():
    df = tiny().observations.reindex(range(1))
    df["patient_id"], df["code"], df["value"] = "p1", "LOINC:8867-4", float("inf")
    with pytest.raises(SchemaError, match=r"column 'value', row 0: .*not a finite number"):
        coerce_table(df, "observations")
    ids = pd.DataFrame({"patient_id": [1.0, float("-inf")], "sex": ["F", "M"],
                        "birth_date": [None, None], "death_date": [None, None]})
    with pytest.raises(SchemaError, match=r"column 'patient_id', row 1: value \(hidden"):
        coerce_table(ids, "patients")


@pytest.mark.parametrize("manifest, match", [
    ('{"format_version": 2}', "format_version 2; expected 1"),
    ('{"metadata": [1]}', "'metadata' is a list; expected an object"),
    ('{"root": {"a": 1}}', "'root' is a dict; expected a folder path"),
    ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
])
def test_load_refuses_a_malformed_manifest(tmp_path, manifest, match):
    folder = tiny().save(tmp_path / "rec")
    (folder / "metadata.json").write_text(manifest)
    with pytest.raises(SchemaError, match=match) as err:
        PatientRecords.load(folder)
    assert "metadata.json" in str(err.value)


def test_load_names_the_folder_of_an_invalid_table(tmp_path):
    folder = tiny().save(tmp_path / "rec")
    visits = pd.read_parquet(folder / "visits.parquet").assign(patient_id=["p1", "zz"])
    visits.to_parquet(folder / "visits.parquet")
    with pytest.raises(SchemaError, match=r"rec: the saved records are invalid: visits: "
                                          r"column 'patient_id', row 1: refers to a patient"):
        PatientRecords.load(folder)


def test_resolve_path_errors_do_not_show_the_path(tmp_path):
    rec = PatientRecords.empty(root=tmp_path)
    with pytest.raises(InputError, match=r"a modality path \(\d+ characters\) escapes") as err:
        rec.resolve_path("../files/p10/p10000032/s1.dcm")
    assert "p10000032" not in str(err.value)
    with pytest.raises(InputError, match="no root") as err:
        PatientRecords.empty().resolve_path("p10000032/s1.dcm")
    assert "p10000032" not in str(err.value)
