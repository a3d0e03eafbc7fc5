"""The typed medical knowledge graph: tables are the store; networkx and rdflib are views.

Examples:
    >>> import kg
    >>> from ontologies.schema import make_concepts, make_relations
    >>> g = kg.KnowledgeGraph(make_concepts(["A:1", "A:2"], ["a", "b"], "disease"),
    ...                       make_relations(["A:2"], "is_a", ["A:1"]))
    >>> kg.ancestors(g, "A:2")
    ['A:1']
"""

from kg.build import build_kg, exact_one_to_one, merge_exact_maps
from kg.compare import assert_kg_equal, kg_differences, kg_equal
from kg.graph import KnowledgeGraph
from kg.iri import PREFIXES, curie_to_iri, iri_to_curie
from kg.nx_view import from_networkx, read_graphml, to_networkx, write_gexf, write_graphml
from kg.rdf_view import from_rdf, sparql, to_rdf, write_turtle
from kg.stats import format_stats, stats
from kg.storage import load, save
from kg.traverse import adjacency, ancestors, descendants, induced_subgraph, k_hop, subgraph

__all__ = [
    "KnowledgeGraph",
    "build_kg", "exact_one_to_one", "merge_exact_maps",
    "kg_equal", "kg_differences", "assert_kg_equal",
    "adjacency", "ancestors", "descendants", "k_hop", "subgraph", "induced_subgraph",
    "stats", "format_stats",
    "to_networkx", "from_networkx", "write_graphml", "read_graphml", "write_gexf",
    "to_rdf", "from_rdf", "write_turtle", "sparql",
    "PREFIXES", "curie_to_iri", "iri_to_curie",
    "save", "load",
]
