"""Patient shards on disk: split records (+ features) and the manifest that lists them.

A shard folder holds ``records/`` (``PatientRecords.save``) and ``features/``
(:func:`~graphs.cohort.feature_files.save_features`). ``manifest.json`` beside the shard
folders names each shard with its row counts and content hash (:func:`hash_folder`), the
knowledge-graph fingerprint (:func:`kg_fingerprint`) and the
:class:`~graphs.cohort.config.CohortConfig` all shards are built with. How shards are
built and merged: :mod:`graphs.cohort.shards`.

Examples:
    >>> import tempfile, pathlib
    >>> from graphs.cohort.demo import tiny_kg, tiny_records
    >>> out = split_cohort(tiny_records(), tiny_kg(), pathlib.Path(tempfile.mkdtemp()) / "s", 2)
    >>> [(e["name"], e["patients"]) for e in read_manifest(out)["shards"]]
    [('shard-00000', 1), ('shard-00001', 1)]
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import torch

from graphs.cohort.config import CohortConfig
from graphs.cohort.feature_files import save_features
from graphs.cohort.features import ModalityFeatures
from graphs.records.schema import TABLE_NAMES, PatientRecords
from ontologies.atomic import atomic_dir, atomic_write
from ontologies.errors import ConfigError, DataNotFoundError, ParseError, SchemaError

__all__ = ["kg_fingerprint", "hash_folder", "split_records", "write_shard", "write_manifest",
           "split_cohort", "read_manifest", "FORMAT", "MANIFEST"]

#: Format tag of ``manifest.json``.
FORMAT = "medkg-cohort-shards/1"
MANIFEST = "manifest.json"
_KG_COLUMNS = {"concepts": ("id", "semantic_type", "label"),
               "relations": ("source", "relation", "target", "probability", "frequency",
                             "severity")}


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


def hash_folder(folder: str | os.PathLike) -> str:
    """SHA-256 over the relative paths and bytes of every file (atomic temp files skipped)."""
    folder = Path(folder)
    h = hashlib.sha256()
    files = sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))
    for path in files:
        h.update(path.relative_to(folder).as_posix().encode() + b"\0")
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        h.update(b"\0")
    return h.hexdigest()


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
        digest = hash_folder(tmp)
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
