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

Splitting and the manifest live in :mod:`graphs.cohort.shard_split`, feature files in
:mod:`graphs.cohort.feature_files`, parts and their union in :mod:`graphs.cohort.parts`;
this module builds and merges, runs the CLI, and re-exports the rest.

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
       file. The merge is the one step that holds the whole graph in memory.

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

import torch

from graphs.cohort.builder import CohortBuilder
from graphs.cohort.config import CohortConfig
from graphs.cohort.feature_files import load_features, save_features
from graphs.cohort.features import ModalityFeatures
from graphs.cohort.graph import CohortGraph
from graphs.cohort.parts import PART_FORMAT, load_part, save_part, union_parts
from graphs.cohort.shard_split import (
    FORMAT,
    MANIFEST,
    hash_folder,
    kg_fingerprint,
    read_manifest,
    split_cohort,
    split_records,
    write_manifest,
    write_shard,
)
from graphs.records.schema import PatientRecords
from ontologies.errors import (
    ConfigError,
    DataNotFoundError,
    MedKGError,
    ParseError,
    SchemaError,
    UnknownCodeError,
)

__all__ = ["build_shard", "build_shards", "merge_parts", "build_sharded", "main",
           # re-exported: the whole workflow from one module
           "split_cohort", "split_records", "write_shard", "write_manifest", "read_manifest",
           "kg_fingerprint", "save_features", "load_features", "FORMAT", "PART_FORMAT"]

log = logging.getLogger(__name__)

#: Start method of worker processes: "fork" where the OS has it, because a spawned worker
#: re-imports torch and PyG first (7+ s of CPU here, more than a shard of 10k patients
#: takes; "forkserver" pays that once per parent process); workers run one torch thread,
#: so they never touch the parent's OpenMP pool, which does not survive a fork.
START_METHOD = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"


# ------------------------------------------------------------------------- build
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
                fingerprint: str | None = None) -> Path:
    """Builds shard ``index`` into ``<parts>/<shard name>.pt`` (atomic); reads no other shard.

    Args:
        shards: Folder from :func:`split_cohort` (or a copy of it).
        index: Position of the shard in the manifest.
        kg: The knowledge graph the shards were split with.
        parts: Output folder (default ``<shards>/parts``).
        label_encoder: For ``concept_features="text"`` (see ``CohortBuilder``).
        fingerprint: ``kg_fingerprint(kg)`` when known (spares hashing the KG per shard).

    Returns:
        The part's path.

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
    fp = _check_kg(manifest, kg, folder, fingerprint)
    digest = hash_folder(folder)
    if digest != entry["sha256"]:
        raise SchemaError(f"{folder}: content hash {digest[:12]} differs from the manifest's "
                          f"{entry['sha256'][:12]}; the shard changed or was copied partly")
    try:
        records = PatientRecords.load(folder / "records")
        features = load_features(folder / "features")
        builder = CohortBuilder(kg, _config(manifest, shards), label_encoder)
        part = builder.build_part(records, features, validated=True)  # load() validated them
    except MedKGError as err:
        raise _in_shard(err, folder) from None
    part.metadata.update(shard=entry["name"], shard_sha256=digest, kg_fingerprint=fp,
                         config=manifest["config"],
                         build_seconds=round(time.perf_counter() - started, 3))
    path = Path(parts) if parts is not None else shards / "parts"
    saved = save_part(part, path / f"{entry['name']}.pt")
    log.info("built %s in %.2f s -> %s", entry["name"], part.metadata["build_seconds"], saved)
    return saved


def _in_shard(err: MedKGError, folder: Path) -> MedKGError:
    """Names the shard in ``err`` (errors with structured fields pickle those fields)."""
    if isinstance(err, UnknownCodeError):
        err.expected = f"{err.expected} (in {folder})"
    elif str(folder) not in str(err):
        if isinstance(err, ParseError):  # pickles its fields, not args
            err.message = f"{err.message} (in {folder})"
        err.args = (f"{folder}: {err}",)
    return err


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
        start_method: ``multiprocessing`` start method of the workers. "fork" (the
            default on Linux) starts at once but copies pages the parent holds as the
            workers touch them; "forkserver" and "spawn" start lean workers after a
            one-off import and need the calling script's ``if __name__ == "__main__":``
            guard.
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
    if start_method == "forkserver":  # workers fork from a server that imported us once
        ctx.set_forkserver_preload(["graphs.cohort.shards"])
    with ProcessPoolExecutor(min(workers, len(indices)), mp_context=ctx,
                             initializer=_init_worker,
                             initargs=(kg, fp, label_encoder)) as pool:
        futures = {pool.submit(_build_in_worker, str(shards), i,
                               None if parts is None else str(parts)): k
                   for k, i in enumerate(indices)}
        out: list[Path | None] = [None] * len(indices)
        try:
            for future in as_completed(futures):
                out[futures[future]] = Path(future.result())
                bar.update()
        except BaseException:
            for future in futures:  # fail fast: shards not started yet never start
                future.cancel()
            raise
        finally:
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
