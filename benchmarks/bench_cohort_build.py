"""Cohort-graph build: medkg's vectorised builder against a networkx + from_networkx path.

Builds, for N synthetic patients (default 100k; ~20 diagnosis edges each over real
ICD-10-CM leaf codes, 4 modality nodes each with 384-d features), the merged graph with the
full ICD-10-CM knowledge graph, and prints build time and peak memory of each path and
their ratio. Each path runs in its own process so peak RSS is measured cleanly.

Run:  OMP_NUM_THREADS=1 python benchmarks/bench_cohort_build.py [--patients 100000]
      [--skip-networkx] [--save-load]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import time

import numpy as np
import pandas as pd
import torch

MODALITIES = ("note", "image", "signal", "genomic")


def make_inputs(n_patients: int, seed: int = 0):
    import ontologies
    from graphs.cohort import ModalityFeatures
    from graphs.records import PatientRecords
    from kg import KnowledgeGraph

    rng = np.random.default_rng(seed)
    kg = KnowledgeGraph.from_ontologies(ontologies.load("icd10cm"))
    leaves = kg.concepts.loc[kg.concepts["billable"].astype(bool), "id"].to_numpy(dtype=object)
    pids = np.array([f"P{i:06d}" for i in range(n_patients)], dtype=object)
    n_vis = 2
    vids = np.array([f"V{i:07d}" for i in range(n_patients * n_vis)], dtype=object)
    vowner = np.repeat(pids, n_vis)
    start = pd.Timestamp("2020-01-01") + pd.to_timedelta(
        np.tile(np.arange(n_vis), n_patients) * 90, unit="D")
    n_dx = n_patients * 20
    dx_visit = rng.integers(0, len(vids), n_dx)
    rec = PatientRecords.empty()
    rec.patients = pd.DataFrame({"patient_id": pids, "sex": rng.choice(["F", "M"], n_patients),
                                 "birth_date": pd.Timestamp("1960-01-01"), "death_date": pd.NaT})
    rec.visits = pd.DataFrame({"patient_id": vowner, "visit_id": vids, "start": start,
                               "end": start, "visit_type": "outpatient"})
    rec.diagnoses = pd.DataFrame({
        "patient_id": vowner[dx_visit], "visit_id": vids[dx_visit],
        "code": leaves[rng.integers(0, len(leaves), n_dx)], "time": start[dx_visit],
        "seq_num": 1, "source_code": pd.NA, "mapping": "direct"})
    feats = {}
    for m in MODALITIES:
        table = pd.DataFrame({"patient_id": pids, "visit_id": vids[::n_vis],
                              "key": [f"{m}-{p}" for p in pids]})
        feats[m] = ModalityFeatures(m, table, torch.randn(n_patients, 384))
    return kg, rec.validate(), feats


def run_medkg(n: int, queue) -> None:
    from graphs.cohort import CohortBuilder, CohortConfig

    kg, rec, feats = make_inputs(n)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t = time.perf_counter()
    cohort = CohortBuilder(kg, CohortConfig(kg_scope="full", reverse_edges=False)).build(rec, feats)
    dt = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    edges = sum(cohort.data[et].num_edges for et in cohort.data.edge_types)
    queue.put(("medkg vectorised", dt, (peak - base) / 2**20, peak / 2**20,
               cohort.data.num_nodes, edges))


def save_load_times(n: int) -> None:
    """Prints CohortGraph save/load seconds, and the id part of the load in format 1
    (string lists) against format 2 (packed UTF-8 tensors)."""
    import tempfile
    from pathlib import Path

    from graphs.cohort import CohortBuilder, CohortConfig, CohortGraph
    from graphs.cohort.graph import _pack_ids, _unpack_ids

    kg, rec, feats = make_inputs(n)
    cohort = CohortBuilder(kg, CohortConfig(kg_scope="full", reverse_edges=False)).build(rec, feats)
    ids = {t: ix.to_numpy(dtype=str).tolist() for t, ix in cohort.node_ids.items()}
    total = sum(len(v) for v in ids.values())
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "cohort.pt"
        t = time.perf_counter()
        cohort.save(path)
        saved = time.perf_counter() - t
        t = time.perf_counter()
        CohortGraph.load(path)
        loaded = time.perf_counter() - t
        timings = {}
        for name, payload in (("format 1 (string lists)", ids),
                              ("format 2 (packed)", {k: _pack_ids(v) for k, v in ids.items()})):
            torch.save(payload, Path(tmp) / "ids.pt")
            t = time.perf_counter()
            back = torch.load(Path(tmp) / "ids.pt", weights_only=True)
            if name.startswith("format 2"):
                back = {k: _unpack_ids(v, k, "ids.pt") for k, v in back.items()}
            timings[name] = time.perf_counter() - t
    print(f"CohortGraph.save {saved:.2f} s, CohortGraph.load {loaded:.2f} s")
    for name, dt in timings.items():
        print(f"load of {total} node ids, {name}: {dt:.2f} s")


def run_networkx(n: int, queue) -> None:
    import networkx as nx
    from torch_geometric.utils import from_networkx

    kg, rec, feats = make_inputs(n)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t = time.perf_counter()
    G = nx.MultiDiGraph()
    zero = [0.0] * 384
    for cid in kg.concepts["id"]:
        G.add_node(cid, x=zero)
    for p in rec.patients["patient_id"]:
        G.add_node(("patient", p), x=zero)
    for r in rec.visits.itertuples(index=False):
        G.add_node(("visit", r.visit_id), x=zero)
        G.add_edge(("patient", r.patient_id), ("visit", r.visit_id))
    for r in rec.diagnoses.itertuples(index=False):
        G.add_edge(("visit", r.visit_id), r.code)
    for r in kg.relations.itertuples(index=False):
        G.add_edge(r.source, r.target)
    for m, f in feats.items():
        xs = f.x.tolist()
        for (v, k), x in zip(f.table[["visit_id", "key"]].itertuples(index=False), xs):
            G.add_node((m, k), x=x)
            G.add_edge(("visit", v), (m, k))
    data = from_networkx(G, group_node_attrs=["x"])
    dt = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    queue.put(("networkx + from_networkx", dt, (peak - base) / 2**20, peak / 2**20,
               data.num_nodes, data.num_edges))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--skip-networkx", action="store_true")
    parser.add_argument("--save-load", action="store_true",
                        help="also time saving/loading the cohort graph file")
    args = parser.parse_args()
    ctx = mp.get_context("spawn")
    rows = []
    runners = [run_medkg] + ([] if args.skip_networkx else [run_networkx])
    for runner in runners:
        queue = ctx.Queue()
        proc = ctx.Process(target=runner, args=(args.patients, queue))
        proc.start()
        proc.join()
        if proc.exitcode != 0:
            raise SystemExit(f"{runner.__name__} failed with exit code {proc.exitcode}")
        rows.append(queue.get(timeout=10))
    print(f"cohort build, {args.patients} patients + full ICD-10-CM KG, "
          f"torch threads {torch.get_num_threads()}")
    print(f"{'path':28s} {'build s':>9s} {'extra peak GiB':>15s} {'process peak GiB':>17s}"
          f" {'nodes':>10s} {'edges':>10s}")
    for name, dt, extra, peak, nodes, edges in rows:
        print(f"{name:28s} {dt:9.2f} {extra:15.2f} {peak:17.2f} {nodes:10d} {edges:10d}")
    if len(rows) == 2:
        print(f"speed-up of medkg over the networkx path: {rows[1][1] / rows[0][1]:.1f}x")
    if args.save_load:
        save_load_times(args.patients)


if __name__ == "__main__":
    main()
