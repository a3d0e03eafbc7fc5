"""Privacy: note text and patient identifiers never reach log records or error messages.

A MIMIC-III extract with distinctive identifiers and note text is read with malformed
note rows (a bad date, an unbalanced quote, an orphan admission, an ISERROR flag), a
malformed diagnosis code and a duplicate patient, and then turned into a cohort graph.
Every log record (all loggers, DEBUG and up), every warning and the full printed
traceback of every error raised on the way (chained causes included) is searched for the
note text and the ids.
"""

from __future__ import annotations

import json
import logging
import traceback
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from graphs.cohort import CohortBuilder, CohortConfig
from graphs.cohort.demo import tiny_kg
from graphs.records import read_mimic3
from ontologies.errors import MedKGError, ParseError, SchemaError

SUBJECTS = ("7391846", "7391847")
ADMISSIONS = ("8827361", "8827362", "8827363")
NOTE_IDS = ("5550001", "5550002", "5550003", "5550004")
NOTE_TEXT = ("ZEBRA-PRIVATE-NOTE", "Quetzalcoatl", "warfarin 5mg twice daily")
SECRETS = SUBJECTS + ADMISSIONS + NOTE_IDS + NOTE_TEXT

PATIENTS = ("ROW_ID,SUBJECT_ID,GENDER,DOB,DOD,DOD_HOSP,DOD_SSN,EXPIRE_FLAG\n"
            f"1,{SUBJECTS[0]},F,2075-03-13 00:00:00,,,,0\n"
            f"2,{SUBJECTS[1]},M,2080-01-01 00:00:00,,,,0\n")
ADMITS = ("ROW_ID,SUBJECT_ID,HADM_ID,ADMITTIME,DISCHTIME,ADMISSION_TYPE\n"
          f"1,{SUBJECTS[0]},{ADMISSIONS[0]},2140-01-10 08:00:00,2140-01-14 15:00:00,EMERGENCY\n"
          f"2,{SUBJECTS[1]},{ADMISSIONS[1]},2150-02-01 09:00:00,2150-02-03 10:00:00,ELECTIVE\n")
DIAGNOSES = ("ROW_ID,SUBJECT_ID,HADM_ID,SEQ_NUM,ICD9_CODE\n"
             f"1,{SUBJECTS[0]},{ADMISSIONS[0]},1,25000\n"
             f"2,{SUBJECTS[0]},{ADMISSIONS[0]},2,4019\n"
             f"3,{SUBJECTS[1]},{ADMISSIONS[1]},1,42X9\n")  # malformed: dropped and counted
NOTES_HEAD = "ROW_ID,SUBJECT_ID,HADM_ID,CHARTDATE,CHARTTIME,CATEGORY,ISERROR,TEXT\n"


def note(row_id: str, subject: str, hadm: str, date: str = "2140-01-14", iserror: str = "",
         text: str = NOTE_TEXT[0] + " Mr " + NOTE_TEXT[1] + " takes " + NOTE_TEXT[2]) -> str:
    return f'{row_id},{subject},{hadm},{date},,Discharge summary,{iserror},"{text}"\n'


GOOD_NOTES = (note(NOTE_IDS[0], SUBJECTS[0], ADMISSIONS[0])
              + note(NOTE_IDS[1], SUBJECTS[0], ADMISSIONS[2])  # admission unknown: orphan
              + note(NOTE_IDS[2], SUBJECTS[1], ADMISSIONS[1], iserror="1"))  # flagged wrong


def extract(tmp: Path, **replace: str) -> Path:
    folder = tmp / "mimic3"
    folder.mkdir()
    tables = {"PATIENTS.csv": PATIENTS, "ADMISSIONS.csv": ADMITS,
              "DIAGNOSES_ICD.csv": DIAGNOSES, "NOTEEVENTS.csv": NOTES_HEAD + GOOD_NOTES}
    tables.update({k.replace("_csv", ".csv"): v for k, v in replace.items()})
    for name, text in tables.items():
        (folder / name).write_text(text)
    return folder


class Exposure:
    """Everything a user could see: log records, warnings, printed tracebacks."""

    def __init__(self, caplog: pytest.LogCaptureFixture):
        self.caplog = caplog
        self.texts: list[str] = []

    def run(self, fn: Callable[[], Any], expect: type[BaseException] | None = None) -> Any:
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            try:
                out = fn()
            except MedKGError as err:
                if expect is None or not isinstance(err, expect):
                    raise
                self.texts.append("".join(traceback.format_exception(err)))
                out = err
        self.texts += [str(w.message) for w in seen]
        return out

    def assert_clean(self) -> None:
        records = self.caplog.records
        assert records, "nothing was logged: the test would prove nothing"
        self.texts += [r.getMessage() for r in records]
        self.texts += [self.caplog.text]
        for text in self.texts:
            for secret in SECRETS:
                assert secret not in text, f"{secret!r} leaked into: {text[:300]}"


@pytest.fixture
def exposure(caplog: pytest.LogCaptureFixture) -> Exposure:
    caplog.set_level(logging.DEBUG)  # every logger, every level
    return Exposure(caplog)


def test_reading_and_building_leak_nothing(tmp_path: Path, exposure: Exposure) -> None:
    folder = extract(tmp_path)
    records = exposure.run(lambda: read_mimic3(folder, map_to_icd10=False))
    dropped = records.metadata["dropped"]
    assert dropped["notes_iserror"] == 1 and dropped["diagnoses_malformed_code"] == 1
    assert dropped["notes_unknown_patient_or_visit"] == 1
    assert records.notes["note_id"].tolist() == [NOTE_IDS[0]]  # the data itself is kept
    for config in (CohortConfig(), CohortConfig(unknown_codes="drop", missing="token")):
        cohort = exposure.run(lambda config=config: CohortBuilder(tiny_kg(), config).build(records))
        assert cohort.data["patient"].num_nodes == 2
    exposure.assert_clean()


@pytest.mark.parametrize("name, notes, error, where", [
    ("bad_date", note(NOTE_IDS[3], SUBJECTS[0], ADMISSIONS[0], date="yesterday"), SchemaError,
     "data row 4"),
    ("unbalanced_quote", f'{NOTE_IDS[3]},{SUBJECTS[0]},{ADMISSIONS[0]},2140-01-14,,Nursing,,'
                         f'"{NOTE_TEXT[0]} unterminated\n', ParseError, None),
    ("text_as_date", note(NOTE_IDS[3], SUBJECTS[0], ADMISSIONS[0],
                          date=NOTE_TEXT[1] + " " + NOTE_TEXT[2]), SchemaError, "data row 4"),
])
def test_malformed_note_row_errors_leak_nothing(tmp_path: Path, exposure: Exposure, name: str,
                                                notes: str, error: type, where: str | None
                                                ) -> None:
    folder = extract(tmp_path, NOTEEVENTS_csv=NOTES_HEAD + GOOD_NOTES + notes)
    err = exposure.run(lambda: read_mimic3(folder, map_to_icd10=False), error)
    assert isinstance(err, error)
    assert "NOTEEVENTS.csv" in str(err)  # still says where to look
    if where:
        assert where in str(err)
    exposure.assert_clean()


@pytest.mark.parametrize("table, text, error", [
    ("PATIENTS.csv", PATIENTS + f"3,{SUBJECTS[0]},F,2075-03-13 00:00:00,,,,0\n",
     "DuplicateIdError"),
    ("ADMISSIONS.csv", ADMITS + f"3,{SUBJECTS[1]},{ADMISSIONS[0]},2150-02-01 09:00:00,"
                                "2150-02-03 10:00:00,ELECTIVE\n", "DuplicateIdError"),
    ("PATIENTS.csv", PATIENTS.replace("F,2075", f"{NOTE_TEXT[0]},2075"), None),
    ("DIAGNOSES_ICD.csv", DIAGNOSES.replace(f"1,{SUBJECTS[0]},", f"1,{SUBJECTS[1]},", 1),
     "SchemaError"),  # a visit of another patient
])
def test_identifier_errors_leak_nothing(tmp_path: Path, exposure: Exposure, table: str,
                                        text: str, error: str | None) -> None:
    folder = extract(tmp_path, **{table.replace(".csv", "_csv"): text})
    out = exposure.run(lambda: read_mimic3(folder, map_to_icd10=False), MedKGError)
    if error is not None:
        assert type(out).__name__ == error, out
    exposure.assert_clean()


def test_unknown_codes_error_names_codes_not_patients(tmp_path: Path, exposure: Exposure) -> None:
    records = exposure.run(lambda: read_mimic3(extract(tmp_path), map_to_icd10=False))
    err = exposure.run(lambda: CohortBuilder(tiny_kg(), CohortConfig(unknown_codes="raise"))
                       .build(records), MedKGError)
    assert "ICD9CM:250.00" in str(err)  # the offending code is useful and not private
    exposure.assert_clean()


def test_checker_catches_a_leak(caplog: pytest.LogCaptureFixture) -> None:
    """The checker itself fails when a secret is logged (guards against a vacuous pass)."""
    caplog.set_level(logging.DEBUG)
    exposure = Exposure(caplog)
    logging.getLogger("graphs.records").info("note %s", NOTE_TEXT[1])
    with pytest.raises(AssertionError, match="leaked"):
        exposure.assert_clean()


# ---------------------------------------------------------------------- bad values in a row
def assert_hidden(exposure: Exposure, *values: str) -> None:
    """Neither the secrets nor ``values`` (a bad row's date, id) reach any text shown."""
    texts = exposure.texts + [r.getMessage() for r in exposure.caplog.records]
    texts.append(exposure.caplog.text)
    assert exposure.texts, "no error was captured: the test would prove nothing"
    for text in texts:
        for secret in SECRETS + values:
            assert secret not in text, f"{secret!r} leaked into: {text[:300]}"


@pytest.mark.parametrize("table, old, new, where, hidden", [
    ("PATIENTS.csv", "2080-01-01 00:00:00", "2080-02-30 00:00:00", ("'DOB'", "data row 2"),
     "2080-02-30"),
    ("PATIENTS.csv", "2080-01-01 00:00:00", "1500-01-01 00:00:00", ("'DOB'", "data row 2"),
     "1500-01-01"),
    ("ADMISSIONS.csv", "2150-02-01 09:00:00", "2150-02-31 09:00:00",
     ("'ADMITTIME'", "data row 2"), "2150-02-31"),
    ("DIAGNOSES_ICD.csv", f"{ADMISSIONS[1]},1,", f"{ADMISSIONS[1]},{SUBJECTS[1]}.5,",
     ("'SEQ_NUM'", "data row 3"), f"{SUBJECTS[1]}.5"),  # an id pasted into a number column
], ids=["impossible_dob", "dob_out_of_range", "impossible_admittime", "id_in_seq_num"])
def test_bad_value_errors_name_the_row_not_its_date_or_id(
        tmp_path: Path, exposure: Exposure, table: str, old: str, new: str,
        where: tuple[str, ...], hidden: str) -> None:
    text = {"PATIENTS.csv": PATIENTS, "ADMISSIONS.csv": ADMITS,
            "DIAGNOSES_ICD.csv": DIAGNOSES}[table]
    assert old in text
    folder = extract(tmp_path, **{table.replace(".csv", "_csv"): text.replace(old, new)})
    err = exposure.run(lambda: read_mimic3(folder, map_to_icd10=False), SchemaError)
    assert isinstance(err, SchemaError)
    for part in (table, *where):
        assert part in str(err), str(err)
    assert_hidden(exposure, hidden)


def test_repeated_patient_error_shows_neither_id_nor_birth_date(tmp_path: Path,
                                                                exposure: Exposure) -> None:
    folder = extract(tmp_path, PATIENTS_csv=PATIENTS + f"3,{SUBJECTS[0]},F,2075-03-13 00:00:00"
                                                       ",,,,0\n")
    err = exposure.run(lambda: read_mimic3(folder, map_to_icd10=False), SchemaError)
    assert "PATIENTS.csv" in str(err) and "data rows 1, 3" in str(err)
    assert_hidden(exposure, "2075-03-13")


def test_fhir_bad_birth_date_shows_neither_id_nor_date(tmp_path: Path,
                                                       exposure: Exposure) -> None:
    from graphs.records import read_fhir

    bundle = {"resourceType": "Bundle", "entry": [{"resource": {
        "resourceType": "Patient", "id": f"MRN-{SUBJECTS[0]}", "birthDate": "1970-02-30"}}]}
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(bundle))
    err = exposure.run(lambda: read_fhir(path, map_to_icd10=False), SchemaError)
    assert "bundle.json" in str(err) and "entry 0" in str(err) and "not a date" in str(err)
    assert_hidden(exposure, "1970-02-30")


def test_coerce_table_errors_show_neither_id_nor_date(exposure: Exposure) -> None:
    import pandas as pd

    from graphs.records.columns import coerce_table

    df = pd.DataFrame({"patient_id": [SUBJECTS[0], SUBJECTS[1]], "sex": ["F", "M"],
                       "birth_date": ["2075-03-13", "2080-02-30"], "death_date": [None, None]})
    err = exposure.run(lambda: coerce_table(df, "patients"), SchemaError)
    assert "column 'birth_date', row 1" in str(err)
    assert_hidden(exposure, "2080-02-30", "2075-03-13")
