"""Reader of MIMIC-III v1.4 (``PATIENTS``, ``ADMISSIONS``, ``DIAGNOSES_ICD``, ...).

Point it at the folder of the CSV files (``.csv`` or ``.csv.gz``, names and column
headers in any case). Tables used:

================ =============================================================
PATIENTS         SUBJECT_ID, GENDER, DOB, DOD -> patients
ADMISSIONS       SUBJECT_ID, HADM_ID, ADMITTIME, DISCHTIME, ADMISSION_TYPE -> visits
DIAGNOSES_ICD    SUBJECT_ID, HADM_ID, SEQ_NUM, ICD9_CODE -> diagnoses
PROCEDURES_ICD   SUBJECT_ID, HADM_ID, SEQ_NUM, ICD9_CODE -> procedures (optional)
PRESCRIPTIONS    SUBJECT_ID, HADM_ID, STARTDATE, ENDDATE, DRUG, NDC -> medications (optional)
NOTEEVENTS       ROW_ID, SUBJECT_ID, HADM_ID, CHARTDATE, CHARTTIME, CATEGORY, ISERROR,
                 TEXT -> notes (optional; rows with ISERROR = 1 are dropped)
================ =============================================================

ICD-9 codes are stored without dots and are dotted (``25000`` -> ``ICD9CM:250.00``,
procedures ``3893`` -> ``ICD9PROC:38.93``; malformed codes are dropped and counted).
Diagnoses are mapped to ICD-10-CM through the GEMs (``map_to_icd10=True``; a code with
several GEM targets gives one row per target); ``source_code`` keeps the ICD-9 CURIE.
Diagnoses and
procedures carry no time of their own in MIMIC-III: they get the discharge time, when
the codes are assigned (using admission time would leak them into the visit's start).
Medications are ``NDC:<11 digits>`` when an NDC is recorded, else
``MIMIC3DRUG:<normalised drug name>``.

Big files are read in chunks with only the needed columns; ``patients=`` filters each
chunk, so a subset of NOTEEVENTS needs memory for that subset only.

Examples:
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "PATIENTS.csv").write_text(
    ...     "ROW_ID,SUBJECT_ID,GENDER,DOB,DOD,DOD_HOSP,DOD_SSN,EXPIRE_FLAG\\n"
    ...     "1,10,F,2080-01-01 00:00:00,,,,0\\n")
    >>> _ = (d / "ADMISSIONS.csv").write_text(
    ...     "ROW_ID,SUBJECT_ID,HADM_ID,ADMITTIME,DISCHTIME,DEATHTIME,ADMISSION_TYPE\\n"
    ...     "1,10,100,2150-01-01 08:00:00,2150-01-05 12:00:00,,EMERGENCY\\n")
    >>> _ = (d / "DIAGNOSES_ICD.csv").write_text(
    ...     "ROW_ID,SUBJECT_ID,HADM_ID,SEQ_NUM,ICD9_CODE\\n1,10,100,1,4019\\n")
    >>> rec = read_mimic3(d, map_to_icd10=False)
    >>> rec.diagnoses[["code", "seq_num"]].values.tolist()
    [['ICD9CM:401.9', 1]]
    >>> rec.visits["visit_type"].tolist()
    ['emergency']
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from graphs.records.files import (
    DEFAULT_CHUNKSIZE,
    find_table,
    id_filter,
    parse_dates,
    parse_numbers,
    read_table,
    sourced,
)
from graphs.records.icd import drop_malformed, icd9_curies, map_diagnoses
from graphs.records.normalise import first_present, name_curies, ndc_curies, sex_codes
from graphs.records.registry import READERS, finish
from graphs.records.schema import PatientRecords

__all__ = ["read_mimic3"]

log = logging.getLogger(__name__)


@READERS.register("mimic3")
def read_mimic3(
    folder: str | os.PathLike,
    *,
    patients: Iterable[Any] | None = None,
    map_to_icd10: bool = True,
    notes: bool = True,
    chunksize: int | None = DEFAULT_CHUNKSIZE,
    gem_options: dict[str, Any] | None = None,
    progress: bool = False,
) -> PatientRecords:
    """Reads a MIMIC-III v1.4 folder (see module docstring).

    Args:
        folder: Folder holding the CSV(.gz) tables.
        patients: Optional SUBJECT_IDs to keep (filtered chunk by chunk).
        map_to_icd10: Map ICD-9-CM diagnoses to ICD-10-CM through the GEMs.
        notes: Read NOTEEVENTS when present (the largest table by far).
        chunksize: Rows per chunk (``None`` reads each file at once).
        gem_options: Options for ``ontologies.icd9cm.map_icd9_to_icd10``.
        progress: Show tqdm bars while reading.

    Returns:
        Validated :class:`PatientRecords`; ``metadata`` holds the files read, the mapping
        counts and the rows dropped (empty codes, ISERROR notes, unknown visits).
    """
    folder = Path(folder)
    keep = id_filter(patients)
    opts = {"keep": keep, "chunksize": chunksize, "progress": progress}
    files: dict[str, str] = {}
    dropped: dict[str, int] = {}

    path = find_table(folder, "patients")
    files["patients"] = path.name
    pat = parse_dates(read_table(path, ["subject_id", "gender", "dob"], ["dod"], **opts),
                      ["dob", "dod"], path)
    patients_t = sourced(pd.DataFrame({
        "patient_id": pat["subject_id"], "sex": sex_codes(pat["gender"]),
        "birth_date": pat["dob"], "death_date": pat["dod"]}), path)

    path = find_table(folder, "admissions")
    files["admissions"] = path.name
    adm = parse_dates(read_table(path, ["subject_id", "hadm_id", "admittime", "dischtime"],
                                 ["admission_type"], **opts),
                      ["admittime", "dischtime"], path)
    visits = sourced(pd.DataFrame({
        "patient_id": adm["subject_id"], "visit_id": adm["hadm_id"],
        "start": adm["admittime"], "end": adm["dischtime"],
        "visit_type": adm["admission_type"].str.strip().str.lower()}), path)
    discharge = visits.set_index("visit_id")["end"]
    discharge = discharge[~discharge.index.duplicated()]

    path = find_table(folder, "diagnoses_icd")
    files["diagnoses_icd"] = path.name
    dx = parse_numbers(read_table(path, ["subject_id", "hadm_id", "seq_num", "icd9_code"],
                                  **opts), ["seq_num"], path, integer=True)
    dropped["diagnoses_empty_code"] = int(dx["icd9_code"].isna().sum())
    dx = dx[dx["icd9_code"].notna()]
    diagnoses = sourced(pd.DataFrame({
        "patient_id": dx["subject_id"], "visit_id": dx["hadm_id"],
        "source_code": icd9_curies(dx["icd9_code"], "dx"),
        "time": dx["hadm_id"].map(discharge), "seq_num": dx["seq_num"]}), path)
    diagnoses = drop_malformed(diagnoses, "source_code", dx["icd9_code"], "diagnoses", dropped)
    diagnoses, mapping_counts = map_diagnoses(diagnoses, map_to_icd10, gem_options)

    tables = {"patients": patients_t, "visits": visits, "diagnoses": diagnoses}

    path = find_table(folder, "procedures_icd", required=False)
    if path is not None:
        files["procedures_icd"] = path.name
        pr = parse_numbers(read_table(path, ["subject_id", "hadm_id", "seq_num", "icd9_code"],
                                      **opts), ["seq_num"], path, integer=True)
        dropped["procedures_empty_code"] = int(pr["icd9_code"].isna().sum())
        pr = pr[pr["icd9_code"].notna()]
        procedures = sourced(pd.DataFrame({
            "patient_id": pr["subject_id"], "visit_id": pr["hadm_id"],
            "code": icd9_curies(pr["icd9_code"], "sg"), "time": pr["hadm_id"].map(discharge),
            "seq_num": pr["seq_num"]}), path)
        tables["procedures"] = drop_malformed(procedures, "code", pr["icd9_code"],
                                              "procedures", dropped)

    path = find_table(folder, "prescriptions", required=False)
    if path is not None:
        files["prescriptions"] = path.name
        rx = parse_dates(read_table(path, ["subject_id", "hadm_id", "drug"],
                                    ["startdate", "enddate", "ndc"], **opts),
                         ["startdate", "enddate"], path)
        code = ndc_curies(rx["ndc"]).fillna(name_curies(rx["drug"], "MIMIC3DRUG"))
        dropped["medications_no_code"] = int(code.isna().sum())
        ok = code.notna().to_numpy()
        tables["medications"] = sourced(pd.DataFrame({
            "patient_id": rx["subject_id"], "visit_id": rx["hadm_id"], "code": code,
            "label": rx["drug"].str.strip(), "start": rx["startdate"],
            "end": rx["enddate"]}), path)[ok]

    path = find_table(folder, "noteevents", required=False) if notes else None
    if path is not None:
        files["noteevents"] = path.name
        tables["notes"] = _read_notes(path, keep, chunksize, progress, dropped)

    meta = {"format": "mimic3", "folder": str(folder), "files": files,
            "mapping": mapping_counts, "map_to_icd10": map_to_icd10,
            "dropped": {k: v for k, v in dropped.items() if v}}
    return finish(tables, folder, meta)


def _read_notes(path: Path, keep: Callable | None, chunksize: int | None, progress: bool,
                dropped: dict[str, int]) -> pd.DataFrame:
    errors = {"n": 0}

    def keep_valid(chunk: pd.DataFrame) -> np.ndarray:
        # ISERROR = 1 marks notes a physician flagged as wrong; drop them per chunk
        ok = np.ones(len(chunk), dtype=bool)
        if "iserror" in chunk:
            ok = (chunk["iserror"].fillna("").str.strip() != "1").to_numpy(dtype=bool)
        errors["n"] += int((~ok).sum())
        return ok & keep(chunk) if keep is not None else ok

    nt = read_table(path, ["row_id", "subject_id", "hadm_id", "category", "text"],
                    ["chartdate", "charttime", "iserror"], keep=keep_valid,
                    chunksize=chunksize, progress=progress)
    nt = parse_dates(nt, ["chartdate", "charttime"], path, private=True)
    if errors["n"]:
        dropped["notes_iserror"] = errors["n"]
        log.info("dropped %d NOTEEVENTS rows flagged ISERROR", errors["n"])
    return sourced(pd.DataFrame({
        "patient_id": nt["subject_id"], "visit_id": nt["hadm_id"], "note_id": nt["row_id"],
        "category": nt["category"].str.strip(),
        "time": first_present(nt["charttime"], nt["chartdate"]), "text": nt["text"]}), path)
