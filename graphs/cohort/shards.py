"""Cohort graphs built from patient shards: split once, build the parts anywhere, merge.

:func:`split_cohort` cuts the records (+ modality features) by patient into N shards of
parquet files and writes ``manifest.json``: each shard with its row counts and content
hash, plus the knowledge-graph fingerprint and :class:`~graphs.cohort.config.CohortConfig`
every shard is to be built with. :func:`build_shard` builds one shard's part without
reading any other shard (:meth:`CohortBuilder.build_part
<graphs.cohort.builder.CohortBuilder.build_part>`: its patients, visits and modality
nodes, and their edges to KG concepts matched by concept id) and writes it atomically.
:func:`merge_parts` stacks the parts (:func:`~graphs.cohort.parts.union_parts`) and
completes them against the KG (:meth:`CohortBuilder.finish
<graphs.cohort.builder.CohortBuilder.finish>`). The result equals a single
``CohortBuilder.build`` of all the records (:meth:`CohortGraph.equals
<graphs.cohort.graph.CohortGraph.equals>`), with patients in the records' order.

What needs the whole cohort happens in the merge: KG edges between concepts (two
concepts used only in different shards are linked too), the whole KG under
``kg_scope="full"``, visit order and node features, patient modality summaries, the
cohort mean behind ``missing="mean"``, kNN similarity edges (``knn``; a blocked
``O(patients^2)`` pass) and reverse edges. Shards do the per-row work: reading and
validating records, matching codes to the KG, and label embeddings of the concepts they
use (``concept_features="text"``).

Layout::

    <shards>/manifest.json                     format, KG fingerprint, config, shards
    <shards>/shard-00000/records/*.parquet     PatientRecords.save of the shard's patients
    <shards>/shard-00000/features/<m>.parquet  per modality: ids, time, embedding ``x``
    <parts>/shard-00000.pt                     built part (default ``<shards>/parts``)

Scaling out:
    1. On one machine, split (the KG is read only for its fingerprint)::

           python -m graphs.cohort.shards split --records rec/ --features feats/ \\
               --kg kg/ --shards 8 --out shards/ [--config cohort.json]

       ``rec/`` is a ``PatientRecords.save`` folder, ``feats/`` a :func:`save_features`
       folder and ``kg/`` a ``KnowledgeGraph.save`` folder. Splitting again replaces
       ``shards/`` whole, parts built inside it included.
    2. Copy ``shards/`` (or mount it) on each build machine with the same KG folder (a
       different KG is refused: its fingerprint would not match the manifest's). Build
       any subset of shards, in any order; a failed shard is re-run alone::

           python -m graphs.cohort.shards build shards/ --kg kg/ --shard 0 --shard 1 \\
               --parts parts/
           python -m graphs.cohort.shards build shards/ --kg kg/ --workers 2   # all here

    3. Gather every ``shard-*.pt`` into one folder and merge, with the same KG::

           python -m graphs.cohort.shards merge shards/ --kg kg/ --parts parts/ \\
               --out cohort.pt

       The merge refuses a missing part, a part built from other shard content, with
       another KG or config, and a patient found in two shards; each error names the
       file. Peak memory of the merge is about that of holding the finished graph.

Examples:
    >>> import tempfile, pathlib
    >>> from graphs.cohort import CohortBuilder
    >>> from graphs.cohort.demo import tiny_features, tiny_kg, tiny_records
    >>> work, kg = pathlib.Path(tempfile.mkdtemp()), tiny_kg()
    >>> shards = split_cohort(tiny_records(), kg, work / "shards", 2, tiny_features())
    >>> [e["patients"] for e in read_manifest(shards)["shards"]]
    [1, 1]
    >>> parts = [build_shard(shards, i, kg) for i in range(2)]
    >>> cohort = merge_parts(shards, kg)
    >>> cohort.equals(CohortBuilder(kg).build(tiny_records(), tiny_features()))
    True
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import multiprocessing
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import torch

from graphs.cohort.builder import CohortBuilder
from graphs.cohort.config import CohortConfig
from graphs.cohort.features import MODALITY_TYPES, ModalityFeatures
from graphs.cohort.graph import CohortGraph
from graphs.cohort.parts import PART_FORMAT, load_part, save_part, union_parts
from graphs.records.schema import TABLE_NAMES, PatientRecords
from ontologies.atomic import atomic_dir, atomic_write
from ontologies.errors import (
    ConfigError,
    DataNotFoundError,
    InputError,
    MedKGError,
    ParseError,
    SchemaError,
)

__all__ = ["kg_fingerprint", "save_features", "load_features", "split_records", "write_shard",
           "write_manifest", "split_cohort", "read_manifest", "build_shard", "build_shards",
           "merge_parts", "build_sharded", "main", "FORMAT", "PART_FORMAT"]

log = logging.getLogger(__name__)

#: Format tag of ``manifest.json``.
FORMAT = "medkg-cohort-shards/1"
MANIFEST = "manifest.json"
#: Start method of worker processes: "fork" where the OS has it, because a spawned worker
#: re-imports torch and PyG first (7+ s of CPU here, more than a shard of 10k patients
#: takes); workers run one torch thread, so they never touch the parent's OpenMP pool,
#: which does not survive a fork. Pass "spawn" or "forkserver" to build_shards to change.
START_METHOD = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
_DIM_KEY = b"medkg:dim"  # parquet schema metadata: embedding width (kept for 0-row files)
_KG_COLUMNS = {"concepts": ("id", "semantic_type", "label"),
               "relations": ("source", "relation", "target", "probability", "frequency",
                             "severity")}


# ------------------------------------------------------------------------- fingerprints
def kg_fingerprint(kg: Any) -> str:
    """SHA-256 of what the cohort builder reads from a knowledge graph, in row order.

    Examples:
        >>> from graphs.cohort.demo import tiny_kg
        >>> kg_fingerprint(tiny_kg()) == kg_fingerprint(tiny_kg())
        True
    """
    h = hashlib.sha256(b"medkg-kg-fingerprint/1")
    for name, columns in _KG_COLUMNS.items():
        frame = getattr(kg, name)
        h.update(f"|{name}:{len(frame)}".encode())
        for col in columns:
            h.update(f"|{col}:".encode())
            if pd.api.types.is_float_dtype(frame[col]):
                values = frame[col].to_numpy(dtype="float64", na_value=np.nan)
                h.update(np.isnan(values).tobytes() + np.nan_to_num(values).tobytes())
                continue
            # Arrow buffers hash the strings without a Python loop (100k+ concepts)
            arr = pa.array(frame[col].astype(object).to_numpy(dtype=object, na_value=None),
                           type=pa.large_string())
            h.update(arr.is_null().to_numpy(zero_copy_only=False).tobytes())
            arr = arr.fill_null("")
            offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64)[:len(arr) + 1]
            h.update((offsets - offsets[0]).tobytes())
            h.update(arr.buffers()[2].to_pybytes()[offsets[0]:offsets[-1]] if len(arr) else b"")
    return h.hexdigest()


def _hash_folder(folder: Path) -> str:
    """SHA-256 over the relative paths and bytes of every file (atomic temp files skipped)."""
    h = hashlib.sha256()
    files = sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))
    for path in files:
        h.update(path.relative_to(folder).as_posix().encode() + b"\0")
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        h.update(b"\0")
    return h.hexdigest()


# ------------------------------------------------------------------------- features on disk
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


# ------------------------------------------------------------------------- split
def split_records(records: PatientRecords, n_shards: int,
                  features: Mapping[str, ModalityFeatures] | None = None
                  ) -> list[tuple[PatientRecords, dict[str, ModalityFeatures]]]:
    """Cuts records and features into ``n_shards`` contiguous runs of patients.

    Runs keep the patients' order and hold about equal numbers of rows (one per patient
    plus its rows in every table and feature set), so shards take about equal time.

    Raises:
        ConfigError: ``n_shards`` is not between 1 and the number of patients.
        SchemaError: A feature row names a patient or visit the records lack, or a visit
            of another patient.
    """
    records = records.validate()
    features = dict(features or {})
    n = len(records.patients)
    if not isinstance(n_shards, int) or not 1 <= n_shards <= max(n, 1):
        raise ConfigError(f"n_shards={n_shards!r}: expected an integer from 1 to the number "
                          f"of patients ({n})")
    pid_index = pd.Index(records.patients["patient_id"].astype(object), dtype=object)
    visit_owner = records.visits.set_index("visit_id")["patient_id"]
    weight = np.ones(n, dtype=np.float64)
    rows_of = {}
    for name in TABLE_NAMES[1:]:
        rows_of[name] = pid_index.get_indexer(getattr(records, name)["patient_id"].astype(object))
    for m, feat in features.items():
        rows_of[m] = _feature_rows(m, feat, pid_index, visit_owner)
    for at in rows_of.values():
        weight += np.bincount(at, minlength=n)
    shard_of = np.searchsorted(_cuts(np.cumsum(weight), n_shards), np.arange(n), side="right")
    tables = {"patients": _slices(records.patients, shard_of, n_shards)}
    for name in TABLE_NAMES[1:]:
        tables[name] = _slices(getattr(records, name), shard_of[rows_of[name]], n_shards)
    feats = {m: _slices(None, shard_of[rows_of[m]], n_shards) for m in features}
    out = []
    for k in range(n_shards):
        rec = PatientRecords(**{name: tables[name][k] for name in TABLE_NAMES},
                             root=records.root,
                             metadata=dict(records.metadata, shard=k, n_shards=n_shards))
        part = {}
        for m, feat in features.items():
            pick = feats[m][k]
            part[m] = ModalityFeatures(m, feat.table.iloc[pick], feat.x[torch.from_numpy(pick)])
        out.append((rec, part))
    return out


def _cuts(cum: np.ndarray, n_shards: int) -> np.ndarray:
    """Ends of ``n_shards`` contiguous runs whose weights (cumulative ``cum``) are even.

    Each cut splits what is left evenly among the shards left, so one heavy patient early
    on does not starve the later shards; every run holds at least one patient.
    """
    n, cuts, done, prev = len(cum), [], 0.0, 0
    for k in range(n_shards - 1):
        target = done + (cum[-1] - done) / (n_shards - k)
        i = int(np.searchsorted(cum, target))  # first patient reaching the target
        cut = i + 1 if i == 0 or cum[min(i, n - 1)] - target <= target - cum[i - 1] else i
        cut = min(max(cut, prev + 1), n - (n_shards - 1 - k))
        cuts.append(cut)
        prev, done = cut, float(cum[cut - 1])
    return np.asarray(cuts, dtype=np.int64)


def _feature_rows(m: str, feat: ModalityFeatures, pid_index: pd.Index, visit_owner: pd.Series
                  ) -> np.ndarray:
    if not isinstance(feat, ModalityFeatures) or feat.modality != m:
        raise SchemaError(f"features[{m!r}] must be ModalityFeatures of modality {m!r}, "
                          f"got {feat!r}")
    at = pid_index.get_indexer(feat.table["patient_id"].astype(object))
    owner = feat.table["visit_id"].map(visit_owner)
    has_visit = feat.table["visit_id"].notna().to_numpy()
    for bad, what in ((at < 0, "a patient that is not in the records"),
                      (has_visit & owner.isna().to_numpy(), "a visit that is not in the records"),
                      (has_visit & owner.notna().to_numpy()
                       & (owner != feat.table["patient_id"]).fillna(False).to_numpy(dtype=bool),
                       "a visit of another patient than the row's patient_id")):
        if bad.any():
            raise SchemaError(f"{m} features: row {int(np.flatnonzero(bad)[0])} refers to {what}")
    return at


def _slices(table: pd.DataFrame | None, shard: np.ndarray, n_shards: int) -> list[Any]:
    """Rows of each shard in their original order (row positions when ``table`` is None)."""
    order = np.argsort(shard, kind="stable")
    bounds = np.searchsorted(shard[order], np.arange(n_shards + 1))
    picks = [order[bounds[k]:bounds[k + 1]] for k in range(n_shards)]
    if table is None:
        return picks
    return [table.iloc[p].reset_index(drop=True) for p in picks]


def write_shard(folder: str | os.PathLike, records: PatientRecords,
                features: Mapping[str, ModalityFeatures] | None = None) -> dict[str, Any]:
    """Writes one shard folder atomically; returns its manifest entry.

    Use it directly when the data is already partitioned (one extract per site), then
    list the entries with :func:`write_manifest`.
    """
    folder = Path(folder)
    features = dict(features or {})
    with atomic_dir(folder) as tmp:
        records.save(tmp / "records")
        save_features(features, tmp / "features")
        digest = _hash_folder(tmp)
    rows = {name: len(getattr(records, name)) for name in TABLE_NAMES}
    rows.update({f"features/{m}": len(f.table) for m, f in features.items()})
    return {"name": folder.name, "path": str(folder), "sha256": digest,
            "patients": rows["patients"], "rows": rows,
            "modalities": {m: f.dim for m, f in features.items()}}


def write_manifest(folder: str | os.PathLike, entries: Sequence[Mapping[str, Any]], kg: Any,
                   config: CohortConfig | None = None) -> Path:
    """Writes ``manifest.json`` (atomically) listing ``entries`` from :func:`write_shard`."""
    folder = Path(folder)
    config = config or CohortConfig()
    names = [e["name"] for e in entries]
    if not entries or len(set(names)) != len(names):
        raise ConfigError(f"shard names {names}: expected at least one, all different")
    dims: dict[str, tuple[int, str]] = {}
    shards = []
    for e in entries:
        for m, d in e["modalities"].items():
            if dims.setdefault(m, (d, e["name"]))[0] != d:
                raise SchemaError(f"shard {e['name']}: {m} embeddings have {d} dimensions, "
                                  f"shard {dims[m][1]} has {dims[m][0]}")
        path = Path(e["path"]).resolve()
        rel = path.relative_to(folder.resolve()) if path.is_relative_to(folder.resolve()) \
            else path
        shards.append(dict(e, path=rel.as_posix()))
    manifest = {"format": FORMAT, "kg_fingerprint": kg_fingerprint(kg),
                "kg": {"concepts": len(kg.concepts), "relations": len(kg.relations)},
                "config": vars(config).copy(), "modalities": {m: d for m, (d, _) in dims.items()},
                "patients": sum(e["patients"] for e in entries), "shards": shards}
    with atomic_write(folder / MANIFEST, "w") as handle:
        json.dump(manifest, handle, indent=2)
    return folder / MANIFEST


def split_cohort(records: PatientRecords, kg: Any, out: str | os.PathLike, n_shards: int,
                 features: Mapping[str, ModalityFeatures] | None = None,
                 config: CohortConfig | None = None) -> Path:
    """Splits records (+ features) into ``out/shard-*`` and writes the manifest; atomic.

    Returns:
        ``out``, which replaces any folder there (parts built inside it included).
    """
    if config is not None and not isinstance(config, CohortConfig):
        raise ConfigError(f"config must be a CohortConfig, got {type(config).__name__}")
    pieces = split_records(records, n_shards, features)
    out = Path(out)
    with atomic_dir(out) as tmp:
        entries = [write_shard(tmp / f"shard-{k:05d}", rec, feats)
                   for k, (rec, feats) in enumerate(pieces)]
        write_manifest(tmp, entries, kg, config)
    return out


# ------------------------------------------------------------------------- build
def read_manifest(shards: str | os.PathLike) -> dict[str, Any]:
    """Reads and checks ``<shards>/manifest.json``."""
    path = Path(shards) / MANIFEST
    if not path.is_file():
        raise DataNotFoundError(f"{path}: missing; expected a folder written by split_cohort")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ParseError(f"not valid JSON ({err.msg})", path, err.lineno) from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        got = manifest.get("format") if isinstance(manifest, dict) else type(manifest).__name__
        raise SchemaError(f"{path}: format {got!r}, expected {FORMAT!r}")
    ok = isinstance(manifest.get("shards"), list) and manifest["shards"] and all(
        isinstance(e, dict) and {"name", "path", "sha256"} <= set(e) for e in manifest["shards"])
    if not ok or not isinstance(manifest.get("config"), dict):
        raise SchemaError(f"{path}: expected 'config' and a non-empty 'shards' list whose "
                          "entries have name, path and sha256")
    return manifest


def _config(manifest: dict[str, Any], where: Path) -> CohortConfig:
    try:
        return CohortConfig(**manifest["config"])
    except TypeError as err:
        raise ConfigError(f"{where / MANIFEST}: config {manifest['config']} ({err})") from None


def _check_kg(manifest: dict[str, Any], kg: Any, where: Path, fp: str | None = None) -> str:
    fp = fp or kg_fingerprint(kg)
    if manifest.get("kg_fingerprint") != fp:
        raise ConfigError(f"{where}: split against knowledge graph "
                          f"{str(manifest.get('kg_fingerprint'))[:12]}, given {fp[:12]}; "
                          "build and merge every shard with the KG the shards were split with")
    return fp


def build_shard(shards: str | os.PathLike, index: int, kg: Any,
                parts: str | os.PathLike | None = None,
                label_encoder: Callable[[list[str]], torch.Tensor] | None = None,
                _fingerprint: str | None = None) -> Path:
    """Builds shard ``index`` into ``<parts>/<shard name>.pt`` (atomic); reads no other shard.

    Raises:
        ConfigError: ``index`` out of range, or ``kg`` differs from the manifest's KG.
        DataNotFoundError: The manifest or the shard folder is missing.
        SchemaError: The shard's files differ from what the manifest lists.
    """
    shards = Path(shards)
    manifest = read_manifest(shards)
    entries = manifest["shards"]
    if not isinstance(index, int) or not 0 <= index < len(entries):
        raise ConfigError(f"shard {index!r}: expected 0 to {len(entries) - 1}")
    entry = entries[index]
    folder = shards / entry["path"]
    if not folder.is_dir():
        raise DataNotFoundError(f"{folder}: shard {entry['name']} is missing")
    started = time.perf_counter()
    fp = _check_kg(manifest, kg, folder, _fingerprint)
    digest = _hash_folder(folder)
    if digest != entry["sha256"]:
        raise SchemaError(f"{folder}: content hash {digest[:12]} differs from the manifest's "
                          f"{entry['sha256'][:12]}; the shard changed or was copied partly")
    records = PatientRecords.load(folder / "records")
    features = load_features(folder / "features")
    builder = CohortBuilder(kg, _config(manifest, shards), label_encoder)
    part = builder.build_part(records, features, validated=True)  # load() validated them
    part.metadata.update(shard=entry["name"], shard_sha256=digest, kg_fingerprint=fp,
                         config=manifest["config"],
                         build_seconds=round(time.perf_counter() - started, 3))
    path = Path(parts) if parts is not None else shards / "parts"
    return save_part(part, path / f"{entry['name']}.pt")


_WORKER: dict[str, Any] = {}


def _init_worker(kg: Any, fingerprint: str, label_encoder: Any) -> None:
    # a shard build is pandas/numpy work; one torch thread per worker avoids oversubscribing
    # the cores and keeps forked workers out of the parent's OpenMP pool (see START_METHOD)
    torch.set_num_threads(1)
    _WORKER.update(kg=kg, fp=fingerprint, label_encoder=label_encoder)


def _build_in_worker(shards: str, index: int, parts: str | None) -> str:
    return str(build_shard(shards, index, _WORKER["kg"], parts, _WORKER["label_encoder"],
                           _WORKER["fp"]))


def build_shards(shards: str | os.PathLike, kg: Any, parts: str | os.PathLike | None = None,
                 indices: Sequence[int] | None = None, workers: int = 2,
                 label_encoder: Callable[[list[str]], torch.Tensor] | None = None,
                 start_method: str = START_METHOD, progress: bool = False) -> list[Path]:
    """Builds several shards, ``workers`` processes at a time (1: in this process).

    Args:
        shards: Folder from :func:`split_cohort`.
        kg: The knowledge graph the shards were split with.
        parts: Output folder of the parts (default ``<shards>/parts``).
        indices: Shards to build (default all).
        workers: Processes (a ``ProcessPoolExecutor``, one torch thread each); 1 builds
            in this process.
        label_encoder: For ``concept_features="text"``; must be picklable when
            ``workers > 1``.
        start_method: ``multiprocessing`` start method of the workers.
        progress: Show a tqdm bar.

    Returns:
        Paths of the parts, in the order of ``indices``.
    """
    from tqdm.auto import tqdm

    manifest = read_manifest(shards)
    indices = list(range(len(manifest["shards"])) if indices is None else indices)
    if not isinstance(workers, int) or workers < 1:
        raise ConfigError(f"workers={workers!r}: expected a positive integer")
    fp = _check_kg(manifest, kg, Path(shards) / MANIFEST)
    bar = tqdm(total=len(indices), desc="build shards", disable=not progress, leave=False)
    if workers == 1 or len(indices) <= 1:
        out = []
        for i in indices:
            out.append(build_shard(shards, i, kg, parts, label_encoder, fp))
            bar.update()
        bar.close()
        return out
    ctx = multiprocessing.get_context(start_method)
    with ProcessPoolExecutor(min(workers, len(indices)), mp_context=ctx,
                             initializer=_init_worker,
                             initargs=(kg, fp, label_encoder)) as pool:
        futures = {pool.submit(_build_in_worker, str(shards), i,
                               None if parts is None else str(parts)): k
                   for k, i in enumerate(indices)}
        out: list[Path | None] = [None] * len(indices)
        for future in as_completed(futures):
            out[futures[future]] = Path(future.result())
            bar.update()
    bar.close()
    return [p for p in out if p is not None]


# ------------------------------------------------------------------------- merge
def merge_parts(shards: str | os.PathLike, kg: Any, parts: str | os.PathLike | None = None,
                out: str | os.PathLike | None = None,
                label_encoder: Callable[[list[str]], torch.Tensor] | None = None
                ) -> CohortGraph:
    """Assembles the cohort graph from every shard's part and the KG.

    Args:
        shards: Folder from :func:`split_cohort` (only its manifest is read).
        kg: The knowledge graph the shards were split and built with.
        parts: Folder holding ``<shard name>.pt`` of every shard (default
            ``<shards>/parts``).
        out: Also save the graph there (atomically).
        label_encoder: For ``concept_features="text"`` with ``kg_scope="full"``.

    Raises:
        DataNotFoundError: A shard has no part.
        SchemaError: A part is not a part, or was built from other shard content.
        ConfigError: A part (or ``kg``) has another KG, or a part another config.
        DuplicateIdError: A patient, visit or observation is in two shards.
    """
    shards = Path(shards)
    manifest = read_manifest(shards)
    fp = _check_kg(manifest, kg, shards / MANIFEST)
    folder = Path(parts) if parts is not None else shards / "parts"
    loaded, names = [], []
    for i, entry in enumerate(manifest["shards"]):
        path = folder / f"{entry['name']}.pt"
        if not path.is_file():
            raise DataNotFoundError(f"{path}: missing part of shard {entry['name']}; build it "
                                    f"with: python -m graphs.cohort.shards build {shards} "
                                    f"--kg <kg> --shard {i} --parts {folder}")
        part = load_part(path)
        meta = part.metadata
        if meta.get("shard") != entry["name"] or meta.get("shard_sha256") != entry["sha256"]:
            raise SchemaError(f"{path}: built from shard {meta.get('shard')!r} with content "
                              f"{str(meta.get('shard_sha256'))[:12]}, but the manifest lists "
                              f"{entry['name']!r} with {entry['sha256'][:12]}; rebuild it")
        if meta.get("kg_fingerprint") != fp:
            raise ConfigError(f"{path}: built against knowledge graph "
                              f"{str(meta.get('kg_fingerprint'))[:12]}, the manifest and the "
                              f"merge use {fp[:12]}; rebuild it with the same KG")
        if meta.get("config") != manifest["config"]:
            diff = sorted(k for k in set(meta.get("config") or {}) | set(manifest["config"])
                          if (meta.get("config") or {}).get(k) != manifest["config"].get(k))
            raise ConfigError(f"{path}: built with another config (differs in {diff}) than "
                              f"{shards / MANIFEST}; rebuild it")
        loaded.append(part)
        names.append(str(path))
    builder = CohortBuilder(kg, _config(manifest, shards), label_encoder)
    cohort = builder.finish(union_parts(loaded, names))
    for key in ("shard", "shard_sha256", "kg_fingerprint", "build_seconds"):
        cohort.metadata.pop(key, None)
    cohort.metadata["shards"] = {"count": len(loaded), "kg_fingerprint": fp,
                                 "build_seconds": [p.metadata.get("build_seconds")
                                                   for p in loaded]}
    if out is not None:
        cohort.save(out)
    return cohort


def build_sharded(records: PatientRecords, kg: Any, workdir: str | os.PathLike,
                  n_shards: int = 2, features: Mapping[str, ModalityFeatures] | None = None,
                  config: CohortConfig | None = None, workers: int = 2,
                  start_method: str = START_METHOD) -> CohortGraph:
    """Split, build (``workers`` processes) and merge on this machine, in ``workdir``.

    Examples:
        >>> import tempfile
        >>> from graphs.cohort.demo import tiny_kg, tiny_records
        >>> build_sharded(tiny_records(), tiny_kg(), tempfile.mkdtemp(), workers=1)
        CohortGraph(patient=2, visit=3, ...)
    """
    shards = split_cohort(records, kg, Path(workdir) / "shards", n_shards, features, config)
    build_shards(shards, kg, workers=workers, start_method=start_method)
    return merge_parts(shards, kg)


# ------------------------------------------------------------------------- CLI
def _read_config(path: str | None) -> CohortConfig | None:
    if path is None:
        return None
    file = Path(path)
    if not file.is_file():
        raise DataNotFoundError(f"{file}: no config file")
    text = file.read_text(encoding="utf-8")
    if file.suffix in (".yaml", ".yml"):
        import yaml

        try:
            values = yaml.safe_load(text)
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            raise ParseError(f"not valid YAML ({err})", file,
                             None if mark is None else mark.line + 1) from None
    else:
        try:
            values = json.loads(text)
        except json.JSONDecodeError as err:
            raise ParseError(f"not valid JSON ({err.msg})", file, err.lineno) from None
    if not isinstance(values, dict):
        raise ConfigError(f"{file}: expected a mapping of CohortConfig fields")
    unknown = sorted(set(values) - set(vars(CohortConfig())))
    if unknown:
        raise ConfigError(f"{file}: unknown field(s) {unknown}; expected "
                          f"{', '.join(vars(CohortConfig()))}")
    return CohortConfig(**values)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m graphs.cohort.shards",
                                     description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    split = sub.add_parser("split", help="cut records (+ features) into patient shards")
    split.add_argument("--records", required=True, help="PatientRecords.save folder")
    split.add_argument("--features", help="save_features folder (optional)")
    split.add_argument("--kg", required=True, help="KnowledgeGraph.save folder")
    split.add_argument("--shards", type=int, required=True, help="number of shards")
    split.add_argument("--out", required=True, help="output folder (replaced)")
    split.add_argument("--config", help="CohortConfig fields as JSON or YAML")
    build = sub.add_parser("build", help="build shards into parts")
    build.add_argument("dir", help="folder written by split")
    build.add_argument("--kg", required=True, help="the KG folder used by split")
    build.add_argument("--shard", type=int, action="append", help="shard index (repeatable; "
                       "default all)")
    build.add_argument("--workers", type=int, default=1, help="processes (default 1)")
    build.add_argument("--parts", help="output folder of parts (default DIR/parts)")
    merge = sub.add_parser("merge", help="assemble the cohort graph from the parts")
    merge.add_argument("dir", help="folder written by split")
    merge.add_argument("--kg", required=True, help="the KG folder used by split")
    merge.add_argument("--parts", help="folder of the parts (default DIR/parts)")
    merge.add_argument("--out", required=True, help="cohort graph file to write")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Runs ``split``, ``build`` or ``merge``; returns the exit status (2 on a medkg error)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    args = _parser().parse_args(argv)
    from kg.graph import KnowledgeGraph

    try:
        kg = KnowledgeGraph.load(args.kg)
        if args.command == "split":
            features = load_features(args.features) if args.features else None
            out = split_cohort(PatientRecords.load(args.records), kg, args.out, args.shards,
                               features, _read_config(args.config))
            print(f"wrote {args.shards} shard(s) and {out / MANIFEST}")
        elif args.command == "build":
            paths = build_shards(args.dir, kg, args.parts, args.shard, args.workers,
                                 progress=sys.stderr.isatty())
            print("\n".join(f"built {p}" for p in paths))
        else:
            cohort = merge_parts(args.dir, kg, args.parts, args.out)
            print(f"{cohort!r} -> {args.out}")
    except MedKGError as err:
        print(f"shards: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
