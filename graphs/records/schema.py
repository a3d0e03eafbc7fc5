"""The patient-record model every records reader returns: :class:`PatientRecords`.

Eight long pandas tables (each may be empty but always has its columns; see
:data:`~graphs.records.columns.TABLES`):

============= ===================================================================
patients      patient_id, sex ("F"/"M"/"U"), birth_date, death_date (NaT if alive)
visits        patient_id, visit_id, start, end, visit_type
diagnoses     patient_id, visit_id, code (CURIE, ICD10CM when mapped), time,
              seq_num (Int64), source_code (CURIE as recorded), mapping
medications   patient_id, visit_id, code (RXNORM:/NDC:/... CURIE), label, start, end
procedures    patient_id, visit_id, code (CURIE), time
observations  patient_id, visit_id, code (e.g. LOINC:8867-4), value (float), unit, time
notes         patient_id, visit_id, note_id, category, time, text
modalities    patient_id, visit_id, modality, path (relative to ``root``), time
============= ===================================================================

Ids are pandas ``"string"`` dtype, times ``datetime64[ns]``. ``mapping`` is one of
``direct``, ``gem_exact``, ``gem_approximate``, ``gem_combination``, ``no_map``.

Examples:
    >>> import pandas as pd
    >>> rec = PatientRecords.empty()
    >>> rec.patients = pd.DataFrame({"patient_id": ["p1"], "sex": ["F"],
    ...                              "birth_date": ["2080-01-01"], "death_date": [None]})
    >>> rec.visits = pd.DataFrame({"patient_id": ["p1"], "visit_id": ["v1"],
    ...     "start": ["2100-01-01"], "end": ["2100-01-03"], "visit_type": ["inpatient"]})
    >>> rec = rec.validate()
    >>> rec.summary()["visits"], rec.patient_ids
    (1, ['p1'])
    >>> rec.visits.loc[0, "start"]
    Timestamp('2100-01-01 00:00:00')
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from graphs.records.columns import (
    MAPPINGS,
    MODALITIES,
    SEXES,
    TABLES,
    coerce_table,
    describe_value,
    empty_table,
    index_of,
    isin,
    locate,
)
from ontologies.atomic import atomic_dir, atomic_write
from ontologies.errors import (
    DataNotFoundError,
    DuplicateIdError,
    InputError,
    ParseError,
    SchemaError,
)

__all__ = ["PatientRecords", "TABLE_NAMES", "coerce_table", "concat", "drop_orphans"]

log = logging.getLogger(__name__)

TABLE_NAMES: tuple[str, ...] = tuple(TABLES)
_EVENT_TABLES = TABLE_NAMES[2:]
_CODE_TABLES = ("diagnoses", "medications", "procedures", "observations")
_CURIE = r"^[A-Za-z][A-Za-z0-9_.-]*:\S+$"
_FORMAT_VERSION = 1


@dataclass
class PatientRecords:
    """Patients, visits and clinical events as long tables (see module docstring).

    Attributes:
        patients, visits, diagnoses, medications, procedures, observations, notes,
            modalities: The tables.
        root: Folder against which relative ``modalities.path`` values resolve.
        metadata: Source format, files read, mapping and drop counts.
    """

    patients: pd.DataFrame = field(default_factory=lambda: empty_table("patients"))
    visits: pd.DataFrame = field(default_factory=lambda: empty_table("visits"))
    diagnoses: pd.DataFrame = field(default_factory=lambda: empty_table("diagnoses"))
    medications: pd.DataFrame = field(default_factory=lambda: empty_table("medications"))
    procedures: pd.DataFrame = field(default_factory=lambda: empty_table("procedures"))
    observations: pd.DataFrame = field(default_factory=lambda: empty_table("observations"))
    notes: pd.DataFrame = field(default_factory=lambda: empty_table("notes"))
    modalities: pd.DataFrame = field(default_factory=lambda: empty_table("modalities"))
    root: Path | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    # ------------------------------------------------------------------ construction
    @classmethod
    def empty(cls, root: str | os.PathLike | None = None) -> PatientRecords:
        """Records with every table empty.

        Examples:
            >>> PatientRecords.empty().summary()["patients"]
            0
        """
        return cls(root=None if root is None else Path(root))

    @classmethod
    def concat(cls, records: list[PatientRecords]) -> PatientRecords:
        """Stacks several records (e.g. one per file) into one; see :func:`concat`."""
        return concat(records)

    # ------------------------------------------------------------------ checks
    def coerce(self) -> PatientRecords:
        """Casts every table to its canonical columns and dtypes (no cross-table checks).

        Returns:
            ``self``.
        """
        for name in TABLE_NAMES:
            setattr(self, name, coerce_table(getattr(self, name), name))
        return self

    def validate(self) -> PatientRecords:
        """Coerces every table and checks ids, categories and cross-table references.

        Returns:
            ``self``, with its tables replaced by their coerced versions.

        Raises:
            SchemaError: A missing column, an uncastable value, an unknown category, a
                visit whose patient is unknown or an event whose visit is unknown. The
                message names table, column and row (the source file and its row when the
                tables carry provenance columns, see
                :func:`~graphs.records.columns.locate`), never an id, a date or note text.
            DuplicateIdError: A patient or visit id occurs twice.
        """
        self.coerce()
        _unique(self.patients, "patients", "patient_id")
        _unique(self.visits, "visits", "visit_id")
        _category(self.patients, "patients", "sex", SEXES)
        _category(self.diagnoses, "diagnoses", "mapping", MAPPINGS)
        _category(self.modalities, "modalities", "modality", MODALITIES)
        for name in _CODE_TABLES:
            _curies(getattr(self, name), name)
        _curies(self.diagnoses, "diagnoses", "source_code")
        for name in TABLE_NAMES:
            _required(getattr(self, name), name, "patient_id")
        _required(self.visits, "visits", "visit_id")
        _required(self.notes, "notes", "note_id")
        _required(self.modalities, "modalities", "path")
        known = self.patients["patient_id"]
        # Ids as row positions (Arrow hash lookups): one pass per column serves both the
        # "known id" check and the visit-owner check, which matters at millions of events.
        patient_of = {name: _positions(getattr(self, name), name, "patient_id", known,
                                       "patients") for name in TABLE_NAMES[1:]}
        visit_owner = np.append(patient_of["visits"], -1)  # position -1: no visit, no owner
        for name in _EVENT_TABLES:
            table = getattr(self, name)
            visit = _positions(table, name, "visit_id", self.visits["visit_id"], "visits")
            owner = visit_owner[visit]
            wrong = (visit >= 0) & (owner != patient_of[name])
            if wrong.any():
                row = int(np.flatnonzero(wrong)[0])
                raise SchemaError(f"{locate(table, name, row)}: visit_id belongs to another "
                                  "patient than the row's patient_id")
        return self

    # ------------------------------------------------------------------ queries
    @property
    def patient_ids(self) -> list[str]:
        """Patient ids in the order of the patients table (unique)."""
        return self.patients["patient_id"].dropna().drop_duplicates().astype(str).tolist()

    def subset(self, patient_ids: list[str] | pd.Series | set[str]) -> PatientRecords:
        """Records restricted to ``patient_ids`` (ids not present are ignored).

        Examples:
            >>> import pandas as pd
            >>> rec = PatientRecords.empty()
            >>> rec.patients = pd.DataFrame({"patient_id": ["a", "b"], "sex": ["F", "M"],
            ...     "birth_date": [None, None], "death_date": [None, None]})
            >>> rec.validate().subset(["b", "zz"]).patient_ids
            ['b']
        """
        keep = pd.Series(list(patient_ids), dtype="string").dropna().unique()
        tables = {
            name: getattr(self, name)[isin(getattr(self, name)["patient_id"], keep)]
            .reset_index(drop=True)
            for name in TABLE_NAMES
        }
        meta = dict(self.metadata, subset_of=len(self.patient_ids))
        return PatientRecords(**tables, root=self.root, metadata=meta)

    def summary(self) -> dict[str, Any]:
        """Row counts per table plus diagnosis mapping counts.

        Examples:
            >>> sorted(PatientRecords.empty().summary())[:3]
            ['diagnoses', 'diagnosis_mapping', 'medications']
        """
        out: dict[str, Any] = {name: int(len(getattr(self, name))) for name in TABLE_NAMES}
        counts = self.diagnoses["mapping"].value_counts(dropna=True)
        out["diagnosis_mapping"] = {str(k): int(v) for k, v in counts.items()}
        return out

    def resolve_path(self, path: str | os.PathLike) -> Path:
        """Absolute path of a modality file, refusing paths that escape :attr:`root`.

        Args:
            path: A ``modalities.path`` value, relative to ``root`` (or absolute inside it).

        Raises:
            InputError: The path leaves ``root`` (``..`` or an absolute path elsewhere),
                or it is relative and there is no ``root``. The message does not show the
                path: record paths often hold patient ids (``files/p10/p10000032/...``).

        Examples:
            >>> import tempfile
            >>> rec = PatientRecords.empty(root=tempfile.mkdtemp())
            >>> rec.resolve_path("img/a.png").name
            'a.png'
            >>> rec.resolve_path("../../etc/passwd")
            Traceback (most recent call last):
            ...
            ontologies.errors.InputError: a modality path (16 characters) escapes the records ...
        """
        raw = Path(path)
        shown = f"a modality path ({len(str(path))} characters)"
        if self.root is None:
            if not raw.is_absolute():
                raise InputError(f"{shown} is relative but the records have no root folder to "
                                 "resolve it against")
            return raw.resolve()
        root = Path(self.root).resolve()
        full = (raw if raw.is_absolute() else root / raw).resolve()
        if not full.is_relative_to(root):
            raise InputError(f"{shown} escapes the records root {str(root)!r}: expected a path "
                             "inside it")
        return full

    # ------------------------------------------------------------------ persistence
    def save(self, folder: str | os.PathLike) -> Path:
        """Writes one parquet file per table plus ``metadata.json``, atomically.

        Args:
            folder: Destination folder (replaced as a whole if it exists).

        Returns:
            The folder.
        """
        folder = Path(folder)
        with atomic_dir(folder) as tmp:
            for name in TABLE_NAMES:
                getattr(self, name).to_parquet(tmp / f"{name}.parquet", index=False)
            meta = {"format_version": _FORMAT_VERSION,
                    "root": None if self.root is None else str(self.root),
                    "metadata": self.metadata}
            with atomic_write(tmp / "metadata.json", "w") as handle:
                json.dump(meta, handle, indent=2, default=str)
        return folder

    @classmethod
    def load(cls, folder: str | os.PathLike) -> PatientRecords:
        """Reads a folder written by :meth:`save` and validates it.

        Raises:
            DataNotFoundError: The folder, ``metadata.json`` or a table file is missing.
            SchemaError: ``metadata.json`` is not the JSON object :meth:`save` writes, or
                a table is invalid (the message names the folder and the table).
            ParseError: A table file is not readable parquet (names the file).

        Examples:
            >>> import tempfile, pathlib
            >>> folder = pathlib.Path(tempfile.mkdtemp()) / "rec"
            >>> _ = PatientRecords.empty().save(folder)
            >>> PatientRecords.load(folder).summary()["visits"]
            0
        """
        folder = Path(folder)
        meta_path = folder / "metadata.json"
        if not meta_path.is_file():
            raise DataNotFoundError(f"{str(folder)!r} is not a saved PatientRecords folder: "
                                    "metadata.json is missing")
        meta = _read_metadata(meta_path)
        tables = {}
        for name in TABLE_NAMES:
            path = folder / f"{name}.parquet"
            if not path.is_file():
                raise DataNotFoundError(f"{str(path)!r} is missing from the saved records")
            try:
                tables[name] = pd.read_parquet(path)
            except (pa.ArrowException, OSError, ValueError) as err:
                raise ParseError(f"not a readable parquet table ({type(err).__name__}); "
                                 "expected a file written by PatientRecords.save",
                                 path=path) from None
        root = meta.get("root")
        rec = cls(**tables, root=None if root is None else Path(root),
                  metadata=meta.get("metadata", {}))
        try:
            return rec.validate()
        except SchemaError as err:
            raise type(err)(f"{folder}: the saved records are invalid: {err}") from None

    def __repr__(self) -> str:
        counts = ", ".join(f"{k}={len(getattr(self, k))}" for k in TABLE_NAMES)
        return f"PatientRecords({counts})"


def _read_metadata(path: Path) -> dict[str, Any]:
    """The manifest written by :meth:`PatientRecords.save`, checked field by field."""
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise SchemaError(f"{path}: not valid JSON ({err.msg} at line {err.lineno})") from None
    except UnicodeDecodeError:
        raise SchemaError(f"{path}: not UTF-8 text; expected the JSON written by "
                          "PatientRecords.save") from None
    except RecursionError:  # json recurses once per nesting level
        raise SchemaError(f"{path}: JSON nested too deeply; expected the manifest written "
                          "by PatientRecords.save") from None
    if not isinstance(meta, dict):
        raise SchemaError(f"{path}: a JSON {type(meta).__name__}; expected an object")
    version = meta.get("format_version", _FORMAT_VERSION)
    if version != _FORMAT_VERSION:
        raise SchemaError(f"{path}: format_version {version!r}; expected {_FORMAT_VERSION}")
    if not isinstance(meta.get("root"), (str, type(None))):
        raise SchemaError(f"{path}: 'root' is a {type(meta['root']).__name__}; expected a "
                          "folder path (text) or null")
    if not isinstance(meta.get("metadata", {}), dict):
        raise SchemaError(f"{path}: 'metadata' is a {type(meta['metadata']).__name__}; "
                          "expected an object")
    return meta


def concat(records: list[PatientRecords]) -> PatientRecords:
    """Stacks records row-wise; duplicate patients are caught by :meth:`~PatientRecords.validate`.

    When the parts have different roots, relative modality paths are made absolute and
    the result has no root.

    Examples:
        >>> import pandas as pd
        >>> a, b = PatientRecords.empty(), PatientRecords.empty()
        >>> a.patients = pd.DataFrame({"patient_id": ["1"], "sex": ["F"],
        ...     "birth_date": [None], "death_date": [None]})
        >>> b.patients = a.patients.assign(patient_id=["2"])
        >>> concat([a, b]).validate().patient_ids
        ['1', '2']
    """
    records = list(records)
    if not records:
        return PatientRecords.empty()
    roots = {None if r.root is None else Path(r.root).resolve() for r in records}
    same_root = len(roots) == 1
    tables = {}
    for name in TABLE_NAMES:
        parts = []
        for rec in records:
            table = coerce_table(getattr(rec, name), name)
            if name == "modalities" and not same_root and len(table):
                table = table.assign(path=_absolute_paths(rec, table["path"]))
            parts.append(table)
        tables[name] = pd.concat(parts, ignore_index=True) if parts else empty_table(name)
    meta = {"sources": [r.metadata for r in records]}
    return PatientRecords(**tables, root=records[0].root if same_root else None, metadata=meta)


def drop_orphans(records: PatientRecords) -> dict[str, int]:
    """Drops event rows whose patient or visit is unknown; returns counts per table.

    Real extracts contain a few such rows (e.g. a note whose admission was removed);
    readers call this before :meth:`PatientRecords.validate` and record the counts.
    Events with a missing ``visit_id`` are kept.
    """
    dropped: dict[str, int] = {}
    patients = records.patients["patient_id"]
    visits = records.visits["visit_id"]
    for name in TABLE_NAMES[1:]:
        table = getattr(records, name)
        bad = ~isin(table["patient_id"], patients)
        if name != "visits":
            bad |= table["visit_id"].notna().to_numpy(dtype=bool) & ~isin(table["visit_id"], visits)
        if bad.any():
            dropped[name] = int(bad.sum())
            setattr(records, name, table[~bad].reset_index(drop=True))
            log.info("dropped %d %s rows with an unknown patient or visit", bad.sum(), name)
    return dropped


def _absolute_paths(rec: PatientRecords, paths: pd.Series) -> pd.Series:
    if rec.root is None:
        return paths
    root = Path(rec.root)
    return paths.map(lambda p: p if pd.isna(p) or Path(p).is_absolute() else str(root / p)) \
        .astype("string")


def _unique(df: pd.DataFrame, table: str, col: str) -> None:
    dup = df[col].duplicated(keep=False) & df[col].notna()
    if dup.any():
        rows = np.flatnonzero(dup.to_numpy())
        first = df[col].iloc[rows[0]]
        same = rows[(df[col].iloc[rows] == first).to_numpy()][:5]
        raise DuplicateIdError(f"{locate(df, table, same, col)}: the same id is repeated; "
                               "ids must be unique")


def _required(df: pd.DataFrame, table: str, col: str) -> None:
    empty = df[col].isna().to_numpy()
    if empty.any():
        raise SchemaError(f"{locate(df, table, int(np.flatnonzero(empty)[0]), col)}: "
                          "empty value; every row needs one")


def _category(df: pd.DataFrame, table: str, col: str, allowed: tuple[str, ...]) -> None:
    bad = ~isin(df[col], allowed)
    if col not in ("sex", "modality"):
        bad &= df[col].notna().to_numpy(dtype=bool)  # only these two are required
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise SchemaError(f"{locate(df, table, row, col)}: "
                          f"{describe_value(table, col, df[col].iloc[row])} is not one of "
                          f"{', '.join(allowed)}")


def _curies(df: pd.DataFrame, table: str, col: str = "code") -> None:
    # a few thousand distinct codes across millions of rows: check each once
    uniq = pd.Series(df[col].dropna().unique(), dtype="string")
    wrong = uniq[~uniq.str.match(_CURIE).fillna(False).to_numpy(dtype=bool)]
    bad = isin(df[col], wrong)
    if col == "code":
        bad |= df[col].isna().to_numpy(dtype=bool)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise SchemaError(f"{locate(df, table, row, col)}: "
                          f"{describe_value(table, col, df[col].iloc[row])} is not a CURIE "
                          "such as 'ICD10CM:E11.9'")


def _positions(df: pd.DataFrame, table: str, col: str, known: pd.Series, where: str
               ) -> np.ndarray:
    """Row of each ``df[col]`` value in ``known`` (-1 if missing); unknown values raise."""
    pos = index_of(df[col], known)
    bad = df[col].notna().to_numpy(dtype=bool) & (pos < 0)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise SchemaError(f"{locate(df, table, row, col)}: refers to a {col.split('_')[0]} "
                          f"that is not in the {where} table ({int(bad.sum())} such rows)")
    return pos
