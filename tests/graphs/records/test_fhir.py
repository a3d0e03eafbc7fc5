"""FHIR R4 bundle reader on tests/fixtures/fhir (Synthea-style transaction bundles)."""

import json
import shutil

import pandas as pd
import pytest

from graphs.records import read_fhir, read_records
from ontologies.errors import (
    DataNotFoundError,
    DuplicateIdError,
    InputError,
    ParseError,
    SchemaError,
)

ALPHA = "3f1c2b9e-0001-4a7b-9c1d-000000000001"


@pytest.fixture(scope="module")
def fhir(fixtures):
    return read_fhir(fixtures / "fhir", map_to_icd10=False)


def test_counts_per_table(fhir):
    s = fhir.summary()
    assert (s["patients"], s["visits"], s["diagnoses"], s["medications"], s["observations"],
            s["procedures"]) == (2, 3, 4, 2, 3, 1)
    assert fhir.metadata["bundles_without_patient"] == 1
    assert fhir.metadata["dropped"] == {"diagnoses_unknown_system": 1}


def test_references_resolve_to_ids_and_times_to_utc(fhir):
    v = fhir.visits.set_index("visit_id")
    assert set(v["patient_id"]) == {ALPHA, "3f1c2b9e-0002-4a7b-9c1d-000000000002"}
    assert v.loc["3f1c2b9e-0001-4a7b-9c1d-0000000000e1", "start"] == \
        pd.Timestamp("2015-03-01 14:00:00")  # 09:00 at -05:00
    assert v["visit_type"].tolist() == ["ambulatory", "inpatient", "emergency"]
    dx = fhir.diagnoses
    assert dx["visit_id"].notna().all()


def test_codings_become_curies(fhir):
    assert set(fhir.diagnoses["code"]) == {"SNOMEDCT:900000201", "ICD10CM:E11.9",
                                           "ICD10CM:I10", "ICD10CM:I50.9"}
    med = fhir.medications.set_index("code")
    assert med.loc["RXNORM:6809", "label"] == "metformin"
    assert "RXNORM:29046" in med.index  # via medicationReference -> Medication
    obs = fhir.observations.set_index("code")
    assert obs.loc["LOINC:8480-6", "value"] == 128.5  # blood pressure component
    assert obs.loc["LOINC:8867-4", "unit"] == "/min"
    assert fhir.patients.set_index("patient_id").loc[ALPHA, "sex"] == "F"


def test_single_file_and_patient_subset(fixtures):
    one = fixtures / "fhir" / "Invented_Alpha_3f1c2b9e-0001.json"
    assert read_records("fhir", one, map_to_icd10=False).patient_ids == [ALPHA]
    rec = read_fhir(fixtures / "fhir", patients=[ALPHA], map_to_icd10=False)
    assert rec.patient_ids == [ALPHA] and rec.summary()["diagnoses"] == 2


def _copy(tmp_path, fixtures):
    shutil.copytree(fixtures / "fhir", tmp_path / "f")
    return tmp_path / "f", tmp_path / "f" / "Invented_Alpha_3f1c2b9e-0001.json"


def test_invalid_json_names_file_and_line(tmp_path, fixtures):
    folder, path = _copy(tmp_path, fixtures)
    path.write_text('{"resourceType": "Bundle",\n "entry": [}\n')
    with pytest.raises(ParseError, match=r"Invented_Alpha_3f1c2b9e-0001.json:2: invalid JSON"):
        read_fhir(folder)


def test_malformed_entry_names_file_and_entry_index(tmp_path, fixtures):
    folder, path = _copy(tmp_path, fixtures)
    bundle = json.loads(path.read_text())
    del bundle["entry"][3]["resource"]["resourceType"]
    path.write_text(json.dumps(bundle))
    with pytest.raises(ParseError, match=r"0001.json: entry 3: expected an object"):
        read_fhir(folder)
    bundle = json.loads(path.read_text())
    bundle["entry"][3]["resource"]["resourceType"] = "Condition"
    bundle["entry"][3]["resource"]["subject"] = "not a reference"
    path.write_text(json.dumps(bundle))
    with pytest.raises(ParseError, match=r"entry 3 \(Condition\): malformed resource"):
        read_fhir(folder)


def test_not_a_bundle_and_size_limit(tmp_path, fixtures):
    folder, path = _copy(tmp_path, fixtures)
    with pytest.raises(InputError, match="max_bytes"):
        read_fhir(folder, max_bytes=100)
    path.write_text('{"resourceType": "Patient", "id": "x"}')
    with pytest.raises(ParseError, match="expected a JSON object with resourceType 'Bundle'"):
        read_fhir(folder)
    with pytest.raises(DataNotFoundError):
        read_fhir(tmp_path / "nothing-here")


def _edit(path, change):
    bundle = json.loads(path.read_text())
    change(bundle["entry"])
    path.write_text(json.dumps(bundle))


@pytest.mark.parametrize("value", ["Infinity", "-Infinity", "NaN"])
def test_non_json_numbers_are_refused(tmp_path, fixtures, value):
    folder, path = _copy(tmp_path, fixtures)
    path.write_text(path.read_text().replace('"value": 72', f'"value": {value}', 1))
    assert value in path.read_text()
    with pytest.raises(ParseError, match=rf"0001.json: '{value}' is not a JSON number"):
        read_fhir(folder, map_to_icd10=False)


@pytest.mark.parametrize("value", [1e400, True, 10**400])
def test_infinite_or_boolean_quantities_are_refused(tmp_path, fixtures, value):
    folder, path = _copy(tmp_path, fixtures)
    text = json.dumps(value) if value != 1e400 else "1e400"
    path.write_text(path.read_text().replace('"value": 72', f'"value": {text}', 1))
    with pytest.raises(ParseError, match=r"entry 7 \(Observation\): .*not a finite number"):
        read_fhir(folder, map_to_icd10=False)


def test_bad_dates_name_file_and_entry_not_the_value(tmp_path, fixtures):
    folder, path = _copy(tmp_path, fixtures)
    _edit(path, lambda e: e[4]["resource"].update(onsetDateTime="2019-02-30"))
    with pytest.raises(SchemaError, match=r"Invented_Alpha_3f1c2b9e-0001.json: column 'time' "
                                          r"\(diagnoses table\), entry 4: value \(hidden, "
                                          r"10 characters\) is not a date") as err:
        read_fhir(folder, map_to_icd10=False)
    assert "2019-02-30" not in str(err.value)


def test_a_patient_in_two_bundles_names_both_files_not_the_id(tmp_path, fixtures):
    folder, path = _copy(tmp_path, fixtures)
    beta = folder / "Invented_Beta_3f1c2b9e-0002.json"
    _edit(beta, lambda e: e[0]["resource"].update(id=ALPHA))
    with pytest.raises(DuplicateIdError, match=r"column 'patient_id' \(patients table\): "
                                               r"Invented_Alpha_3f1c2b9e-0001.json entry 0, "
                                               r"Invented_Beta_3f1c2b9e-0002.json entry 0") as err:
        read_fhir(folder, map_to_icd10=False)
    assert ALPHA not in str(err.value)
