"""Knowledge-graph figures: ICD-10-CM load into the KG, networkx view, Turtle round trip.

Prints, for the full ICD-10-CM FY2026 (98,505 concepts), the wall time of
1. reading the tabular XML and building the ``KnowledgeGraph`` (goal <= 3 s on 2 cores),
2. ``to_networkx()``,
3. Turtle export (``to_rdf`` + serialise) and import (parse + ``from_rdf``),
4. parquet save and load,
each the best of ``--repeat`` runs, with CPU time beside it (CPU time is steadier on a busy
shared host).

Run:  OMP_NUM_THREADS=1 python benchmarks/bench_kg.py [--repeat 3] [--skip-rdf]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path


def timed(fn, repeat: int):
    best_wall, best_cpu, out = float("inf"), float("inf"), None
    for _ in range(repeat):
        w, c = time.perf_counter(), time.process_time()
        out = fn()
        best_wall = min(best_wall, time.perf_counter() - w)
        best_cpu = min(best_cpu, time.process_time() - c)
    return out, best_wall, best_cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-rdf", action="store_true", help="skip the slow Turtle step")
    args = parser.parse_args()

    import ontologies
    from kg import KnowledgeGraph
    from kg.rdf_view import from_rdf, to_rdf

    rows = []
    kg, w, c = timed(lambda: KnowledgeGraph.from_ontologies(ontologies.load("icd10cm")),
                     args.repeat)
    rows.append(("ICD-10-CM XML -> KnowledgeGraph", w, c))
    G, w, c = timed(kg.to_networkx, args.repeat)
    rows.append((f"to_networkx ({G.number_of_nodes()} nodes, {G.number_of_edges()} edges)", w, c))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "kg"
        _, w, c = timed(lambda: kg.save(folder), args.repeat)
        rows.append(("save (parquet, atomic)", w, c))
        loaded, w, c = timed(lambda: KnowledgeGraph.load(folder), args.repeat)
        rows.append(("load (parquet)", w, c))
        assert loaded.equals(kg)
        if not args.skip_rdf:
            ttl = Path(tmp) / "kg.ttl"

            def export():
                graph = to_rdf(kg)
                graph.serialize(destination=str(ttl), format="turtle")
                return len(graph)

            n_triples, w, c = timed(export, 1)
            rows.append((f"Turtle export ({n_triples} triples)", w, c))
            back, w, c = timed(lambda: from_rdf(ttl), 1)
            rows.append(("Turtle import (parse + from_rdf)", w, c))
            rows.append((f"  round trip equal: {back.equals(kg)}", 0.0, 0.0))
    print(f"medkg KG benchmark: {len(kg)} concepts, {kg.n_relations} relations")
    print(f"{'step':60s} {'wall s':>8s} {'cpu s':>8s}")
    for name, w, c in rows:
        print(f"{name:60s} {w:8.2f} {c:8.2f}" if w else name)


if __name__ == "__main__":
    main()
