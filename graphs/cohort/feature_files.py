"""Modality features on disk: one parquet file per modality, written atomically.

Each ``<modality>.parquet`` holds the feature table (``patient_id``, ``visit_id``, ``key``,
``time``) and the embeddings in column ``x``, one little-endian float32 blob per row, with
the width in the schema metadata (so a file with no rows keeps it). A blob column reads
about 3x faster through parquet than a list column of the same numbers.

Examples:
    >>> import tempfile, pathlib
    >>> from graphs.cohort.demo import tiny_features
    >>> folder = save_features(tiny_features(), pathlib.Path(tempfile.mkdtemp()) / "f")
    >>> sorted(p.name for p in folder.iterdir())
    ['note.parquet']
    >>> load_features(folder)["note"].x.tolist()
    [[0.0, 1.0, 2.0, 3.0]]
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import torch

from graphs.cohort.features import MODALITY_TYPES, ModalityFeatures
from ontologies.atomic import atomic_dir, atomic_write
from ontologies.errors import DataNotFoundError, InputError, ParseError, SchemaError

__all__ = ["save_features", "load_features"]

_DIM_KEY = b"medkg:dim"  # parquet schema metadata: embedding width (kept for 0-row files)


def save_features(features: Mapping[str, ModalityFeatures], folder: str | os.PathLike
                  ) -> Path:
    """Writes one ``<modality>.parquet`` per modality (``x``: a float32 blob per row), atomically.

    Examples:
        >>> import tempfile, pathlib
        >>> from graphs.cohort.demo import tiny_features
        >>> folder = save_features(tiny_features(), pathlib.Path(tempfile.mkdtemp()) / "f")
        >>> load_features(folder)["note"]
        ModalityFeatures('note', rows=1, dim=4)
    """
    folder = Path(folder)
    with atomic_dir(folder) as tmp:
        for name, feat in features.items():
            if not isinstance(feat, ModalityFeatures) or feat.modality != name:
                raise SchemaError(f"features[{name!r}] must be ModalityFeatures of modality "
                                  f"{name!r}, got {feat!r}")
            table = pa.Table.from_pandas(feat.table[["patient_id", "visit_id", "key", "time"]],
                                         preserve_index=False)
            # one little-endian float32 blob per row: 3x faster through parquet than a list
            x = np.ascontiguousarray(feat.x.numpy(), dtype="<f4")
            step = np.arange(len(x) + 1, dtype=np.int64) * (feat.dim * 4)
            blobs = pa.Array.from_buffers(pa.large_binary(), len(x),
                                          [None, pa.py_buffer(step), pa.py_buffer(x.tobytes())])
            table = table.append_column("x", blobs).replace_schema_metadata(
                {**(table.schema.metadata or {}), _DIM_KEY: str(feat.dim).encode()})
            with atomic_write(tmp / f"{name}.parquet", "wb") as handle:
                pq.write_table(table, handle)
    return folder


def load_features(folder: str | os.PathLike) -> dict[str, ModalityFeatures]:
    """Reads a :func:`save_features` folder (modalities in :data:`MODALITY_TYPES` order)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataNotFoundError(f"{folder}: no features folder")
    out = {}
    files = {p.stem: p for p in folder.glob("*.parquet")}
    for name in sorted(files, key=lambda m: (MODALITY_TYPES.index(m) if m in MODALITY_TYPES
                                             else len(MODALITY_TYPES), m)):
        out[name] = _read_features(files[name], name)
    return out


def _read_features(path: Path, modality: str) -> ModalityFeatures:
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as err:
        raise ParseError(f"not a readable parquet file ({err})", path) from None
    meta = table.schema.metadata or {}
    field = table.schema.field("x") if "x" in table.column_names else None
    if field is None or not pa.types.is_large_binary(field.type) or _DIM_KEY not in meta:
        raise SchemaError(f"{path}: expected embeddings in column 'x' as written by "
                          "save_features")
    dim = int(meta[_DIM_KEY])
    column = table.column("x").combine_chunks()
    lengths = pc.binary_length(column).to_numpy(zero_copy_only=False)
    bad = np.flatnonzero(column.is_null().to_numpy(zero_copy_only=False)
                         | (np.nan_to_num(lengths, nan=-1) != dim * 4))
    if len(bad):
        raise SchemaError(f"{path}: row {int(bad[0])}: embedding is not {dim} float32 values")
    offsets = np.frombuffer(column.buffers()[1], dtype=np.int64)[column.offset:]
    start = int(offsets[0]) if len(column) else 0
    x = np.frombuffer(column.buffers()[2] or b"", dtype="<f4", count=len(column) * dim,
                      offset=start).reshape(-1, dim).astype(np.float32)
    try:
        return ModalityFeatures(modality, table.drop_columns(["x"]).to_pandas(),
                                torch.from_numpy(x))
    except (SchemaError, InputError) as err:  # name the file the bad rows came from
        raise type(err)(f"{path}: {err}") from None
