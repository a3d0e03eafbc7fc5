"""Cohort-graph build: one process against patient shards built by worker processes.

Makes N synthetic patients (default 20k; the inputs of ``bench_cohort_build.py``: two
visits and ~20 diagnoses over real ICD-10-CM leaf codes each, 4 modalities with 384-d
features) and the full ICD-10-CM knowledge graph, then times, side by side in one run:

- serial: ``CohortBuilder.build`` of the in-memory records, in this process, and the
  same starting from files (``PatientRecords.load`` + ``load_features`` + build);
- sharded: ``split_cohort`` into S shards (once, timed apart), ``build_shards`` with 1
  and with W worker processes (each shard reads its parquet files, validates and builds
  its part), and ``merge_parts``.

Shards start from files, as they would on other machines, so "serial from files" is the
like-for-like baseline. Prints the seconds of each step, each shard's own build time
(longer with W processes than with 1 means the cores were busy elsewhere), the speed-ups,
and checks the merged graph equals the serial one (``--no-check`` skips that; it takes
about as long as a build).

Run:  OMP_NUM_THREADS=1 python benchmarks/bench_cohort_shards.py [--patients 20000]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import torch
from bench_cohort_build import make_inputs  # same synthetic inputs as the build benchmark


def _timed(fn, *args, **kwargs):
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


def _spin(seconds: float) -> float:
    """Pure-Python work that takes ``seconds`` on an idle core; returns its wall time."""
    start = time.perf_counter()
    total = 0
    for i in range(int(seconds * 2e7)):
        total += i
    return time.perf_counter() - start


def _host_capacity(workers: int) -> float:
    """How many of ``workers`` processes the host runs at full speed right now.

    The same loop alone and in ``workers`` processes at once; on a shared machine whose
    cores other jobs keep busy this is near 1, and no sharded speed-up can show.
    """
    import multiprocessing as mp

    alone = _spin(0.5)
    with mp.get_context("fork").Pool(workers) as pool:
        together = pool.map(_spin, [0.5] * workers)
    return workers * alone / max(together)


def main() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--patients", type=int, default=20_000)
    parser.add_argument("--shards", type=int, default=2, help="shards (default 2)")
    parser.add_argument("--workers", type=int, default=2, help="processes (default 2)")
    parser.add_argument("--knn", type=int, default=0, help="similarity edges per patient")
    parser.add_argument("--start-method", default=None,
                        help="multiprocessing start method (default: the module's)")
    parser.add_argument("--no-check", action="store_true", help="skip the equality check")
    args = parser.parse_args()

    from graphs.cohort import CohortBuilder, CohortConfig
    from graphs.cohort.shards import (
        START_METHOD,
        build_shards,
        load_features,
        merge_parts,
        save_features,
        split_cohort,
    )
    from graphs.records import PatientRecords

    start_method = args.start_method or START_METHOD
    kg, records, features = make_inputs(args.patients)
    config = CohortConfig(knn=args.knn)
    serial, t_serial = _timed(CohortBuilder(kg, config).build, records, features)

    def from_files(folder: Path):
        return CohortBuilder(kg, config).build(PatientRecords.load(folder / "rec"),
                                               load_features(folder / "feats"))

    with tempfile.TemporaryDirectory(prefix="bench-shards-") as tmp:
        records.save(Path(tmp) / "rec")
        save_features(features, Path(tmp) / "feats")
        _, t_files = _timed(from_files, Path(tmp))
        shards, t_split = _timed(split_cohort, records, kg, Path(tmp) / "shards", args.shards,
                                 features, config)
        _, t_build1 = _timed(build_shards, shards, kg, Path(tmp) / "p1", workers=1)
        _, t_build = _timed(build_shards, shards, kg, Path(tmp) / "pw", workers=args.workers,
                            start_method=start_method)
        merged, t_merge = _timed(merge_parts, shards, kg, Path(tmp) / "pw")
        alone = merge_parts(shards, kg, Path(tmp) / "p1").metadata["shards"]["build_seconds"]
    together = merged.metadata["shards"]["build_seconds"]
    sharded = t_build + t_merge
    edges = sum(serial.data[et].num_edges for et in serial.data.edge_types)
    print(f"cohort build, {args.patients} patients ({serial.data.num_nodes} nodes, {edges} "
          f"edges) + full ICD-10-CM KG; {args.shards} shards, torch threads "
          f"{torch.get_num_threads()}, start method {start_method}, {os.cpu_count()} cores")
    rows = [("serial CohortBuilder.build (in memory)", t_serial),
            ("serial from files (load + build)", t_files),
            ("split into shards (once)", t_split),
            ("build shards, 1 process", t_build1),
            (f"build shards, {args.workers} processes", t_build),
            ("merge parts", t_merge),
            (f"sharded total ({args.workers} processes + merge)", sharded)]
    print(f"host parallel capacity now: {_host_capacity(args.workers):.2f} of "
          f"{args.workers} processes (same loop alone vs {args.workers} at once)")
    for name, seconds in rows:
        print(f"  {name:42s} {seconds:8.2f} s")
    print(f"  each shard's build, 1 process:  {', '.join(f'{s:.2f}' for s in alone)} s")
    print(f"  each shard's build, {args.workers} processes: "
          f"{', '.join(f'{s:.2f}' for s in together)} s")
    print(f"parallel speed-up of the shard builds ({args.workers} vs 1 process): "
          f"{t_build1 / t_build:.2f}x")
    print(f"serial from files / sharded (build + merge): {t_files / sharded:.2f}x; "
          f"serial in memory / sharded: {t_serial / sharded:.2f}x")
    free = max(alone) + t_merge  # shards run side by side, each as fast as alone
    print(f"on free cores (longest shard alone + merge, an estimate): {free:.2f} s, "
          f"{t_files / free:.2f}x over serial from files")
    if not args.no_check:
        print(f"merged graph equals the serial build: {merged.equals(serial)}")


if __name__ == "__main__":
    main()
