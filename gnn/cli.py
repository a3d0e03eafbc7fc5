"""The ``medkg`` command line.

Subcommands:
    medkg demo       the main job: the whole toolkit on the embedded synthetic cohort
    medkg kg build   build a knowledge graph from code systems, save it, print statistics
    medkg kg stats   print statistics of a saved knowledge graph
    medkg train      train one model on a prepared cohort graph (see gnn.train); with
                     --distributed under torchrun, data-parallel on CPU:
                     torchrun --standalone --nproc_per_node=2 --no-python medkg train
                     --data prepared.pt --distributed (see gnn.distributed)

Every error the toolkit raises on purpose (:class:`~ontologies.errors.MedKGError`) is
printed as one line on stderr with exit status 2, never as a traceback.

Examples:
    >>> main(["kg", "stats", "/nonexistent/kg"])  # doctest: +SKIP
    2
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Sequence

from ontologies.errors import MedKGError

__all__ = ["main", "build_parser"]

log = logging.getLogger("medkg")

#: Code systems a default ``medkg kg build`` reads (all ship inside installed packages).
DEFAULT_SOURCES = ("icd10cm",)


def _cmd_kg_build(args: argparse.Namespace) -> int:
    import ontologies
    from kg import KnowledgeGraph, format_stats

    started = time.perf_counter()
    tables = [ontologies.load(name) for name in args.sources]
    crossmaps = [ontologies.load(name) for name in args.crossmaps]
    graph = KnowledgeGraph.from_ontologies(*tables, crossmaps=crossmaps, link=args.link,
                                           on_dangling=args.on_dangling)
    built = time.perf_counter() - started
    offered = sum(len(t.relations) for t in tables + crossmaps)
    if args.on_dangling == "drop" and offered > graph.n_relations:
        print(f"note: dropped {offered - graph.n_relations} relation(s) whose source or target "
              "is not among the loaded concepts (e.g. UMLS cross-references, retired codes)")
    graph.save(args.out)
    print(format_stats(graph.stats()))
    print(f"\nbuilt from {', '.join(args.sources)} in {built:.2f} s; saved to {args.out}")
    return 0


def _cmd_kg_stats(args: argparse.Namespace) -> int:
    from kg import KnowledgeGraph, format_stats

    graph = KnowledgeGraph.load(args.folder)
    print(format_stats(graph.stats()))
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``medkg`` (exposed for documentation and tests)."""
    parser = argparse.ArgumentParser(prog="medkg", description=__doc__.split("\n")[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", required=True)

    kg = sub.add_parser("kg", help="build and inspect knowledge graphs")
    kg_sub = kg.add_subparsers(dest="kg_command", required=True)
    build = kg_sub.add_parser("build", help="build a knowledge graph and save it to a folder")
    build.add_argument("--sources", nargs="+", default=list(DEFAULT_SOURCES),
                       help="code systems to read (see ontologies.available()); "
                            f"default: {' '.join(DEFAULT_SOURCES)}")
    build.add_argument("--crossmaps", nargs="*", default=[],
                       help="mapping tables linking the sources, e.g. gem_9to10")
    build.add_argument("--link", choices=["edges", "merge"], default="edges",
                       help="keep cross-maps as maps_to edges (default) or merge concepts")
    build.add_argument("--on-dangling", choices=["raise", "drop", "keep"], default="drop",
                       help="relations pointing outside the loaded concepts (e.g. HPO's UMLS "
                            "xrefs, CCSR's retired codes): drop (default, counted), raise, keep")
    build.add_argument("--out", default="medkg-kg", help="output folder (default: medkg-kg)")
    build.set_defaults(func=_cmd_kg_build)
    stats = kg_sub.add_parser("stats", help="print statistics of a saved knowledge graph")
    stats.add_argument("folder", help="folder written by 'medkg kg build'")
    stats.set_defaults(func=_cmd_kg_stats)

    from gnn.pipeline import add_demo_parser
    from gnn.train import add_train_parser

    add_train_parser(sub)
    add_demo_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the CLI; returns the process exit status."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except MedKGError as err:
        print(f"medkg: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
