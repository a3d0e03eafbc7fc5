"""Knowledge-graph views and storage on a synthetic ~100k-concept / 200k-relation graph.

Times: building (validation), stats, traversal, networkx round trip, RDF (to_rdf,
Turtle written by medkg, rdflib parse, table extraction), parquet save/load. Every round
trip is checked for equality. ``--icd10cm`` runs the same on the real ICD-10-CM reader.
rdflib dominates: expect ~25 us per parsed triple (DESIGN.md measured 12.5 s per 500k).

Run:  OMP_NUM_THREADS=1 python benchmarks/bench_kg_views.py [--concepts 100000]
      [--relations 200000] [--icd10cm] [--skip-rdf] [--rdflib-serializer]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd


def synthetic(n_concepts: int, n_relations: int, seed: int = 0):
    """An is_a forest over mixed systems plus random typed relations with attributes."""
    from kg import KnowledgeGraph
    from ontologies.schema import make_concepts, make_relations

    rng = np.random.default_rng(seed)
    systems = np.array(["ICD10CM", "SNOMEDCT", "HP", "LOCAL"], dtype=object)
    system = systems[rng.choice(4, n_concepts, p=[0.5, 0.3, 0.15, 0.05])]
    ids = pd.Series(system + ":" + pd.Series(np.arange(n_concepts)).astype(str)
                    .str.zfill(7).to_numpy(dtype=object), dtype="string")
    types = np.array(["disease", "phenotype", "category", "procedure"], dtype=object)
    concepts = make_concepts(
        ids, "concept " + ids, types[rng.integers(0, 4, n_concepts)],
        depth=rng.integers(0, 8, n_concepts),
        billable=rng.random(n_concepts) < 0.7,
        weight=np.where(rng.random(n_concepts) < 0.3, np.nan, rng.random(n_concepts)))
    # is_a: every concept but the first 100 gets one parent with a smaller index.
    child = np.arange(100, n_concepts)
    parent = (rng.random(len(child)) * child).astype(int)
    n_other = max(n_relations - len(child), 0)
    src, tgt = rng.integers(0, n_concepts, n_other), rng.integers(0, n_concepts, n_other)
    rel = np.array(["maps_to", "has_phenotype", "comorbid_with"], dtype=object)
    prob = np.where(rng.random(n_other) < 0.5, np.nan, rng.random(n_other))
    relations = pd.concat([
        make_relations(ids.iloc[child], "is_a", ids.iloc[parent], provenance="synthetic"),
        make_relations(ids.iloc[src], rel[rng.integers(0, 3, n_other)], ids.iloc[tgt],
                       probability=prob, frequency=rng.random(n_other),
                       provenance="random"),
    ], ignore_index=True)
    return KnowledgeGraph(concepts, relations, {"sources": {"synthetic": {"seed": seed}}})


class Timer:
    """Collects (label, seconds, note) rows and prints them aligned."""

    def __init__(self):
        self.rows: list[tuple[str, float, str]] = []

    def __call__(self, label, fn, note=""):
        t = time.perf_counter()
        out = fn()
        self.rows.append((label, time.perf_counter() - t, note))
        print(f"  {label:<42} {self.rows[-1][1]:8.2f} s  {note}", flush=True)
        return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concepts", type=int, default=100_000)
    parser.add_argument("--relations", type=int, default=200_000)
    parser.add_argument("--icd10cm", action="store_true", help="use ontologies.load('icd10cm')")
    parser.add_argument("--skip-rdf", action="store_true")
    parser.add_argument("--rdflib-serializer", action="store_true",
                        help="also time rdflib's own Turtle serializer (slow)")
    args = parser.parse_args()

    import rdflib

    from kg import (
        KnowledgeGraph,
        ancestors,
        build_kg,
        from_networkx,
        from_rdf,
        k_hop,
        kg_differences,
        load,
        save,
        stats,
        to_networkx,
        to_rdf,
        write_turtle,
    )

    timer = Timer()
    if args.icd10cm:
        import ontologies
        tables = timer("ontologies.load('icd10cm')", lambda: ontologies.load("icd10cm"))
        kg = timer("build_kg (validate)", lambda: build_kg(tables))
    else:
        kg = timer("synthetic tables + KnowledgeGraph", lambda: synthetic(args.concepts,
                                                                        args.relations))
        timer("KnowledgeGraph(...) re-validation",
              lambda: KnowledgeGraph(kg.concepts, kg.relations, kg.metadata))
    print(f"graph: {kg}")
    timer("stats", lambda: stats(kg))
    seeds = kg.ids[np.random.default_rng(1).integers(0, len(kg), 1000)]
    timer("ancestors of 1000 seeds (builds CSR)", lambda: ancestors(kg, seeds))
    timer("ancestors of 1000 seeds (cached CSR)", lambda: ancestors(kg, seeds))
    timer("k_hop(100 seeds, k=2, both)", lambda: k_hop(kg, seeds[:100], 2))

    G = timer("to_networkx", lambda: to_networkx(kg))
    back = timer("from_networkx", lambda: from_networkx(G))
    assert not kg_differences(kg, back), kg_differences(kg, back)
    del G, back

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        timer("save (parquet folder)", lambda: save(kg, tmp / "kg"))
        back = timer("load (parquet folder)", lambda: load(tmp / "kg"))
        assert not kg_differences(kg, back, check_order=True)
        if not args.skip_rdf:
            # Calibration on this (shared, drifting) machine: rdflib on trivial triples.
            plain = tmp / "plain.ttl"
            plain.write_text("@prefix a: <http://a.org/> .\n" + "".join(
                f'a:s{i} a:p "label {i}" .\n' for i in range(50_000)))
            base = timer("baseline: rdflib parse 50k plain triples",
                         lambda: rdflib.Graph(store="SimpleMemory").parse(plain,
                                                                          format="turtle"))
            base_us = timer.rows[-1][1] / 50_000 * 1e6
            del base
            g = timer("to_rdf (addN, SimpleMemory store)", lambda: to_rdf(kg))
            n_triples = len(g)
            del g
            timer("to_rdf store='default' (context-aware)",
                  lambda: len(to_rdf(kg, store="default")))
            path = timer("write_turtle (medkg, from tables)",
                         lambda: write_turtle(kg, tmp / "kg.ttl"))
            size = path.stat().st_size / 1e6
            # The store from_rdf(path) uses, as for the baseline above.
            parsed = timer("rdflib parse Turtle (SimpleMemory store)",
                           lambda: rdflib.Graph(store="SimpleMemory").parse(path),
                           f"{n_triples:,} triples, {size:.0f} MB")
            back = timer("from_rdf (tables from parsed graph)", lambda: from_rdf(parsed))
            assert not kg_differences(kg, back), kg_differences(kg, back)[:2]
            if args.rdflib_serializer:
                timer("rdflib serialize Turtle (for comparison)",
                      lambda: parsed.serialize(format="turtle"))
            rdf_rows = [r for r in timer.rows if r[0].startswith(("write_turtle", "rdflib parse",
                                                                  "from_rdf"))]
            parse_us = rdf_rows[1][1] / n_triples * 1e6
            print(f"  Turtle round trip total: {sum(r[1] for r in rdf_rows):.1f} s; parse "
                  f"{parse_us:.0f} us/triple vs baseline {base_us:.0f} us/triple "
                  f"(ratio {parse_us / base_us:.2f})")
    print("all round trips equal the original")


if __name__ == "__main__":
    main()
