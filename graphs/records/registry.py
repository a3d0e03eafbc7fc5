"""The records-reader registry: ``read_records(format, folder, **options)``.

Each reader module registers itself in :data:`READERS` when :mod:`graphs.records` is
imported; a reader is a function ``(folder, **options) -> PatientRecords``.

Examples:
    >>> import graphs.records
    >>> READERS.names()
    ['fhir', 'mimic3', 'mimic4', 'omop']
    >>> read_records("mimic5", ".")
    Traceback (most recent call last):
    ...
    ontologies.errors.UnknownNameError: unknown records reader 'mimic5': expected one of fhir, ...
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import pandas as pd

from graphs.records.columns import SOURCE_FILE, SOURCE_ROW
from graphs.records.schema import TABLE_NAMES, PatientRecords, drop_orphans
from ontologies.registry import Registry

__all__ = ["READERS", "read_records", "finish"]

log = logging.getLogger(__name__)

#: Readers by format name.
READERS: Registry = Registry("records reader")


def read_records(format: str, folder: str | os.PathLike, **options: Any) -> PatientRecords:
    """Reads a records extract with the reader registered as ``format``.

    Args:
        format: ``"mimic3"``, ``"mimic4"``, ``"omop"`` or ``"fhir"`` (case-insensitive).
        folder: The extract's folder.
        **options: Passed to the reader (e.g. ``patients=``, ``map_to_icd10=``).

    Returns:
        Validated :class:`PatientRecords`.
    """
    return READERS.get(format)(folder, **options)


def finish(tables: dict[str, pd.DataFrame], root: str | os.PathLike | None,
           metadata: dict[str, Any]) -> PatientRecords:
    """Assembles reader output: drops orphan events, validates, records counts.

    Tables may carry the provenance columns of :func:`graphs.records.files.sourced`, so
    that validation errors name the user's file and row; they are dropped once the
    records are valid.

    Args:
        tables: Some of the table names mapped to DataFrames (missing tables stay empty).
        root: The extract's folder (for relative modality paths).
        metadata: Reader metadata; ``dropped`` and ``counts`` are added.
    """
    records = PatientRecords.empty(root=None if root is None else Path(root))
    for name, table in tables.items():
        if name not in TABLE_NAMES:
            raise KeyError(name)  # programming error in a reader, not user input
        setattr(records, name, table.reset_index(drop=True))
    records.coerce()  # types first, so the orphan check compares like with like
    dropped = drop_orphans(records)
    if dropped:
        metadata.setdefault("dropped", {}).update(
            {f"{k}_unknown_patient_or_visit": v for k, v in dropped.items()})
    records.metadata = metadata
    records.validate()
    for name in TABLE_NAMES:
        table = getattr(records, name)
        setattr(records, name, table.drop(columns=[SOURCE_FILE, SOURCE_ROW], errors="ignore"))
    metadata["counts"] = records.summary()
    log.info("read %s records: %s", metadata.get("format", "?"), metadata["counts"])
    return records
