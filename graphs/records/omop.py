"""Reader of OMOP CDM v5.4 extracts (CSV tables, one file per table).

================== ================================================================
person             person_id, gender_concept_id (8507 M, 8532 F), year_of_birth,
                   month_of_birth, day_of_birth, birth_datetime -> patients
death              person_id, death_date -> patients.death_date (optional)
visit_occurrence   visit_occurrence_id, person_id, visit_concept_id, visit_start_date,
                   visit_end_date -> visits
condition_occurrence  person_id, condition_concept_id, condition_start_date,
                   condition_source_value, condition_source_concept_id,
                   visit_occurrence_id -> diagnoses
drug_exposure      person_id, drug_concept_id, drug_exposure_start_date,
                   drug_exposure_end_date, drug_source_value -> medications (optional)
procedure_occurrence  person_id, procedure_concept_id, procedure_date -> procedures
                   (optional)
measurement        person_id, measurement_concept_id, measurement_date,
                   value_as_number, unit_source_value -> observations (optional)
concept            concept_id, concept_name, vocabulary_id, concept_code (optional;
                   comma- or tab-separated as Athena ships it)
================== ================================================================

With a concept table, concept ids become vocabulary CURIEs (SNOMED -> ``SNOMEDCT:``,
RxNorm -> ``RXNORM:``, ICD10CM -> ``ICD10CM:<dotted>``, LOINC -> ``LOINC:``, ...); only
the concepts the extract uses are kept while reading it. Without one, codes are
``OMOP:<concept_id>``. A row whose standard concept is 0 ("no matching concept") falls
back to its source concept, else to ``OMOPSOURCE:<source value>``, and diagnoses
record mapping ``no_map`` for it (``direct`` otherwise: OMOP has already mapped them).

Examples:
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "person.csv").write_text(
    ...     "person_id,gender_concept_id,year_of_birth\\n1,8532,1960\\n")
    >>> _ = (d / "visit_occurrence.csv").write_text("visit_occurrence_id,person_id,"
    ...     "visit_concept_id,visit_start_date,visit_end_date\\n5,1,9201,2020-01-01,2020-01-03\\n")
    >>> _ = (d / "condition_occurrence.csv").write_text("condition_occurrence_id,person_id,"
    ...     "condition_concept_id,condition_start_date,visit_occurrence_id\\n"
    ...     "9,1,201826,2020-01-02,5\\n")
    >>> rec = read_omop(d)
    >>> rec.diagnoses["code"].tolist(), rec.visits["visit_type"].tolist()
    (['OMOP:201826'], ['inpatient'])
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from graphs.records.columns import isin
from graphs.records.files import (
    DEFAULT_CHUNKSIZE,
    find_table,
    id_filter,
    parse_dates,
    parse_numbers,
    read_table,
    sourced,
)
from graphs.records.icd import icd9_curies, icd10_curies
from graphs.records.normalise import first_present, name_curies
from graphs.records.registry import READERS, finish
from graphs.records.schema import PatientRecords
from ontologies.errors import SchemaError

__all__ = ["read_omop", "VOCABULARY_PREFIXES"]

#: OMOP vocabulary_id -> CURIE prefix; other vocabularies use their id, upper-cased.
VOCABULARY_PREFIXES = {
    "SNOMED": "SNOMEDCT", "RxNorm": "RXNORM", "RxNorm Extension": "RXNORMEXT",
    "ICD10CM": "ICD10CM", "ICD9CM": "ICD9CM", "ICD9Proc": "ICD9PROC", "ICD10PCS": "ICD10PCS",
    "LOINC": "LOINC", "CPT4": "CPT", "HCPCS": "HCPCS", "NDC": "NDC", "ATC": "ATC",
    "UCUM": "UCUM",
}
_GENDER = {"8507": "M", "8532": "F"}
_VISIT_TYPES = {"9201": "inpatient", "9202": "outpatient", "9203": "emergency",
                "262": "emergency_inpatient", "581477": "home", "32037": "intensive_care"}


@READERS.register("omop")
def read_omop(
    folder: str | os.PathLike,
    *,
    patients: Iterable[Any] | None = None,
    concepts: bool = True,
    chunksize: int | None = DEFAULT_CHUNKSIZE,
    progress: bool = False,
) -> PatientRecords:
    """Reads an OMOP CDM v5.4 folder (see module docstring).

    Args:
        folder: Folder of the CDM tables (CSV or CSV.gz, any case).
        patients: Optional person_ids to keep (filtered chunk by chunk).
        concepts: Use the ``concept`` table when present to name codes by vocabulary.
        chunksize: Rows per chunk (``None`` reads each file at once).
        progress: Show tqdm bars while reading.

    Returns:
        Validated :class:`PatientRecords`.
    """
    folder = Path(folder)
    opts = {"keep": id_filter(patients, "person_id"), "chunksize": chunksize,
            "progress": progress}
    files: dict[str, str] = {}
    raw: dict[str, pd.DataFrame] = {}

    def read(name: str, columns: list[str], optional: list[str], dates: list[str],
             required: bool = False, numbers: tuple[str, ...] = ()) -> pd.DataFrame | None:
        path = find_table(folder, name, required=required)
        if path is None:
            return None
        files[name] = path.name
        df = parse_dates(read_table(path, columns, optional, **opts), dates, path)
        return parse_numbers(df, numbers, path)

    person = read("person", ["person_id", "gender_concept_id"],
                  ["year_of_birth", "month_of_birth", "day_of_birth", "birth_datetime"],
                  ["birth_datetime"], required=True)
    death = read("death", ["person_id", "death_date"], [], ["death_date"])
    raw["visits"] = read("visit_occurrence", ["visit_occurrence_id", "person_id",
                         "visit_concept_id", "visit_start_date"],
                         ["visit_end_date", "visit_start_datetime", "visit_end_datetime"],
                         ["visit_start_date", "visit_end_date", "visit_start_datetime",
                          "visit_end_datetime"], required=True)
    raw["diagnoses"] = read("condition_occurrence", ["person_id", "condition_concept_id",
                            "condition_start_date"],
                            ["condition_start_datetime", "condition_source_value",
                             "condition_source_concept_id", "visit_occurrence_id"],
                            ["condition_start_date", "condition_start_datetime"], required=True)
    raw["medications"] = read("drug_exposure", ["person_id", "drug_concept_id",
                              "drug_exposure_start_date"],
                              ["drug_exposure_end_date", "drug_source_value",
                               "drug_source_concept_id", "visit_occurrence_id"],
                              ["drug_exposure_start_date", "drug_exposure_end_date"])
    raw["procedures"] = read("procedure_occurrence", ["person_id", "procedure_concept_id",
                             "procedure_date"],
                             ["procedure_source_value", "procedure_source_concept_id",
                              "visit_occurrence_id"], ["procedure_date"])
    raw["observations"] = read("measurement", ["person_id", "measurement_concept_id",
                               "measurement_date"],
                               ["value_as_number", "unit_source_value",
                                "measurement_source_value", "measurement_source_concept_id",
                                "visit_occurrence_id"], ["measurement_date"],
                               numbers=("value_as_number",))

    vocab = _Vocabulary(folder if concepts else None, raw, chunksize, progress)
    if vocab.path is not None:
        files["concept"] = vocab.path.name

    born = _birth_dates(person, Path(files["person"]))
    dead = pd.Series(pd.NaT, index=person.index, dtype="datetime64[ns]")
    if death is not None:
        first = death.dropna(subset=["death_date"]).groupby("person_id")["death_date"].min()
        dead = person["person_id"].map(first)
    tables = {"patients": pd.DataFrame({
        "patient_id": person["person_id"],
        "sex": person["gender_concept_id"].str.strip().map(_GENDER).fillna("U"),
        "birth_date": born, "death_date": dead})}

    v = raw["visits"]
    known_type = v["visit_concept_id"].str.strip().map(_VISIT_TYPES)
    tables["visits"] = pd.DataFrame({
        "patient_id": v["person_id"], "visit_id": v["visit_occurrence_id"],
        "start": first_present(v["visit_start_datetime"], v["visit_start_date"]),
        "end": first_present(v["visit_end_datetime"], v["visit_end_date"]),
        "visit_type": known_type.fillna(vocab.names(v["visit_concept_id"]).str.lower())
        .fillna(vocab.codes(v["visit_concept_id"]))})

    dropped: dict[str, int] = {}
    c = raw["diagnoses"]
    code, source, mapped = _codes(vocab, c, "condition", "OMOPSOURCE")
    dx = pd.DataFrame({
        "patient_id": c["person_id"], "visit_id": c["visit_occurrence_id"], "code": code,
        "time": first_present(c["condition_start_datetime"], c["condition_start_date"]),
        "seq_num": pd.array([pd.NA] * len(c), dtype="Int64"), "source_code": source,
        "mapping": pd.Series("direct", index=c.index).where(mapped, "no_map")})
    tables["diagnoses"] = _keep_coded(dx, "diagnoses", dropped)

    if raw["medications"] is not None:
        d = raw["medications"]
        code, _, _ = _codes(vocab, d, "drug", "OMOPSOURCE")
        label = vocab.names(d["drug_concept_id"]).fillna(d["drug_source_value"])
        tables["medications"] = _keep_coded(pd.DataFrame({
            "patient_id": d["person_id"], "visit_id": d["visit_occurrence_id"], "code": code,
            "label": label, "start": d["drug_exposure_start_date"],
            "end": d["drug_exposure_end_date"]}), "medications", dropped)
    if raw["procedures"] is not None:
        p = raw["procedures"]
        code, _, _ = _codes(vocab, p, "procedure", "OMOPSOURCE")
        tables["procedures"] = _keep_coded(pd.DataFrame({
            "patient_id": p["person_id"], "visit_id": p["visit_occurrence_id"], "code": code,
            "time": p["procedure_date"]}), "procedures", dropped)
    if raw["observations"] is not None:
        m = raw["observations"]
        code, _, _ = _codes(vocab, m, "measurement", "OMOPSOURCE")
        tables["observations"] = _keep_coded(pd.DataFrame({
            "patient_id": m["person_id"], "visit_id": m["visit_occurrence_id"], "code": code,
            "value": m["value_as_number"], "unit": m["unit_source_value"],
            "time": m["measurement_date"]}), "observations", dropped)

    source = {"patients": "person", "visits": "visit_occurrence",
              "diagnoses": "condition_occurrence", "medications": "drug_exposure",
              "procedures": "procedure_occurrence", "observations": "measurement"}
    tables = {name: sourced(table, files[source[name]]) for name, table in tables.items()}
    counts = tables["diagnoses"]["mapping"].value_counts()
    meta = {"format": "omop", "folder": str(folder), "files": files,
            "mapping": {str(k): int(v) for k, v in counts.items()},
            "concept_table": vocab.path is not None, "dropped": dropped}
    return finish(tables, folder, meta)


class _Vocabulary:
    """Concept id -> CURIE and name, from the rows of ``concept`` the extract uses."""

    def __init__(self, folder: Path | None, raw: dict[str, pd.DataFrame | None],
                 chunksize: int | None, progress: bool):
        self.path = None if folder is None else find_table(folder, "concept", required=False)
        self.curie = pd.Series(dtype="string")
        self.name = pd.Series(dtype="string")
        if self.path is None:
            return
        used = pd.concat([df[col] for df in raw.values() if df is not None
                          for col in df.columns if col.endswith("concept_id")])
        wanted = pd.Index(used.dropna().str.strip().unique())
        concept = read_table(self.path, ["concept_id", "vocabulary_id", "concept_code"],
                             ["concept_name"], keep=lambda ch: isin(ch["concept_id"], wanted),
                             chunksize=chunksize, progress=progress)
        concept = concept.drop_duplicates("concept_id").set_index("concept_id")
        vocab = concept["vocabulary_id"].astype("string").str.strip()
        code = concept["concept_code"].astype("string").str.strip()
        prefix = vocab.map(VOCABULARY_PREFIXES).fillna(
            vocab.str.upper().str.replace(r"[^A-Z0-9]", "", regex=True))
        curie = (prefix + ":" + code).astype("string")
        icd10 = (vocab == "ICD10CM").fillna(False)
        curie[icd10] = icd10_curies(code[icd10])
        icd9 = (vocab == "ICD9CM").fillna(False)
        curie[icd9] = icd9_curies(code[icd9], "dx")
        icd9p = (vocab == "ICD9Proc").fillna(False)
        curie[icd9p] = icd9_curies(code[icd9p], "sg")
        self.curie = curie
        self.name = concept["concept_name"].astype("string")

    def codes(self, ids: pd.Series) -> pd.Series:
        """CURIEs of concept ids (``OMOP:<id>`` when unknown); NA for 0 or missing."""
        key = ids.astype("string").str.strip()
        out = key.map(self.curie).astype("string").fillna("OMOP:" + key)
        return out.where((key != "0").fillna(False))

    def names(self, ids: pd.Series) -> pd.Series:
        return ids.astype("string").str.strip().map(self.name).astype("string")


def _codes(vocab: _Vocabulary, df: pd.DataFrame, domain: str,
           fallback: str) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Standard code (falling back to the source), source code, and whether mapped."""
    standard = vocab.codes(df[f"{domain}_concept_id"])
    source = vocab.codes(df[f"{domain}_source_concept_id"]) \
        if f"{domain}_source_concept_id" in df else pd.Series(pd.NA, index=df.index)
    value_col = f"{domain}_source_value"
    if value_col in df:
        source = source.fillna(name_curies(df[value_col], fallback, lower=False))
    source = source.astype("string")
    mapped = standard.notna()
    return standard.fillna(source), source.fillna(standard), mapped


def _keep_coded(df: pd.DataFrame, name: str, dropped: dict[str, int]) -> pd.DataFrame:
    ok = df["code"].notna()
    if not ok.all():
        dropped[f"{name}_no_code"] = int((~ok).sum())
    return df[ok.to_numpy(dtype=bool)]


def _birth_dates(person: pd.DataFrame, path: Path) -> pd.Series:
    """birth_datetime, else the date from year/month/day of birth (month and day default to 1).

    Parts that are not whole numbers, out of range or that make no date (30 February) are
    errors naming the column and data row; the values are not shown (they date a person).
    """
    parse_numbers(person, ["year_of_birth", "month_of_birth", "day_of_birth"], path,
                  integer=True)
    year, month, day = (person[c] for c in ("year_of_birth", "month_of_birth",
                                            "day_of_birth"))
    low, high = pd.Timestamp.min.year + 1, pd.Timestamp.max.year
    frame = pd.DataFrame({"year": year, "month": month.fillna(1), "day": day.fillna(1)})
    known = frame.dropna()  # no year: no date from the parts
    ok = known["month"].between(1, 12) & known["day"].between(1, 31)
    from_parts = pd.to_datetime(known[ok], errors="coerce").reindex(frame.index)
    for where, bad, expected in (
            ("column 'year_of_birth'", ~year.between(low, high),
             f"value is not a year in {low}..{high}"),
            ("column 'month_of_birth'", ~month.between(1, 12), "value is not a month (1..12)"),
            ("column 'day_of_birth'", ~day.between(1, 31),
             "value is not a day of the month (1..31)"),
            ("columns 'year_of_birth', 'month_of_birth', 'day_of_birth'",
             year.notna() & from_parts.isna(), "the values make no date")):
        bad = bad.fillna(False).to_numpy(dtype=bool)  # missing parts are not errors
        if bad.any():
            row = person.index[int(np.flatnonzero(bad)[0])]
            raise SchemaError(f"{path.name}: {where}, data row {row}: {expected}")
    return person["birth_datetime"].astype("datetime64[ns]").fillna(from_parts)
