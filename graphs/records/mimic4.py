"""Reader of MIMIC-IV (``hosp`` module, plus the ``note`` module when present).

Point it at the MIMIC-IV folder (with ``hosp/`` and optionally ``note/`` sub-folders) or
directly at a folder holding the tables. Tables used (CSV or CSV.gz, any case):

================ ==================================================================
patients         subject_id, gender, anchor_age, anchor_year, dod -> patients
admissions       subject_id, hadm_id, admittime, dischtime, admission_type -> visits
diagnoses_icd    subject_id, hadm_id, seq_num, icd_code, icd_version -> diagnoses
procedures_icd   subject_id, hadm_id, seq_num, chartdate, icd_code, icd_version
                 -> procedures (optional)
prescriptions    subject_id, hadm_id, starttime, stoptime, drug, ndc -> medications
                 (optional)
note/discharge   note_id, subject_id, hadm_id, note_type, charttime, text -> notes
note/radiology   (same columns; both optional)
================ ==================================================================

MIMIC-IV gives no birth date, only the age (``anchor_age``) in a shifted year
(``anchor_year``); ``birth_date`` is approximated as 1 January of
``anchor_year - anchor_age`` (off by up to a year; ages above 89 are recorded as 91); a
fractional or negative age, or a year pandas cannot hold, is an error naming the row.
ICD-10 codes are stored without dots (``E119`` -> ``ICD10CM:E11.9``); ICD-10-PCS
procedure codes become ``ICD10PCS:<code>``. ICD-9 codes are dotted (procedures as
``ICD9PROC:``) and, for diagnoses,
mapped to ICD-10-CM through the GEMs as for MIMIC-III. Diagnoses get the discharge time
(when they are coded). Medications are ``NDC:<11 digits>`` when an NDC is recorded,
else ``MIMIC4DRUG:<normalised drug name>``.

Examples:
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> (d / "hosp").mkdir()
    >>> _ = (d / "hosp" / "patients.csv").write_text(
    ...     "subject_id,gender,anchor_age,anchor_year,anchor_year_group,dod\\n"
    ...     "10000032,F,52,2180,2014 - 2016,\\n")
    >>> _ = (d / "hosp" / "admissions.csv").write_text(
    ...     "subject_id,hadm_id,admittime,dischtime,deathtime,admission_type\\n"
    ...     "10000032,22595853,2180-05-06 22:23:00,2180-05-07 17:15:00,,URGENT\\n")
    >>> _ = (d / "hosp" / "diagnoses_icd.csv").write_text(
    ...     "subject_id,hadm_id,seq_num,icd_code,icd_version\\n10000032,22595853,1,E119,10\\n")
    >>> rec = read_mimic4(d)
    >>> rec.diagnoses[["code", "mapping"]].values.tolist()
    [['ICD10CM:E11.9', 'direct']]
    >>> rec.patients.loc[0, "birth_date"]
    Timestamp('2128-01-01 00:00:00')
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from graphs.records.columns import describe_value
from graphs.records.files import (
    DEFAULT_CHUNKSIZE,
    find_table,
    id_filter,
    parse_dates,
    parse_numbers,
    read_table,
    sourced,
)
from graphs.records.icd import drop_malformed, icd9_curies, icd10_curies, map_diagnoses
from graphs.records.normalise import name_curies, ndc_curies, sex_codes
from graphs.records.registry import READERS, finish
from graphs.records.schema import PatientRecords
from ontologies.errors import SchemaError

__all__ = ["read_mimic4"]

log = logging.getLogger(__name__)

_HOSP = ("hosp", "")
_NOTE = ("note", "")
_NOTE_TABLES = ("discharge", "radiology")


@READERS.register("mimic4")
def read_mimic4(
    folder: str | os.PathLike,
    *,
    patients: Iterable[Any] | None = None,
    map_to_icd10: bool = True,
    notes: bool = True,
    note_folder: str | os.PathLike | None = None,
    chunksize: int | None = DEFAULT_CHUNKSIZE,
    gem_options: dict[str, Any] | None = None,
    progress: bool = False,
) -> PatientRecords:
    """Reads a MIMIC-IV folder (see module docstring).

    Args:
        folder: MIMIC-IV root (with ``hosp/``) or the folder of the hosp tables.
        patients: Optional subject_ids to keep (filtered chunk by chunk).
        map_to_icd10: Map ICD-9-CM diagnoses to ICD-10-CM through the GEMs.
        notes: Read the note module (discharge and radiology notes) when present.
        note_folder: Where the note module lives if not under ``folder``.
        chunksize: Rows per chunk (``None`` reads each file at once).
        gem_options: Options for ``ontologies.icd9cm.map_icd9_to_icd10``.
        progress: Show tqdm bars while reading.

    Returns:
        Validated :class:`PatientRecords`.
    """
    folder = Path(folder)
    keep = id_filter(patients)
    opts = {"keep": keep, "chunksize": chunksize, "progress": progress}
    files: dict[str, str] = {}
    dropped: dict[str, int] = {}

    path = find_table(folder, "patients", _HOSP)
    files["patients"] = _rel(path, folder)
    pat = parse_dates(read_table(path, ["subject_id", "gender", "anchor_age", "anchor_year"],
                                 ["dod"], **opts), ["dod"], path)
    patients_t = sourced(pd.DataFrame({
        "patient_id": pat["subject_id"], "sex": sex_codes(pat["gender"]),
        "birth_date": _birth_dates(pat, path), "death_date": pat["dod"]}), path)

    path = find_table(folder, "admissions", _HOSP)
    files["admissions"] = _rel(path, folder)
    adm = parse_dates(read_table(path, ["subject_id", "hadm_id", "admittime", "dischtime"],
                                 ["admission_type"], **opts), ["admittime", "dischtime"], path)
    visits = sourced(pd.DataFrame({
        "patient_id": adm["subject_id"], "visit_id": adm["hadm_id"],
        "start": adm["admittime"], "end": adm["dischtime"],
        "visit_type": adm["admission_type"].str.strip().str.lower()}), path)
    discharge = visits.drop_duplicates("visit_id").set_index("visit_id")["end"]

    path = find_table(folder, "diagnoses_icd", _HOSP)
    files["diagnoses_icd"] = _rel(path, folder)
    dx = parse_numbers(read_table(path, ["subject_id", "hadm_id", "seq_num", "icd_code",
                                         "icd_version"], **opts), ["seq_num"], path, integer=True)
    dropped["diagnoses_empty_code"] = int(dx["icd_code"].isna().sum())
    dx = dx[dx["icd_code"].notna()]
    is9 = _is_icd9(dx, path)
    source = icd10_curies(dx["icd_code"]).where(~is9, icd9_curies(dx["icd_code"], "dx"))
    diagnoses = sourced(pd.DataFrame({
        "patient_id": dx["subject_id"], "visit_id": dx["hadm_id"], "source_code": source,
        "time": dx["hadm_id"].map(discharge), "seq_num": dx["seq_num"]}), path)
    diagnoses = drop_malformed(diagnoses, "source_code", dx["icd_code"], "diagnoses", dropped)
    diagnoses, mapping_counts = map_diagnoses(diagnoses, map_to_icd10, gem_options)
    tables = {"patients": patients_t, "visits": visits, "diagnoses": diagnoses}

    path = find_table(folder, "procedures_icd", _HOSP, required=False)
    if path is not None:
        files["procedures_icd"] = _rel(path, folder)
        pr = read_table(path, ["subject_id", "hadm_id", "icd_code", "icd_version"],
                        ["seq_num", "chartdate"], **opts)
        pr = parse_numbers(parse_dates(pr, ["chartdate"], path), ["seq_num"], path,
                           integer=True)
        dropped["procedures_empty_code"] = int(pr["icd_code"].isna().sum())
        pr = pr[pr["icd_code"].notna()]
        is9 = _is_icd9(pr, path)
        code = icd10_curies(pr["icd_code"], "ICD10PCS").where(
            ~is9, icd9_curies(pr["icd_code"], "sg"))
        procedures = sourced(pd.DataFrame({
            "patient_id": pr["subject_id"], "visit_id": pr["hadm_id"], "code": code,
            "time": pr["chartdate"].fillna(pr["hadm_id"].map(discharge)),
            "seq_num": pr["seq_num"]}), path)
        tables["procedures"] = drop_malformed(procedures, "code", pr["icd_code"],
                                              "procedures", dropped)

    path = find_table(folder, "prescriptions", _HOSP, required=False)
    if path is not None:
        files["prescriptions"] = _rel(path, folder)
        rx = parse_dates(read_table(path, ["subject_id", "hadm_id", "drug"],
                                    ["starttime", "stoptime", "ndc"], **opts),
                         ["starttime", "stoptime"], path)
        code = ndc_curies(rx["ndc"]).fillna(name_curies(rx["drug"], "MIMIC4DRUG"))
        dropped["medications_no_code"] = int(code.isna().sum())
        tables["medications"] = sourced(pd.DataFrame({
            "patient_id": rx["subject_id"], "visit_id": rx["hadm_id"], "code": code,
            "label": rx["drug"].str.strip(), "start": rx["starttime"],
            "end": rx["stoptime"]}), path)[code.notna().to_numpy()]

    if notes:
        note_parts = []
        base = Path(note_folder) if note_folder is not None else folder
        for name in _NOTE_TABLES:
            path = find_table(base, name, _NOTE, required=False)
            if path is None:
                continue
            files[f"note/{name}"] = _rel(path, base)
            nt = read_table(path, ["note_id", "subject_id", "hadm_id", "text"],
                            ["note_type", "charttime"], **opts)
            nt = parse_dates(nt, ["charttime"], path, private=True)
            note_parts.append(sourced(pd.DataFrame({
                "patient_id": nt["subject_id"], "visit_id": nt["hadm_id"],
                "note_id": nt["note_id"], "category": nt["note_type"].fillna(name),
                "time": nt["charttime"], "text": nt["text"]}), path))
        if note_parts:
            tables["notes"] = pd.concat(note_parts, ignore_index=True)

    meta = {"format": "mimic4", "folder": str(folder), "files": files,
            "mapping": mapping_counts, "map_to_icd10": map_to_icd10,
            "birth_date": "approximated as 1 January of anchor_year - anchor_age",
            "dropped": {k: v for k, v in dropped.items() if v}}
    return finish(tables, folder, meta)


def _rel(path: Path, folder: Path) -> str:
    return path.relative_to(folder).as_posix()


def _is_icd9(df: pd.DataFrame, path: Path) -> pd.Series:
    version = df["icd_version"].str.strip()
    bad = ~version.isin(["9", "10"]).fillna(False)
    if bad.any():
        row = df.index[int(np.flatnonzero(bad.to_numpy())[0])]
        shown = describe_value(path.name, "icd_version", df["icd_version"].loc[row])
        raise SchemaError(f"{path.name}: column 'icd_version', data row {row}: {shown} is not "
                          "9 or 10")
    return version == "9"


def _birth_dates(pat: pd.DataFrame, path: Path) -> pd.Series:
    """1 January of ``anchor_year - anchor_age``; bad values are errors (never NaT)."""
    parse_numbers(pat, ["anchor_age", "anchor_year"], path, integer=True)
    age, year = pat["anchor_age"], pat["anchor_year"]
    born = year - age
    low, high = pd.Timestamp.min.year + 1, pd.Timestamp.max.year
    for col, bad, expected in (
            ("anchor_age", age < 0, "value is negative: expected an age in years"),
            ("anchor_year", born.notna() & ~born.between(low, high),
             f"anchor_year - anchor_age is outside the years pandas can hold ({low}..{high})")):
        bad = bad.fillna(False).to_numpy(dtype=bool)
        if bad.any():
            row = pat.index[int(np.flatnonzero(bad)[0])]
            # ages and (shifted) years date a patient: say what is wrong, not the value
            raise SchemaError(f"{path.name}: column {col!r}, data row {row}: {expected}")
    text = born.astype("string") + "-01-01"
    return pd.to_datetime(text, format="%Y-%m-%d").astype("datetime64[ns]")
