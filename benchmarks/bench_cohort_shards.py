"""Cohort-graph build: one process against patient shards built by worker processes.

Makes N synthetic patients (default 20k; the inputs of ``bench_cohort_build.py``: two
visits and ~20 diagnoses over real ICD-10-CM leaf codes each, 4 modalities with 384-d
features) and the full ICD-10-CM knowledge graph, then times, side by side in one run:

- serial: ``CohortBuilder.build`` of the in-memory records, in this process;
- sharded: ``split_cohort`` into S shards (once, timed apart), ``build_shards`` with 1
  and with W worker processes (each shard reads its parquet files, validates and builds
  its part), and ``merge_parts``.

The serial path starts from records already in memory; every sharded path starts from
files, as it would on other machines. Prints the seconds of each step, the speed-up of
sharded (W processes, build + merge) over serial, and checks the merged graph equals the
serial one (``--no-check`` skips that; it takes about as long as a build).

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
    from graphs.cohort.shards import START_METHOD, build_shards, merge_parts, split_cohort

    start_method = args.start_method or START_METHOD
    kg, records, features = make_inputs(args.patients)
    config = CohortConfig(knn=args.knn)
    serial, t_serial = _timed(CohortBuilder(kg, config).build, records, features)
    with tempfile.TemporaryDirectory(prefix="bench-shards-") as tmp:
        shards, t_split = _timed(split_cohort, records, kg, Path(tmp) / "shards", args.shards,
                                 features, config)
        _, t_build1 = _timed(build_shards, shards, kg, Path(tmp) / "p1", workers=1)
        _, t_build = _timed(build_shards, shards, kg, Path(tmp) / "pw", workers=args.workers,
                            start_method=start_method)
        merged, t_merge = _timed(merge_parts, shards, kg, Path(tmp) / "pw")
    sharded = t_build + t_merge
    edges = sum(serial.data[et].num_edges for et in serial.data.edge_types)
    print(f"cohort build, {args.patients} patients ({serial.data.num_nodes} nodes, {edges} "
          f"edges) + full ICD-10-CM KG; {args.shards} shards, torch threads "
          f"{torch.get_num_threads()}, start method {start_method}, {os.cpu_count()} cores")
    rows = [("serial CohortBuilder.build", t_serial),
            ("split into shards (once)", t_split),
            ("build shards, 1 process", t_build1),
            (f"build shards, {args.workers} processes", t_build),
            ("merge parts", t_merge),
            (f"sharded total ({args.workers} processes + merge)", sharded)]
    for name, seconds in rows:
        print(f"  {name:42s} {seconds:8.2f} s")
    print(f"parallel speed-up of the shard builds ({args.workers} vs 1 process): "
          f"{t_build1 / t_build:.2f}x")
    print(f"serial / sharded (build + merge): {t_serial / sharded:.2f}x")
    if not args.no_check:
        print(f"merged graph equals the serial build: {merged.equals(serial)}")


if __name__ == "__main__":
    main()
